import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Utf8Stream } from '../../src/relay/utf8-stream.js';

function validate(pieces: Buffer[]): boolean {
  const v = new Utf8Stream();
  for (let i = 0; i < pieces.length; i++) if (!v.push(pieces[i]!, i === pieces.length - 1)) return false;
  return true;
}

test('valid text split at every byte position stays valid', () => {
  const text = Buffer.from('aé✓😀z€', 'utf8');
  for (let a = 0; a <= text.length; a++) {
    for (let b = a; b <= text.length; b++) {
      assert.equal(validate([text.subarray(0, a), text.subarray(a, b), text.subarray(b)]), true, `split ${a}/${b}`);
    }
  }
});

test('invalid sequences are caught wherever they are split', () => {
  const bad = [
    Buffer.from([0xc3, 0x28]),
    Buffer.from([0xe2, 0x82]), // truncated at the end
    Buffer.from([0xed, 0xa0, 0x80]), // surrogate
    Buffer.from([0xc0, 0xaf]), // overlong
    Buffer.from([0xf4, 0x90, 0x80, 0x80]), // > U+10FFFF
    Buffer.from([0x61, 0xff]),
  ];
  for (const b of bad) {
    for (let a = 0; a <= b.length; a++) {
      assert.equal(validate([Buffer.from('ok'), b.subarray(0, a), b.subarray(a)]), false, `${b.toString('hex')} split ${a}`);
    }
  }
});

test('an empty message is valid', () => {
  assert.equal(validate([Buffer.alloc(0)]), true);
});
