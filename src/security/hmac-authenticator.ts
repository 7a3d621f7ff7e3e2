/**
 * Verifies signed handshakes (handshake-signature.ts): the kid names an active key,
 * ts is within maxSkewMs of the wall clock, the signature verifies, and the nonce
 * was not accepted before (nonce-cache.ts) — checked in that order, so requests
 * that do not verify never take room in the nonce cache.
 *
 * Keys: every file of auth.hmac.keysDir, reloaded on a change (watch) and on
 * reload(); a reload that fails keeps the keys in use and is logged.
 */
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Clock } from '../admission/token-bucket.js';
import type { AuthConfig } from '../config/security-schema.js';
import { AuthRefusal, type Authenticator, type Credentials } from './auth-refusal.js';
import { DirectoryWatch } from './file-watch.js';
import { readSignedParams, verifySignature } from './handshake-signature.js';
import { loadHmacKeyring, type HmacKeyring } from './key-files.js';
import { NonceCache } from './nonce-cache.js';

export interface HmacAuthenticatorOptions {
  readonly config: NonNullable<AuthConfig['hmac']>;
  /** This process's share of nonceCacheEntries. */
  readonly nonceCacheEntries: number;
  readonly logger: Logger;
  readonly registry: Registry;
  /** Wall clock, ms since the epoch (ts is compared with it). */
  readonly wallClock?: Clock;
  /** Monotonic clock for the nonce generations. */
  readonly now?: Clock;
}

export class HmacAuthenticator implements Authenticator {
  readonly #skewMs: number;
  readonly #dir: string;
  readonly #logger: Logger;
  readonly #wall: Clock;
  readonly #nonces: NonceCache;
  readonly #reloads: Counter<'result'>;
  readonly #watch: DirectoryWatch | undefined;
  #keys: HmacKeyring;

  /** Loads the keys now: throws KeyFileError when they cannot be used. */
  constructor(opts: HmacAuthenticatorOptions) {
    this.#skewMs = opts.config.maxSkewMs;
    this.#dir = opts.config.keysDir;
    this.#logger = opts.logger;
    this.#wall = opts.wallClock ?? Date.now;
    this.#keys = loadHmacKeyring(this.#dir);
    this.#nonces = new NonceCache({ skewMs: this.#skewMs, maxEntries: opts.nonceCacheEntries, now: opts.now });
    const registers = [opts.registry];
    this.#reloads = new Counter({ name: 'stratix_auth_key_reloads_total', help: 'Reloads of auth key files, by result (ok, error: the old keys stay).', labelNames: ['result'], registers });
    const self = this;
    new Gauge({ name: 'stratix_auth_keys', help: 'Active auth keys (HMAC kids).', registers, aggregator: 'max', collect() { this.set(self.#keys.size); } });
    new Gauge({ name: 'stratix_nonce_cache_entries', help: 'Nonces remembered for replay protection (summed over workers).', registers, collect() { this.set(self.#nonces.size); } });
    new Gauge({ name: 'stratix_nonce_cache_capacity', help: 'The bound of the nonce cache (summed over workers).', registers, collect() { this.set(self.#nonces.maxEntries); } });
    this.#watch = opts.config.watch ? new DirectoryWatch(this.#dir, () => void this.reload(), opts.logger) : undefined;
  }

  get kids(): string[] {
    return [...this.#keys.keys()];
  }

  verify(c: Credentials): AuthRefusal | undefined {
    const h = readSignedParams(c.query);
    if (h === 'missing') {
      const tokenInstead = c.query.has('token') || c.authorization !== undefined;
      return tokenInstead ? new AuthRefusal('malformed', 'auth.mode is hmac: sign the handshake (kid, ts, nonce, sig); tokens are not accepted') : new AuthRefusal('missing');
    }
    if (h === 'malformed') return new AuthRefusal('malformed', 'kid, ts, nonce and sig must each appear once and be well-formed (docs/protocol.md)');
    const secret = this.#keys.get(h.kid);
    if (secret === undefined) return new AuthRefusal('unknown_kid', 'no active key has this kid');
    const skew = Number(h.ts) - this.#wall();
    if (skew > this.#skewMs || skew < -this.#skewMs) return new AuthRefusal('expired', `ts is ${Math.round(skew / 1000)} s from the gateway clock (allowed: ${this.#skewMs / 1000} s)`);
    if (!verifySignature(secret, c.clientId, h)) return new AuthRefusal('bad_signature', 'the signature does not verify');
    const seen = this.#nonces.add(`${c.clientId}\n${h.nonce}`);
    if (seen === 'replayed') return new AuthRefusal('replayed');
    if (seen === 'full') return new AuthRefusal('nonce_cache_full');
    return undefined;
  }

  async reload(): Promise<void> {
    try {
      const keys = loadHmacKeyring(this.#dir);
      this.#keys = keys;
      this.#reloads.inc({ result: 'ok' });
      this.#logger.info({ kids: [...keys.keys()] }, 'HMAC keys loaded');
    } catch (err) {
      this.#reloads.inc({ result: 'error' });
      this.#logger.error({ err: (err as Error).message, kept: [...this.#keys.keys()] }, 'HMAC keys not reloaded; the old keys stay');
    }
  }

  close(): void {
    this.#watch?.close();
  }
}
