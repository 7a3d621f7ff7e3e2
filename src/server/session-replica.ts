/**
 * A session replica: one process's sessions, as the SessionAdmin asks for them. A
 * standalone Gateway is one (in-process, `LocalSessionReplica`); in cluster mode each
 * worker process is one, reached over IPC (src/cluster/worker-handle.ts).
 */
import type { ProcessInfo, ProcessStats } from './process-stats.js';
import type { AdminCloseOptions, PrefixCloseResult, SessionDirectory } from './session-directory.js';
import type { SessionId, SessionInfo, SessionPage, SessionQuery } from './session-view.js';

/** A worker process as `GET /admin/workers` answers it. */
export interface WorkerProcessInfo extends ProcessInfo {
  readonly sessions: number;
  readonly slowSessions: number;
  readonly pausedSessions: number;
  /** Sessions queued by a close-by-prefix and not closed yet. */
  readonly closesPending: number;
}

export interface SessionReplica {
  /** The worker index (0 standalone). */
  readonly index: number;
  readonly label: string;
  /** False while its process is down. */
  readonly available: boolean;
  /** Up and taking clients. */
  readonly ready: boolean;
  readonly pid: number | undefined;
  /** Times its process died and was started again. */
  readonly restarts: number;
  /** 1 for its first process, +1 on each restart (the G of session ids W-G-N). */
  readonly generation: number;
  listSessions(query: SessionQuery): Promise<SessionPage>;
  /** null when it holds no such session. */
  getSession(id: SessionId): Promise<SessionInfo | null>;
  closeSession(id: SessionId, opts: AdminCloseOptions): Promise<SessionInfo | null>;
  closeSessions(prefix: string, opts: AdminCloseOptions & { ratePerSecond: number }): Promise<PrefixCloseResult>;
  processInfo(): Promise<WorkerProcessInfo>;
}

/** This process's sessions (a standalone gateway; and what a worker answers over IPC). */
export class LocalSessionReplica implements SessionReplica {
  readonly index: number;
  readonly label: string;
  readonly available = true;
  readonly ready = true;
  readonly pid = process.pid;
  readonly restarts = 0;
  readonly generation: number;
  readonly #directory: SessionDirectory;
  readonly #stats: ProcessStats;

  constructor(directory: SessionDirectory, stats: ProcessStats, label = 'local') {
    this.index = directory.worker;
    this.generation = directory.generation;
    this.label = label;
    this.#directory = directory;
    this.#stats = stats;
  }

  async listSessions(query: SessionQuery): Promise<SessionPage> {
    return this.#directory.list(query);
  }

  async getSession(id: SessionId): Promise<SessionInfo | null> {
    return this.#directory.get(id) ?? null;
  }

  async closeSession(id: SessionId, opts: AdminCloseOptions): Promise<SessionInfo | null> {
    return this.#directory.close(id, opts) ?? null;
  }

  async closeSessions(prefix: string, opts: AdminCloseOptions & { ratePerSecond: number }): Promise<PrefixCloseResult> {
    return this.#directory.closeByPrefix(prefix, opts);
  }

  async processInfo(): Promise<WorkerProcessInfo> {
    const c = this.#directory.counts();
    return { ...this.#stats.info(), sessions: c.sessions, slowSessions: c.slow, pausedSessions: c.paused, closesPending: c.closesPending };
  }
}
