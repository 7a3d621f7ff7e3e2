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
import { parseListen } from '../config/listen-address.js';
import { HandshakeError, handshakeError } from '../errors.js';
import { onHttpClientError, parseHandshakeTarget } from '../protocol/handshake.js';
import { refuseUpgrade, type RequestHeaders } from '../relay/websocket-handshake.js';
import { GatewayMetrics } from '../metrics/gateway-metrics.js';
import { labelProcessMetrics, summedMetrics, type MetricsSnapshot } from '../metrics/metrics-format.js';
import { handleOpsRequest } from '../server/ops-endpoints.js';
import { createAdminHandler, listenAdmin, type AdminHandler } from '../server/admin-endpoints.js';
import { opsAdmin } from '../server/ops-admin.js';
import { ProcessStats } from '../server/process-stats.js';
import { BurstCollector } from '../server/burst-collector.js';
import { SessionAdmin } from '../server/session-admin.js';
import { RouteController, type ReloadResult, type ReloadTrigger } from '../control/route-controller.js';
import { startEchoUpstream, type EchoUpstream } from '../demo/echo-upstream.js';
import { readRequestHead, type RequestHead } from './request-head.js';
import { shardOf } from './shard.js';
import { WorkerHandle } from './worker-handle.js';
import { checkWorkerNodeOptions } from './worker-launch.js';
import { LogGenerations } from './log-generations.js';
import { systemClock } from '../time/clock.js';
import { availableParallelism } from 'node:os';
import { TLSSocket } from 'node:tls';
import { SourceAdmission } from '../admission/source-admission.js';
import { HandshakeQueue } from '../admission/handshake-queue.js';
import { TrustedProxies } from '../security/client-address.js';
import { resolveAdminToken } from '../security/admin-token.js';
import { checkCredentialFiles } from '../security/credential-check.js';
import { nativeUnavailable } from '../relay/native-data-path.js';
import { listenTls, type TlsListener } from '../security/tls-listener.js';
import { LOOPBACK_WARNING, loopbackTargets, mayTargetLoopback } from '../security/trust-topology.js';
import { TlsPipe } from './tls-pipe.js';
import type { PackedRules } from '../routing/packed-rules.js';
import { fullCollection } from '../server/full-collection.js';
import { RouteSetFiles } from './route-set-files.js';

export interface PrimaryOptions {
  logger: Logger;
  /** The config file, for reloads (SIGHUP, POST /admin/reload, the file watcher). */
  configPath?: string;
  /**
   * The config's rules, packed (config/packed-config.ts), or their promise (the workers
   * start while the file's rules are packed); default: packed from `config.routes`.
   */
  rules?: PackedRules | Promise<PackedRules>;
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
  readonly #stats = new ProcessStats();
  /** One full GC after a burst of connections (burst-collector.ts). */
  readonly #collector = new BurstCollector();
  #draining: Promise<void> | undefined;
  /** Per-source and instance handshake limits, and open connections per source (docs/security.md). */
  readonly #sources: SourceAdmission;
  /** Handshakes handed to each worker and not yet taken: at its bound, 503 at once (admission/handshake-queue.ts). */
  readonly #queue: HandshakeQueue;
  readonly #trusted: TrustedProxies;
  /** tls.server: the TLS listener and the pipe to the workers. */
  #tls: TlsListener | undefined;
  #pipe: TlsPipe | undefined;
  readonly #releaseLog: () => void;
  /** Until start() has looked at them; then only the route controller holds the rules. */
  #rules: PackedRules | Promise<PackedRules> | undefined;
  /** Full route sets on their way to the workers. */
  readonly #routeFiles = new RouteSetFiles();

  constructor(config: Config, opts: PrimaryOptions) {
    this.config = config;
    this.logger = opts.logger;
    this.#rules = opts.rules;
    checkWorkerNodeOptions(config.gateway.workerNodeOptions, opts.configPath ?? '<config>');
    const count = config.gateway.workers === 'auto' ? availableParallelism() : config.gateway.workers;
    // The rules go to the workers from the route controller (a file of packed records), not in the init message.
    const { routes: _routes, defaultRoute: _default, ...workerConfig } = config;
    const generations = new LogGenerations(config.reliable.log.dir, count, systemClock, this.logger);
    this.#releaseLog = generations.release;
    const events = {
      onRestart: (w: number) => this.#restarts.inc({ worker: String(w) }),
      onStarted: (w: WorkerHandle) => this.control.syncReplica(w),
      place: (w: number) => generations.place(w),
      onRecovered: (w: number, orphans: readonly string[]) => generations.recovered(w, orphans),
      onSourcesReleased: (w: number, sources: readonly string[]) => {
        for (const source of sources) this.#sources.release(source, w);
      },
      onTaken: (w: number, n: number) => this.#queue.taken(w, n),
      onExit: (w: number) => {
        this.#sources.releaseOwner(w);
        this.#queue.ownerGone(w);
      },
    };
    this.#sources = new SourceAdmission(config.admission);
    const maxQueued = config.admission.instance.maxQueuedHandshakes;
    this.#queue = new HandshakeQueue({
      maxPerOwner: maxQueued === 0 ? 0 : Math.max(1, Math.ceil(maxQueued / count)),
      retryAfterMaxSeconds: config.admission.instance.retryAfterMaxSeconds,
      now: systemClock.now,
    });
    this.#trusted = new TrustedProxies(config.gateway.trustedProxies);
    for (let i = 0; i < count; i++) {
      this.workers.push(new WorkerHandle(i, count, workerConfig, config.gateway.workerNodeOptions, this.logger, events, this.#routeFiles));
    }
    this.control = new RouteController({
      config,
      configPath: opts.configPath,
      rules: opts.rules,
      replicas: this.workers,
      pick: (clientId) => shardOf(clientId, count),
      logger: this.logger,
      registry: this.metrics.registry,
      collectGarbage: fullCollection(),
    });
    const sessions = new SessionAdmin({ replicas: this.workers, defaultRatePerSecond: config.routing.migrateRatePerSecond, primary: this.#stats });
    const ops = opsAdmin({ snapshots: () => this.#snapshots(), uptimeSeconds: () => this.#uptimeSeconds(), readiness: () => this.readiness() });
    this.#admin = createAdminHandler({ routes: this.control, sessions, ops }, resolveAdminToken(config.admin, process.env, opts.configPath), this.logger);
    const registers = [this.metrics.registry];
    this.#restarts = new Counter({ name: 'stratix_worker_restarts_total', help: 'Worker processes restarted after dying.', labelNames: ['worker'], registers });
    const workers = this.workers;
    const sources = this.#sources;
    new Gauge({ name: 'stratix_source_connections', help: 'Open connections counted against their source address.', registers, collect() { this.set(sources.open); } });
    const queue = this.#queue;
    new Gauge({ name: 'stratix_handshakes_queued', help: 'Handshakes handed to the workers that they have not yet taken (admission.instance.maxQueuedHandshakes).', registers, collect() { this.set(queue.queued); } });
    new Gauge({ name: 'stratix_handshakes_taken_per_second', help: 'Handshakes the workers took over the last second: what the instance sustains when it is saturated.', registers, collect() { this.set(queue.ratePerSecond); } });
    new Gauge({ name: 'stratix_source_rate_tracked', help: 'Source addresses tracked for the per-source handshake rate.', registers, collect() { this.set(sources.rateTracked.size); } });
    new Counter({
      name: 'stratix_rate_limit_evictions_total',
      help: 'Rate-limit buckets forgotten before they refilled because their map was full, by limit.',
      labelNames: ['limit'],
      registers,
      collect() {
        this.reset();
        this.inc({ limit: 'source' }, sources.rateTracked.evicted);
      },
    });
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
    this.#ops = createHttpServer({ headersTimeout: timeout, requestTimeout: timeout + 1_000, maxHeaderSize: config.gateway.maxHeaderBytes, requireHostHeader: false });
    this.#ops.on('request', (req, res) =>
      handleOpsRequest(req, res, {
        snapshots: () => this.#snapshots(),
        uptimeSeconds: () => this.#uptimeSeconds(),
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
    await checkCredentialFiles(this.config);
    const native = nativeUnavailable(this.config.relay.dataPath);
    if (native !== undefined) throw native;
    if (this.config.demo.enabled) {
      const { host, port } = parseListen(this.config.demo.listen);
      this.#demo = await startEchoUpstream(host, port);
      this.logger.info({ port: this.#demo.port }, 'demo echo upstream listening');
    }
    // The workers start (all at once) while the rules are packed or read from etcd; each
    // takes clients once it holds them (WorkerHandle's onStarted: the controller's sync).
    const ready = Promise.all(this.workers.map((w) => w.start()));
    const rules = await this.#rules;
    this.#rules = undefined;
    const exposed = loopbackTargets(this.config, rules?.targets(mayTargetLoopback));
    if (exposed.length > 0) this.logger.warn({ upstreams: exposed.slice(0, 10) }, LOOPBACK_WARNING);
    await this.control.start({ awaitReplicas: false });
    await ready;
    if (this.config.admin.listen !== undefined) {
      this.#adminServer = await listenAdmin(this.config.admin.listen, this.#admin, this.config.gateway);
      const a = this.#adminServer.address();
      if (typeof a === 'object' && a !== null) this.logger.info({ host: a.address, port: a.port }, 'admin listening');
    }
    const { host, port } = parseListen(this.config.gateway.listen);
    let addr;
    if (this.config.tls.server !== undefined) {
      this.#pipe = await TlsPipe.start();
      this.#tls = await listenTls(this.config.tls.server, { host, port, backlog: this.config.gateway.listenBacklog, handshakeTimeoutMs: this.config.gateway.handshakeTimeoutMs }, (s) => this.#onConnection(s), this.logger);
      addr = this.#tls.server.address();
    } else {
      this.#listener.listen({ host, port, backlog: this.config.gateway.listenBacklog });
      await once(this.#listener, 'listening');
      addr = this.#listener.address();
    }
    const bound = typeof addr === 'object' && addr !== null ? { host: addr.address, port: addr.port } : { host: '', port };
    this.logger.info({ ...bound, workers: this.workers.length, pids: this.workers.map((w) => w.pid) }, 'listening');
    return bound;
  }

  #onConnection(socket: Socket): void {
    this.#collector.connection();
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
    if (!worker.ready) {
      this.#refuse(socket, handshakeError('WORKER_UNAVAILABLE', undefined, { 'Retry-After': '1' }), head.headers);
      return;
    }
    // gateway.maxConnections is the instance's: the primary counts every connection it handed over
    // until its worker reports it ended (a worker's own share would refuse early when the clientIds' hash is uneven).
    if (this.#sources.open >= this.config.gateway.maxConnections) {
      this.#refuse(socket, handshakeError('OVER_CAPACITY', undefined, { 'Retry-After': '5' }), head.headers);
      return;
    }
    const source = this.#trusted.clientAddress(socket.remoteAddress ?? '', head.headers['x-forwarded-for']);
    const limited = this.#sources.check(source) ?? this.#queue.check(worker.index);
    if (limited !== undefined) {
      this.#refuse(socket, limited, head.headers);
      return;
    }
    this.#sources.acquire(source, worker.index);
    this.#queue.sent(worker.index);
    if (socket instanceof TLSSocket) {
      this.#handOverTls(socket, head, worker, source);
    } else if (!worker.handOver(socket, head.bytes, { source })) {
      this.#queue.taken(worker.index, 1);
      this.#sources.release(source, worker.index);
      this.#refuse(socket, handshakeError('WORKER_UNAVAILABLE', undefined, { 'Retry-After': '1' }), head.headers);
    }
  }

  /** A wss:// client: the plaintext goes to the worker over a local pipe (tls-pipe.ts). */
  #handOverTls(tls: TLSSocket, head: RequestHead, worker: WorkerHandle, source: string): void {
    this.#pipe!.open().then(
      ({ near, far }) => {
        if (tls.destroyed || !worker.handOver(far, head.bytes, { source, peer: tls.remoteAddress, secure: true })) {
          near.destroy();
          far.destroy();
          this.#queue.taken(worker.index, 1);
          this.#sources.release(source, worker.index);
          this.#refuse(tls, handshakeError('WORKER_UNAVAILABLE', undefined, { 'Retry-After': '1' }), head.headers);
          return;
        }
        TlsPipe.relay(tls, near);
      },
      () => {
        this.#queue.taken(worker.index, 1);
        this.#sources.release(source, worker.index);
        this.#refuse(tls, handshakeError('WORKER_UNAVAILABLE', undefined, { 'Retry-After': '1' }), head.headers);
      },
    );
  }

  /** SIGHUP: the TLS certificate (primary) and the auth key files (workers) are read again. */
  reloadCredentials(): void {
    this.#tls?.reload();
    for (const w of this.workers) w.reloadCredentials();
  }

  /** `headers`: the request's, when it got that far (a stratix.v1 upgrade is then refused with a close code). */
  #refuse(socket: Duplex, err: HandshakeError, headers?: RequestHeaders): void {
    this.#countRefusal(err);
    refuseUpgrade(socket, err, headers);
  }

  #countRefusal(err: HandshakeError): void {
    this.metrics.handshakeRejections.inc({ code: err.code });
  }

  #uptimeSeconds(): number {
    return (performance.now() - this.#startedAt) / 1000;
  }

  /**
   * One snapshot per process; per-process series (process_*, nodejs_*) carry a `worker` label.
   * A worker that did not answer in time adds its last answer to the sums (stale, without its
   * per-process series), so that no summed counter drops for a scrape; one with no answer since
   * its process started (or not running) adds nothing (missing). The counters and histograms of
   * every slot's exited processes are added too (exited-totals.ts), so that a restart drops no
   * summed counter either: they only start again from zero with the primary
   * (docs/operations.md, "Workers that miss a scrape, and restarts").
   */
  async #snapshots(): Promise<MetricsSnapshot[]> {
    const all = await Promise.all(this.workers.map((w) => w.metrics()));
    const out: MetricsSnapshot[] = [];
    let stale = 0;
    let missing = 0;
    all.forEach((m, i) => {
      if (m.exited.length > 0) out.push(m.exited);
      if (m.snapshot === undefined) {
        missing++;
        return;
      }
      if (m.stale) stale++;
      out.push(m.stale ? summedMetrics(m.snapshot) : labelProcessMetrics(m.snapshot, String(this.workers[i]!.index)));
    });
    this.metrics.workersMissing.set(missing);
    this.metrics.workersStale.set(stale);
    out.push(labelProcessMetrics(await this.metrics.registry.getMetricsAsJSON(), 'primary'));
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
      this.#tls?.close();
      this.#pipe?.close();
      this.#adminServer?.close();
      await this.#demo?.close();
      this.#stats.close();
      this.#collector.close();
      this.#releaseLog();
      this.#routeFiles.close();
      this.logger.info('drained');
    })();
    return this.#draining;
  }

  /** Immediate stop: kills the workers. */
  kill(): void {
    this.#pipe?.close();
    this.#routeFiles.close();
    for (const w of this.workers) w.kill();
  }
}

function noop(): void {}
