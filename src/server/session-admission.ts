/**
 * Admission for one gateway process, between the parsed upgrade and the session
 * (docs/security.md): the HandshakeGuard's checks (Origin, credentials, clientId
 * rate), room in the upstream's connect queue, the per-source limits when this
 * process sees every handshake itself (standalone; in a cluster the primary does
 * them), the duplicate-clientId policy, and the pacing of upstream connects.
 *
 * Source accounting in worker mode: the primary counted the connection against its
 * source before the hand-off; `adopted` remembers the source on the socket, and the
 * process reports its end (`onSourceReleased`) exactly once: when the socket closes
 * without becoming a session, or when its session ends.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { Gauge, type Registry } from 'prom-client';
import { SourceAdmission } from '../admission/source-admission.js';
import { UpstreamGate } from '../admission/upstream-gate.js';
import type { Config } from '../config/schema.js';
import { handshakeError, type HandshakeError } from '../errors.js';
import { CloseCode } from '../protocol/close-codes.js';
import type { Session, UpstreamRequest } from '../relay/session.js';
import { TrustedProxies } from '../security/client-address.js';
import { HandshakeGuard } from '../security/handshake-guard.js';

const kSource = Symbol('stratix.source');
type SourcedSocket = Socket & { [kSource]?: { source: string; admission: SessionAdmission } };

/** Seconds a client refused for a full upstream queue is told to wait. */
const UPSTREAM_BUSY_RETRY_AFTER_S = '2';
export const TAKEN_OVER_REASON = 'taken over by a newer connection';

export interface SessionAdmissionOptions {
  readonly config: Config;
  readonly logger: Logger;
  readonly registry: Registry;
  readonly workers: number;
  /** This process sees every handshake (standalone): apply the per-source and instance limits here. */
  readonly admitSources: boolean;
  /** Worker mode: a connection the primary counted against `source` has ended. */
  readonly onSourceReleased?: (source: string) => void;
  /** Opens a queued session's upstream when its turn comes. */
  readonly connect: (session: Session, request: UpstreamRequest) => void;
}

export class SessionAdmission {
  readonly guard: HandshakeGuard<Session>;
  readonly trusted: TrustedProxies;
  readonly #sources: SourceAdmission | undefined;
  readonly #onSourceReleased: ((source: string) => void) | undefined;
  readonly #sessionSources = new Map<Session, string>();
  readonly #gate: UpstreamGate<Session>;
  readonly #queued = new Map<Session, UpstreamRequest>();
  readonly #connectTimeoutMs: number;

  constructor(opts: SessionAdmissionOptions) {
    const c = opts.config;
    this.guard = new HandshakeGuard<Session>({ config: c, logger: opts.logger, registry: opts.registry, workers: opts.workers });
    this.trusted = new TrustedProxies(c.gateway.trustedProxies);
    this.#sources = opts.admitSources ? new SourceAdmission(c.admission) : undefined;
    this.#onSourceReleased = opts.onSourceReleased;
    this.#connectTimeoutMs = c.upstream.connectTimeoutMs;
    const u = c.admission.upstream;
    const share = (n: number): number => (n === 0 ? 0 : Math.max(1, Math.ceil(n / opts.workers)));
    this.#gate = new UpstreamGate<Session>(
      { maxConcurrent: share(u.maxConcurrentConnects), ratePerSecond: u.connectsPerSecond / opts.workers, burst: share(u.connectBurst), maxWaiting: share(u.maxWaiting) },
      (s) => {
        const request = this.#queued.get(s);
        this.#queued.delete(s);
        if (request !== undefined) opts.connect(s, request);
      },
    );
    const registers = [opts.registry];
    const gate = this.#gate;
    new Gauge({ name: 'stratix_upstream_connects_waiting', help: 'Upstream connects waiting for their turn (admission.upstream).', registers, collect() { this.set(gate.waiting); } });
    new Gauge({ name: 'stratix_upstream_connects_in_flight', help: 'Upstream connects in flight.', registers, collect() { this.set(gate.inFlight); } });
    const sources = this.#sources;
    if (sources !== undefined) {
      new Gauge({ name: 'stratix_source_connections', help: 'Open connections counted against their source address.', registers, collect() { this.set(sources.open); } });
    }
  }

  start(): Promise<void> {
    return this.guard.start();
  }

  /** Worker mode: `socket` was counted against `source` by the primary. */
  adopted(socket: Socket, source: string): void {
    const s = socket as SourcedSocket;
    s[kSource] = { source, admission: this };
    s.once('close', onAdoptedClose);
  }

  /** The source of a request: the primary's attribution (worker mode) or the peer / trusted proxy's header. */
  sourceOf(req: IncomingMessage): string {
    const tagged = (req.socket as SourcedSocket)[kSource];
    if (tagged !== undefined) return tagged.source;
    return this.trusted.clientAddress(req.socket.remoteAddress ?? '', headerOf(req.headers['x-forwarded-for']));
  }

  /** Everything but credentials that needs no async work: sources (standalone) and the upstream queue. */
  checkLimits(req: IncomingMessage, target: string): HandshakeError | undefined {
    if (!this.#gate.canQueue(target)) return handshakeError('UPSTREAM_BUSY', undefined, { 'Retry-After': UPSTREAM_BUSY_RETRY_AFTER_S });
    return this.#sources?.check(this.sourceOf(req));
  }

  /**
   * After the checks pass, just before the 101: the duplicate policy. Returns the
   * refusal (reject) or the sessions to take over (closed by `admit`).
   */
  decideDuplicate(clientId: string): HandshakeError | readonly Session[] {
    const d = this.guard.duplicates.decide(clientId);
    if (d.kind === 'reject') return handshakeError('CLIENT_ID_IN_USE');
    return d.kind === 'takeover' ? d.previous : [];
  }

  /**
   * The session exists (its 101 is written): register it, close what it took over,
   * and ask for its upstream connect: true = connect now; false = queued (`connect` is
   * called when its turn comes).
   */
  admit(session: Session, req: IncomingMessage, takenOver: readonly Session[], request: UpstreamRequest): boolean {
    for (const old of takenOver) old.close(CloseCode.TAKEN_OVER, TAKEN_OVER_REASON);
    this.guard.duplicates.register(session.clientId, session);
    const socket = req.socket as SourcedSocket;
    const tagged = socket[kSource];
    if (tagged !== undefined) {
      socket[kSource] = undefined;
      socket.removeListener('close', onAdoptedClose);
      this.#sessionSources.set(session, tagged.source);
    } else if (this.#sources !== undefined) {
      const source = this.sourceOf(req);
      this.#sources.acquire(source, 0);
      this.#sessionSources.set(session, source);
    }
    // Queued first: the gate may start it within request() when older waiters go ahead.
    this.#queued.set(session, request);
    if (!this.#gate.request(session.target, session)) return false;
    this.#queued.delete(session);
    return true;
  }

  /** The upstream connect of `session` is over (opened or failed). */
  connectEnded(session: Session): void {
    this.#gate.done(session);
  }

  /** The session is gone. */
  ended(session: Session): void {
    this.#gate.done(session);
    this.#queued.delete(session);
    this.guard.duplicates.unregister(session.clientId, session);
    const source = this.#sessionSources.get(session);
    if (source === undefined) return;
    this.#sessionSources.delete(session);
    this.#release(source);
  }

  /** Owner's tick: sessions that waited too long for an upstream connect slot get 4522. */
  tick(): void {
    this.#gate.expire(this.#connectTimeoutMs, (s) => {
      this.#gate.done(s);
      this.#queued.delete(s);
      s.close(CloseCode.UPSTREAM_TIMEOUT, `upstream connect queue: no turn within ${this.#connectTimeoutMs} ms`);
    });
  }

  close(): void {
    this.#gate.close();
    this.guard.close();
  }

  #release(source: string): void {
    if (this.#sources !== undefined) this.#sources.release(source, 0);
    else this.#onSourceReleased?.(source);
  }

  /** For onAdoptedClose. */
  releaseAdopted(source: string): void {
    this.#release(source);
  }
}

function onAdoptedClose(this: SourcedSocket): void {
  const tagged = this[kSource];
  if (tagged === undefined) return;
  this[kSource] = undefined;
  tagged.admission.releaseAdopted(tagged.source);
}

function headerOf(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(', ') : v;
}
