/**
 * Strict base64 (no sockets): the string decoder against a reference definition on
 * random input, the byte decoder against the string decoder, the encoder against
 * Node's.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  base64DecodedLength,
  base64DecodedLengthOf,
  base64EncodedLength,
  decodeBase64BytesInto,
  decodeBase64Into,
  DECODED_ASCII,
  encodeBase64Into,
  INVALID,
} from '../../src/reliable/strict-base64.js';

/** RFC 4648 §4 with padding, canonical (zero pad bits): the reference. */
function strictReference(s: string): boolean {
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(s)) return false;
  return Buffer.from(s, 'base64').toString('base64') === s;
}

function accepts(s: string): boolean {
  const n = base64DecodedLength(s);
  if (n < 0) return false;
  return decodeBase64Into(s, Buffer.alloc(n + 8), 4, n);
}

test('every canonical encoding is accepted and decodes to its bytes', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      const s = Buffer.from(bytes).toString('base64');
      const n = base64DecodedLength(s);
      const out = Buffer.alloc(n + 8);
      assert.equal(decodeBase64Into(s, out, 4, n), true);
      assert.deepEqual(out.subarray(4, 4 + n), Buffer.from(bytes));
    }),
    { numRuns: 500 },
  );
});

test('arbitrary strings are accepted exactly when the reference accepts them', () => {
  // Ł (U+0141) and 䁁 (U+4041): two-byte characters whose low byte is a base64 letter.
  const alphabet = fc.constantFrom(...'ABCXYZabcxyz0189+/=-_ \n!éŁ\u4041'.split(''));
  fc.assert(
    fc.property(fc.array(alphabet, { maxLength: 24 }).map((a) => a.join('')), (s) => {
      assert.equal(accepts(s), strictReference(s), JSON.stringify(s));
    }),
    { numRuns: 5_000 },
  );
  for (const s of ['', 'QQ==', 'QUI=', 'QUJD']) assert.equal(accepts(s), true, s);
  for (const s of ['Hello World', 'QR==', 'QUJ=', 'QQ==QQ==', 'QQ', 'Q===', 'a-_b', 'QU JD', 'QUJD\n', 'QUJŁ', 'Q\u4041JD', '=QUJ', 'QU=D']) assert.equal(accepts(s), false, s);
});

/** What the byte decoder makes of `s` (as UTF-8 bytes, between other bytes): accepted, and the bytes. */
function fromBytes(s: string): { ok: boolean; bytes?: Buffer; ascii?: boolean } {
  const src = Buffer.concat([Buffer.from('"x":"'), Buffer.from(s), Buffer.from('"}')]);
  const n = base64DecodedLengthOf(src, 5, src.length - 2);
  if (n < 0) return { ok: false };
  const out = Buffer.alloc(n + 8, 0xee);
  const r = decodeBase64BytesInto(src, 5, src.length - 2, out, 4, n);
  return r === INVALID ? { ok: false } : { ok: true, bytes: out.subarray(4, 4 + n), ascii: r === DECODED_ASCII };
}

test('the byte decoder accepts exactly what the string decoder accepts, with the same bytes, whatever the length (both sides of the native cut-over)', () => {
  const alphabet = fc.constantFrom(...'ABCXYZabcxyz0189+/=-_ \n!éŁ\u4041\u007f'.split(''));
  const junk = fc.array(alphabet, { maxLength: 24 }).map((a) => a.join(''));
  const nearlyValid = fc
    .tuple(fc.uint8Array({ maxLength: 4000 }), fc.nat(), fc.constantFrom(...'A=+/-_ !é'.split('')))
    .map(([bytes, at, c]) => {
      const s = Buffer.from(bytes).toString('base64');
      if (s.length === 0) return s;
      const i = at % s.length;
      return s.slice(0, i) + c + s.slice(i + 1);
    });
  fc.assert(
    fc.property(fc.oneof(junk, nearlyValid), (s) => {
      const got = fromBytes(s);
      assert.equal(got.ok, accepts(s), JSON.stringify(s.slice(0, 80)));
      if (got.ok) {
        assert.deepEqual(got.bytes, Buffer.from(s, 'base64'));
        // "All ASCII" is exact below the native cut-over (and never claimed above it).
        if (s.length < 4096) assert.equal(got.ascii, got.bytes!.every((b) => b < 0x80), s.slice(0, 80));
        else assert.equal(got.ascii, false);
      }
    }),
    { numRuns: 3_000 },
  );
  for (const size of [0, 1, 2, 3, 3071, 3072, 3073, 10_000]) {
    const bytes = Buffer.alloc(size);
    for (let i = 0; i < size; i++) bytes[i] = (i * 131 + 7) & 0xff;
    const got = fromBytes(bytes.toString('base64'));
    assert.equal(got.ok, true, `size ${size}`);
    assert.deepEqual(got.bytes, bytes);
    const text = Buffer.alloc(size, 0x7f);
    assert.equal(fromBytes(text.toString('base64')).ascii, text.toString('base64').length < 4096, `ASCII of size ${size}`);
  }
});

test('the encoder writes what Buffer#toString("base64") does, at an offset, for every length 0..300 and past the native cut-over', () => {
  for (const size of [...Array(301).keys(), 3071, 3072, 3073, 70_000]) {
    const bytes = Buffer.alloc(size);
    for (let i = 0; i < size; i++) bytes[i] = (i * 197 + size) & 0xff;
    const want = bytes.toString('base64');
    const out = Buffer.alloc(base64EncodedLength(size) + 6, 0xee);
    const end = encodeBase64Into(bytes, out, 3);
    assert.equal(end, 3 + want.length, `size ${size}`);
    assert.equal(out.toString('latin1', 3, end), want, `size ${size}`);
    assert.equal(out[end], 0xee);
  }
});
