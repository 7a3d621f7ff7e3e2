/**
 * The Gateway: one process's share of the work. It owns an HTTP server (which
 * only parses upgrade requests), the sessions, one coarse tick for heartbeats
 * and backpressure, and the drain.
 *
 * Two ways in:
 * - standalone (`Gateway.start`): listens itself and also serves the operations
 *   endpoints and the admin endpoints; it runs its own RouteController (reloads,
 *   the file watcher, etcd); used by tests and embedders;
 * - worker (`new Gateway` + `adopt`): the primary process accepted the socket,
 *   read the request head and handed both over (see src/cluster/); the primary's
 *   RouteController sends it the routes.
 * Either way the routes, pool health and route-change policy live in `live`
 * (src/server/live-routes.ts).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { once } from 'node:events';
import { checkUpgradeRequest, offersStratixV1, refuseUpgrade, writeSwitchingProtocols } from '../relay/websocket-handshake.js';
import { NegotiatedUpgrade, type NegotiationHost } from '../relay/negotiated-upgrade.js';
import { parseSubprotocols, STRATIX_V1 } from '../protocol/subprotocol.js';
import { openReliable, removeOrphans, standalonePlacement, type ReliablePlacement } from '../reliable/reliable-process.js';
import type { ReliableSessions } from '../reliable/reliable-sessions.js';
import type { ReliableSession } from '../reliable/reliable-session.js';
import type { LogFileSystem } from '../reliable/message-log.js';
import { systemClock, type Clock } from '../time/clock.js';
import type { GatewaySession } from './gateway-session.js';
import { RatePauses, rateLimited, type ClientRateLimits } from '../admission/message-rate.js';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { parseListen } from '../config/listen-address.js';
import { HandshakeError, handshakeError, type UpstreamError } from '../errors.js';
import { plain } from '../security/client-address.js';
import { checkCredentialFiles } from '../security/credential-check.js';
import { LOOPBACK_WARNING, loopbackTargets } from '../security/trust-topology.js';
import { onHttpClientError, parseHandshakeTarget } from '../protocol/handshake.js';
import { CloseCode } from '../protocol/close-codes.js';
import { GatewayMetrics } from '../metrics/gateway-metrics.js';
import type { RouteMatch, RouteTable, RouteTableHolder } from '../routing/route-table.js';
import type { UpstreamHealth } from '../routing/upstream-health.js';
import { Session, type ConnectTimed, type RelaySettings, type SessionOwner, type UpstreamRequest } from '../relay/session.js';
import type { RouteController } from '../control/route-controller.js';
import { silentLogger } from '../log.js';
import { createAdminHandler, listenAdmin, type AdminHandler } from './admin-endpoints.js';
import { DrainSchedule } from './drain-schedule.js';
import { LiveRoutes } from './live-routes.js';
import { handleOpsRequest, type OpsSource } from './ops-endpoints.js';
import { SessionAdmission } from './session-admission.js';
import { upstreamTlsOptions, type UpstreamTlsOptions } from '../security/upstream-tls.js';
import { listenTls, type TlsListener } from '../security/tls-listener.js';
import { opsAdmin } from './ops-admin.js';
import { ProcessStats } from './process-stats.js';
import { SessionAdmin } from './session-admin.js';
import { NumberedSessions, SessionDirectory } from './session-directory.js';
import { LocalSessionReplica } from './session-replica.js';
import { BurstCollector } from './burst-collector.js';
import { selectDataPath, type NativeDataPath } from '../relay/native-data-path.js';

const TICK_MS = 250;

const kAdopted = Symbol('stratix.adopted');
type AdoptedSocket = Socket & { [kAdopted]?: AdoptedConnection };

export interface GatewayOptions {
  logger?: Logger;
  metrics?: GatewayMetrics;
  /** A fixed route table (no RouteController: no reloads, no etcd). Default: from the config. */
  routes?: RouteTable;
  /** Standalone: the config file the config came from, for reloads (POST /admin/reload, the file watcher). */
  configPath?: string;
  /** Start with an empty table: the routes arrive through `live.loadRoutes` (a RouteController). */
  deferRoutes?: boolean;
  /** Worker processes of the instance (the migrate rate is split between them). Default 1. */
  workers?: number;
  /** This process's bound on open sessions (default gateway.maxConnections; in a cluster the primary holds the instance to it). */
  maxConnections?: number;
  /** Worker index, sent in the X-Stratix-Worker header of the 101. */
  workerIndex?: number;
  /** Worker mode: a connection the primary counted against its source address ended (admission). */
  onSourceReleased?: (source: string) => void;
  /** The clock (default: the process's). */
  clock?: Clock;
  /** The file system under the reliable sessions' log (default node:fs; tests inject failures). */
  logFs?: LogFileSystem;
  /** How many times this worker's process has been started (1 for the first): the G of the admin API's session ids. Default 1. */
  starts?: number;
}

/** What the primary tells a worker about a socket it hands over. */
export interface AdoptedConnection {
  /** The client's address as the primary attributed it (trusted proxies applied). */
  readonly source?: string | undefined;
  /** The TCP peer's address (the socket itself may be the primary's TLS pipe). */
  readonly peer?: string | undefined;
  /** The client connected over TLS (the primary terminated it). */
  readonly secure?: boolean | undefined;
}

export class Gateway implements SessionOwner, NegotiationHost {
  readonly config: Config;
  readonly logger: Logger;
  readonly metrics: GatewayMetrics;
  readonly routes: RouteTableHolder;
  readonly live: LiveRoutes;
  readonly health: UpstreamHealth;
  readonly settings: RelaySettings;
  readonly clock: Clock;
  /** Every session: verbatim and reliable (numbered as they join: session-directory.ts). */
  readonly sessions: Set<GatewaySession>;
  /** Reliable sessions (`stratix.v1`), once `startReliable` has run. */
  reliable: ReliableSessions | undefined;
  readonly paused = new Map<Session, number>();
  readonly connecting = new Map<ConnectTimed, number>();
  /** Upgrades waiting for the upstream's subprotocol choice (negotiated-upgrade.ts), with their route. */
  readonly #negotiations = new Map<NegotiatedUpgrade, { clientId: string; match: RouteMatch; accept: string }>();
  readonly closing = new Map<Session, number>();
  /** The sessions as the admin API lists them (src/server/session-directory.ts). */
  readonly directory: SessionDirectory;
  sampleCounter = 0;
  readonly rateLimits: ClientRateLimits | undefined;
  readonly ratePauses: RatePauses<Session>;
  /** relay.dataPath: the native data path, or undefined (JS only). */
  readonly native: NativeDataPath | undefined;
  readonly #server: Server;
  readonly #maxConnections: number;
  /** Extra header lines of the 101 (`X-Stratix-Worker: N\r\n` in worker mode). */
  readonly #workerHeader: string;
  readonly #startedAt = performance.now();
  /** Origin, credentials, limits, duplicates, upstream pacing (docs/security.md). */
  readonly admission: SessionAdmission;
  readonly #upstreamTls: UpstreamTlsOptions | undefined;
  /** Standalone with tls.server: the TLS listener in front of #server. */
  #tls: TlsListener | undefined;
  /** One full GC after a burst of connections (burst-collector.ts). */
  /** Before its collections, idle reliable sessions drop their empty buffers (else garbage found only at their next HEARTBEAT round). */
  readonly #collector = new BurstCollector({ beforeCollect: () => this.reliable?.dropIdleStructures() });
  #tick: NodeJS.Timeout | undefined;
  #sweep: IterableIterator<GatewaySession> | undefined;
  #roundStartedAt = 0;
  #perTick = 1;
  #drain: DrainSchedule<GatewaySession> | undefined;
  #drained: Promise<void> | undefined;
  #closed = false;
  /** Standalone only: the controller of the routes, and the admin endpoints. */
  #control: RouteController | undefined;
  #admin: AdminHandler | undefined;
  #adminServer: Server | undefined;
  #stats: ProcessStats | undefined;
  readonly #logFs: LogFileSystem | undefined;
  /** Standalone: gives the log root up. */
  #releaseLog: (() => void) | undefined;

  constructor(config: Config, opts: GatewayOptions = {}) {
    this.config = config;
    this.clock = opts.clock ?? systemClock;
    this.#logFs = opts.logFs;
    this.rateLimits = rateLimited(config.admission.client) ? config.admission.client : undefined;
    this.ratePauses = new RatePauses<Session>(config.admission.client.pausedTimeoutMs, () => this.clock.now());
    this.logger = opts.logger ?? silentLogger();
    this.metrics = opts.metrics ?? new GatewayMetrics();
    const native = (this.native = selectDataPath(config.relay.dataPath, { rateLimited: this.rateLimits !== undefined, logger: this.logger, receiveBuffers: config.relay.nativeReceiveBuffers, registry: this.metrics.registry }));
    if (native !== undefined) this.metrics.relayedElsewhere = () => native.counts();
    this.directory = new SessionDirectory({ worker: opts.workerIndex ?? 0, generation: opts.starts ?? 1, logger: this.logger });
    this.sessions = new NumberedSessions<GatewaySession>(this.directory);
    this.live = new LiveRoutes(this, config, { initial: opts.routes, deferred: opts.deferRoutes, workers: opts.workers });
    this.routes = this.live.holder;
    this.health = this.live.health;
    this.metrics.activeSessions = () => this.sessions.size;
    this.metrics.pausedSessions = () => this.paused.size;
    this.#maxConnections = opts.maxConnections ?? config.gateway.maxConnections;
    this.#workerHeader = opts.workerIndex === undefined ? '' : `X-Stratix-Worker: ${opts.workerIndex}\r\n`;
    this.settings = Object.freeze({
      maxMessageBytes: config.limits.maxMessageBytes,
      preOpenMaxMessageBytes: config.limits.preOpenMaxMessageBytes,
      preOpenQueueMessages: config.limits.preOpenQueueMessages,
      preOpenQueueBytes: config.limits.preOpenQueueBytes,
      highWaterMarkBytes: config.backpressure.highWaterMarkBytes,
      lowWaterMarkBytes: config.backpressure.lowWaterMarkBytes,
      connectTimeoutMs: config.upstream.connectTimeoutMs,
      closeTimeoutMs: config.gateway.closeTimeoutMs,
    });

    this.admission = new SessionAdmission({
      config,
      logger: this.logger,
      registry: this.metrics.registry,
      workers: opts.workers ?? 1,
      admitSources: opts.onSourceReleased === undefined,
      onSourceReleased: opts.onSourceReleased,
      connect: (session, request) => session.connect(request),
    });
    this.#upstreamTls = upstreamTlsOptions(config.tls.upstream);

    const timeout = config.gateway.handshakeTimeoutMs;
    this.#server = createServer({
      headersTimeout: timeout,
      requestTimeout: timeout + 1_000,
      maxHeaderSize: config.gateway.maxHeaderBytes,
      connectionsCheckingInterval: Math.min(1_000, timeout),
      keepAliveTimeout: 5_000,
      requireHostHeader: false, // checked by the handshake and the ops endpoints, which answer with a code
    });
    this.#server.on('connection', () => this.#collector.connection());
    this.#server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.handleUpgrade(req, socket, head));
    this.#server.on('request', (req: IncomingMessage, res: ServerResponse) => this.#onRequest(req, res));
    this.#server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => onHttpClientError(err, socket, (r) => this.#countRefusal(r)));

    this.#tick = setInterval(() => this.#onTick(), TICK_MS);
    this.#tick.unref();
  }

  /**
   * Starts a standalone gateway listening on `config.gateway.listen`, with its route
   * controller (unless `opts.routes` fixes the table) and the admin endpoints.
   */
  static async start(config: Config, opts: GatewayOptions = {}): Promise<Gateway> {
    const controlled = opts.routes === undefined;
    const gw = new Gateway(config, { ...opts, deferRoutes: controlled });
    try {
      await checkCredentialFiles(config, opts.configPath);
      const exposed = loopbackTargets(config);
      if (exposed.length > 0) gw.logger.warn({ upstreams: exposed.slice(0, 10) }, LOOPBACK_WARNING);
      await gw.admission.start();
      if (controlled) {
        // Only a standalone gateway has these (a worker's come from the primary): loaded here, not by every worker.
        const [{ RouteController }, { resolveAdminToken }] = await Promise.all([import('../control/route-controller.js'), import('../security/admin-token.js')]);
        const control = new RouteController({
          config,
          configPath: opts.configPath,
          replicas: [gw.live],
          pick: () => 0,
          logger: gw.logger,
          registry: gw.metrics.registry,
        });
        gw.#control = control;
        await control.start();
        const placement = standalonePlacement(config, gw.clock);
        gw.#releaseLog = placement.release;
        removeOrphans(gw.startReliable(placement));
        const stats = (gw.#stats = new ProcessStats());
        const sessions = new SessionAdmin({ replicas: [new LocalSessionReplica(gw.directory, stats)], defaultRatePerSecond: config.routing.migrateRatePerSecond });
        const handler = createAdminHandler({ routes: control, sessions, ops: opsAdmin(gw.#opsSource()) }, resolveAdminToken(config.admin, process.env, opts.configPath), gw.logger);
        if (config.admin.listen === undefined) gw.#admin = handler;
        else gw.#adminServer = await listenAdmin(config.admin.listen, handler, config.gateway);
      }
      await gw.listen();
    } catch (err) {
      await gw.close();
      throw err;
    }
    return gw;
  }

  /**
   * Opens the reliable sessions' log in `placement` and recovers its orphans (before
   * the process takes clients). Without it, stratix.v1 clients are refused (4503).
   */
  startReliable(placement: ReliablePlacement): readonly string[] {
    const { reliable, report } = openReliable(
      this.config,
      placement,
      {
        relay: this.settings,
        counters: this.metrics,
        registry: this.metrics.registry,
        logger: this.logger,
        connecting: this.connecting,
        health: this.health,
        upstreamRequest: (target, forwarded) => this.#upstreamRequestFor(target, forwarded),
        sessionOpened: (s) => this.sessions.add(s),
        sessionClosed: (s) => this.#reliableClosed(s),
        admitClient: (s) => this.admission.admitReliable(s),
        paceConnect: (s) => this.admission.paceConnect(s),
        connectDone: (s) => this.admission.connectDone(s),
      },
      this.clock,
      this.#logFs,
    );
    this.reliable = reliable;
    return report?.read ?? [];
  }

  async listen(): Promise<void> {
    const { host, port } = parseListen(this.config.gateway.listen);
    if (this.config.tls.server !== undefined) {
      this.#tls = await listenTls(this.config.tls.server, { host, port, backlog: this.config.gateway.listenBacklog, handshakeTimeoutMs: this.config.gateway.handshakeTimeoutMs }, (s) => this.#server.emit('connection', s), this.logger);
      return;
    }
    this.#server.listen({ host, port, backlog: this.config.gateway.listenBacklog });
    await once(this.#server, 'listening');
  }

  get port(): number {
    const a = this.#tls?.server.address() ?? this.#server.address();
    return typeof a === 'object' && a !== null ? a.port : 0;
  }

  /** The admin listener's port (admin.listen), or undefined when admin is served on `port`. */
  get adminPort(): number | undefined {
    return (this.#adminServer?.address() as AddressInfo | null | undefined)?.port;
  }

  /** Standalone: the route controller (reloads, etcd); undefined in worker mode. */
  get control(): RouteController | undefined {
    return this.#control;
  }

  /** SIGHUP / the primary: re-read auth key files and the TLS certificate (the old ones stay on failure). */
  async reloadCredentials(): Promise<void> {
    this.#tls?.reload();
    await this.admission.guard.reload();
  }

  get draining(): boolean {
    return this.#drain !== undefined;
  }

  get uptimeSeconds(): number {
    return (performance.now() - this.#startedAt) / 1000;
  }

  /**
   * Worker mode: the primary accepted `socket` and already read `head` (the
   * request head) from it. Feed both to the HTTP parser.
   */
  adopt(socket: Socket, head: Buffer, conn: AdoptedConnection = {}): void {
    if (conn.source !== undefined) this.admission.adopted(socket, conn.source);
    if (conn.peer !== undefined || conn.secure === true) (socket as AdoptedSocket)[kAdopted] = conn;
    this.#server.emit('connection', socket);
    socket.emit('data', head);
    socket.resume();
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const admitted = this.#admit(req);
    if (admitted instanceof HandshakeError) {
      this.#refuse(socket, admitted, req);
      return;
    }
    const accept = checkUpgradeRequest(req.headers);
    if (accept instanceof HandshakeError) {
      this.#refuse(socket, accept, req);
      return;
    }
    // Admission before anything is opened (docs/security.md): limits, then Origin and credentials (all paths, stratix.v1 too).
    const limited = this.admission.checkLimits(req, admitted.match.target);
    if (limited !== undefined) {
      this.#refuse(socket, limited, req);
      return;
    }
    const checked = this.admission.guard.check(req, admitted.clientId);
    if (checked instanceof Promise) {
      checked.then(
        (refusal) => this.#upgrade(req, socket, head, admitted, accept, refusal),
        (err: Error) => {
          this.logger.error({ err: err.message }, 'credential check failed');
          this.#upgrade(req, socket, head, admitted, accept, handshakeError('AUTH_UNAVAILABLE', undefined, { 'Retry-After': '5' }));
        },
      );
    } else {
      this.#upgrade(req, socket, head, admitted, accept, checked);
    }
  }

  /** After the credential check: the duplicate policy (verbatim sessions; stratix.v1 applies it after HELLO), then the session. */
  #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, admitted: { clientId: string; match: RouteMatch }, accept: string, refusal: HandshakeError | undefined): void {
    if (socket.destroyed) return;
    if (refusal === undefined && (this.#drain !== undefined || this.#closed)) refusal = handshakeError('DRAINING', undefined, { 'Retry-After': '1' });
    if (refusal !== undefined) {
      this.#refuse(socket, refusal, req);
      return;
    }
    if (offersStratixV1(req.headers)) {
      this.#openReliable(socket as Socket, head, req, accept, admitted.clientId, admitted.match);
      return;
    }
    const duplicate = this.admission.decideDuplicate(admitted.clientId);
    if (duplicate instanceof HandshakeError) {
      this.#refuse(socket, duplicate, req);
      return;
    }
    const offered = parseSubprotocols(req.headers['sec-websocket-protocol']);
    if (offered !== undefined && offered !== null && offered.length > 0) {
      // Negotiated end to end: the client's 101 waits for the upstream's choice. The new connection is admitted: it takes over now.
      this.admission.takeOver(admitted.clientId, duplicate);
      const upstream = { ...this.#upstreamRequest(req, admitted.match.target), protocols: offered };
      const n = new NegotiatedUpgrade(this, socket as Socket, head, upstream);
      this.#negotiations.set(n, { clientId: admitted.clientId, match: admitted.match, accept });
      if (this.admission.paceConnect(n)) n.connectTurn();
      return;
    }
    // Accept first: the WebSocket handshake is answered here; from then on the socket is a relay leg.
    writeSwitchingProtocols(socket, accept, this.#workerHeader);
    this.#open(socket as Socket, head, req, admitted.clientId, admitted.match, duplicate);
  }

  /** A stratix.v1 client: the upgrade is answered with it, and the connection waits for its HELLO. */
  #openReliable(socket: Socket, head: Buffer, req: IncomingMessage, accept: string, clientId: string, match: RouteMatch): void {
    const reliable = this.reliable;
    if (reliable === undefined) {
      this.#refuse(socket, handshakeError('OVER_CAPACITY', 'reliable sessions are not available in this process', { 'Retry-After': '5' }), req);
      return;
    }
    writeSwitchingProtocols(socket, accept, this.#workerHeader, STRATIX_V1);
    this.metrics.connectionsTotal++;
    reliable.accept(socket, head, clientId, match.target, this.#forwarded(req));
  }

  negotiated(n: NegotiatedUpgrade, upstream: Socket, head: Buffer, protocol: string | undefined): void {
    this.admission.connectDone(n);
    const info = this.#negotiations.get(n);
    this.#negotiations.delete(n);
    if (info === undefined) {
      upstream.destroy();
      return;
    }
    const m = this.metrics;
    m.upstreamConnectSeconds.observe({ result: 'open' }, (performance.now() - n.startedAt) / 1000);
    if (this.#drain !== undefined || this.#closed) {
      upstream.destroy();
      this.#refuseSocket(n.client, handshakeError('DRAINING', undefined, { 'Retry-After': '1' }));
      return;
    }
    writeSwitchingProtocols(n.client, info.accept, this.#workerHeader, protocol);
    const session = new Session(this, info.clientId, n.client, info.match.target);
    this.sessions.add(session);
    this.live.opened(session, info.match);
    this.live.outcome(session, true);
    this.admission.admit(session, []);
    m.connectionsTotal++;
    session.adoptUpstream(upstream, head);
    if (n.clientHead.length > 0) session.client.onData(n.clientHead);
  }

  negotiationAbandoned(n: NegotiatedUpgrade): void {
    this.admission.connectDone(n);
    this.#negotiations.delete(n);
  }

  negotiationFailed(n: NegotiatedUpgrade, refusal: HandshakeError, failure: UpstreamError | undefined): void {
    this.admission.connectDone(n);
    const info = this.#negotiations.get(n);
    this.#negotiations.delete(n);
    if (info === undefined) return;
    const m = this.metrics;
    m.upstreamConnectSeconds.observe({ result: 'error' }, (performance.now() - n.startedAt) / 1000);
    m.upstreamConnectFailures.inc({ code: failure?.code ?? 'STRATIX_ERR_UPSTREAM_TIMEOUT' });
    if (refusal.code !== 'STRATIX_ERR_UPSTREAM_REJECTED' || refusal.status >= 500) this.live.recordOutcome(info.match, false);
    this.#refuseSocket(n.client, refusal);
  }

  #admit(req: IncomingMessage): HandshakeError | { clientId: string; match: RouteMatch } {
    if (this.#drain !== undefined || this.#closed) return handshakeError('DRAINING', undefined, { 'Retry-After': '1' });
    const parsed = parseHandshakeTarget(req.method ?? '', req.url ?? '');
    if (parsed instanceof HandshakeError) return parsed;
    const match = this.routes.current.resolve(parsed.clientId);
    if (match === undefined) return handshakeError('NO_ROUTE', `no route for clientId ${parsed.clientId}`);
    if (this.sessions.size + this.#negotiations.size + (this.reliable?.pending ?? 0) >= this.#maxConnections) {
      return handshakeError('OVER_CAPACITY', undefined, { 'Retry-After': '5' });
    }
    return { clientId: parsed.clientId, match };
  }

  #refuse(socket: Duplex, err: HandshakeError, req: IncomingMessage): void {
    this.metrics.handshakeRejections.inc({ code: err.code });
    refuseUpgrade(socket, err, req.headers);
  }

  /** An HTTP refusal after the request was accepted for negotiation. */
  #refuseSocket(socket: Duplex, err: HandshakeError): void {
    this.metrics.handshakeRejections.inc({ code: err.code });
    refuseUpgrade(socket, err, undefined);
  }

  #open(socket: Socket, head: Buffer, req: IncomingMessage, clientId: string, match: RouteMatch, takenOver: readonly GatewaySession[]): void {
    const upstream = this.#upstreamRequest(req, match.target); // before the leg takes the socket over
    const session = new Session(this, clientId, socket, match.target);
    this.sessions.add(session);
    this.live.opened(session, match);
    this.metrics.connectionsTotal++;
    if (this.admission.admit(session, takenOver, upstream)) session.connect(upstream);
    if (head.length > 0) session.client.onData(head);
  }

  #upstreamRequest(req: IncomingMessage, url: string): UpstreamRequest {
    return this.#upstreamRequestFor(url, this.#forwarded(req));
  }

  /** The forwarding headers (and Origin) the config passes upstream for this client, or undefined for none. */
  #forwarded(req: IncomingMessage): Record<string, string> | undefined {
    const up = this.config.upstream;
    if (up.forwardedHeaders === 'none' && !up.forwardOrigin) return undefined;
    const headers: Record<string, string> = {};
    if (up.forwardedHeaders !== 'none') {
      const conn = (req.socket as AdoptedSocket)[kAdopted];
      const ip = plain(conn?.peer ?? req.socket.remoteAddress ?? '');
      const proto = conn?.secure === true || this.#tls !== undefined ? 'wss' : 'ws';
      if (up.forwardedHeaders === 'x-forwarded-for') {
        // A client's own X-Forwarded-For is kept only when a trusted proxy sent it; otherwise it could claim any address.
        const prior = this.admission.trusted.trusts(ip) ? req.headers['x-forwarded-for'] : undefined;
        headers['X-Forwarded-For'] = prior === undefined ? ip : `${String(prior)}, ${ip}`;
        headers['X-Forwarded-Proto'] = proto;
      } else {
        const node = ip.includes(':') ? `"[${ip}]"` : ip;
        headers.Forwarded = `for=${node};proto=${proto}`;
      }
    }
    if (up.forwardOrigin && req.headers.origin !== undefined) headers.Origin = req.headers.origin;
    return headers;
  }

  #upstreamRequestFor(url: string, forwarded: Readonly<Record<string, string>> | undefined): UpstreamRequest {
    const headers: Record<string, string> = { ...this.config.upstream.headers };
    let origin: string | undefined;
    if (forwarded !== undefined) {
      for (const [k, v] of Object.entries(forwarded)) {
        if (k === 'Origin') origin = v;
        else headers[k] = v;
      }
    }
    return { url, headers, origin, tls: this.#upstreamTls };
  }

  #reliableClosed(s: ReliableSession): void {
    this.sessions.delete(s);
    this.live.closed(s);
    this.admission.reliableEnded(s);
  }

  sessionClosed(session: Session): void {
    this.sessions.delete(session);
    this.live.closed(session);
    this.admission.ended(session);
  }

  /** Feeds pool health: repeated connect failures take a pool member down. */
  upstreamOutcome(session: Session, opened: boolean): void {
    this.admission.connectEnded(session, opened);
    this.live.outcome(session, opened);
  }

  #onTick(): void {
    const now = performance.now();
    this.reliable?.tick();
    if (this.ratePauses.size > 0) this.ratePauses.tick();
    for (const [s, since] of this.connecting) s.checkConnectTimeout(now, since);
    for (const [s, since] of this.closing) s.checkClosing(now, since);
    this.admission.tick();
    this.native?.tick();
    // Backpressure: resume legs at the low-water mark, close clients slow for too long.
    if (this.paused.size > 0) {
      const slowMs = this.config.backpressure.slowClientTimeoutMs;
      for (const [s, since] of this.paused) {
        if (s.checkBackpressure(now, since, slowMs)) {
          this.logger.info({ clientId: s.clientId }, 'closing slow client');
          s.close(CloseCode.SLOW_CLIENT);
        }
      }
    }
    // Heartbeat: one round per ping interval visits every session once, a slice per tick.
    const interval = this.config.gateway.pingIntervalMs;
    if (this.#sweep === undefined) {
      if (now - this.#roundStartedAt < interval) return;
      this.#roundStartedAt = now;
      this.#sweep = this.sessions.values();
      this.#perTick = Math.max(1, Math.ceil((this.sessions.size * TICK_MS) / interval));
    }
    for (let i = 0; i < this.#perTick; i++) {
      const next = this.#sweep.next();
      if (next.done) {
        this.#sweep = undefined;
        break;
      }
      next.value.heartbeat();
    }
  }

  /**
   * Refuses new clients and closes open ones with 1012, spread at random over
   * `periodMs`; resolves once every session is closed or `graceMs` after the
   * period, whichever comes first (stragglers are then terminated).
   */
  drain(periodMs = this.config.gateway.drainPeriodMs, graceMs = this.config.gateway.drainGraceMs): Promise<void> {
    if (this.#drained !== undefined) return this.#drained;
    this.metrics.draining.set(1);
    this.live.stopMigrations();
    this.directory.stop();
    void this.#control?.close();
    this.logger.info({ sessions: this.sessions.size, periodMs }, 'draining');
    // Reliable clients get 1012 too ("resume now"): their sessions stay in the log for the next process.
    const schedule = new DrainSchedule([...this.sessions], periodMs, performance.now(), (s: GatewaySession) => {
      if (s.live) s.close(CloseCode.SERVICE_RESTART, 'service restart');
    });
    this.#drain = schedule;
    this.#drained = new Promise<void>((resolve) => {
      const finish = (): void => {
        this.reliable?.shutdown();
        resolve();
      };
      const deadline = setTimeout(() => {
        for (const s of this.sessions) s.terminate();
        finish();
      }, periodMs + graceMs);
      const poll = setInterval(() => {
        schedule.tick(performance.now());
        if (schedule.done && this.#connectedClients() === 0) {
          clearTimeout(deadline);
          clearInterval(poll);
          finish();
        }
      }, Math.min(50, Math.max(1, periodMs / 100)));
    });
    return this.#drained;
  }

  /** Client connections still open: verbatim sessions, and reliable sessions with a client attached. */
  #connectedClients(): number {
    const reliable = this.reliable;
    if (reliable === undefined) return this.sessions.size;
    return this.sessions.size - reliable.sessions.size + reliable.attachedCount;
  }

  /** Stops at once: terminates every session and closes the server. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#tick);
    this.#collector.close();
    this.admission.close();
    this.#tls?.close();
    this.live.stopMigrations();
    this.directory.stop();
    this.#stats?.close();
    await this.#control?.close();
    if (this.#adminServer !== undefined) {
      this.#adminServer.closeAllConnections();
      this.#adminServer.close();
    }
    for (const s of this.sessions) s.terminate();
    this.reliable?.close();
    this.#releaseLog?.();
    for (const n of [...this.#negotiations.keys()]) {
      n.abandon();
      n.client.destroy();
    }
    this.#server.closeAllConnections?.();
    if (this.#server.listening) {
      this.#server.close();
      await once(this.#server, 'close');
    }
  }

  /**
   * Readiness for /readyz: false while draining. A degraded route source (etcd away)
   * does not make it false: the last table keeps serving; the details say so.
   */
  readiness(): { ready: boolean; details: Record<string, unknown> } {
    const t = this.routes.current;
    const routing = this.#control?.status() ?? { routeTable: { version: t.version, rules: t.size } };
    return {
      ready: !this.draining && !this.#closed,
      details: { draining: this.draining, sessions: this.sessions.size, ...routing },
    };
  }

  #opsSource(): OpsSource {
    return {
      snapshots: async () => [await this.metrics.registry.getMetricsAsJSON()],
      uptimeSeconds: () => this.uptimeSeconds,
      readiness: () => this.readiness(),
      admin: this.#admin,
    };
  }

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    handleOpsRequest(req, res, this.#opsSource(), (r) => this.#countRefusal(r));
  }

  #countRefusal(err: HandshakeError): void {
    this.metrics.handshakeRejections.inc({ code: err.code });
  }
}
