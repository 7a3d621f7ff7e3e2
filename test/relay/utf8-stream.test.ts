import { test } from 'node:test';
import assert from 'node:assert/strict';
import { utf8Step, UTF8_INVALID, UTF8_START } from '../../src/relay/utf8-stream.js';
import { viablePrefix } from '../helpers/utf8-reference.js';

function validate(pieces: Buffer[]): boolean {
  let state = UTF8_START;
  for (let i = 0; i < pieces.length; i++) state = utf8Step(state, pieces[i]!, i === pieces.length - 1);
  return state !== UTF8_INVALID;
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

test('the carried state is a small integer (a Leg keeps it in a plain field), and resumes exactly', () => {
  // Every prefix of every 2-, 3- and 4-byte sequence, carried over one or two pieces.
  for (const ch of ['é', '✓', '😀', '\u{10FFFF}']) {
    const bytes = Buffer.from(ch, 'utf8');
    for (let a = 1; a < bytes.length; a++) {
      for (let b = a; b < bytes.length; b++) {
        let state = utf8Step(UTF8_START, bytes.subarray(0, a), false);
        assert.ok(Number.isInteger(state) && state > 0 && state < 2 ** 30, `${ch} cut at ${a}: state ${state}`);
        state = utf8Step(state, bytes.subarray(a, b), false);
        assert.ok(Number.isInteger(state) && state >= 0 && state < 2 ** 30, `${ch} cut at ${a}/${b}: state ${state}`);
        assert.equal(utf8Step(state, bytes.subarray(b), true), UTF8_START, `${ch} cut at ${a}/${b}`);
        // The same cut but the message ends early: invalid.
        assert.equal(utf8Step(utf8Step(UTF8_START, bytes.subarray(0, a), false), bytes.subarray(a, b), true), UTF8_INVALID);
      }
    }
  }
  assert.equal(utf8Step(UTF8_INVALID, Buffer.from('ok'), true), UTF8_INVALID, 'invalid stays invalid');
});

test('fails fast: fed byte by byte, a message is invalid at the first byte that no valid string can continue with (RFC 3629 §4)', () => {
  // Every lead byte with every second byte, then a few third and fourth bytes, one piece per byte.
  const thirds = [0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xf4, 0xff];
  let checked = 0;
  for (let a = 0; a < 256; a++) {
    for (let b = 0; b < 256; b++) {
      for (const c of a >= 0xe0 && (b & 0xc0) === 0x80 ? thirds : [0x20]) {
        const seq = Buffer.from([a, b, c, 0x80, 0x20]);
        let state = UTF8_START;
        let failedAt = seq.length;
        for (let i = 0; i < seq.length; i++) {
          state = utf8Step(state, seq.subarray(i, i + 1), false);
          if (state === UTF8_INVALID) {
            failedAt = i;
            break;
          }
        }
        assert.equal(failedAt, viablePrefix(seq), seq.toString('hex'));
        checked++;
      }
    }
  }
  assert.ok(checked > 65536);
});
