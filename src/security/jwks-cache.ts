/**
 * The keys of a JWKS endpoint, kept across its outages. The set is fetched at
 * start, every `refreshIntervalMs`, and when a token names a `kid` the set does not
 * hold (at most once per `cooldownMs`, one fetch at a time). A failed fetch keeps
 * the last good set, which verifies for `maxStaleMs` after it was fetched; past
 * that (or before the first success) there are no keys and tokens are refused
 * with 503 (the gateway cannot tell good from bad), never let through.
 *
 * Metrics: stratix_jwks_fetches_total{result}, stratix_jwks_age_seconds (age of the
 * set in use, -1 without one), stratix_jwks_keys.
 */
import { createLocalJWKSet, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Clock } from '../admission/token-bucket.js';

export interface JwksCacheOptions {
  readonly url: string;
  readonly refreshIntervalMs: number;
  readonly cooldownMs: number;
  readonly timeoutMs: number;
  readonly maxStaleMs: number;
  readonly logger: Logger;
  readonly registry: Registry;
  readonly now?: Clock;
}

const MAX_JWKS_BYTES = 1024 * 1024;

export class JwksCache {
  readonly #o: JwksCacheOptions;
  readonly #now: Clock;
  #keys: JWTVerifyGetKey | undefined;
  #count = 0;
  #fetchedAt = 0;
  #lastAttempt = -Infinity;
  #inFlight: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  readonly #fetches: Counter<'result'>;

  constructor(opts: JwksCacheOptions) {
    this.#o = opts;
    this.#now = opts.now ?? performance.now.bind(performance);
    const registers = [opts.registry];
    this.#fetches = new Counter({ name: 'stratix_jwks_fetches_total', help: 'JWKS fetches, by result (ok, error).', labelNames: ['result'], registers });
    const self = this;
    new Gauge({
      name: 'stratix_jwks_age_seconds',
      help: 'Age of the JWKS key set in use (-1: none; tokens are refused with 503).',
      registers,
      aggregator: 'max',
      collect() {
        this.set(self.usable() ? (self.#now() - self.#fetchedAt) / 1000 : -1);
      },
    });
    new Gauge({
      name: 'stratix_jwks_keys',
      help: 'Keys in the JWKS key set in use.',
      registers,
      aggregator: 'max',
      collect() {
        this.set(self.usable() ? self.#count : 0);
      },
    });
  }

  /** First fetch (awaited: resolves whether or not it worked) and the refresh timer. */
  async start(): Promise<void> {
    this.#timer = setInterval(() => void this.refresh(), this.#o.refreshIntervalMs);
    this.#timer.unref();
    await this.refresh();
  }

  close(): void {
    clearInterval(this.#timer);
  }

  /** A set that is not older than maxStaleMs is held. */
  usable(): boolean {
    return this.#keys !== undefined && this.#now() - this.#fetchedAt <= this.#o.maxStaleMs;
  }

  /** The key lookup for jose, or undefined when no usable set is held. */
  keys(): JWTVerifyGetKey | undefined {
    return this.usable() ? this.#keys : undefined;
  }

  /** An unknown kid: fetch again unless a fetch was tried within cooldownMs. Resolves true if a fetch ran. */
  async refreshForUnknownKid(): Promise<boolean> {
    if (this.#inFlight === undefined && this.#now() - this.#lastAttempt < this.#o.cooldownMs) return false;
    await this.refresh();
    return true;
  }

  /** Fetches the set now (joins a fetch in flight). */
  refresh(): Promise<void> {
    this.#inFlight ??= this.#fetch().finally(() => (this.#inFlight = undefined));
    return this.#inFlight;
  }

  async #fetch(): Promise<void> {
    this.#lastAttempt = this.#now();
    try {
      const res = await fetch(this.#o.url, { signal: AbortSignal.timeout(this.#o.timeoutMs), headers: { accept: 'application/json' }, redirect: 'error' });
      if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
      const text = await res.text();
      if (text.length > MAX_JWKS_BYTES) throw new Error(`larger than ${MAX_JWKS_BYTES} bytes`);
      const set = JSON.parse(text) as JSONWebKeySet;
      const keys = createLocalJWKSet(set); // validates the shape
      this.#keys = keys;
      this.#count = Array.isArray(set.keys) ? set.keys.length : 0;
      this.#fetchedAt = this.#now();
      this.#fetches.inc({ result: 'ok' });
    } catch (err) {
      this.#fetches.inc({ result: 'error' });
      this.#o.logger.warn({ url: this.#o.url, err: (err as Error).message, keptSetAgeMs: this.#keys === undefined ? null : Math.round(this.#now() - this.#fetchedAt) }, 'JWKS fetch failed');
    }
  }
}
