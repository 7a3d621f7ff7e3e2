/**
 * The primary's view of one worker process: forks it, tracks readiness, restarts
 * it with capped backoff when it dies (unless the instance is draining), and
 * answers requests (metrics, route operations) with a deadline. It keeps the
 * process's last metrics, for a scrape the process does not answer in time, and the
 * counters of the slot's processes that have exited (exited-totals.ts).
 *
 * It is the worker's RouteReplica for the primary's RouteController: a worker that
 * (re)starts says 'ready', gets the current routes (`onStarted`), and only then
 * takes clients.
 */
import type { ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { DefaultRouteConfig } from '../config/route-schema.js';
import type { RouteChangePolicy } from '../config/schema.js';
import type { RouteReplica, RouteSetData } from '../control/route-replica.js';
import type { MetricsSnapshot } from '../metrics/metrics-format.js';
import { ExitedTotals } from '../metrics/exited-totals.js';
import type { RouteExplanation } from '../routing/route-table.js';
import type { UpstreamStatus } from '../routing/upstream-health.js';
import type { RouteChange } from '../sources/route-source.js';
import type { AdminCloseOptions, PrefixCloseResult } from '../server/session-directory.js';
import type { SessionReplica, WorkerProcessInfo } from '../server/session-replica.js';
import type { SessionId, SessionInfo, SessionPage, SessionQuery } from '../server/session-view.js';
import { holdReads, releaseReads } from './held-reads.js';
import type { ToPrimary, ToWorker } from './messages.js';
import type { RouteSetFiles } from './route-set-files.js';
import { launchWorker } from './worker-launch.js';
const RESTART_MIN_MS = 100;
const RESTART_MAX_MS = 5_000;
/** A worker that lived this long resets the restart backoff. */
const STABLE_MS = 10_000;
const METRICS_TIMEOUT_MS = 2_000;
const REQUEST_TIMEOUT_MS = 10_000;
/** A full route set: the worker reads and indexes it in time slices; a million rules take a fraction of a second, more on a loaded box. */
const LOAD_TIMEOUT_MS = 600_000;

export interface WorkerHandleEvents {
  onRestart(index: number, code: number | null, signal: string | null): void;
  /** The worker process is up: bring it to the current state before it takes clients. */
  onStarted?(handle: WorkerHandle): Promise<void>;
  /** Where a (re)starting worker's reliable log goes and what it must recover. */
  place(index: number): { generation: string; orphans: string[] };
  /** The worker has recovered these orphan logs. */
  onRecovered(index: number, orphans: readonly string[]): void;
  /** Connections the worker held, counted against these sources, ended. */
  onSourcesReleased?(index: number, sources: readonly string[]): void;
  /** The worker took `n` of the sockets handed to it. */
  onTaken?(index: number, n: number): void;
  /** The process exited (every connection it held is gone). */
  onExit?(index: number): void;
}

/** What the primary tells the worker about a handed-over socket (messages.ts `conn`). */
export interface HandOverInfo {
  readonly source?: string;
  readonly peer?: string;
  readonly secure?: boolean;
}

type Pending = { resolve(value: unknown): void; reject(err: Error): void; timer: NodeJS.Timeout };

/** A worker slot's figures for one scrape. */
export interface WorkerMetrics {
  /** The running process's answer, or (`stale`) its last answer when it gave none in time; undefined when there is neither. */
  readonly snapshot: MetricsSnapshot | undefined;
  readonly stale: boolean;
  /** The counters and histograms of the slot's processes that have exited, to add to the sums. */
  readonly exited: MetricsSnapshot;
}

export class WorkerHandle implements RouteReplica, SessionReplica {
  readonly index: number;
  readonly label: string;
  readonly #workers: number;
  readonly #config: unknown;
  readonly #execArgv: readonly string[];
  readonly #logger: Logger;
  readonly #events: WorkerHandleEvents;
  readonly #routeFiles: RouteSetFiles;
  #child: ChildProcess | undefined;
  #ready = false;
  #stopping = false;
  #restartDelay = RESTART_MIN_MS;
  #startedAt = 0;
  #generation = 0;
  #restarts = 0;
  #nextId = 1;
  readonly #pending = new Map<number, Pending>();
  #exited: Promise<void> = Promise.resolve();
  /** The process's last answer to a metrics request; added to #exitedTotals when it exits (a new process counts from zero). */
  #lastMetrics: MetricsSnapshot | undefined;
  /** The counters and histograms of this slot's processes that have exited. */
  readonly #exitedTotals = new ExitedTotals();
  #onReady: (() => void) | undefined;
  /** Rejects the first start's promise: a worker that exits before it was ever ready fails the instance's start. */
  #onFirstStartFailed: ((err: Error) => void) | undefined;

  constructor(index: number, workers: number, config: unknown, execArgv: readonly string[], logger: Logger, events: WorkerHandleEvents, routeFiles: RouteSetFiles) {
    this.index = index;
    this.label = `worker ${index}`;
    this.#execArgv = execArgv;
    this.#workers = workers;
    this.#config = config;
    this.#logger = logger;
    this.#events = events;
    this.#routeFiles = routeFiles;
  }

  get ready(): boolean {
    return this.#ready;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** 1 for the first process, +1 on each restart (the G of session ids). */
  get generation(): number {
    return this.#generation;
  }

  /** Times the worker died and was started again. */
  get restarts(): number {
    return this.#restarts;
  }

  /** The process is up and can take route operations (it may not take clients yet). */
  get available(): boolean {
    return this.#child?.connected === true && !this.#stopping;
  }

  /** Forks the worker; resolves when it reports ready. */
  start(): Promise<void> {
    const child = launchWorker(this.#execArgv);
    this.#child = child;
    this.#generation++;
    this.#startedAt = performance.now();
    const first = this.#generation === 1;
    const ready = new Promise<void>((resolve, reject) => {
      this.#onReady = resolve;
      this.#onFirstStartFailed = first ? reject : undefined;
    });
    this.#exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        this.#ready = false;
        this.#child = undefined;
        if (this.#lastMetrics !== undefined) this.#exitedTotals.add(this.#lastMetrics);
        this.#lastMetrics = undefined;
        for (const p of this.#pending.values()) {
          clearTimeout(p.timer);
          p.reject(new Error(`${this.label} exited`));
        }
        this.#pending.clear();
        this.#events.onExit?.(this.index);
        resolve();
        const failed = this.#onFirstStartFailed;
        if (failed !== undefined && signal === null) {
          // It exited on its own before it was ever ready: the start fails (exit status 1) rather than
          // a restart, whose timer alone would let the process end with 0. (Killed by us, it is restarted.)
          this.#onFirstStartFailed = undefined;
          failed(new Error(`${this.label} exited before it was ready (exit code ${code}, signal ${signal}); what it wrote (a "worker cannot start" log line, or Node's own error) says why`));
          return;
        }
        this.#onExit(code, signal);
      });
    });
    child.on('message', (msg: ToPrimary) => this.#onMessage(msg));
    child.on('error', (err) => this.#logger.error({ worker: this.index, err: err.message }, 'worker ipc error'));
    const { generation, orphans } = this.#events.place(this.index);
    this.#send({ t: 'init', config: this.#config, index: this.index, workers: this.#workers, generation, orphans, starts: this.#generation });
    return ready;
  }

  #onMessage(msg: ToPrimary): void {
    if (msg.t === 'ready') {
      this.#events.onRecovered(this.index, msg.recovered);
      const child = this.#child;
      Promise.resolve(this.#events.onStarted?.(this)).then(
        () => {
          if (this.#child !== child || child === undefined) return;
          this.#ready = true;
          this.#onFirstStartFailed = undefined;
          this.#onReady?.();
        },
        (err: Error) => {
          if (this.#child !== child || child === undefined) return;
          this.#logger.error({ worker: this.index, err: err.message }, 'worker could not be brought up to date; restarting it');
          child.kill('SIGKILL');
        },
      );
    } else if (msg.t === 'taken') {
      this.#events.onTaken?.(this.index, msg.n);
    } else if (msg.t === 'sources-released') {
      this.#events.onSourcesReleased?.(this.index, msg.sources);
    } else if (msg.t === 'reply') {
      const p = this.#pending.get(msg.id);
      if (p === undefined) return;
      this.#pending.delete(msg.id);
      clearTimeout(p.timer);
      if (msg.ok) p.resolve(msg.value);
      else p.reject(new Error(`${this.label}: ${msg.error}`));
    }
  }

  #onExit(code: number | null, signal: string | null): void {
    if (this.#stopping) return;
    this.#logger.error({ worker: this.index, code, signal }, 'worker exited; restarting');
    this.#restarts++;
    this.#events.onRestart(this.index, code, signal);
    if (performance.now() - this.#startedAt > STABLE_MS) this.#restartDelay = RESTART_MIN_MS;
    const delay = this.#restartDelay;
    this.#restartDelay = Math.min(RESTART_MAX_MS, this.#restartDelay * 2);
    setTimeout(() => {
      if (!this.#stopping) void this.start();
    }, delay).unref();
  }

  #send(msg: ToWorker, handle?: Socket): boolean {
    const child = this.#child;
    if (child === undefined || !child.connected) return false;
    try {
      child.send(msg, handle as never, { keepOpen: false } as never);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Hands a client socket to the worker. False if the worker is not there. Its reads are
   * held from here (held-reads.ts): the channel may keep it queued in this process for a while.
   */
  handOver(socket: Socket, head: Buffer, info: HandOverInfo = {}): boolean {
    if (!this.#ready) return false;
    holdReads(socket);
    if (this.#send({ t: 'conn', head, ...info }, socket)) return true;
    releaseReads(socket);
    return false;
  }

  /** SIGHUP: the worker re-reads its auth key files. */
  reloadCredentials(): void {
    this.#send({ t: 'reload-credentials' });
  }

  /**
   * The worker's metrics for a scrape. A running worker that does not answer within 2 s (its
   * event loop busy or stopped) gives its last answer, `stale`, so that its counters in the
   * instance's sums do not drop for one scrape (which Prometheus would read as a reset).
   * No snapshot when there is none: not running, or no answer since the process started.
   * `exited` is read when the answer is (no await between), so a process's counts are in
   * the snapshot or in `exited`, never in both and never in neither.
   */
  async metrics(): Promise<WorkerMetrics> {
    if (!this.#ready) return { snapshot: undefined, stale: false, exited: this.#exitedTotals.snapshot() };
    const child = this.#child;
    try {
      const snapshot = await this.#request<MetricsSnapshot>((id) => ({ t: 'metrics', id }), METRICS_TIMEOUT_MS);
      if (this.#child === child) this.#lastMetrics = snapshot;
      return { snapshot, stale: false, exited: this.#exitedTotals.snapshot() };
    } catch {
      const last = this.#lastMetrics;
      const stale = this.#ready && this.#child === child && last !== undefined;
      return { snapshot: stale ? last : undefined, stale, exited: this.#exitedTotals.snapshot() };
    }
  }

  /** Sends a request built for a fresh id; resolves with the worker's reply value. */
  #request<T>(build: (id: number) => ToWorker, timeoutMs = REQUEST_TIMEOUT_MS): Promise<T> {
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`${this.label} did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      if (!this.#send(build(id))) {
        this.#pending.delete(id);
        clearTimeout(timer);
        reject(new Error(`${this.label} is not running`));
      }
    });
  }

  // --- RouteReplica ---------------------------------------------------------------

  async loadRoutes(set: RouteSetData, policy: RouteChangePolicy): Promise<string> {
    const { rules, revision } = set;
    const { path, bytes } = await this.#routeFiles.acquire(rules);
    try {
      const defaultRoute = rules.defaultRoute as DefaultRouteConfig | undefined;
      return await this.#request<string>((id) => ({ t: 'routes-file', id, path, bytes, defaultRoute, revision, policy }), LOAD_TIMEOUT_MS);
    } finally {
      this.#routeFiles.release(rules);
    }
  }

  applyRouteChanges(changes: readonly RouteChange[], revision: number, policy: RouteChangePolicy): Promise<string> {
    return this.#request<string>((id) => ({ t: 'routes-delta', id, changes, revision, policy }));
  }

  async markUpstream(url: string, down: boolean): Promise<void> {
    await this.#request((id) => ({ t: 'upstream-mark', id, url, down }));
  }

  explainRoute(clientId: string): Promise<RouteExplanation> {
    return this.#request<RouteExplanation>((id) => ({ t: 'explain', id, clientId }));
  }

  upstreams(): Promise<UpstreamStatus[]> {
    return this.#request<UpstreamStatus[]>((id) => ({ t: 'upstreams', id }));
  }

  // --- SessionReplica -------------------------------------------------------------

  listSessions(query: SessionQuery): Promise<SessionPage> {
    return this.#request<SessionPage>((id) => ({ t: 'sessions', id, query }));
  }

  getSession(session: SessionId): Promise<SessionInfo | null> {
    return this.#request<SessionInfo | null>((id) => ({ t: 'session-get', id, session }));
  }

  closeSession(session: SessionId, opts: AdminCloseOptions): Promise<SessionInfo | null> {
    return this.#request<SessionInfo | null>((id) => ({ t: 'session-close', id, session, code: opts.code, end: opts.end }));
  }

  closeSessions(prefix: string, opts: AdminCloseOptions & { ratePerSecond: number }): Promise<PrefixCloseResult> {
    return this.#request<PrefixCloseResult>((id) => ({ t: 'sessions-close', id, prefix, code: opts.code, end: opts.end, ratePerSecond: opts.ratePerSecond }));
  }

  processInfo(): Promise<WorkerProcessInfo> {
    return this.#request<WorkerProcessInfo>((id) => ({ t: 'process-info', id }), METRICS_TIMEOUT_MS);
  }

  /** Asks the worker to drain; resolves when it has exited. */
  drain(): Promise<void> {
    this.#stopping = true;
    this.#send({ t: 'drain' });
    return this.#exited;
  }

  kill(): void {
    this.#stopping = true;
    this.#child?.kill('SIGKILL');
  }

  get exited(): Promise<void> {
    return this.#exited;
  }
}
