/**
 * The in-place ASCII writers the envelope codec and the log records use: digits of
 * any safe integer (both sides of the int32 cut-over), bytes, latin1 strings.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { digitCount, writeBytes, writeDigits, writeLatin1 } from '../../src/reliable/ascii-bytes.js';

test('digits of any safe integer are String(n), written where asked', () => {
  const edges = [0, 1, 9, 10, 99, 100, 2 ** 31 - 1, 2 ** 31, 2 ** 31 + 1, 99_999_999, 100_000_000, 1e15, 1709078400123456, Number.MAX_SAFE_INTEGER];
  const check = (n: number): void => {
    const out = Buffer.alloc(24, 0x2e);
    const d = digitCount(n);
    assert.equal(d, String(n).length, `digitCount(${n})`);
    assert.equal(writeDigits(out, 2, n, d), 2 + d);
    assert.equal(out.toString('latin1'), `..${n}`.padEnd(24, '.'));
  };
  for (const n of edges) check(n);
  fc.assert(fc.property(fc.maxSafeNat(), (n) => check(n)), { numRuns: 5_000 });
});

test('bytes and latin1 strings are copied as they are and the offset after them returned', () => {
  const out = Buffer.alloc(12, 0);
  assert.equal(writeBytes(out, 1, Buffer.from('ab')), 3);
  assert.equal(writeLatin1(out, 3, 'c~d!'), 7);
  assert.deepEqual(out.subarray(0, 8), Buffer.from('\0abc~d!\0', 'latin1'));
});
