/**
 * Token buckets by key (a source address, a clientId, an upstream), in a bounded
 * map. A key seen for the first time gets a full bucket, so a bucket that has
 * refilled carries no information and may be forgotten: when the map is full,
 * the full buckets are swept out first; only if none is full is the oldest entry
 * evicted (counted in `evicted`: that key gets a fresh bucket next time, which is
 * the one way a bound can favour a client, and it shows in the metric).
 */
import { TokenBucket, type Clock } from './token-bucket.js';

const SWEEP_EVERY_MS = 1_000;

export interface KeyedBucketsOptions {
  readonly ratePerSecond: number;
  readonly burst: number;
  /** Most keys held at once. */
  readonly maxKeys: number;
  readonly now?: Clock;
}

export class KeyedBuckets {
  readonly ratePerSecond: number;
  readonly burst: number;
  readonly maxKeys: number;
  readonly #now: Clock;
  readonly #buckets = new Map<string, TokenBucket>();
  #evicted = 0;
  /** A full sweep costs O(maxKeys): at most one per SWEEP_EVERY_MS, else the oldest goes. */
  #sweptAt = -Infinity;

  constructor(opts: KeyedBucketsOptions) {
    if (!(opts.maxKeys >= 1)) throw new RangeError('maxKeys must be >= 1');
    this.ratePerSecond = opts.ratePerSecond;
    this.burst = opts.burst;
    this.maxKeys = opts.maxKeys;
    this.#now = opts.now ?? performance.now.bind(performance);
  }

  get unlimited(): boolean {
    return this.ratePerSecond === 0;
  }

  /** Keys held now. */
  get size(): number {
    return this.#buckets.size;
  }

  /** Entries dropped while not yet refilled, because the map was full. */
  get evicted(): number {
    return this.#evicted;
  }

  /** Takes `n` tokens from `key`'s bucket. */
  take(key: string, n = 1): boolean {
    if (this.unlimited) return true;
    const now = this.#now();
    return this.#bucket(key, now).take(n, now);
  }

  /** Milliseconds until `take(key, n)` would succeed. */
  waitMs(key: string, n = 1): number {
    if (this.unlimited) return 0;
    return this.#buckets.get(key)?.waitMs(n, this.#now()) ?? 0;
  }

  #bucket(key: string, now: number): TokenBucket {
    let b = this.#buckets.get(key);
    if (b === undefined) {
      if (this.#buckets.size >= this.maxKeys) this.#makeRoom(now);
      b = new TokenBucket({ ratePerSecond: this.ratePerSecond, burst: this.burst, now: this.#now });
      this.#buckets.set(key, b);
    }
    return b;
  }

  /**
   * Forgets the buckets that have refilled (at most once per SWEEP_EVERY_MS): called
   * from the owner's tick, so that a key holds memory only while its bucket says
   * something (clients that opened a connection and stay connected hold none).
   */
  sweep(): void {
    if (this.#buckets.size === 0) return;
    const now = this.#now();
    if (now - this.#sweptAt >= SWEEP_EVERY_MS) this.#sweepFull(now);
  }

  #sweepFull(now: number): void {
    this.#sweptAt = now;
    for (const [k, b] of this.#buckets) if (b.full(now)) this.#buckets.delete(k);
  }

  #makeRoom(now: number): void {
    if (now - this.#sweptAt >= SWEEP_EVERY_MS) {
      this.#sweepFull(now);
      if (this.#buckets.size < this.maxKeys) return;
    }
    const oldest = this.#buckets.keys().next().value;
    if (oldest !== undefined) {
      this.#buckets.delete(oldest);
      this.#evicted++;
    }
  }
}
