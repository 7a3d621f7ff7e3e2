/**
 * The reliable sessions of one gateway process: it implements ReliableHost for its
 * sessions and HelloHost for new `stratix.v1` connections.
 *
 * - The registry: sessions by id (an unguessable 128-bit id, bound to its clientId),
 *   tombstones of recently expired ids (so a late resume learns "expired", not
 *   "unknown"), the detached sessions in detach order (their windows end in that
 *   order), connects waiting to be retried.
 * - The turn: sessions that have something to do call `touch`; one flush per turn
 *   (setImmediate) writes the log batch, then lets each session send what is now
 *   logged (with fsync "always", after the fdatasync that covers it).
 * - The bounds: envelopes buffered by this process (count, bytes in memory), the log
 *   (full, or failing). At a bound, sessions stop reading their upstreams; short of
 *   memory, in-memory copies of sent or detached envelopes are dropped (they are
 *   read back from the log when needed). A log that stays unwritable for
 *   reliable.log.failureTimeoutMs ends its sessions with 4507.
 * - The tick (the gateway's, every 250 ms): HELLO timeouts, windows, reconnects,
 *   the breaker, the log's maintenance, slow clients, HEARTBEAT rounds.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { CloseCode } from '../protocol/close-codes.js';
import type { GatewayMetrics } from '../metrics/gateway-metrics.js';
import type { ConnectTimed, RelaySettings } from '../relay/session.js';
import type { UpstreamRequest } from '../relay/upstream-connect.js';
import type { UpstreamHealth } from '../routing/upstream-health.js';
import type { Clock } from '../time/clock.js';
import { ClientDataScanner } from './client-data-scanner.js';
import type { HelloEnvelope } from './envelope-codec.js';
import { HelloGate, type HelloHost } from './hello-gate.js';
import { sessionBody } from './log-records.js';
import { MessageLog, type FsyncPolicy, type LogFileSystem } from './message-log.js';
import type { ReliableHost, ReliableSettings } from './reliable-host.js';
import { ReliableMetrics, type EndReason } from './reliable-metrics.js';
import { ReliableSession, ReliableState } from './reliable-session.js';
import { UpstreamBreaker } from './upstream-breaker.js';
import { RatePauses } from '../admission/message-rate.js';
import type { Socket } from 'node:net';

/** The settings of the reliable layer for this process (the instance's shares already divided). */
export interface ReliableOptions extends ReliableSettings {
  /** This process's log directory. */
  readonly logDir: string;
  readonly fsync: FsyncPolicy;
  readonly fsyncIntervalMs: number;
  readonly segmentBytes: number;
  readonly logMaxBytes: number;
  readonly logFailureTimeoutMs: number;
  /** This process's shares of the instance's bounds. */
  readonly maxBufferedMessages: number;
  readonly memoryBytes: number;
  readonly slowClientTimeoutMs: number;
  readonly ratePausedTimeoutMs: number;
  /** Waiters released after a breaker closes are spread over this long. */
  readonly breakerReleaseSpreadMs: number;
  readonly fs?: LogFileSystem;
}

/** What the reliable layer needs from its gateway process. */
export interface ReliableGatewayPort {
  readonly relay: RelaySettings;
  readonly counters: GatewayMetrics;
  readonly registry: Registry;
  readonly logger: Logger;
  readonly connecting: Map<ConnectTimed, number>;
  readonly health: UpstreamHealth;
  /** The upstream request for `target`, with a client's forwarding headers (`upstream.forwardedHeaders`, `forwardOrigin`). */
  upstreamRequest(target: string, forwarded: Readonly<Record<string, string>> | undefined): UpstreamRequest;
  /** A session began or ended (the gateway counts it in its sessions). */
  sessionOpened(s: ReliableSession): void;
  sessionClosed(s: ReliableSession): void;
  /**
   * The duplicate-clientId policy (admission.duplicateClientId) for a new session
   * after its HELLO: false = refused (4409); under takeover the previous holders are
   * closed with 4410.
   */
  admitClient(s: ReliableSession): boolean;
  /** Per-upstream connect pacing (admission.upstream): true = connect now; false = `s.connectTurn()` comes later. */
  paceConnect(s: ReliableSession): boolean;
  /** The connect attempt of `s` is over (opened, failed, or given up). */
  connectDone(s: ReliableSession): void;
}

/** Expired session ids remembered (for the "expired" resume outcome). */
const TOMBSTONES = 100_000;

export class ReliableSessions implements ReliableHost, HelloHost {
  readonly settings: ReliableSettings;
  readonly relay: RelaySettings;
  readonly clock: Clock;
  readonly scanner = new ClientDataScanner();
  readonly log: MessageLog;
  readonly metrics: ReliableMetrics;
  readonly counters: GatewayMetrics;
  readonly logger: Logger;
  readonly breaker: UpstreamBreaker;
  readonly connecting: Map<ConnectTimed, number>;
  readonly ratePauses: RatePauses<ReliableSession>;
  readonly #o: ReliableOptions;
  readonly #port: ReliableGatewayPort;
  readonly sessions = new Map<string, ReliableSession>();
  readonly #tombstones = new Map<string, number>();
  /** Detached sessions → wall-clock ms they were detached, in detach order. */
  readonly #detached = new Map<ReliableSession, number>();
  readonly #hellos = new Map<HelloGate, number>();
  readonly #reconnectDue = new Map<ReliableSession, number>();
  readonly #reconnectSince = new Map<ReliableSession, number>();
  readonly #instancePaused = new Set<ReliableSession>();
  /** Sessions possibly stuck (client slow, or at its bound) → since when (monotonic). */
  readonly #stuck = new Map<ReliableSession, number>();
  #dirty: ReliableSession[] = [];
  #flushScheduled = false;
  /** Sessions whose ACK/NACK frames wait for company (reliable.ackDelayMs). */
  #deferred: ReliableSession[] = [];
  #deferTimer: NodeJS.Timeout | undefined;
  /** Sessions whose wait is over: their ACK/NACK frames go at the next flush, after that turn's reads. */
  #smallDue: ReliableSession[] | null = null;
  /** fsync "always": sessions written in a batch, waiting for it to be durable. */
  #awaitingDurable: Array<{ batch: number; sessions: ReliableSession[]; seqs: number[] }> = [];
  #nextHandle = 1;
  #bufferedMessages = 0;
  #bufferedBytes = 0;
  #memoryBytes = 0;
  #logFailedAt = -1;
  #lastKeepAlive = 0;
  #closed = false;

  constructor(o: ReliableOptions, port: ReliableGatewayPort, clock: Clock) {
    this.#o = o;
    this.#port = port;
    this.settings = o;
    this.relay = port.relay;
    this.clock = clock;
    this.counters = port.counters;
    this.logger = port.logger;
    this.connecting = port.connecting;
    this.breaker = new UpstreamBreaker(port.health, o.breakerReleaseSpreadMs);
    this.ratePauses = new RatePauses<ReliableSession>(o.ratePausedTimeoutMs, () => clock.now());
    this.metrics = new ReliableMetrics(port.registry, {
      attached: () => this.sessions.size - this.#detached.size,
      detached: () => this.#detached.size,
      bufferedMessages: () => ({ memory: this.#countInMemory(), log: this.#bufferedMessages }),
      bufferedBytes: () => ({ memory: this.#memoryBytes, log: this.#bufferedBytes }),
      upstreamsPaused: () => this.#pausedCounts(),
      logBytes: () => this.log.totalBytes,
      logSegments: () => this.log.segmentCount,
      breakers: () => ({ ...this.breaker.counts(), waiting: this.breaker.waiters }),
    });
    this.log = new MessageLog(
      {
        dir: o.logDir,
        segmentBytes: o.segmentBytes,
        maxSegmentAgeMs: Math.max(1_000, o.resumeWindowMs / 2),
        fsync: o.fsync,
        fsyncIntervalMs: o.fsyncIntervalMs,
        maxBytes: o.logMaxBytes,
        ...(o.fs === undefined ? {} : { fs: o.fs }),
      },
      {
        onSegmentStart: () => this.#checkpoint(),
        onDurable: (batch) => this.#durable(batch),
        onError: (op, err) => this.#logError(op, err),
        observeWrite: (s) => this.metrics.logWriteSeconds.observe(s),
        observeFsync: (s) => this.metrics.logFsyncSeconds.observe(s),
      },
      () => clock.now(),
    );
  }

  /** Opens the log (recovery, if any, happens before: see log-recovery.ts). */
  open(): void {
    this.log.open();
  }

  get acceptingEnvelopes(): boolean {
    return this.#bufferedMessages < this.#o.maxBufferedMessages && this.log.writable && !this.log.full;
  }

  /** Sessions with a client connected. */
  get attachedCount(): number {
    return this.sessions.size - this.#detached.size;
  }

  /** Connections waiting for their HELLO (they count against maxConnections, like sessions). */
  get pending(): number {
    return this.#hellos.size;
  }

  // --- New connections -----------------------------------------------------------------

  /** A `stratix.v1` upgrade was answered (101): the connection waits for its HELLO. */
  accept(socket: Socket, head: Buffer, clientId: string, target: string, forwarded: Readonly<Record<string, string>> | undefined): void {
    const gate = new HelloGate(this, socket, clientId, target, forwarded);
    this.#hellos.set(gate, this.clock.now());
    if (head.length > 0) gate.leg.onData(head);
  }

  hello(gate: HelloGate, e: HelloEnvelope): void {
    this.#hellos.delete(gate);
    if (this.#closed) {
      gate.leg.close(CloseCode.SERVICE_RESTART.code, 'service restart');
      return;
    }
    if (e.sessionId !== undefined) {
      const s = this.sessions.get(e.sessionId);
      if (s !== undefined && s.clientId === gate.clientId && s.live) {
        const outcome = s.attach(gate.leg, e.lastSeq, undefined);
        this.metrics.resumes.inc({ outcome });
        return;
      }
      const outcome = this.#tombstones.has(e.sessionId) && s === undefined ? 'expired' : 'unknown';
      this.metrics.resumes.inc({ outcome });
      this.#begin(gate, outcome);
      return;
    }
    this.#begin(gate, 'new');
  }

  helloGone(gate: HelloGate): void {
    this.#hellos.delete(gate);
  }

  /** A new session for `gate`'s connection (`resume`: why there was none to resume). */
  #begin(gate: HelloGate, resume: 'new' | 'unknown' | 'expired'): void {
    const s = new ReliableSession(this, randomBytes(16).toString('base64url'), gate.clientId, gate.target, this.#nextHandle++, this.clock.wallMs());
    if (!this.#port.admitClient(s)) {
      gate.leg.close(CloseCode.CLIENT_ID_IN_USE.code, 'STRATIX_ERR_CLIENT_ID_IN_USE');
      return;
    }
    this.#register(s);
    s.forwarded = gate.forwarded;
    this.log.append(sessionBody(s.handle, s.snapshot()));
    this.metrics.sessionsStarted.inc();
    s.attach(gate.leg, undefined, resume);
    s.start();
  }

  #register(s: ReliableSession): void {
    this.sessions.set(s.id, s);
    this.#port.sessionOpened(s);
  }

  // --- ReliableHost ------------------------------------------------------------------------

  touch(s: ReliableSession): void {
    if (s.claimFlush()) this.#dirty.push(s);
    this.#schedule();
  }

  #schedule(): void {
    if (this.#flushScheduled || this.#closed) return;
    this.#flushScheduled = true;
    setImmediate(() => this.flush());
  }

  /** Writes the turn's log batch, then lets the touched sessions send what it made durable. */
  flush(): void {
    this.#flushScheduled = false;
    // Records nothing waits for (outcomes, client acks) ride with the next batch (or the tick's).
    const ok = this.log.flush(true);
    const dirty = this.#dirty;
    this.#dirty = [];
    if (!ok) {
      if (this.#logFailedAt < 0) this.#logFailedAt = this.clock.now();
      for (const s of dirty) s.flushTurn(undefined);
    } else if (this.#o.fsync === 'always' && this.log.durableBatch < this.log.batch) {
      const seqs = dirty.map((s) => s.lastSeq);
      for (const s of dirty) s.flushTurn(undefined);
      this.#awaitingDurable.push({ batch: this.log.batch, sessions: dirty, seqs });
    } else {
      for (const s of dirty) s.flushTurn(s.lastSeq);
    }
    const due = this.#smallDue;
    this.#smallDue = null;
    if (due !== null) for (const d of due) if (d.live) d.sendSmall();
    if (this.log.urgentPending || this.#dirty.length > 0) this.#schedule();
  }

  #durable(batch: number): void {
    while (this.#awaitingDurable.length > 0 && this.#awaitingDurable[0]!.batch <= batch) {
      const { sessions, seqs } = this.#awaitingDurable.shift()!;
      for (let i = 0; i < sessions.length; i++) if (sessions[i]!.live) sessions[i]!.flushTurn(seqs[i]!);
    }
  }

  detached(s: ReliableSession, atMs: number): void {
    this.#detached.delete(s);
    this.#detached.set(s, atMs);
    this.#stuck.delete(s);
    this.metrics.sessionsDetached.inc();
  }

  detachedAt(s: ReliableSession): number {
    return this.#detached.get(s) ?? 0;
  }

  attached(s: ReliableSession): void {
    this.#detached.delete(s);
  }

  ended(s: ReliableSession, reason: EndReason): void {
    this.sessions.delete(s.id);
    this.#detached.delete(s);
    this.#reconnectDue.delete(s);
    this.#reconnectSince.delete(s);
    this.#instancePaused.delete(s);
    this.#stuck.delete(s);
    this.ratePauses.delete(s);
    this.connecting.delete(s);
    if (reason === 'expired') this.#tombstone(s.id);
    this.metrics.sessionsEnded.inc({ reason });
    this.#port.sessionClosed(s);
    this.#schedule();
  }

  #tombstone(id: string): void {
    this.#tombstones.set(id, this.clock.wallMs());
    if (this.#tombstones.size > TOMBSTONES) this.#tombstones.delete(this.#tombstones.keys().next().value as string);
  }

  reconnectStarted(s: ReliableSession): void {
    if (!this.#reconnectSince.has(s)) this.#reconnectSince.set(s, this.clock.now());
  }

  reconnectLater(s: ReliableSession, delayMs: number): void {
    this.#reconnectDue.set(s, this.clock.now() + delayMs);
  }

  reconnectPending(s: ReliableSession): boolean {
    return this.#reconnectDue.has(s);
  }

  reconnectingFor(s: ReliableSession): number {
    const since = this.#reconnectSince.get(s);
    return since === undefined ? 0 : this.clock.now() - since;
  }

  reconnectSettled(s: ReliableSession): void {
    this.#reconnectDue.delete(s);
    this.#reconnectSince.delete(s);
  }

  upstreamRequest(target: string, forwarded: Readonly<Record<string, string>> | undefined): UpstreamRequest {
    return this.#port.upstreamRequest(target, forwarded);
  }

  paceConnect(s: ReliableSession): boolean {
    return this.#port.paceConnect(s);
  }

  connectDone(s: ReliableSession): void {
    this.#port.connectDone(s);
  }

  bufferChanged(messages: number, bytes: number, memory: number): void {
    this.#bufferedMessages += messages;
    this.#bufferedBytes += bytes;
    this.#memoryBytes += memory;
  }

  /**
   * `s` holds only ACK/NACK frames: they wait reliable.ackDelayMs, and then for the
   * flush after the next reads (timers run before the event loop polls its sockets),
   * so that an upstream message read in that turn (a reply, typically) shares their write.
   */
  deferSmall(s: ReliableSession): void {
    this.#deferred.push(s); // once until its sendSmall: the session keeps a flag
    if (this.#deferTimer !== undefined) return;
    this.#deferTimer = setTimeout(() => {
      this.#deferTimer = undefined;
      const due = this.#deferred;
      this.#deferred = [];
      if (this.#smallDue === null) this.#smallDue = due;
      else for (const d of due) this.#smallDue.push(d);
      this.#schedule();
    }, this.#o.ackDelayMs);
  }

  shedMemory(s: ReliableSession): void {
    if (this.#memoryBytes > this.#o.memoryBytes) this.#memoryBytes -= s.dropFrames();
    if (s.stuckAtBound && !this.#stuck.has(s)) this.#stuck.set(s, this.clock.now());
  }

  pausedForInstance(s: ReliableSession): void {
    this.#instancePaused.add(s);
  }

  // --- The tick ------------------------------------------------------------------------------

  /** The gateway's tick (every 250 ms). */
  tick(): void {
    if (this.#closed) return;
    const now = this.clock.now();
    const wall = this.clock.wallMs();
    const s = this.#o;
    for (const [gate, since] of this.#hellos) if (now - since >= s.helloTimeoutMs) gate.timeout(s.helloTimeoutMs);
    this.#expire(wall);
    for (const [session, due] of this.#reconnectDue) {
      if (due > now) continue;
      this.#reconnectDue.delete(session);
      session.reconnectDue();
    }
    this.breaker.tick(now);
    if (this.ratePauses.size > 0) this.ratePauses.tick();
    if (this.log.pendingBytes > 0 && this.log.flush() && this.#dirty.length > 0) this.flush();
    this.log.maintain(wall);
    this.#checkLog(now);
    if (this.#memoryBytes > s.memoryBytes) for (const d of this.#detached.keys()) if ((this.#memoryBytes -= d.dropFrames()) <= s.memoryBytes) break;
    if (this.#instancePaused.size > 0 && this.acceptingEnvelopes) {
      for (const p of this.#instancePaused) p.resumeFromInstance();
      this.#instancePaused.clear();
    }
    for (const [session, since] of this.#stuck) {
      if (!session.stuckAtBound) this.#stuck.delete(session);
      else if (now - since >= s.slowClientTimeoutMs) {
        this.#stuck.delete(session);
        this.logger.info({ clientId: session.clientId }, 'closing slow reliable client');
        session.close(CloseCode.SLOW_CLIENT);
      }
    }
    // Rounds every half interval: a client then never waits a whole heartbeatMs in silence.
    if (now - this.#lastKeepAlive >= s.heartbeatMs / 2) {
      this.#lastKeepAlive = now;
      for (const session of this.sessions.values()) session.keepAlive(wall);
    }
  }

  /** Every session drops the structures it holds empty (before a full collection after a burst of connections). */
  dropIdleStructures(): void {
    const wall = this.clock.wallMs();
    for (const session of this.sessions.values()) session.dropIdle(wall);
  }

  /** Ends detached sessions whose window has passed (detach order = deadline order). */
  #expire(wall: number): void {
    for (const [session, at] of this.#detached) {
      if (wall - at < this.#o.resumeWindowMs) break;
      this.#detached.delete(session);
      session.expire();
    }
  }

  #checkLog(now: number): void {
    if (this.log.writable) {
      this.#logFailedAt = -1;
      return;
    }
    if (this.#logFailedAt < 0) this.#logFailedAt = now;
    if (now - this.#logFailedAt < this.#o.logFailureTimeoutMs) return;
    this.logger.error({ sessions: this.sessions.size }, 'message log unwritable for too long: ending reliable sessions');
    for (const session of [...this.sessions.values()]) session.abandon(CloseCode.LOG_UNAVAILABLE);
    this.#logFailedAt = now;
  }

  #logError(op: 'write' | 'fsync' | 'delete', err: Error | undefined): void {
    if (err === undefined) {
      this.logger.warn({ dir: this.log.dir }, 'message log writable again');
      return;
    }
    this.metrics.logErrors.inc({ op });
    this.logger.error({ dir: this.log.dir, op, err: err.message, code: (err as NodeJS.ErrnoException).code }, 'message log error');
  }

  /** A new segment: every live session's state goes into it, so that older segments hold only envelopes and outcomes. */
  #checkpoint(): void {
    for (const s of this.sessions.values()) if (s.live) this.log.append(sessionBody(s.handle, s.snapshot()));
    this.#schedule();
  }

  #countInMemory(): number {
    let n = 0;
    for (const s of this.sessions.values()) {
      const ring = s.ring;
      if (ring === null) continue;
      for (let q = ring.firstSeq; q < ring.endSeq; q++) if (ring.frame(q) !== null) n++;
    }
    return n;
  }

  #pausedCounts(): { session: number; instance: number } {
    let session = 0;
    let instance = 0;
    for (const s of this.sessions.values()) {
      if (s.pausedBySession) session++;
      if (s.pausedByInstance) instance++;
    }
    return { session, instance };
  }

  // --- Recovery hand-in ------------------------------------------------------------------------

  /**
   * A session read back from an older log (log-recovery.ts): registered detached
   * (since `detachedAtMs`), with a fresh handle in this log; the caller appends its
   * envelopes with `restoreEnvelope`.
   */
  restoreSession(id: string, clientId: string, target: string, createdAtMs: number, detachedAtMs: number): ReliableSession {
    const s = new ReliableSession(this, id, clientId, target, this.#nextHandle++, createdAtMs);
    this.#port.admitClient(s); // a recovered session holds its clientId (it existed before the restart)
    this.#register(s);
    this.#detached.set(s, detachedAtMs);
    this.metrics.recoveredSessions.inc();
    return s;
  }

  /** Whether an in-memory copy of a recovered envelope fits the memory budget. */
  get memoryShort(): boolean {
    return this.#memoryBytes > this.#o.memoryBytes;
  }

  /** Closes every connection and the log (the process stops): the sessions stay in the log. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#deferTimer);
    for (const gate of this.#hellos.keys()) gate.leg.terminate();
    this.#hellos.clear();
    for (const s of this.sessions.values()) s.terminate();
    this.log.close();
  }

  /** Ends for a drain: flushes the log, then closes the upstreams politely; the sessions stay in the log for the next process. */
  shutdown(): void {
    if (this.#closed) return;
    this.flush();
    this.log.flush();
    for (const s of this.sessions.values()) {
      if (s.state === ReliableState.Open) s.upstream?.close(CloseCode.GOING_AWAY.code, 'gateway restarting');
    }
    this.close();
  }
}
