import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Liveness, type LivenessTimers } from '../src/liveness.js';

/**
 * A clock and timers of the test's own: `advance(ms)` moves the clock and runs each
 * timer that falls due on the way, at its due time. `late(ms)` moves the clock
 * without running timers (a machine asleep, a throttled page); `run()` then fires
 * what is due, late. No real time passes, so a loaded machine cannot change a result.
 */
class ManualTime implements LivenessTimers {
  now = 0;
  #timers: { at: number; fn: () => void; id: number }[] = [];
  #next = 1;

  readonly clock = (): number => this.now;

  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.#next++;
    this.#timers.push({ at: this.now + ms, fn, id });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.#timers = this.#timers.filter((t) => t.id !== handle);
  }

  get pending(): number {
    return this.#timers.length;
  }

  advance(ms: number): void {
    const end = this.now + ms;
    for (;;) {
      const due = this.#timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at)[0];
      if (due === undefined) break;
      this.#timers = this.#timers.filter((t) => t !== due);
      this.now = Math.max(this.now, due.at);
      due.fn();
    }
    this.now = end;
  }

  late(ms: number): void {
    this.now += ms;
  }

  /** Fires every timer due by now (late ones included), in order. */
  run(): void {
    this.advance(0);
  }
}

test('silence for two heartbeat intervals is a dead connection; traffic keeps it alive', () => {
  const t = new ManualTime();
  const dead: string[] = [];
  const l = new Liveness(t.clock, (why) => dead.push(why), t);
  l.start(100); // checks every 50 ms
  for (let i = 0; i < 20; i++) {
    t.advance(50);
    l.traffic();
  }
  assert.deepEqual(dead, [], 'alive while frames arrive');
  const silentFrom = t.now;
  t.advance(200);
  assert.deepEqual(dead, [], 'two intervals of silence exactly are not yet dead');
  while (dead.length === 0 && t.now - silentFrom < 1_000) t.advance(10);
  assert.equal(dead.length, 1);
  assert.equal(dead[0], 'nothing from the gateway for 250 ms (heartbeat 100 ms)', 'the first check after 200 ms of silence (checks every 50 ms)');
  assert.equal(t.pending, 0, 'a dead connection is not checked again');
});

test('a check that runs late (the clock jumped: the machine slept) with no traffic for 1.5 intervals is dead at once', () => {
  const t = new ManualTime();
  const dead: string[] = [];
  const l = new Liveness(t.clock, (why) => dead.push(why), t);
  l.start(1_000); // checks every 500 ms; silence alone would need 2 s
  t.late(1_600); // the machine slept: the check due at 500 runs at 1600, after 1.6 s of silence
  t.run();
  assert.deepEqual(dead, ['the liveness check ran 1100 ms late and nothing arrived for 1600 ms (asleep?)']);
  l.stop();
});

test('a late check with traffic meanwhile (timers throttled, frames arriving) stays alive', () => {
  const t = new ManualTime();
  const dead: string[] = [];
  const l = new Liveness(t.clock, (why) => dead.push(why), t);
  l.start(200); // checks every 100 ms
  for (let i = 0; i < 11; i++) {
    t.late(100); // the check due at 100 does not run (a throttled page) ...
    l.traffic(); // ... but the gateway's frames arrive, one every 100 ms
  }
  t.run(); // the check runs 1 s late
  assert.deepEqual(dead, []);
  assert.deepEqual(dead, []);
  assert.equal(t.pending, 1, 'the late check ran and scheduled the next one');
  l.stop();
  assert.equal(t.pending, 0);
});

test('a machine that wakes with a frame from before its sleep queued: the frame comes before the late check, and the connection is still dead at once', () => {
  const t = new ManualTime();
  const dead: string[] = [];
  const l = new Liveness(t.clock, (why) => dead.push(why), t);
  l.start(1_000); // the first check is due at 500
  t.late(60_000); // asleep for a minute; on waking the socket hands over what it had queued ...
  l.traffic(); // ... before the timers run
  assert.deepEqual(dead, ['nothing from the gateway for 60000 ms (heartbeat 1000 ms)']);
  assert.equal(t.pending, 0, 'a dead connection is not checked again');
  t.run();
  assert.equal(dead.length, 1);
});

test('a late check with no more silence than the gateway may keep (an interval plus half a second) stays alive', () => {
  const t = new ManualTime();
  const dead: string[] = [];
  const l = new Liveness(t.clock, (why) => dead.push(why), t);
  l.start(1_000); // the first check is due at 500
  t.late(200);
  l.traffic(); // the last HEARTBEAT ...
  t.late(1_400); // ... and the check runs at 1600, 1100 ms late: 1400 ms of silence, within 1000 + 500
  t.run();
  assert.deepEqual(dead, []);
  assert.equal(t.pending, 1, 'the late check ran and scheduled the next one');
  l.stop();
});
