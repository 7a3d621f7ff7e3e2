/**
 * The primary's view of one worker process: forks it, tracks readiness, restarts
 * it with capped backoff when it dies (unless the instance is draining), and
 * answers metrics requests with a deadline.
 */
import { fork, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { MetricsSnapshot } from '../metrics/metrics-format.js';
import type { ToPrimary, ToWorker } from './messages.js';

const WORKER_MAIN = new URL('./worker-main.js', import.meta.url);
const RESTART_MIN_MS = 100;
const RESTART_MAX_MS = 5_000;
/** A worker that lived this long resets the restart backoff. */
const STABLE_MS = 10_000;
const METRICS_TIMEOUT_MS = 2_000;

export interface WorkerHandleEvents {
  onRestart(index: number, code: number | null, signal: string | null): void;
}

export class WorkerHandle {
  readonly index: number;
  readonly #workers: number;
  readonly #config: unknown;
  readonly #execArgv: readonly string[];
  readonly #logger: Logger;
  readonly #events: WorkerHandleEvents;
  #child: ChildProcess | undefined;
  #ready = false;
  #stopping = false;
  #restartDelay = RESTART_MIN_MS;
  #startedAt = 0;
  #nextId = 1;
  readonly #pendingMetrics = new Map<number, (s: MetricsSnapshot | undefined) => void>();
  #exited: Promise<void> = Promise.resolve();
  #onReady: (() => void) | undefined;

  constructor(index: number, workers: number, config: unknown, execArgv: readonly string[], logger: Logger, events: WorkerHandleEvents) {
    this.index = index;
    this.#execArgv = execArgv;
    this.#workers = workers;
    this.#config = config;
    this.#logger = logger;
    this.#events = events;
  }

  get ready(): boolean {
    return this.#ready;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** Forks the worker; resolves when it reports ready. */
  start(): Promise<void> {
    const child = fork(WORKER_MAIN, [], { serialization: 'advanced', stdio: 'inherit', execArgv: [...process.execArgv, ...this.#execArgv] });
    this.#child = child;
    this.#startedAt = performance.now();
    const ready = new Promise<void>((resolve) => (this.#onReady = resolve));
    this.#exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        this.#ready = false;
        this.#child = undefined;
        for (const cb of this.#pendingMetrics.values()) cb(undefined);
        this.#pendingMetrics.clear();
        resolve();
        this.#onExit(code, signal);
      });
    });
    child.on('message', (msg: ToPrimary) => this.#onMessage(msg));
    child.on('error', (err) => this.#logger.error({ worker: this.index, err: err.message }, 'worker ipc error'));
    this.#send({ t: 'init', config: this.#config, index: this.index, workers: this.#workers });
    return ready;
  }

  #onMessage(msg: ToPrimary): void {
    if (msg.t === 'ready') {
      this.#ready = true;
      this.#onReady?.();
    } else if (msg.t === 'metrics') {
      const cb = this.#pendingMetrics.get(msg.id);
      this.#pendingMetrics.delete(msg.id);
      cb?.(msg.snapshot);
    }
  }

  #onExit(code: number | null, signal: string | null): void {
    if (this.#stopping) return;
    this.#logger.error({ worker: this.index, code, signal }, 'worker exited; restarting');
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

  /** Hands a client socket to the worker. False if the worker is not there. */
  handOver(socket: Socket, head: Buffer): boolean {
    if (!this.#ready) return false;
    return this.#send({ t: 'conn', head }, socket);
  }

  metrics(): Promise<MetricsSnapshot | undefined> {
    if (!this.#ready) return Promise.resolve(undefined);
    const id = this.#nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#pendingMetrics.delete(id);
        resolve(undefined);
      }, METRICS_TIMEOUT_MS);
      this.#pendingMetrics.set(id, (s) => {
        clearTimeout(timer);
        resolve(s);
      });
      if (!this.#send({ t: 'metrics', id })) {
        this.#pendingMetrics.delete(id);
        clearTimeout(timer);
        resolve(undefined);
      }
    });
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
