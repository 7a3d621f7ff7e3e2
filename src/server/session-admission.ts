/**
 * Admission for one gateway process, between the parsed upgrade and the session
 * (docs/security.md): the HandshakeGuard's checks (Origin, credentials, clientId
 * rate), room in the upstream's connect queue, the per-source limits when this
 * process sees every handshake itself (standalone; in a cluster the primary does
 * them), the duplicate-clientId policy, and the pacing of upstream connects.
 *
 * Source accounting: a connection counted against its source (by the primary before
 * the hand-off, or here when standalone) carries a ticket that is released exactly
 * once, when the connection closes, whoever owns it by then (a refused socket, a
 * verbatim session, a reliable session's client leg): relay/shared-reads.ts moves the
 * listener when it replaces the socket object.
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
import type { GatewaySession } from './gateway-session.js';
import { TrustedProxies } from '../security/client-address.js';
import { HandshakeGuard } from '../security/handshake-guard.js';
import { carryClose, type ConnectionCloseListener } from '../relay/shared-reads.js';

/** One connection counted against its source address; released once, when the connection closes. */
class SourceTicket implements ConnectionCloseListener {
  readonly source: string;
  readonly #release: (source: string) => void;
  constructor(source: string, release: (source: string) => void) {
    this.source = source;
    this.#release = release;
  }
  onConnectionClosed(): void {
    this.#release(this.source);
  }
}

const kTicket = Symbol('stratix.sourceTicket');
type TicketedSocket = Socket & { [kTicket]?: SourceTicket };

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

/** A reliable session's connect waiting for its turn in the per-upstream gate. */
export interface PacedConnect {
  readonly target: string;
  /** Its turn came: start the connect. */
  connectTurn(): void;
  /** It waited upstream.connectTimeoutMs without a turn. */
  connectQueueTimedOut(): void;
}

export class SessionAdmission {
  /** Holds every kind of session: verbatim ones from their 101, reliable ones from their HELLO. */
  readonly guard: HandshakeGuard<GatewaySession>;
  readonly trusted: TrustedProxies;
  readonly #sources: SourceAdmission | undefined;
  readonly #release: (source: string) => void;
  /** Verbatim sessions and reliable ones (PacedConnect) share the per-upstream lanes. */
  readonly #gate: UpstreamGate<Session | PacedConnect>;
  readonly #queued = new Map<Session, UpstreamRequest>();
  /** Sessions admitted under takeover whose upstream is not open yet, with the holders they will take over once it is. */
  readonly #takingOver = new Map<Session, readonly GatewaySession[]>();
  readonly #connectTimeoutMs: number;

  constructor(opts: SessionAdmissionOptions) {
    const c = opts.config;
    this.guard = new HandshakeGuard<GatewaySession>({ config: c, logger: opts.logger, registry: opts.registry, workers: opts.workers });
    this.trusted = new TrustedProxies(c.gateway.trustedProxies);
    this.#sources = opts.admitSources ? new SourceAdmission(c.admission) : undefined;
    const sources = this.#sources;
    const report = opts.onSourceReleased;
    this.#release = sources !== undefined ? (source) => sources.release(source, 0) : (source) => report?.(source);
    this.#connectTimeoutMs = c.upstream.connectTimeoutMs;
    const u = c.admission.upstream;
    const share = (n: number): number => (n === 0 ? 0 : Math.max(1, Math.ceil(n / opts.workers)));
    this.#gate = new UpstreamGate<Session | PacedConnect>(
      { maxConcurrent: share(u.maxConcurrentConnects), ratePerSecond: u.connectsPerSecond / opts.workers, burst: share(u.connectBurst), maxWaiting: share(u.maxWaiting) },
      (s) => {
        const request = this.#queued.get(s as Session);
        if (request !== undefined) {
          this.#queued.delete(s as Session);
          opts.connect(s as Session, request);
        } else if ('connectTurn' in s) s.connectTurn();
      },
    );
    const registers = [opts.registry];
    const gate = this.#gate;
    new Gauge({ name: 'stratix_upstream_connects_waiting', help: 'Upstream connects waiting for their turn (admission.upstream).', registers, collect() { this.set(gate.waiting); } });
    new Gauge({ name: 'stratix_upstream_connects_in_flight', help: 'Upstream connects in flight.', registers, collect() { this.set(gate.inFlight); } });
    if (sources !== undefined) {
      new Gauge({ name: 'stratix_source_connections', help: 'Open connections counted against their source address.', registers, collect() { this.set(sources.open); } });
    }
  }

  start(): Promise<void> {
    return this.guard.start();
  }

  /** Worker mode: `socket` was counted against `source` by the primary. */
  adopted(socket: Socket, source: string): void {
    this.#ticket(socket, source);
  }

  /** The source of a request: the primary's attribution (worker mode) or the peer / trusted proxy's header. */
  sourceOf(req: IncomingMessage): string {
    const tagged = (req.socket as TicketedSocket)[kTicket];
    if (tagged !== undefined) return tagged.source;
    return this.trusted.clientAddress(req.socket.remoteAddress ?? '', headerOf(req.headers['x-forwarded-for']));
  }

  /**
   * Everything but credentials that needs no async work: room in the upstream's queue
   * and, standalone, the per-source and instance limits (a connection let in is then
   * counted against its source until it closes).
   */
  checkLimits(req: IncomingMessage, target: string): HandshakeError | undefined {
    if (!this.#gate.canQueue(target)) return handshakeError('UPSTREAM_BUSY', undefined, { 'Retry-After': UPSTREAM_BUSY_RETRY_AFTER_S });
    const sources = this.#sources;
    if (sources === undefined || (req.socket as TicketedSocket)[kTicket] !== undefined) return undefined;
    const source = this.sourceOf(req);
    const refused = sources.check(source);
    if (refused !== undefined) return refused;
    sources.acquire(source, 0);
    this.#ticket(req.socket, source);
    return undefined;
  }

  /**
   * After the checks pass, just before the 101: the duplicate policy. Returns the
   * refusal (reject) or the sessions to take over (closed by `admit`).
   */
  decideDuplicate(clientId: string): HandshakeError | readonly GatewaySession[] {
    const d = this.guard.duplicates.decide(clientId);
    if (d.kind === 'reject') return handshakeError('CLIENT_ID_IN_USE');
    return d.kind === 'takeover' ? d.previous : [];
  }

  /** The new connection for `clientId` is admitted under takeover: the previous holders that still hold it get 4410. */
  takeOver(clientId: string, previous: readonly GatewaySession[]): void {
    for (const old of this.guard.duplicates.takeOver(clientId, previous)) old.close(CloseCode.TAKEN_OVER, TAKEN_OVER_REASON);
  }

  /**
   * The session exists (its 101 is written): register it, close what it took over,
   * and ask for its upstream connect (`request`; none when the upstream is already
   * open): true = connect now; false = queued (`connect` is called when its turn comes).
   */
  admit(session: Session, takenOver: readonly GatewaySession[], request?: UpstreamRequest): boolean {
    this.guard.duplicates.register(session.clientId, session);
    if (request === undefined) {
      this.takeOver(session.clientId, takenOver);
      return true;
    }
    // A client that is already gone (it gave up waiting for its 101) must not take a live session over: the takeover waits for the upstream.
    if (takenOver.length > 0) this.#takingOver.set(session, takenOver);
    // Queued first: the gate may start it within request() when older waiters go ahead.
    this.#queued.set(session, request);
    if (!this.#gate.request(session.target, session)) return false;
    this.#queued.delete(session);
    return true;
  }

  /** The upstream connect of `session` is over (opened or failed); when it opened, the takeover it waited for is carried out. */
  connectEnded(session: Session, opened: boolean): void {
    this.#gate.done(session);
    const previous = this.#takingOver.get(session);
    if (previous === undefined) return;
    this.#takingOver.delete(session);
    if (opened && session.live && !session.clientGone) this.takeOver(session.clientId, previous);
  }

  /** The session is gone. */
  ended(session: Session): void {
    this.#gate.done(session);
    this.#queued.delete(session);
    this.#takingOver.delete(session);
    this.guard.duplicates.unregister(session.clientId, session);
  }

  /**
   * A new reliable session after its HELLO (a resume of one's own session never comes
   * here): false when the policy rejects it (the caller closes with 4409); else the
   * holders it takes over are closed with 4410 and it holds the clientId.
   */
  admitReliable(session: GatewaySession): boolean {
    const d = this.guard.duplicates.decide(session.clientId);
    if (d.kind === 'reject') return false;
    this.guard.duplicates.register(session.clientId, session);
    if (d.kind === 'takeover') this.takeOver(session.clientId, d.previous);
    return true;
  }

  /** A reliable session is over. */
  reliableEnded(session: GatewaySession): void {
    this.guard.duplicates.unregister(session.clientId, session);
  }

  /**
   * A reliable session's upstream (re)connect, paced like a verbatim session's: true =
   * connect now; false = queued (`connectTurn` is called when its turn comes).
   * `connectDone` when the attempt is over.
   */
  paceConnect(holder: PacedConnect): boolean {
    return this.#gate.request(holder.target, holder);
  }

  connectDone(holder: PacedConnect): void {
    this.#gate.done(holder);
  }

  /** Owner's tick: sessions that waited too long for an upstream connect slot get 4522 (a reliable one retries later). */
  tick(): void {
    this.guard.tick();
    this.#gate.expire(this.#connectTimeoutMs, (s) => {
      this.#gate.done(s);
      if ('connectTurn' in s) {
        s.connectQueueTimedOut();
        return;
      }
      this.#queued.delete(s);
      s.close(CloseCode.UPSTREAM_TIMEOUT, `upstream connect queue: no turn within ${this.#connectTimeoutMs} ms`);
    });
  }

  close(): void {
    this.#gate.close();
    this.guard.close();
  }

  #ticket(socket: Socket, source: string): void {
    const ticket = new SourceTicket(source, this.#release);
    (socket as TicketedSocket)[kTicket] = ticket;
    carryClose(socket, ticket);
  }
}

function headerOf(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(', ') : v;
}
