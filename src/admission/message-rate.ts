/**
 * Per-connection message and byte rates, each way (admission.client): a client
 * that sends faster than its budget, or whose upstream sends to it faster, has
 * that side's reads paused until the budget refills (backpressure reaches the
 * sender through TCP); one kept paused without a break for `pausedTimeoutMs` is
 * closed with 4429 RATE_LIMITED.
 *
 * `MessageRate` is a session's four buckets (messages and bytes, per direction),
 * made only when a limit is set. `RatePauses` is the owner's list of paused
 * sessions, ticked: it resumes them when their pause is over and reports the ones
 * paused for too long. No timer per session.
 */
import { TokenBucket, type Clock } from './token-bucket.js';

export interface ClientRateLimits {
  /** Messages per second, each way; 0 = no limit. */
  readonly messagesPerSecond: number;
  /** Messages a quiet connection may send at once; 0 = one second's worth. */
  readonly messageBurst: number;
  /** Payload bytes per second, each way; 0 = no limit. */
  readonly bytesPerSecond: number;
  /** Bytes a quiet connection may send at once; 0 = one second's worth. */
  readonly byteBurst: number;
  /** A connection paused by its limit this long without a break is closed with 4429. */
  readonly pausedTimeoutMs: number;
}

export function rateLimited(l: ClientRateLimits): boolean {
  return l.messagesPerSecond > 0 || l.bytesPerSecond > 0;
}

/** A session's buckets: index 0 = client → upstream, 1 = upstream → client. */
export class MessageRate {
  readonly #messages: [TokenBucket, TokenBucket] | null;
  readonly #bytes: [TokenBucket, TokenBucket] | null;

  constructor(l: ClientRateLimits, now?: Clock) {
    const pair = (rate: number, burst: number): [TokenBucket, TokenBucket] => {
      const b = burst > 0 ? burst : rate;
      return [new TokenBucket({ ratePerSecond: rate, burst: b, now }), new TokenBucket({ ratePerSecond: rate, burst: b, now })];
    };
    this.#messages = l.messagesPerSecond > 0 ? pair(l.messagesPerSecond, l.messageBurst) : null;
    this.#bytes = l.bytesPerSecond > 0 ? pair(l.bytesPerSecond, l.byteBurst) : null;
  }

  /** One message of `bytes` went direction `dir`: how long that side should stop reading (0: go on). */
  charge(dir: 0 | 1, bytes: number): number {
    const a = this.#messages?.[dir].charge(1) ?? 0;
    const b = this.#bytes?.[dir].charge(bytes) ?? 0;
    return Math.max(a, b);
  }
}

/** What a paused session does when told. */
export interface RatePaused {
  /** The pause of direction `dir` is over: read that side again. */
  rateResume(dir: 0 | 1): void;
  /** Paused by its limit for longer than pausedTimeoutMs: close it with 4429. */
  rateExceeded(): void;
}

interface Pause {
  /** Resume times (monotonic ms) per direction; 0 = not paused that way. */
  until: [number, number];
  /** Since when it has been paused without a break. */
  since: number;
  /** When it was last resumed (a pause soon after continues the same spell). */
  resumedAt: number;
}

/** A pause that follows a resume within this long continues the same spell. */
const SPELL_GAP_MS = 1_000;

export class RatePauses<T extends RatePaused> {
  readonly #pausedTimeoutMs: number;
  readonly #now: Clock;
  readonly #paused = new Map<T, Pause>();

  constructor(pausedTimeoutMs: number, now: Clock) {
    this.#pausedTimeoutMs = pausedTimeoutMs;
    this.#now = now;
  }

  get size(): number {
    return this.#paused.size;
  }

  /** `holder` stops reading direction `dir` for `ms` (the caller has paused it). */
  pause(holder: T, dir: 0 | 1, ms: number): void {
    const now = this.#now();
    let p = this.#paused.get(holder);
    if (p === undefined) {
      p = { until: [0, 0], since: now, resumedAt: 0 };
      this.#paused.set(holder, p);
    } else if (p.until[0] === 0 && p.until[1] === 0 && now - p.resumedAt > SPELL_GAP_MS) {
      p.since = now;
    }
    p.until[dir] = Math.max(p.until[dir], now + ms);
  }

  /** Whether `holder`'s direction `dir` is paused by its limit. */
  paused(holder: T, dir: 0 | 1): boolean {
    return (this.#paused.get(holder)?.until[dir] ?? 0) > 0;
  }

  /** The holder is gone. */
  delete(holder: T): void {
    this.#paused.delete(holder);
  }

  /** The owner's tick: resumes what is due, reports what stayed paused too long, forgets quiet ones. */
  tick(): void {
    const now = this.#now();
    for (const [holder, p] of this.#paused) {
      for (const dir of [0, 1] as const) {
        if (p.until[dir] !== 0 && p.until[dir] <= now) {
          p.until[dir] = 0;
          p.resumedAt = now;
          holder.rateResume(dir);
        }
      }
      const pausedNow = p.until[0] !== 0 || p.until[1] !== 0;
      if (pausedNow && now - p.since >= this.#pausedTimeoutMs) {
        this.#paused.delete(holder);
        holder.rateExceeded();
      } else if (!pausedNow && now - p.resumedAt > SPELL_GAP_MS) {
        this.#paused.delete(holder);
      }
    }
  }
}
