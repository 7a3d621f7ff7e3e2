/**
 * Admission by network source, for the process that sees every handshake (the
 * primary; a standalone gateway): per source address, a handshake rate and a cap
 * on open connections; for the whole instance, a handshake rate whose refusals get
 * a Retry-After spread over the backlog (retry-after.ts). Checked in that order, so
 * one flooding source is refused before it spends the instance's budget.
 *
 * Open connections are counted per owner (a worker index): the owner reports each
 * end (`release`), and all of an owner's connections are released at once when it
 * dies (`releaseOwner`).
 */
import { handshakeError, type HandshakeError } from '../errors.js';
import type { AdmissionConfig } from '../config/security-schema.js';
import { KeyedBuckets } from './keyed-buckets.js';
import { RetryAfterSpread } from './retry-after.js';
import { TokenBucket, type Clock } from './token-bucket.js';

/** Seconds a source at its connection cap is told to wait. */
const CONNECTIONS_RETRY_AFTER_S = 10;

export class SourceAdmission {
  readonly #maxConnections: number;
  readonly #rate: KeyedBuckets;
  readonly #instance: TokenBucket;
  readonly #spread: RetryAfterSpread;
  readonly #open = new Map<string, number>();
  readonly #byOwner = new Map<number, Map<string, number>>();
  #total = 0;

  constructor(cfg: Pick<AdmissionConfig, 'instance' | 'source'>, opts: { now?: Clock; random?: () => number } = {}) {
    this.#maxConnections = cfg.source.maxConnections;
    this.#rate = new KeyedBuckets({ ratePerSecond: cfg.source.handshakesPerSecond, burst: cfg.source.handshakeBurst, maxKeys: cfg.source.maxTracked, now: opts.now });
    this.#instance = new TokenBucket({ ratePerSecond: cfg.instance.handshakesPerSecond, burst: cfg.instance.handshakeBurst, now: opts.now });
    this.#spread = new RetryAfterSpread({ ratePerSecond: cfg.instance.handshakesPerSecond, maxSeconds: cfg.instance.retryAfterMaxSeconds, now: opts.now, random: opts.random });
  }

  /** Open connections counted now, over all sources. */
  get open(): number {
    return this.#total;
  }

  /** Source addresses with open connections. */
  get sources(): number {
    return this.#open.size;
  }

  /** Source addresses tracked for the handshake rate, and how many were evicted early. */
  get rateTracked(): { size: number; evicted: number } {
    return { size: this.#rate.size, evicted: this.#rate.evicted };
  }

  connections(source: string): number {
    return this.#open.get(source) ?? 0;
  }

  /** The refusal for a new handshake from `source`, or undefined to let it in (not yet counted as open: see acquire). */
  check(source: string): HandshakeError | undefined {
    if (!this.#rate.take(source)) {
      const s = Math.max(1, Math.ceil(this.#rate.waitMs(source) / 1000));
      return handshakeError('SOURCE_RATE_LIMITED', undefined, { 'Retry-After': String(s) });
    }
    if (this.#maxConnections > 0 && this.connections(source) >= this.#maxConnections) {
      return handshakeError('SOURCE_CONNECTIONS', undefined, { 'Retry-After': String(CONNECTIONS_RETRY_AFTER_S) });
    }
    if (!this.#instance.take()) return handshakeError('ADMISSION_LIMITED', undefined, { 'Retry-After': String(this.#spread.next()) });
    return undefined;
  }

  /** Counts an open connection from `source`, held by `owner`. */
  acquire(source: string, owner: number): void {
    this.#open.set(source, (this.#open.get(source) ?? 0) + 1);
    let mine = this.#byOwner.get(owner);
    if (mine === undefined) this.#byOwner.set(owner, (mine = new Map()));
    mine.set(source, (mine.get(source) ?? 0) + 1);
    this.#total++;
  }

  /** `owner` reports that a connection from `source` ended. */
  release(source: string, owner: number, n = 1): void {
    const mine = this.#byOwner.get(owner);
    const held = mine?.get(source) ?? 0;
    const k = Math.min(n, held);
    if (k <= 0) return;
    if (held === k) mine!.delete(source);
    else mine!.set(source, held - k);
    this.#drop(source, k);
  }

  /** Every connection `owner` held has ended (the worker died). */
  releaseOwner(owner: number): void {
    const mine = this.#byOwner.get(owner);
    if (mine === undefined) return;
    this.#byOwner.delete(owner);
    for (const [source, n] of mine) this.#drop(source, n);
  }

  #drop(source: string, n: number): void {
    const left = (this.#open.get(source) ?? 0) - n;
    if (left > 0) this.#open.set(source, left);
    else this.#open.delete(source);
    this.#total -= n;
  }
}
