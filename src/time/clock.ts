/**
 * The clock, passed in (no code reads the time on its own, so timeouts and windows
 * can be tested without waiting): a monotonic clock for durations, the wall clock
 * for what is persisted, and the wall clock in whole microseconds for envelopes
 * (the seed's `timestamp` is nanoseconds, which exceed 2^53: the codec writes the
 * microseconds' digits and then "000", so no double ever holds nanoseconds).
 */
export interface Clock {
  /** Monotonic milliseconds (for durations and deadlines). */
  now(): number;
  /** Milliseconds since the Unix epoch (what is written to disk). */
  wallMs(): number;
  /** Whole microseconds since the Unix epoch (an integer; exact in a double until the year 2255). */
  wallUs(): number;
}

/**
 * The wall clock at microsecond resolution: the monotonic clock plus an offset to
 * `Date.now()`, taken again whenever the two are more than a millisecond apart. (An
 * offset taken once, such as `performance.timeOrigin`, drifts from the wall clock over
 * a long uptime and misses every step of it.)
 */
export function wallMicros(monotonicMs: () => number = () => performance.now(), epochMs: () => number = Date.now): () => number {
  let offset = epochMs() - monotonicMs();
  return () => {
    const mono = monotonicMs();
    const wall = epochMs();
    let ms = offset + mono;
    if (ms - wall >= 1 || wall - ms >= 1) {
      offset = wall - mono;
      ms = wall;
    }
    return Math.floor(ms * 1000);
  };
}

/** The process's clocks. */
export const systemClock: Clock = Object.freeze({
  now: () => performance.now(),
  wallMs: () => Date.now(),
  wallUs: wallMicros(),
});
