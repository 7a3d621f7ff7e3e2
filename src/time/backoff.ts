/**
 * Capped exponential backoff with full jitter: the n-th wait is uniform in
 * [0, min(maxMs, initialMs * 2^n)], so a fleet of gateways that lost etcd together
 * does not reconnect in lockstep. `reset()` after a success.
 */
import { setTimeout as sleep } from 'node:timers/promises';

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  /** Source of randomness in [0, 1); injectable for tests. */
  random?: () => number;
}

export class Backoff {
  readonly #initialMs: number;
  readonly #maxMs: number;
  readonly #random: () => number;
  #attempt = 0;

  constructor(opts: BackoffOptions) {
    this.#initialMs = Math.max(1, opts.initialMs);
    this.#maxMs = Math.max(this.#initialMs, opts.maxMs);
    this.#random = opts.random ?? Math.random;
  }

  /** The next wait in ms; each call doubles the ceiling up to maxMs. */
  next(): number {
    const ceiling = Math.min(this.#maxMs, this.#initialMs * 2 ** Math.min(this.#attempt, 30));
    this.#attempt++;
    return Math.round(this.#random() * ceiling);
  }

  reset(): void {
    this.#attempt = 0;
  }

  /** Waits for the next delay (at most `capMs`); resolves false, without throwing, when `signal` aborts first. */
  async wait(signal: AbortSignal, capMs = Infinity): Promise<boolean> {
    if (signal.aborted) return false;
    try {
      await sleep(Math.max(0, Math.min(capMs, this.next())), undefined, { signal });
      return true;
    } catch {
      return false;
    }
  }
}
