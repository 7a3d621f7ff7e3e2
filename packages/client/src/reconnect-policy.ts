/**
 * What a close code means for reconnecting (docs/protocol.md §4: "immediately",
 * "backoff", "no"), and the delay before the next attempt: capped exponential
 * backoff with full jitter, a short random delay for "immediately", and the
 * gateway's `retry_after` plus jitter when it gave one.
 */

export type Advice = 'immediately' | 'backoff' | 'no';

/**
 * The advice of every close code the gateway sends (the table of docs/protocol.md
 * §4; a test compares the two). Codes not listed (1005, 1006: the connection broke;
 * anything unknown) back off.
 */
export const CLOSE_ADVICE: Readonly<Record<number, Advice>> = Object.freeze({
  1000: 'no',
  1001: 'backoff',
  1002: 'no',
  1003: 'no',
  1007: 'no',
  1008: 'no',
  1009: 'no',
  1011: 'backoff',
  1012: 'immediately',
  1013: 'backoff',
  1014: 'backoff',
  4307: 'immediately',
  4400: 'no',
  4401: 'backoff',
  4403: 'no',
  4404: 'no',
  4408: 'backoff',
  4409: 'backoff',
  4410: 'no',
  4429: 'backoff',
  4502: 'backoff',
  4503: 'backoff',
  4507: 'backoff',
  4520: 'backoff',
  4521: 'backoff',
  4522: 'backoff',
  4523: 'backoff',
});

export function adviceFor(code: number): Advice {
  return CLOSE_ADVICE[code] ?? 'backoff';
}

export interface ReconnectOptions {
  /** The first backoff ceiling (default 1000 ms); it doubles per failed attempt. */
  readonly initialDelayMs: number;
  /** The largest backoff ceiling (default 30000 ms). */
  readonly maxDelayMs: number;
  /** "immediately" codes (1012, 4307) wait a random 0..this (default 5000 ms). */
  readonly immediateMaxDelayMs: number;
}

/** The delay before each next attempt. `reset()` after a WELCOME. */
export class ReconnectPolicy {
  readonly #o: ReconnectOptions;
  readonly #random: () => number;
  #attempt = 0;

  constructor(o: ReconnectOptions, random: () => number = Math.random) {
    this.#o = o;
    this.#random = random;
  }

  /** Failed attempts since the last WELCOME. */
  get attempt(): number {
    return this.#attempt;
  }

  reset(): void {
    this.#attempt = 0;
  }

  /**
   * The delay after a close with `advice` (undefined: the connection failed or broke),
   * `retryAfterMs` from the gateway's retry_after EVENT if it sent one.
   */
  next(advice: Advice | undefined, retryAfterMs: number | undefined): number {
    const o = this.#o;
    const attempt = this.#attempt++;
    if (retryAfterMs !== undefined) return retryAfterMs + Math.round(this.#random() * o.initialDelayMs);
    if (advice === 'immediately') return Math.round(this.#random() * o.immediateMaxDelayMs);
    const ceiling = Math.min(o.maxDelayMs, o.initialDelayMs * 2 ** Math.min(attempt, 30));
    return Math.round(this.#random() * ceiling);
  }
}
