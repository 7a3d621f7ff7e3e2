/**
 * The primary process: owns the listening socket, reads each request head, and
 * hands `/ws` sockets to the worker that owns the clientId's shard. It serves
 * the operations endpoints itself (metrics summed over workers), restarts dead
 * workers, and runs the drain on SIGTERM/SIGINT.
 *
 * It owns the routes' control plane: the RouteController (the config file and its
 * watcher, or etcd) and the admin endpoints; the workers only hold route tables,
 * which the controller keeps on one version.
 */
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { createServer as createHttpServer, type Server as HttpServer, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { once } from 'node:events';
import type { Logger } from 'pino';
import { Counter, Gauge } from 'prom-client';
import type { Config } from '../config/schema.js';
import { parseListen } from '../config/load.js';
import { HandshakeError, handshakeError } from '../errors.js';
import { onHttpClientError, parseHandshakeTarget } from '../protocol/handshake.js';
import { refuseUpgrade, type RequestHeaders } from '../relay/websocket-handshake.js';
import { GatewayMetrics } from '../metrics/gateway-metrics.js';
import type { MetricsSnapshot } from '../metrics/metrics-format.js';
import { handleOpsRequest } from '../server/ops-endpoints.js';
import { createAdminHandler, listenAdmin, type AdminHandler } from '../server/admin-endpoints.js';
import { RouteController, type ReloadResult, type ReloadTrigger } from '../control/route-controller.js';
import { startEchoUpstream, type EchoUpstream } from '../demo/echo-upstream.js';
import { readRequestHead, type RequestHead } from './request-head.js';
import { shardOf } from './shard.js';
import { WorkerHandle } from './worker-handle.js';
import { LogGenerations } from './log-generations.js';
import { systemClock } from '../time/clock.js';
import { availableParallelism } from 'node:os';

export interface PrimaryOptions {
  logger: Logger;
  /** The config file, for reloads (SIGHUP, POST /admin/reload, the file watcher). */
  configPath?: string;
}

export class Primary {
  readonly config: Config;
  readonly logger: Logger;
  readonly metrics = new GatewayMetrics({ defaultMetrics: true });
  readonly workers: WorkerHandle[] = [];
  readonly control: RouteController;
  readonly #listener: NetServer;
  readonly #ops: HttpServer;
  readonly #startedAt = performance.now();
  readonly #restarts: Counter<'worker'>;
  #demo: EchoUpstream | undefined;
  readonly #admin: AdminHandler;
  #adminServer: HttpServer | undefined;
  #draining: Promise<void> | undefined;
  readonly #releaseLog: () => void;

  constructor(config: Config, opts: PrimaryOptions) {
    this.config = config;
    this.logger = opts.logger;
    const count = config.gateway.workers === 'auto' ? availableParallelism() : config.gateway.workers;
    // The rules go to the workers from the route controller, in chunks, not in the init message.
    const { routes: _routes, defaultRoute: _default, ...workerConfig } = config;
    const generations = new LogGenerations(config.reliable.log.dir, count, systemClock, this.logger);
    this.#releaseLog = generations.release;
    const events = {
      onRestart: (w: number) => this.#restarts.inc({ worker: String(w) }),
      onStarted: (w: WorkerHandle) => this.control.syncReplica(w),
      place: (w: number) => generations.place(w),
      onRecovered: (w: number, orphans: readonly string[]) => generations.recovered(w, orphans),
    };
    for (let i = 0; i < count; i++) {
      this.workers.push(new WorkerHandle(i, count, workerConfig, config.gateway.workerNodeOptions, this.logger, events));
    }
    this.control = new RouteController({
      config,
      configPath: opts.configPath,
      replicas: this.workers,
      pick: (clientId) => shardOf(clientId, count),
      logger: this.logger,
      registry: this.metrics.registry,
    });
    this.#admin = createAdminHandler(this.control, config.admin.token, this.logger);
    const registers = [this.metrics.registry];
    this.#restarts = new Counter({ name: 'stratix_worker_restarts_total', help: 'Worker processes restarted after dying.', labelNames: ['worker'], registers });
    const workers = this.workers;
    new Gauge({
      name: 'stratix_workers_ready',
      help: 'Worker processes up and accepting clients.',
      registers,
      collect() {
        this.set(workers.filter((w) => w.ready).length);
      },
    });
    this.#listener = createNetServer({ noDelay: true }, (socket) => this.#onConnection(socket));
    const timeout = config.gateway.handshakeTimeoutMs;
    this.#ops = createHttpServer({ headersTimeout: timeout, requestTimeout: timeout + 1_000, maxHeaderSize: config.gateway.maxHeaderBytes });
    this.#ops.on('request', (req, res) =>
      handleOpsRequest(req, res, {
        snapshots: () => this.#snapshots(),
        uptimeSeconds: () => (performance.now() - this.#startedAt) / 1000,
        readiness: () => this.readiness(),
        admin: config.admin.listen === undefined ? this.#admin : undefined,
      }, (err) => this.#countRefusal(err)),
    );
    this.#ops.on('upgrade', (req: IncomingMessage, socket: Duplex) => {
      const parsed = parseHandshakeTarget(req.method ?? '', req.url ?? '');
      this.#refuse(socket, parsed instanceof HandshakeError ? parsed : handshakeError('BAD_REQUEST'), req.headers);
    });
    this.#ops.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => onHttpClientError(err, socket, (r) => this.#countRefusal(r)));
  }

  async start(): Promise<{ host: string; port: number }> {
    if (this.config.demo.enabled) {
      const { host, port } = parseListen(this.config.demo.listen);
      this.#demo = await startEchoUpstream(host, port);
      this.logger.info({ port: this.#demo.port }, 'demo echo upstream listening');
    }
    await this.control.start();
    await Promise.all(this.workers.map((w) => w.start()));
    if (this.config.admin.listen !== undefined) {
      this.#adminServer = await listenAdmin(this.config.admin.listen, this.#admin, this.config.gateway);
      const a = this.#adminServer.address();
      if (typeof a === 'object' && a !== null) this.logger.info({ host: a.address, port: a.port }, 'admin listening');
    }
    const { host, port } = parseListen(this.config.gateway.listen);
    this.#listener.listen({ host, port, backlog: 4096 });
    await once(this.#listener, 'listening');
    const addr = this.#listener.address();
    const bound = typeof addr === 'object' && addr !== null ? { host: addr.address, port: addr.port } : { host: '', port };
    this.logger.info({ ...bound, workers: this.workers.length, pids: this.workers.map((w) => w.pid) }, 'listening');
    return bound;
  }

  #onConnection(socket: Socket): void {
    socket.on('error', noop);
    readRequestHead(socket, this.config.gateway.maxHeaderBytes, this.config.gateway.handshakeTimeoutMs, (s, head) => this.#onHead(s, head));
  }

  #onHead(socket: Socket, head: RequestHead | HandshakeError): void {
    if (head instanceof HandshakeError) {
      this.#refuse(socket, head);
      return;
    }
    const target = parseHandshakeTarget(head.method, head.url);
    if (target instanceof HandshakeError) {
      if (target.status === 404) {
        // Not /ws: the operations endpoints (or a JSON 404).
        socket.removeListener('error', noop);
        this.#ops.emit('connection', socket);
        socket.emit('data', head.bytes);
        socket.resume();
      } else {
        this.#refuse(socket, target, head.headers);
      }
      return;
    }
    if (this.#draining !== undefined) {
      this.#refuse(socket, handshakeError('DRAINING', undefined, { 'Retry-After': '1' }), head.headers);
      return;
    }
    const worker = this.workers[shardOf(target.clientId, this.workers.length)]!;
    if (!worker.handOver(socket, head.bytes)) {
      this.#refuse(socket, handshakeError('WORKER_UNAVAILABLE', undefined, { 'Retry-After': '1' }), head.headers);
    }
  }

  /** `headers`: the request's, when it got that far (a stratix.v1 upgrade is then refused with a close code). */
  #refuse(socket: Duplex, err: HandshakeError, headers?: RequestHeaders): void {
    this.#countRefusal(err);
    refuseUpgrade(socket, err, headers);
  }

  #countRefusal(err: HandshakeError): void {
    this.metrics.handshakeRejections.inc({ code: err.code });
  }

  async #snapshots(): Promise<MetricsSnapshot[]> {
    const all = await Promise.all(this.workers.map((w) => w.metrics()));
    const out = all.filter((s): s is MetricsSnapshot => s !== undefined);
    out.push(await this.metrics.registry.getMetricsAsJSON());
    return out;
  }

  /**
   * /readyz: ready when every worker is up and the instance is not draining. A degraded
   * route source (etcd away) keeps it ready — the last table serves — and shows in
   * `routeSource`; `routeTable.converged` tells whether every worker holds the latest version.
   */
  readiness(): { ready: boolean; details: Record<string, unknown> } {
    const ready = this.workers.filter((w) => w.ready).length;
    return {
      ready: this.#draining === undefined && ready === this.workers.length,
      details: { draining: this.#draining !== undefined, workers: this.workers.length, workersReady: ready, ...this.control.status() },
    };
  }

  /** Re-reads the config file (SIGHUP). Failures are logged and counted by the controller. */
  reload(trigger: ReloadTrigger): Promise<ReloadResult | undefined> {
    return this.control.reload(trigger).catch(() => undefined);
  }

  /** Readiness turns false, new clients get 503, workers close theirs with 1012 over the drain period. */
  drain(): Promise<void> {
    if (this.#draining !== undefined) return this.#draining;
    this.metrics.draining.set(1);
    this.logger.info({ periodMs: this.config.gateway.drainPeriodMs }, 'draining');
    const g = this.config.gateway;
    this.#draining = (async () => {
      const deadline = setTimeout(() => {
        this.logger.warn('workers did not exit in time; killing them');
        for (const w of this.workers) w.kill();
      }, g.drainPeriodMs + g.drainGraceMs + 5_000);
      await this.control.close();
      await Promise.all(this.workers.map((w) => w.drain()));
      clearTimeout(deadline);
      this.#listener.close();
      this.#adminServer?.close();
      await this.#demo?.close();
      this.#releaseLog();
      this.logger.info('drained');
    })();
    return this.#draining;
  }

  /** Immediate stop: kills the workers. */
  kill(): void {
    for (const w of this.workers) w.kill();
  }
}

function noop(): void {}
