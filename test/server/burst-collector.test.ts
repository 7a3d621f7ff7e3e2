import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BURST_MAX_BUSY, BurstCollector } from '../../src/server/burst-collector.js';

describe('BurstCollector', () => {
  it('runs beforeCollect right before each collection, never without one', () => {
    let t = 0;
    const order: string[] = [];
    const c = new BurstCollector({ minConnections: 2, quietMs: 1_000, rounds: 2, now: () => t, collect: () => order.push('collect'), beforeCollect: () => order.push('before'), busy: () => 0 });
    try {
      c.connection();
      c.connection();
      t = 500;
      assert.equal(c.check(), false);
      assert.deepEqual(order, [], 'no collection, so no beforeCollect');
      t = 1_500;
      assert.equal(c.check(), true);
      t = 2_500;
      assert.equal(c.check(), true);
      t = 3_500;
      assert.equal(c.check(), false);
      assert.deepEqual(order, ['before', 'collect', 'before', 'collect']);
    } finally {
      c.close();
    }
  });

  it('collects after a burst, when connections have stopped for quietMs, once per check for `rounds` checks', () => {
    let t = 0;
    let runs = 0;
    const c = new BurstCollector({ minConnections: 3, quietMs: 2_000, rounds: 2, now: () => t, collect: () => runs++, busy: () => 0 });
    try {
      c.connection();
      c.connection();
      t = 5_000;
      assert.equal(c.check(), false, 'two connections are no burst');
      c.connection();
      t = 6_999;
      assert.equal(c.check(), false, 'not quiet long enough');
      c.connection(); // the burst goes on: the quiet period starts again
      t = 8_500;
      assert.equal(c.check(), false);
      t = 9_000;
      assert.equal(c.check(), true);
      assert.equal(runs, 1);
      t = 10_000;
      assert.equal(c.check(), true, 'the second round');
      t = 60_000;
      assert.equal(c.check(), false, 'two rounds per burst');
      assert.equal(runs, 2);
      assert.equal(c.collections, 2);
      for (let i = 0; i < 3; i++) c.connection();
      t = 63_000;
      assert.equal(c.check(), true, 'the next burst');
      c.connection(); // and another one begins: its collections wait
      t = 64_000;
      assert.equal(c.check(), false);
      assert.equal(runs, 3);
    } finally {
      c.close();
    }
  });

  it('waits while the process is busy (relaying), then collects', () => {
    let t = 0;
    let busy = 0.9;
    let runs = 0;
    const c = new BurstCollector({ minConnections: 1, quietMs: 1_000, rounds: 1, maxBusy: 0.25, now: () => t, collect: () => runs++, busy: () => busy });
    try {
      c.connection();
      t = 5_000;
      assert.equal(c.check(), false, 'busy: put off');
      t = 6_000;
      assert.equal(c.check(), false);
      busy = 0.1;
      t = 7_000;
      assert.equal(c.check(), true, 'quiet now');
      assert.equal(runs, 1);
    } finally {
      c.close();
    }
  });

  it('by default puts the collection off while the loop is busy a tenth of the time (traffic flowing), not only when it is saturated', () => {
    // The relay benchmark's latency phase (1,000 new sessions, 2,000 messages/s): about 0.1
    // of each worker's loop. With a bound of 0.25 the three collections ran in its window and
    // its p99 rose from 1.5-2.9 ms to 2.6-4.1 ms (docs/benchmarks.md, "the verbatim path").
    let t = 0;
    let busy = 0.1;
    let runs = 0;
    const c = new BurstCollector({ minConnections: 1, quietMs: 1_000, rounds: 1, now: () => t, collect: () => runs++, busy: () => busy });
    try {
      c.connection();
      t = 5_000;
      assert.equal(c.check(), false, 'traffic flowing: put off');
      assert.equal(runs, 0);
      busy = BURST_MAX_BUSY / 2;
      t = 6_000;
      assert.equal(c.check(), true, 'nearly idle now');
      assert.equal(runs, 1);
    } finally {
      c.close();
    }
  });

  it('runs a real full collection by default (without --expose-gc) and leaves no global gc', () => {
    assert.equal(typeof (globalThis as { gc?: unknown }).gc, 'undefined', 'this test runs without --expose-gc');
    let t = 0;
    const c = new BurstCollector({ minConnections: 1, quietMs: 0, rounds: 1, now: () => t, busy: () => 0 });
    try {
      // Garbage only a major collection frees: promoted by two scavenges, then dropped.
      let junk: unknown[] | null = Array.from({ length: 200_000 }, (_, i) => ({ i }));
      const { heapUsed: withJunk } = process.memoryUsage();
      junk = null;
      c.connection();
      t = 1;
      assert.equal(c.check(), true);
      assert.equal(junk, null);
      const { heapUsed: after } = process.memoryUsage();
      assert.ok(after < withJunk - 4 * 2 ** 20, `heap ${withJunk} -> ${after}: the 200,000 objects were collected`);
      assert.equal(typeof (globalThis as { gc?: unknown }).gc, 'undefined');
    } finally {
      c.close();
    }
  });
});
