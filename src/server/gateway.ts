/**
 * The Gateway: one process's share of the work. It owns an HTTP server (which
 * only parses upgrade requests), the sessions, one coarse tick for heartbeats
 * and backpressure, and the drain.
 *
 * Two ways in:
 * - standalone (`Gateway.start`): listens itself and also serves the operations
 *   endpoints; used by tests and embedders;
 * - worker (`new Gateway` + `adopt`): the primary process accepted the socket,
 *   read the request head and handed both over (see src/cluster/).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { once } from 'node:events';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { parseListen } from '../config/load.js';
import { HandshakeError, handshakeError } from '../errors.js';
import { onHttpClientError, parseHandshakeTarget, rejectHandshake } from '../protocol/handshake.js';
import { CloseCode } from '../protocol/close-codes.js';
import { GatewayMetrics } from '../metrics/gateway-metrics.js';
import { RouteTableHolder, type RouteTable } from '../routing/route-table.js';
import { PrefixRouteTable } from '../routing/prefix-route-table.js';
import { Session, SessionState, type RelaySettings, type SessionOwner, type UpstreamRequest } from '../relay/session.js';
import { silentLogger } from '../log.js';
import { DrainSchedule } from './drain-schedule.js';
import { handleOpsRequest, type OpsSource } from './ops-endpoints.js';

const TICK_MS = 250;

export interface GatewayOptions {
  logger?: Logger;
  metrics?: GatewayMetrics;
  routes?: RouteTable;
  /** This process's share of gateway.maxConnections (workers split it). */
  maxConnections?: number;
  /** Worker index, sent in the X-Stratix-Worker header of the 101. */
  workerIndex?: number;
}

export class Gateway implements SessionOwner {
  readonly config: Config;
  readonly logger: Logger;
  readonly metrics: GatewayMetrics;
  readonly routes: RouteTableHolder;
  readonly settings: RelaySettings;
  readonly sessions = new Set<Session>();
  readonly paused = new Set<Session>();
  readonly connecting = new Set<Session>();
  sampleCounter = 0;
  readonly #server: Server;
  readonly #wss: WebSocketServer;
  readonly #maxConnections: number;
  readonly #workerHeader: string | undefined;
  readonly #startedAt = performance.now();
  #tick: NodeJS.Timeout | undefined;
  #sweep: IterableIterator<Session> | undefined;
  #roundStartedAt = 0;
  #perTick = 1;
  #drain: DrainSchedule<Session> | undefined;
  #drained: Promise<void> | undefined;
  #closed = false;

  constructor(config: Config, opts: GatewayOptions = {}) {
    this.config = config;
    this.logger = opts.logger ?? silentLogger();
    this.metrics = opts.metrics ?? new GatewayMetrics();
    this.routes = new RouteTableHolder(opts.routes ?? new PrefixRouteTable(config.routes, config.defaultRoute?.openclawGateway));
    this.metrics.setRouteTable(this.routes.current.version, this.routes.current.size);
    this.metrics.activeSessions = () => this.sessions.size;
    this.metrics.pausedSessions = () => this.paused.size;
    this.#maxConnections = opts.maxConnections ?? config.gateway.maxConnections;
    this.#workerHeader = opts.workerIndex === undefined ? undefined : `X-Stratix-Worker: ${opts.workerIndex}`;
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

    this.#wss = new WebSocketServer({
      noServer: true,
      maxPayload: config.limits.maxMessageBytes,
      perMessageDeflate: false,
      clientTracking: false,
      // No subprotocol is negotiated: the relay cannot know the upstream's choice before it opens.
      handleProtocols: () => false,
    });
    if (this.#workerHeader !== undefined) {
      const header = this.#workerHeader;
      this.#wss.on('headers', (headers: string[]) => headers.push(header));
    }
    this.#tick = setInterval(() => this.#onTick(), TICK_MS);
    this.#tick.unref();
  }

  /** Starts a standalone gateway listening on `config.gateway.listen`. */
  static async start(config: Config, opts: GatewayOptions = {}): Promise<Gateway> {
    const gw = new Gateway(config, opts);
    await gw.listen();
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
      this.#refuse(socket, admitted);
      return;
    }
    const { clientId, target } = admitted;
    this.#wss.handleUpgrade(req, socket, head, (ws: WebSocket) => this.#open(ws, socket as Socket, req, clientId, target));
  }

  #admit(req: IncomingMessage): HandshakeError | { clientId: string; target: string } {
    if (this.#drain !== undefined || this.#closed) return handshakeError('DRAINING', undefined, { 'Retry-After': '1' });
    const parsed = parseHandshakeTarget(req.method ?? '', req.url ?? '');
    if (parsed instanceof HandshakeError) return parsed;
    const match = this.routes.current.resolve(parsed.clientId);
    if (match === undefined) return handshakeError('NO_ROUTE', `no route for clientId ${parsed.clientId}`);
    if (this.sessions.size >= this.#maxConnections) return handshakeError('OVER_CAPACITY', undefined, { 'Retry-After': '5' });
    return { clientId: parsed.clientId, target: match.target };
  }

  #refuse(socket: Duplex, err: HandshakeError): void {
    this.metrics.handshakeRejections.inc({ code: err.code });
    rejectHandshake(socket, err);
  }

  #open(ws: WebSocket, socket: Socket, req: IncomingMessage, clientId: string, target: string): void {
    const session = new Session(this, clientId, ws, socket, target);
    this.sessions.add(session);
    this.metrics.connectionsTotal++;
    session.connect(this.#upstreamRequest(req, target));
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
  }

  upstreamOutcome(_session: Session, _opened: boolean): void {
    // Pool health (repeated connect failures mark a member down) is wired here.
  }

  #onTick(): void {
    const now = performance.now();
    for (const s of this.connecting) s.checkConnectTimeout(now);
    // Backpressure: resume legs at the low-water mark, close clients slow for too long.
    if (this.paused.size > 0) {
      const slowMs = this.config.backpressure.slowClientTimeoutMs;
      for (const s of this.paused) {
        if (s.checkBackpressure(now, slowMs)) {
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
    for (const s of this.sessions) s.terminate();
    this.#server.closeAllConnections?.();
    if (this.#server.listening) {
      this.#server.close();
      await once(this.#server, 'close');
    }
  }

  /** Readiness for /readyz: false while draining. */
  readiness(): { ready: boolean; details: Record<string, unknown> } {
    const t = this.routes.current;
    return {
      ready: !this.draining && !this.#closed,
      details: { draining: this.draining, sessions: this.sessions.size, routeTable: { version: t.version, rules: t.size } },
    };
  }

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    const source: OpsSource = {
      snapshots: async () => [await this.metrics.registry.getMetricsAsJSON()],
      uptimeSeconds: () => this.uptimeSeconds,
      readiness: () => this.readiness(),
    };
    handleOpsRequest(req, res, source, (r) => this.#countRefusal(r));
  }

  #countRefusal(err: HandshakeError): void {
    this.metrics.handshakeRejections.inc({ code: err.code });
  }
}
