import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeBase64, encodeBase64 } from '../src/base64.js';

test('encodes and decodes like RFC 4648 §4 (checked against Buffer) for every length 0..300', () => {
  let seed = 7;
  for (let n = 0; n <= 300; n++) {
    const bytes = new Uint8Array(n);
    for (let i = 0; i < n; i++) bytes[i] = (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
    const b64 = encodeBase64(bytes);
    assert.equal(b64, Buffer.from(bytes).toString('base64'), `length ${n}`);
    assert.deepEqual(decodeBase64(b64), bytes, `length ${n}`);
  }
});

test('every byte value round-trips', () => {
  const all = Uint8Array.from({ length: 256 }, (_, i) => i);
  assert.deepEqual(decodeBase64(encodeBase64(all)), all);
});

test('decoding refuses what is not strict base64', () => {
  for (const bad of ['abc', 'ab=c', 'a===', 'ab c', 'ab-_', 'ab\u00e9d', '=AAA']) {
    assert.throws(() => decodeBase64(bad), TypeError, JSON.stringify(bad));
  }
});
