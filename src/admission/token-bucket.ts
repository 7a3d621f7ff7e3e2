/**
 * A token bucket: `ratePerSecond` tokens flow in continuously, at most `burst` are
 * held. The clock is injected (milliseconds, monotonic: `performance.now` by
 * default), so tests move time by hand.
 *
 * Two ways to spend, for the two kinds of limit:
 * - `take(n)`: all or nothing, for admission (a handshake is let in or refused);
 *   `waitMs(n)` then says how long until it would succeed (a Retry-After);
 * - `charge(n)`: always succeeds and may leave the bucket in debt, for data paths
 *   where the bytes have already arrived (a 25 MiB message against a 1 MiB burst):
 *   it returns how long the reader should pause until the balance is back to zero
 *   (0: keep reading).
 *
 * State is three numbers; no timer, no allocation per call. `rate` 0 means no limit
 * (take always succeeds, charge never asks for a pause).
 */

/** Milliseconds, monotonic. */
export type Clock = () => number;

export interface TokenBucketOptions {
  /** Tokens added per second; 0 = unlimited. */
  readonly ratePerSecond: number;
  /** Most tokens held (and the size of a burst after a quiet spell). Default: ratePerSecond (at least 1). */
  readonly burst?: number;
  /** Tokens at creation. Default: burst (a new bucket is full). */
  readonly initial?: number;
  readonly now?: Clock;
}

export class TokenBucket {
  readonly ratePerSecond: number;
  readonly burst: number;
  readonly #perMs: number;
  readonly #now: Clock;
  #tokens: number;
  #stamp: number;

  constructor(opts: TokenBucketOptions) {
    if (!(opts.ratePerSecond >= 0) || !Number.isFinite(opts.ratePerSecond)) throw new RangeError('ratePerSecond must be a finite number >= 0');
    const burst = opts.burst ?? Math.max(1, opts.ratePerSecond);
    if (!(burst > 0) || !Number.isFinite(burst)) throw new RangeError('burst must be a finite number > 0');
    this.ratePerSecond = opts.ratePerSecond;
    this.burst = burst;
    this.#perMs = opts.ratePerSecond / 1000;
    this.#now = opts.now ?? performance.now.bind(performance);
    this.#tokens = Math.min(opts.initial ?? burst, burst);
    this.#stamp = this.#now();
  }

  get unlimited(): boolean {
    return this.ratePerSecond === 0;
  }

  /** Tokens held now (negative while in debt after `charge`). */
  tokens(now = this.#now()): number {
    this.#refill(now);
    return this.#tokens;
  }

  /** True when the bucket is full (a keyed map may forget it: a new one is the same). */
  full(now = this.#now()): boolean {
    return this.unlimited || this.tokens(now) >= this.burst;
  }

  /** Takes `n` tokens if there are that many; false (and nothing taken) otherwise. */
  take(n = 1, now = this.#now()): boolean {
    if (this.unlimited) return true;
    this.#refill(now);
    if (this.#tokens < n) return false;
    this.#tokens -= n;
    return true;
  }

  /** Milliseconds until `take(n)` would succeed (0: now; Infinity: never, n > burst). */
  waitMs(n = 1, now = this.#now()): number {
    if (this.unlimited) return 0;
    if (n > this.burst) return Infinity;
    this.#refill(now);
    return this.#tokens >= n ? 0 : (n - this.#tokens) / this.#perMs;
  }

  /**
   * Spends `n` tokens unconditionally (the balance may go negative, at most to
   * -n). Returns the milliseconds until the balance is back to zero: how long the
   * caller should stop reading (0: no pause).
   */
  charge(n: number, now = this.#now()): number {
    if (this.unlimited) return 0;
    this.#refill(now);
    this.#tokens -= n;
    return this.#tokens >= 0 ? 0 : -this.#tokens / this.#perMs;
  }

  #refill(now: number): void {
    const elapsed = now - this.#stamp;
    this.#stamp = now;
    if (elapsed <= 0) return;
    const t = this.#tokens + elapsed * this.#perMs;
    this.#tokens = t > this.burst ? this.burst : t;
  }
}
