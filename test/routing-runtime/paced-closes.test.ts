/**
 * PacedCloses (the `migrate` pacer) with an injected clock: every item closed exactly
 * once, duplicates and deleted items skipped, and a stall (the clock jumps) never
 * turns into a burst. No timing assertions: the clock is the test's.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PacedCloses } from '../../src/server/paced-closes.js';
import { until } from './fixtures.js';

test('paced closes: each item once, dedupe, delete, at most 100 ms of schedule caught up after a stall', async () => {
  let clock = 0;
  const closed: number[] = [];
  const pacer = new PacedCloses<number>({ ratePerSecond: 100, close: (i) => closed.push(i), now: () => clock, random: () => 0.5 });
  const items = Array.from({ length: 50 }, (_, i) => i);
  assert.equal(pacer.add([...items]), 50);
  assert.equal(pacer.add([0, 1, 2]), 0, 'already waiting');
  pacer.delete(49);
  assert.equal(pacer.pending, 49);

  // The process stalled for 10 s: the late timer closes 100 ms of schedule (at 100/s: 11), not everything.
  clock = 10_000;
  await until(() => closed.length > 0, 'the first closes');
  assert.equal(closed.length, 11);

  for (let t = 0; closed.length < 49 && t < 1_000; t++) {
    clock += 10; // one gap (1 / rate, jitter fixed at 1.0x)
    const before: number = closed.length;
    await until(() => closed.length > before, `close #${before + 1}`, 5_000);
    assert.equal(closed.length, before + 1, 'one close per gap');
  }
  assert.deepEqual([...closed].sort((a, b) => a - b), items.slice(0, 49));
  assert.equal(pacer.pending, 0);
  assert.equal(pacer.closed, 49);
});
