/**
 * The envelope codec fed strings (no sockets): strict base64 against a reference
 * definition on random input, and the DATA frame it builds.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { base64DecodedLength, dataFrame, decodeBase64Into, envelopeStart } from '../../src/reliable/envelope-codec.js';

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

test('a DATA frame: an unmasked text frame whose payload is the envelope with exact timestamp digits', () => {
  for (const size of [0, 5, 90, 70_000]) {
    const payload = Buffer.alloc(size, 0x61);
    const f = dataFrame(42, '1709078400123456789', payload, size === 5);
    const env = f.subarray(envelopeStart(f));
    assert.equal(f[0], 0x81);
    const text = env.toString();
    assert.match(text, /^\{"type":0,"seq":42,"messageId":"42","timestamp":1709078400123456789,"data":"/);
    const parsed = JSON.parse(text) as { data: string; binary?: boolean };
    assert.deepEqual(Buffer.from(parsed.data, 'base64'), payload);
    assert.equal(parsed.binary, size === 5 ? true : undefined);
  }
});

test('an ACK frame is the ACK envelope, exactly, for every messageId length', async () => {
  const { ackFrame, ackText } = await import('../../src/reliable/envelope-codec.js');
  for (const id of ['a', 'msg-001', 'x'.repeat(100), 'y'.repeat(101), 'z'.repeat(128)]) {
    const f = ackFrame(id);
    const h = envelopeStart(f);
    assert.equal(f[0], 0x81);
    assert.equal(f.length - h, Buffer.byteLength(ackText(id)), `length for ${id.length}`);
    assert.deepEqual(JSON.parse(f.subarray(h).toString()), { type: 1, messageId: id });
  }
});
