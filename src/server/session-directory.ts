/**
 * The sessions of one gateway process, as the operator sees them: numbered when they
 * open, listed with a filter and a cursor, shown one by one, closed one by one or by
 * clientId prefix (paced, with jitter, like a migration).
 *
 * It keeps no index of its own: it walks the process's session sets (the verbatim
 * sessions, and any other set of SessionViews added with `addSource`, e.g. reliable
 * sessions), each in the order the sessions opened, which is the order of their
 * numbers. A page costs one pass over the sessions (about a millisecond per 50,000),
 * which the admin API can afford and the relay never pays.
 */
import type { Logger } from 'pino';
import { PacedCloses } from './paced-closes.js';
import {
  compareSessionIds,
  formatSessionId,
  type SessionId,
  type SessionInfo,
  type SessionPage,
  type SessionQuery,
  type SessionView,
} from './session-view.js';

export interface SessionDirectoryOptions {
  /** This process's worker index (0 for a standalone gateway). */
  readonly worker: number;
  /** 1 for the worker's first process, +1 on each restart. */
  readonly generation: number;
  readonly logger: Logger;
  /** Milliseconds clock (default performance.now); `openedAt` is in its tenths of a second. */
  readonly now?: () => number;
  /** Wall clock in milliseconds (default Date.now): `since` is read back from it. */
  readonly wallNow?: () => number;
}

export interface AdminCloseOptions {
  readonly code: number;
  /** End a reliable session and its upstream too (verbatim sessions always end). */
  readonly end: boolean;
}

export interface PrefixCloseResult {
  /** Sessions queued for closing by this call. */
  readonly queued: number;
  /** Closes per second this process paces them at. */
  readonly ratePerSecond: number;
}

interface PendingClose {
  readonly session: SessionView;
  readonly code: number;
  readonly end: boolean;
}

export const OPERATOR_CLOSE_REASON = 'closed by the operator';

export class SessionDirectory {
  readonly worker: number;
  readonly generation: number;
  readonly #sources: Array<Iterable<SessionView> & { readonly size: number }> = [];
  readonly #now: () => number;
  readonly #wallNow: () => number;
  readonly #logger: Logger;
  #serial = 0;
  #closes: PacedCloses<PendingClose> | undefined;

  constructor(opts: SessionDirectoryOptions) {
    this.worker = opts.worker;
    this.generation = opts.generation;
    this.#now = opts.now ?? (() => performance.now());
    this.#wallNow = opts.wallNow ?? Date.now;
    this.#logger = opts.logger;
  }

  /** A set of sessions to list (kept in the order they opened). */
  addSource(sessions: Iterable<SessionView> & { readonly size: number }): void {
    this.#sources.push(sessions);
  }

  /** Numbers a session as it opens. */
  opened(session: SessionView): void {
    session.serial = ++this.#serial;
    session.openedAt = Math.floor(this.#now() / 100);
  }

  get size(): number {
    let n = 0;
    for (const s of this.#sources) n += s.size;
    return n;
  }

  /** Sessions now slow (client reads too slowly) and paused by backpressure. */
  counts(): { sessions: number; slow: number; paused: number; closesPending: number } {
    let slow = 0;
    let paused = 0;
    for (const source of this.#sources) {
      for (const s of source) {
        if (s.slow) slow++;
        if (s.paused) paused++;
      }
    }
    return { sessions: this.size, slow, paused, closesPending: this.#closes?.pending ?? 0 };
  }

  list(query: SessionQuery): SessionPage {
    const after = this.#afterSerial(query.after);
    if (after === undefined) return { sessions: [], total: this.#count(query) };
    const picked: SessionView[] = [];
    let total = 0;
    for (const source of this.#sources) {
      let taken = 0;
      for (const s of source) {
        if (!matches(s, query)) continue;
        total++;
        if (s.serial > after && taken < query.limit) {
          picked.push(s);
          taken++;
        }
      }
    }
    if (this.#sources.length > 1) picked.sort((a, b) => a.serial - b.serial);
    return { sessions: picked.slice(0, query.limit).map((s) => this.#info(s, false)), total };
  }

  /** One session in full, or undefined when this process holds no such session. */
  get(id: SessionId): SessionInfo | undefined {
    const s = this.#find(id);
    return s === undefined ? undefined : this.#info(s, true);
  }

  /** Closes one session now; answers what it was, or undefined when there is no such session. */
  close(id: SessionId, opts: AdminCloseOptions): SessionInfo | undefined {
    const s = this.#find(id);
    if (s === undefined) return undefined;
    const info = this.#info(s, true);
    s.adminClose(opts.code, OPERATOR_CLOSE_REASON, opts.end);
    return info;
  }

  /**
   * Queues every session whose clientId starts with `prefix` for closing, in random
   * order, `ratePerSecond` on average (each gap uniform in 0.5–1.5× the mean).
   */
  closeByPrefix(prefix: string, opts: AdminCloseOptions & { ratePerSecond: number }): PrefixCloseResult {
    const items: PendingClose[] = [];
    for (const source of this.#sources) {
      for (const session of source) {
        if (session.clientId.startsWith(prefix) && isLive(session)) items.push({ session, code: opts.code, end: opts.end });
      }
    }
    const closes = (this.#closes ??= new PacedCloses<PendingClose>({
      ratePerSecond: opts.ratePerSecond,
      close: (p) => {
        if (isLive(p.session)) p.session.adminClose(p.code, OPERATOR_CLOSE_REASON, p.end);
      },
    }));
    closes.ratePerSecond = opts.ratePerSecond;
    const queued = closes.add(items);
    this.#logger.info({ prefix, queued, ratePerSecond: opts.ratePerSecond, code: opts.code, end: opts.end }, 'closing sessions by prefix');
    return { queued, ratePerSecond: opts.ratePerSecond };
  }

  /** Forgets queued closes (the drain closes everything anyway). */
  stop(): void {
    this.#closes?.clear();
  }

  /** Serials after the cursor in this process; undefined = none of ours come after it. */
  #afterSerial(after: SessionId | undefined): number | undefined {
    if (after === undefined) return 0;
    const c = compareSessionIds({ worker: this.worker, generation: this.generation, serial: 0 }, { ...after, serial: 0 });
    if (c > 0) return 0;
    if (c < 0) return undefined;
    return after.serial;
  }

  #count(query: SessionQuery): number {
    let total = 0;
    for (const source of this.#sources) for (const s of source) if (matches(s, query)) total++;
    return total;
  }

  #find(id: SessionId): SessionView | undefined {
    if (id.worker !== this.worker || id.generation !== this.generation) return undefined;
    for (const source of this.#sources) for (const s of source) if (s.serial === id.serial) return s;
    return undefined;
  }

  #info(s: SessionView, full: boolean): SessionInfo {
    const openedMs = s.openedAt * 100;
    const ageMs = Math.max(0, this.#now() - openedMs);
    const info: SessionInfo = {
      id: formatSessionId({ worker: this.worker, generation: this.generation, serial: s.serial }),
      clientId: s.clientId,
      worker: this.worker,
      kind: s.bufferDepth === undefined ? 'verbatim' : 'reliable',
      upstream: s.target,
      state: s.stateName,
      // From the wall clock now, not performance.timeOrigin, which drifts from it.
      since: new Date(this.#wallNow() - ageMs).toISOString(),
      messages: { clientToUpstream: s.messages0, upstreamToClient: s.messages1 },
      bytes: { clientToUpstream: s.bytes0, upstreamToClient: s.bytes1 },
      paused: s.paused,
      slow: s.slow,
      bufferDepth: s.bufferDepth ?? null,
    };
    if (full) {
      info.buffered = { toClient: s.client?.bufferedAmount ?? null, toUpstream: s.upstream?.bufferedAmount ?? null };
      info.ageSeconds = Math.round(ageMs) / 1000;
    }
    return info;
  }
}

function isLive(s: SessionView): boolean {
  const state = s.stateName;
  return state === 'connecting' || state === 'open' || state === 'detached';
}

function matches(s: SessionView, q: SessionQuery): boolean {
  if (q.prefix !== '' && !s.clientId.startsWith(q.prefix)) return false;
  if (q.upstream !== undefined && s.target !== q.upstream) return false;
  if (q.states !== undefined && !q.states.includes(s.stateName)) return false;
  return true;
}

/**
 * The gateway's session set: a Set that numbers each session as it joins (its serial and
 * open time in the directory), so that every place that adds a session numbers it.
 */
export class NumberedSessions<T extends SessionView> extends Set<T> {
  readonly #directory: SessionDirectory;

  constructor(directory: SessionDirectory) {
    super();
    this.#directory = directory;
    directory.addSource(this);
  }

  override add(session: T): this {
    if (!this.has(session)) this.#directory.opened(session);
    return super.add(session);
  }
}
