/** The primary's collection on demand frees big Buffers nothing references any more. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fullCollection } from '../../src/cluster/full-collection.js';

test('fullCollection frees an unreachable 64 MiB Buffer at once (a process without --expose-gc)', () => {
  assert.equal((globalThis as { gc?: unknown }).gc, undefined, 'the test runs without --expose-gc');
  const collect = fullCollection();
  collect();
  const before = process.memoryUsage().arrayBuffers;
  let big: Buffer | undefined = Buffer.alloc(64 * 1024 * 1024, 1);
  assert.ok(process.memoryUsage().arrayBuffers - before >= 64 * 1024 * 1024 - 1024);
  big = undefined;
  void big;
  collect();
  assert.ok(process.memoryUsage().arrayBuffers - before < 1024 * 1024, `still held: ${process.memoryUsage().arrayBuffers - before} bytes`);
  assert.equal((globalThis as { gc?: unknown }).gc, undefined, 'gc is not left on the global object');
});
