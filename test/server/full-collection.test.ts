/** The primary's collection on demand frees big Buffers nothing references any more. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { fullCollection } from '../../src/server/full-collection.js';

const MiB = 1024 * 1024;

test('fullCollection frees an unreachable 64 MiB Buffer at once (a process without --expose-gc)', async () => {
  assert.equal((globalThis as { gc?: unknown }).gc, undefined, 'the test runs without --expose-gc');
  const collect = fullCollection();
  let big: Buffer | undefined = Buffer.alloc(64 * MiB, 1);
  const held = process.memoryUsage().arrayBuffers;
  assert.ok(held >= 64 * MiB, `the Buffer is counted: ${held} bytes`);
  // A WeakRef (and each deref()) keeps its target alive until the job that made it ends, so it is
  // made one turn ahead and not dereferenced before the collection.
  const ref = new WeakRef(big.buffer);
  await nextTurn();
  // From here to the check nothing is allocated and nothing yields, so no collection but ours can run.
  big = undefined;
  void big;
  collect();
  // A full collection clears weak references in its pause: this is the deterministic check.
  // (assert.ok, not equal: a failure must not print a 64 MiB ArrayBuffer)
  assert.ok(ref.deref() === undefined, 'the collection found the Buffer unreachable');
  // The backing store goes back on V8's background sweeper, so its bytes leave the count soon after, not in the pause.
  const freed = await freedWithin(held, 5000);
  assert.ok(freed >= 63 * MiB, `freed only ${freed} bytes within 5 s`);
  assert.equal((globalThis as { gc?: unknown }).gc, undefined, 'gc is not left on the global object');
});

async function freedWithin(held: number, ms: number): Promise<number> {
  const deadline = Date.now() + ms;
  let freed = held - process.memoryUsage().arrayBuffers;
  while (freed < 63 * MiB && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    freed = held - process.memoryUsage().arrayBuffers;
  }
  return freed;
}
