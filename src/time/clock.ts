/**
 * The clock, passed in (no code reads the time on its own, so timeouts and windows
 * can be tested without waiting): a monotonic clock for durations, the wall clock
 * for what is persisted, and the wall clock in nanoseconds as exact decimal digits
 * for envelopes (the seed's `timestamp` exceeds 2^53: it never goes through a double).
 */
export interface Clock {
  /** Monotonic milliseconds (for durations and deadlines). */
  now(): number;
  /** Milliseconds since the Unix epoch (what is written to disk). */
  wallMs(): number;
  /** Nanoseconds since the Unix epoch as a decimal string (19 digits today), microsecond resolution. */
  wallNs(): string;
}

const ZEROS = '000000';

/** The process's clocks. */
export const systemClock: Clock = Object.freeze({
  now: () => performance.now(),
  wallMs: () => Date.now(),
  wallNs: () => nanosString(performance.timeOrigin + performance.now()),
});

/**
 * Epoch milliseconds (with a fraction) as exact nanosecond digits: the integer
 * milliseconds, then six digits of the fraction. No double ever holds the whole
 * nanosecond value.
 */
export function nanosString(epochMs: number): string {
  const ms = Math.floor(epochMs);
  const sub = Math.min(999_999, Math.floor((epochMs - ms) * 1e6));
  const s = String(sub);
  return `${ms}${ZEROS.slice(s.length)}${s}`;
}
