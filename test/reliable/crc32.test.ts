/** The log's JavaScript CRC-32 against zlib's, on random bytes, ranges and continuations. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc32 } from 'node:zlib';
import fc from 'fast-check';
import { crc32Of } from '../../src/reliable/crc32.js';

test('crc32Of is zlib.crc32 of the range, and continues a previous CRC as zlib does', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), fc.nat(), fc.nat(), fc.uint8Array({ maxLength: 100 }), (bytes, a, b, more) => {
      const buf = Buffer.from(bytes);
      const start = bytes.length === 0 ? 0 : a % (bytes.length + 1);
      const end = start + (bytes.length === 0 ? 0 : b % (bytes.length - start + 1));
      const want = crc32(buf.subarray(start, end)) >>> 0;
      assert.equal(crc32Of(buf, start, end), want);
      assert.equal(crc32(Buffer.from(more), crc32Of(buf, start, end)) >>> 0, crc32(Buffer.concat([buf.subarray(start, end), Buffer.from(more)])) >>> 0);
      assert.equal(crc32Of(Buffer.from(more), 0, more.length, want), crc32(Buffer.from(more), want) >>> 0);
    }),
    { numRuns: 2_000 },
  );
  assert.equal(crc32Of(Buffer.from('123456789'), 0, 9), 0xcbf43926); // the check value of CRC-32/ISO-HDLC
});
