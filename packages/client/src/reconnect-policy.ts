/**
 * What a close code means for reconnecting (docs/protocol.md §4: "immediately",
 * "backoff", "no"), and the delay before the next attempt: capped exponential
 * backoff with full jitter, a short random delay for "immediately", and the
 * gateway's `retry_after` when it gave one (plus jitter, except for the refusals
 * whose delay the gateway has spread at random already, docs/protocol.md §1).
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

/** A retry_after EVENT: its delay and the error code of the refusal that followed. */
export interface RetryAfter {
  readonly ms: number;
  readonly code: string | undefined;
}

/**
 * Refusals whose Retry-After the gateway already spread at random over its backlog:
 * honoured as given (docs/protocol.md §1, "Handshake refusals"), no jitter on top.
 */
export const SPREAD_RETRY_AFTER: ReadonlySet<string> = new Set(['STRATIX_ERR_ADMISSION_LIMITED', 'STRATIX_ERR_OVERLOADED']);

/** The delay before each next attempt. `reset()` once a connection has proved stable. */
export class ReconnectPolicy {
  readonly #o: ReconnectOptions;
  readonly #random: () => number;
  #attempt = 0;

  constructor(o: ReconnectOptions, random: () => number = Math.random) {
    this.#o = o;
    this.#random = random;
  }

  /** Attempts since the last reset(). */
  get attempt(): number {
    return this.#attempt;
  }

  reset(): void {
    this.#attempt = 0;
  }

  /**
   * The delay after a close with `advice` (undefined: the connection failed or broke),
   * `retryAfter` from the gateway's retry_after EVENT if it sent one: its delay plus a
   * random 0..initialDelayMs, or exactly its delay for the SPREAD_RETRY_AFTER codes.
   */
  next(advice: Advice | undefined, retryAfter?: RetryAfter): number {
    const o = this.#o;
    const attempt = this.#attempt++;
    if (retryAfter !== undefined) {
      if (retryAfter.code !== undefined && SPREAD_RETRY_AFTER.has(retryAfter.code)) return retryAfter.ms;
      return retryAfter.ms + Math.round(this.#random() * o.initialDelayMs);
    }
    if (advice === 'immediately') return Math.round(this.#random() * o.immediateMaxDelayMs);
    const ceiling = Math.min(o.maxDelayMs, o.initialDelayMs * 2 ** Math.min(attempt, 30));
    return Math.round(this.#random() * ceiling);
  }
}
