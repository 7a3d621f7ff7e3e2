/**
 * The nonces of accepted signed handshakes, so that each is accepted once.
 *
 * A signature is valid while its `ts` is within `skewMs` of the clock, so a nonce
 * must be remembered for 2 × skewMs after it is seen (ts may be up to skewMs in the
 * future). Two generations do that without a timer or an ordered index: a nonce
 * goes into `current`; every 2 × skewMs `current` becomes `previous` and the old
 * `previous` is dropped whole; a lookup checks both. Each nonce is thus held
 * between 2 × skewMs and 4 × skewMs.
 *
 * Bounded: at most `maxEntries` nonces in both generations together. When full,
 * `add` answers `full` and the handshake is refused (503): accepting without
 * remembering would let a replay through. Per process: the same clientId always
 * reaches the same worker, so replay protection holds within one instance, not
 * across instances.
 */
import type { Clock } from '../admission/token-bucket.js';

export type NonceOutcome = 'fresh' | 'replayed' | 'full';

export class NonceCache {
  readonly maxEntries: number;
  readonly generationMs: number;
  readonly #now: Clock;
  #current = new Set<string>();
  #previous = new Set<string>();
  #rotatedAt: number;

  constructor(opts: { skewMs: number; maxEntries: number; now?: Clock }) {
    this.maxEntries = opts.maxEntries;
    this.generationMs = 2 * opts.skewMs;
    this.#now = opts.now ?? performance.now.bind(performance);
    this.#rotatedAt = this.#now();
  }

  get size(): number {
    this.#rotate();
    return this.#current.size + this.#previous.size;
  }

  /** Records `key` (clientId + nonce) once; says whether it was new. */
  add(key: string): NonceOutcome {
    this.#rotate();
    if (this.#current.has(key) || this.#previous.has(key)) return 'replayed';
    if (this.#current.size + this.#previous.size >= this.maxEntries) return 'full';
    this.#current.add(key);
    return 'fresh';
  }

  #rotate(): void {
    const now = this.#now();
    const elapsed = now - this.#rotatedAt;
    if (elapsed < this.generationMs) return;
    // After two generations without a rotation both sets are stale.
    this.#previous = elapsed >= 2 * this.generationMs ? new Set() : this.#current;
    this.#current = new Set();
    this.#rotatedAt = now;
  }
}
