/**
 * Retry-After for clients refused by the instance's handshake rate: spread with
 * jitter over the backlog, so that 100k clients refused in the same second do not
 * all come back in the same later second. The backlog is estimated from the
 * refusals of the last second; the spread is backlog / rate seconds (at least 1,
 * at most `maxSeconds`), and each client gets a uniform random whole second in
 * [1, spread]. At the rate the instance admits, the returning clients then arrive
 * about as fast as they can be taken.
 */
import type { Clock } from './token-bucket.js';

export class RetryAfterSpread {
  readonly #rate: () => number;
  readonly #max: number;
  readonly #now: Clock;
  readonly #random: () => number;
  #windowStart = 0;
  #current = 0;
  #previous = 0;

  /** `ratePerSecond`: what the instance admits, fixed or (a function) measured. */
  constructor(opts: { ratePerSecond: number | (() => number); maxSeconds: number; now?: Clock; random?: () => number }) {
    const rate = opts.ratePerSecond;
    this.#rate = typeof rate === 'number' ? () => rate : rate;
    this.#max = opts.maxSeconds;
    this.#now = opts.now ?? performance.now.bind(performance);
    this.#random = opts.random ?? Math.random;
  }

  /** Records one refusal and returns its Retry-After in whole seconds. */
  next(): number {
    const now = this.#now();
    const elapsed = now - this.#windowStart;
    if (elapsed >= 1_000) {
      this.#previous = elapsed >= 2_000 ? 0 : this.#current;
      this.#current = 0;
      this.#windowStart = now;
    }
    this.#current++;
    // Refusals over the last second: this window plus the unexpired part of the previous one.
    const inWindow = Math.min(1, (now - this.#windowStart) / 1_000);
    const backlog = this.#current + this.#previous * (1 - inWindow);
    const spread = Math.min(this.#max, Math.max(1, Math.ceil(backlog / Math.max(1, this.#rate()))));
    return 1 + Math.floor(this.#random() * spread);
  }
}
