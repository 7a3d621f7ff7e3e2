/** The primary's collection on demand frees big Buffers nothing references any more. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fullCollection } from '../../src/cluster/full-collection.js';

const MiB = 1024 * 1024;

test('fullCollection frees an unreachable 64 MiB Buffer at once (a process without --expose-gc)', () => {
  assert.equal((globalThis as { gc?: unknown }).gc, undefined, 'the test runs without --expose-gc');
  const collect = fullCollection();
  collect();
  let big: Buffer | undefined = Buffer.alloc(64 * MiB, 1);
  // Read with the Buffer held, not before it: garbage an earlier collection had not yet swept
  // (V8 sweeps ArrayBuffers on a background thread) may leave the count meanwhile, the Buffer cannot.
  const held = process.memoryUsage().arrayBuffers;
  assert.ok(held >= 64 * MiB, `the Buffer is counted: ${held} bytes`);
  big = undefined;
  void big;
  // Synchronously: nothing else can collect in between (the test never yields).
  collect();
  const freed = held - process.memoryUsage().arrayBuffers;
  assert.ok(freed >= 63 * MiB, `freed only ${freed} bytes`);
  assert.equal((globalThis as { gc?: unknown }).gc, undefined, 'gc is not left on the global object');
});
