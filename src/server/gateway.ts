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
import { checkUpgradeRequest, refuseUpgrade, writeSwitchingProtocols } from '../relay/websocket-handshake.js';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { parseListen } from '../config/load.js';
import { HandshakeError, handshakeError } from '../errors.js';
import { onHttpClientError, parseHandshakeTarget } from '../protocol/handshake.js';
import { CloseCode } from '../protocol/close-codes.js';
import { GatewayMetrics } from '../metrics/gateway-metrics.js';
import type { RouteMatch, RouteTable, RouteTableHolder } from '../routing/route-table.js';
import type { UpstreamHealth } from '../routing/upstream-health.js';
import { Session, SessionState, type RelaySettings, type SessionOwner, type UpstreamRequest } from '../relay/session.js';
import { RouteController } from '../control/route-controller.js';
import { silentLogger } from '../log.js';
import { createAdminHandler, listenAdmin, type AdminHandler } from './admin-endpoints.js';
import { DrainSchedule } from './drain-schedule.js';
import { LiveRoutes } from './live-routes.js';
import { handleOpsRequest, type OpsSource } from './ops-endpoints.js';
import { opsAdmin } from './ops-admin.js';
import { ProcessStats } from './process-stats.js';
import { SessionAdmin } from './session-admin.js';
import { NumberedSessions, SessionDirectory } from './session-directory.js';
import { LocalSessionReplica } from './session-replica.js';

const TICK_MS = 250;

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
  /** This process's share of gateway.maxConnections (workers split it). */
  maxConnections?: number;
  /** Worker index, sent in the X-Stratix-Worker header of the 101. */
  workerIndex?: number;
  /** The worker's generation (1 for its first process), for session ids. Default 1. */
  generation?: number;
}

export class Gateway implements SessionOwner {
  readonly config: Config;
  readonly logger: Logger;
  readonly metrics: GatewayMetrics;
  readonly routes: RouteTableHolder;
  readonly live: LiveRoutes;
  readonly health: UpstreamHealth;
  readonly settings: RelaySettings;
  readonly sessions: Set<Session>;
  readonly paused = new Map<Session, number>();
  readonly connecting = new Map<Session, number>();
  readonly closing = new Map<Session, number>();
  /** The sessions as the admin API lists them (src/server/session-directory.ts). */
  readonly directory: SessionDirectory;
  sampleCounter = 0;
  readonly #server: Server;
  readonly #maxConnections: number;
  /** Extra header lines of the 101 (`X-Stratix-Worker: N\r\n` in worker mode). */
  readonly #workerHeader: string;
  readonly #startedAt = performance.now();
  #tick: NodeJS.Timeout | undefined;
  #sweep: IterableIterator<Session> | undefined;
  #roundStartedAt = 0;
  #perTick = 1;
  #drain: DrainSchedule<Session> | undefined;
  #drained: Promise<void> | undefined;
  #closed = false;
  /** Standalone only: the controller of the routes, and the admin endpoints. */
  #control: RouteController | undefined;
  #admin: AdminHandler | undefined;
  #adminServer: Server | undefined;
  #stats: ProcessStats | undefined;

  constructor(config: Config, opts: GatewayOptions = {}) {
    this.config = config;
    this.logger = opts.logger ?? silentLogger();
    this.metrics = opts.metrics ?? new GatewayMetrics();
    this.directory = new SessionDirectory({ worker: opts.workerIndex ?? 0, generation: opts.generation ?? 1, logger: this.logger });
    this.sessions = new NumberedSessions<Session>(this.directory);
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
    });

    const timeout = config.gateway.handshakeTimeoutMs;
    this.#server = createServer({
      headersTimeout: timeout,
      requestTimeout: timeout + 1_000,
      maxHeaderSize: config.gateway.maxHeaderBytes,
      connectionsCheckingInterval: Math.min(1_000, timeout),
      keepAliveTimeout: 5_000,
    });
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
      if (controlled) {
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
        const stats = (gw.#stats = new ProcessStats());
        const sessions = new SessionAdmin({ replicas: [new LocalSessionReplica(gw.directory, stats)], defaultRatePerSecond: config.routing.migrateRatePerSecond });
        const handler = createAdminHandler({ routes: control, sessions, ops: opsAdmin(gw.#opsSource()) }, config.admin.token, gw.logger);
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

  async listen(): Promise<void> {
    const { host, port } = parseListen(this.config.gateway.listen);
    this.#server.listen({ host, port, backlog: 4096 });
    await once(this.#server, 'listening');
  }

  get port(): number {
    const a = this.#server.address();
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
  adopt(socket: Socket, head: Buffer): void {
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
    // The WebSocket handshake is answered here; from then on the socket is a relay leg.
    // No subprotocol is negotiated: the relay cannot know the upstream's choice before it opens.
    const accept = checkUpgradeRequest(req.headers);
    if (accept instanceof HandshakeError) {
      this.#refuse(socket, accept, req);
      return;
    }
    writeSwitchingProtocols(socket, accept, this.#workerHeader);
    this.#open(socket as Socket, head, req, admitted.clientId, admitted.match);
  }

  #admit(req: IncomingMessage): HandshakeError | { clientId: string; match: RouteMatch } {
    if (this.#drain !== undefined || this.#closed) return handshakeError('DRAINING', undefined, { 'Retry-After': '1' });
    const parsed = parseHandshakeTarget(req.method ?? '', req.url ?? '');
    if (parsed instanceof HandshakeError) return parsed;
    const match = this.routes.current.resolve(parsed.clientId);
    if (match === undefined) return handshakeError('NO_ROUTE', `no route for clientId ${parsed.clientId}`);
    if (this.sessions.size >= this.#maxConnections) return handshakeError('OVER_CAPACITY', undefined, { 'Retry-After': '5' });
    return { clientId: parsed.clientId, match };
  }

  #refuse(socket: Duplex, err: HandshakeError, req: IncomingMessage): void {
    this.metrics.handshakeRejections.inc({ code: err.code });
    refuseUpgrade(socket, err, req.headers);
  }

  #open(socket: Socket, head: Buffer, req: IncomingMessage, clientId: string, match: RouteMatch): void {
    const upstream = this.#upstreamRequest(req, match.target); // before the leg takes the socket over
    const session = new Session(this, clientId, socket, match.target);
    this.sessions.add(session);
    this.live.opened(session, match);
    this.metrics.connectionsTotal++;
    session.connect(upstream);
    if (head.length > 0) session.client.onData(head);
  }

  #upstreamRequest(req: IncomingMessage, url: string): UpstreamRequest {
    const up = this.config.upstream;
    const headers: Record<string, string> = { ...up.headers };
    if (up.forwardedHeaders !== 'none') {
      const ip = req.socket.remoteAddress ?? '';
      if (up.forwardedHeaders === 'x-forwarded-for') {
        const prior = req.headers['x-forwarded-for'];
        headers['X-Forwarded-For'] = prior === undefined ? ip : `${String(prior)}, ${ip}`;
        headers['X-Forwarded-Proto'] = 'ws';
      } else {
        const node = ip.includes(':') ? `"[${ip}]"` : ip;
        headers.Forwarded = `for=${node};proto=ws`;
      }
    }
    const origin = up.forwardOrigin ? req.headers.origin : undefined;
    return { url, headers, origin };
  }

  sessionClosed(session: Session): void {
    this.sessions.delete(session);
    this.live.closed(session);
  }

  /** Feeds pool health: repeated connect failures take a pool member down. */
  upstreamOutcome(session: Session, opened: boolean): void {
    this.live.outcome(session, opened);
  }

  #onTick(): void {
    const now = performance.now();
    for (const [s, since] of this.connecting) s.checkConnectTimeout(now, since);
    for (const [s, since] of this.closing) s.checkClosing(now, since);
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
    const schedule = new DrainSchedule([...this.sessions], periodMs, performance.now(), (s: Session) => {
      if (s.state === SessionState.Connecting || s.state === SessionState.Open) s.close(CloseCode.SERVICE_RESTART, 'service restart');
    });
    this.#drain = schedule;
    this.#drained = new Promise<void>((resolve) => {
      const deadline = setTimeout(() => {
        for (const s of this.sessions) s.terminate();
        resolve();
      }, periodMs + graceMs);
      const poll = setInterval(() => {
        schedule.tick(performance.now());
        if (schedule.done && this.sessions.size === 0) {
          clearTimeout(deadline);
          clearInterval(poll);
          resolve();
        }
      }, Math.min(50, Math.max(1, periodMs / 100)));
    });
    return this.#drained;
  }

  /** Stops at once: terminates every session and closes the server. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#tick);
    this.live.stopMigrations();
    this.directory.stop();
    this.#stats?.close();
    await this.#control?.close();
    if (this.#adminServer !== undefined) {
      this.#adminServer.closeAllConnections();
      this.#adminServer.close();
    }
    for (const s of this.sessions) s.terminate();
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
