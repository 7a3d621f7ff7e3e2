/**
 * What a worker checks on an upgrade before any session exists (docs/security.md):
 * the Origin, the credentials, the clientId's handshake rate, room in the upstream's
 * connect queue. A refusal is a HandshakeError (HTTP status, or a close code for
 * stratix.v1 clients), counted by code (stratix_handshake_rejections_total) and,
 * for credentials, by reason (stratix_auth_refusals_total). The duplicate-clientId
 * decision comes after these (so that a request without valid credentials can
 * never take a session over) and is the gateway's, through `duplicates`.
 */
import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import { ClientIdRegistry } from '../admission/client-id-registry.js';
import { KeyedBuckets } from '../admission/keyed-buckets.js';
import type { Config } from '../config/schema.js';
import { handshakeError, type HandshakeError } from '../errors.js';
import { AuthRefusal, type Authenticator } from './auth-refusal.js';
import { createAuthenticator } from './authenticators.js';
import { OriginPolicy } from './origin-policy.js';
import { redactTarget } from './redact.js';

export interface HandshakeGuardOptions {
  readonly config: Config;
  readonly logger: Logger;
  readonly registry: Registry;
  /** Worker processes of the instance (per-instance bounds are split between them). */
  readonly workers: number;
}

export class HandshakeGuard<Holder extends object> {
  readonly duplicates: ClientIdRegistry<Holder>;
  readonly #config: Config;
  readonly #logger: Logger;
  readonly #registry: Registry;
  readonly #workers: number;
  readonly #origins: OriginPolicy;
  readonly #clientRate: KeyedBuckets;
  readonly #authRefusals: Counter<'reason'>;
  #auth: Authenticator | undefined;

  constructor(opts: HandshakeGuardOptions) {
    const c = opts.config;
    this.#config = c;
    this.#logger = opts.logger;
    this.#registry = opts.registry;
    this.#workers = opts.workers;
    this.#origins = new OriginPolicy(c.auth.allowedOrigins, c.auth.allowMissingOrigin);
    const id = c.admission.clientId;
    this.#clientRate = new KeyedBuckets({ ratePerSecond: id.handshakesPerSecond, burst: id.handshakeBurst, maxKeys: Math.ceil(id.maxTracked / opts.workers) });
    this.duplicates = new ClientIdRegistry<Holder>(c.admission.duplicateClientId);
    const registers = [opts.registry];
    this.#authRefusals = new Counter({ name: 'stratix_auth_refusals_total', help: 'Handshakes refused for their credentials or Origin, by reason.', labelNames: ['reason'], registers });
    const self = this;
    new Gauge({ name: 'stratix_client_ids_held', help: 'clientIds held by a connection (duplicate policy takeover/reject; 0 under allow).', registers, collect() { this.set(self.duplicates.size); } });
    new Counter({
      name: 'stratix_duplicate_client_ids_total',
      help: 'Connections whose clientId was already held, by what happened (taken_over, rejected).',
      labelNames: ['outcome'],
      registers,
      collect() {
        this.reset();
        this.inc({ outcome: 'taken_over' }, self.duplicates.takeovers);
        this.inc({ outcome: 'rejected' }, self.duplicates.rejections);
      },
    });
    new Gauge({ name: 'stratix_client_id_rate_tracked', help: 'clientIds tracked for the per-clientId handshake rate.', registers, collect() { this.set(self.#clientRate.size); } });
    new Counter({
      name: 'stratix_rate_limit_evictions_total',
      help: 'Rate-limit buckets forgotten before they refilled because their map was full, by limit.',
      labelNames: ['limit'],
      registers,
      collect() {
        this.reset();
        this.inc({ limit: 'client_id' }, self.#clientRate.evicted);
      },
    });
  }

  /** Loads the keys (throws KeyFileError) and makes the first JWKS fetch. */
  async start(): Promise<void> {
    this.#auth = await createAuthenticator(this.#config.auth, { logger: this.#logger, registry: this.#registry, workers: this.#workers });
  }

  get authenticates(): boolean {
    return this.#auth !== undefined;
  }

  /** HMAC: the active kids (for tests and the admin view). */
  get kids(): string[] {
    const a = this.#auth as { kids?: string[] } | undefined;
    return a?.kids ?? [];
  }

  /** Origin, credentials, clientId rate. Sync unless the credentials need async work (JWT). */
  check(req: IncomingMessage, clientId: string): HandshakeError | undefined | Promise<HandshakeError | undefined> {
    if (!this.#origins.allows(headerOf(req.headers.origin))) return this.#refusedAuth(new AuthRefusal('origin'), req);
    const auth = this.#auth;
    if (auth === undefined) return this.#rate(clientId);
    const url = req.url ?? '';
    const q = url.indexOf('?');
    const verdict = auth.verify({ clientId, query: new URLSearchParams(q === -1 ? '' : url.slice(q + 1)), authorization: headerOf(req.headers.authorization) });
    if (verdict instanceof Promise) return verdict.then((r) => (r === undefined ? this.#rate(clientId) : this.#refusedAuth(r, req)));
    return verdict === undefined ? this.#rate(clientId) : this.#refusedAuth(verdict, req);
  }

  /** SIGHUP / the primary's request: re-read key files. */
  reload(): Promise<void> {
    return this.#auth?.reload() ?? Promise.resolve();
  }

  close(): void {
    this.#auth?.close();
  }

  /** The gateway's tick: forgets per-clientId rate buckets that have refilled. */
  tick(): void {
    this.#clientRate.sweep();
  }

  #rate(clientId: string): HandshakeError | undefined {
    if (this.#clientRate.take(clientId)) return undefined;
    const s = Math.max(1, Math.ceil(this.#clientRate.waitMs(clientId) / 1000));
    return handshakeError('CLIENT_RATE_LIMITED', undefined, { 'Retry-After': String(s) });
  }

  #refusedAuth(r: AuthRefusal, req: IncomingMessage): HandshakeError {
    this.#authRefusals.inc({ reason: r.reason });
    this.#logger.debug({ reason: r.reason, code: r.error.code, url: redactTarget(req.url ?? ''), peer: req.socket.remoteAddress }, 'handshake refused: credentials');
    return r.error;
  }
}

function headerOf(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(', ') : v;
}
