/**
 * The wall clock in microseconds (envelope timestamps): it follows Date.now() when
 * the wall clock steps or the monotonic clock drifts from it, and it stays within a
 * millisecond of it otherwise.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { systemClock, wallMicros } from '../../src/time/clock.js';

/** A monotonic and a wall clock that the test moves. */
function clocks(): { mono: number; wall: number; us: () => number } {
  const c = { mono: 5_000.25, wall: 1_700_000_000_000, us: (): number => 0 };
  c.us = wallMicros(() => c.mono, () => c.wall);
  return c;
}

test('between steps of the wall clock, microseconds advance with the monotonic clock', () => {
  const c = clocks();
  assert.equal(c.us(), 1_700_000_000_000_000);
  c.mono += 0.4567;
  c.wall += 0; // still the same millisecond
  assert.equal(c.us(), 1_700_000_000_000_456);
  c.mono += 0.6;
  c.wall += 1;
  assert.equal(c.us(), 1_700_000_000_001_056);
});

test('a step of the wall clock (forward or back) is followed at the next reading', () => {
  const c = clocks();
  c.us();
  c.mono += 10;
  c.wall += 10 + 5_000; // NTP stepped the clock 5 s forward
  assert.equal(c.us(), 1_700_000_005_010_000);
  c.mono += 1;
  c.wall += 1 - 60_000; // and a minute back
  assert.equal(c.us(), 1_699_999_945_011_000);
});

test('a monotonic clock that drifts from the wall clock is re-anchored once the two are a millisecond apart', () => {
  const c = clocks();
  c.us();
  // The monotonic clock runs 0.1 % slow: after 600 ms it is 0.6 ms behind (kept), after 1.2 s 1.2 ms (re-anchored).
  c.mono += 599.4;
  c.wall += 600;
  assert.equal(c.us(), 1_700_000_000_599_400);
  c.mono += 599.4;
  c.wall += 600;
  assert.equal(c.us(), 1_700_000_001_200_000);
});

test('the system clock reads whole microseconds within a millisecond of Date.now()', () => {
  for (let i = 0; i < 1000; i++) {
    const before = Date.now();
    const us = systemClock.wallUs();
    const after = Date.now();
    assert.ok(Number.isSafeInteger(us));
    assert.ok(us >= (before - 1) * 1000 && us < (after + 1) * 1000, `${us} against ${before}..${after}`);
  }
});
