/**
 * The session half of the admin API, answered across every process that holds
 * sessions (the workers, or the standalone gateway itself):
 *
 *   GET  /admin/sessions?prefix=&upstream=&state=&limit=&cursor=   a page of sessions
 *   GET  /admin/sessions/{id}                                      one, in full
 *   POST /admin/sessions/{id}/close?code=&end=                     close one now
 *   POST /admin/sessions/close?prefix=&code=&end=&rate=            close by prefix, paced
 *   GET  /admin/workers                                            each process: pid, sessions, loop delay, RSS, restarts
 *
 * A page asks every replica for its first `limit + 1` matches after the cursor, merges
 * them in id order and keeps `limit`: the next cursor is the last id kept, and there is
 * a next page exactly when more than `limit` matched. A replica that is down (its worker
 * is restarting) is named in `unavailable` and its sessions are missing from that page.
 */
import { adminError } from '../errors.js';
import type { ProcessInfo, ProcessStats } from './process-stats.js';
import type { SessionReplica, WorkerProcessInfo } from './session-replica.js';
import { compareSessionIds, parseSessionId, type SessionId, type SessionInfo, type SessionQuery } from './session-view.js';

export interface SessionListing {
  sessions: SessionInfo[];
  /** Sessions matching the filter on the replicas that answered. */
  total: number;
  /** Pass as `cursor` for the next page; null on the last page. */
  nextCursor: string | null;
  /** Workers that could not answer (restarting). */
  unavailable: number[];
}

export interface PrefixClose {
  prefix: string;
  code: number;
  end: boolean;
  /** Sessions queued for closing, all workers together. */
  queued: number;
  /** Closes per second, all workers together. */
  ratePerSecond: number;
  unavailable: number[];
}

export interface WorkerEntry extends Partial<Omit<WorkerProcessInfo, 'pid'>> {
  worker: number;
  ready: boolean;
  pid: number | null;
  restarts: number;
  generation: number;
}

export interface WorkersAnswer {
  primary: ProcessInfo | null;
  workers: WorkerEntry[];
}

/** What the admin endpoints call for sessions and workers. */
export interface SessionAdminApi {
  sessions(query: SessionQuery): Promise<SessionListing>;
  session(id: string): Promise<SessionInfo>;
  closeSession(id: string, code: number, end: boolean): Promise<SessionInfo & { closed: true; code: number; end: boolean }>;
  closeSessions(prefix: string, code: number, end: boolean, ratePerSecond: number | undefined): Promise<PrefixClose>;
  workers(): Promise<WorkersAnswer>;
}

export interface SessionAdminOptions {
  readonly replicas: readonly SessionReplica[];
  /** Default instance-wide pace of a close by prefix (routing.migrateRatePerSecond). */
  readonly defaultRatePerSecond: number;
  /** The primary's own figures (cluster mode). */
  readonly primary?: ProcessStats | undefined;
}

export class SessionAdmin implements SessionAdminApi {
  readonly #opts: SessionAdminOptions;

  constructor(opts: SessionAdminOptions) {
    this.#opts = opts;
  }

  async sessions(query: SessionQuery): Promise<SessionListing> {
    const ask = { ...query, limit: query.limit + 1 };
    const unavailable: number[] = [];
    const pages = await Promise.all(
      this.#opts.replicas.map(async (r) => {
        if (!r.available) {
          unavailable.push(r.index);
          return undefined;
        }
        return r.listSessions(ask).catch(() => {
          unavailable.push(r.index);
          return undefined;
        });
      }),
    );
    let total = 0;
    const all: SessionInfo[] = [];
    for (const page of pages) {
      if (page === undefined) continue;
      total += page.total;
      for (const s of page.sessions) all.push(s);
    }
    all.sort((a, b) => compareSessionIds(parseSessionId(a.id)!, parseSessionId(b.id)!));
    const sessions = all.slice(0, query.limit);
    const nextCursor = all.length > query.limit ? sessions[sessions.length - 1]!.id : null;
    return { sessions, total, nextCursor, unavailable: unavailable.sort((a, b) => a - b) };
  }

  async session(text: string): Promise<SessionInfo> {
    const { replica, id } = this.#locate(text);
    const info = await replica.getSession(id);
    if (info === null) throw notFound(text);
    return info;
  }

  async closeSession(text: string, code: number, end: boolean): Promise<SessionInfo & { closed: true; code: number; end: boolean }> {
    const { replica, id } = this.#locate(text);
    const info = await replica.closeSession(id, { code, end });
    if (info === null) throw notFound(text);
    return { ...info, closed: true, code, end };
  }

  async closeSessions(prefix: string, code: number, end: boolean, ratePerSecond: number | undefined): Promise<PrefixClose> {
    const rate = ratePerSecond ?? this.#opts.defaultRatePerSecond;
    const replicas = this.#opts.replicas;
    const share = rate / replicas.length;
    const unavailable: number[] = [];
    const results = await Promise.all(
      replicas.map((r) => {
        if (!r.available) {
          unavailable.push(r.index);
          return undefined;
        }
        return r.closeSessions(prefix, { code, end, ratePerSecond: share }).catch(() => {
          unavailable.push(r.index);
          return undefined;
        });
      }),
    );
    let queued = 0;
    for (const r of results) if (r !== undefined) queued += r.queued;
    return { prefix, code, end, queued, ratePerSecond: rate, unavailable: unavailable.sort((a, b) => a - b) };
  }

  async workers(): Promise<WorkersAnswer> {
    const workers = await Promise.all(
      this.#opts.replicas.map(async (r): Promise<WorkerEntry> => {
        const base = { worker: r.index, ready: r.ready, pid: r.pid ?? null, restarts: r.restarts, generation: r.generation };
        if (!r.available) return base;
        const info = await r.processInfo().catch(() => undefined);
        return info === undefined ? base : { ...base, ...info, pid: info.pid };
      }),
    );
    return { primary: this.#opts.primary?.info() ?? null, workers };
  }

  #locate(text: string): { replica: SessionReplica; id: SessionId } {
    const id = parseSessionId(text);
    if (id === undefined) throw adminError('BAD_REQUEST', `not a session id: ${JSON.stringify(text.slice(0, 64))} (expected W-G-N, as GET /admin/sessions lists them)`);
    const replica = this.#opts.replicas.find((r) => r.index === id.worker);
    if (replica === undefined) throw notFound(text);
    if (!replica.available) throw adminError('UNAVAILABLE', `worker ${id.worker} is restarting; retry`);
    if (replica.generation !== id.generation) throw notFound(text, `session ${text} is gone: worker ${id.worker} has restarted since (its sessions now have generation ${replica.generation})`);
    return { replica, id };
  }
}

function notFound(id: string, message?: string): Error {
  return adminError('SESSION_NOT_FOUND', message ?? `no session ${id} (it may have closed)`);
}
