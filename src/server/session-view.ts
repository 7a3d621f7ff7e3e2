/**
 * What the admin API sees of a session, and how it names one.
 *
 * `SessionView` is the interface a session implements to be listed, shown and closed by
 * the operator (GET /admin/sessions, POST /admin/sessions/{id}/close): the verbatim
 * relay `Session` (src/relay/session.ts) does, and so can a reliable session (a
 * replaceable client leg, a `detached` state while no client is attached, and a buffer
 * of envelopes not yet acknowledged: `bufferDepth`). It asks for plain fields a
 * session keeps anyway, plus four small-integer counters bumped once per message: no
 * closure, promise or allocation per message.
 *
 * Session ids: `W-G-N` — the worker index, the worker's generation (1 for its first
 * process, +1 each time it is restarted) and the session's number in that process. A
 * clientId is not unique (the `allow` duplicate policy, or a reconnect overlapping the
 * old session's close); an id is, for the life of the instance. Ids sort by (W, G, N),
 * which is also the order of the listing and what its cursor means.
 */

export type SessionStateName = 'connecting' | 'open' | 'closing' | 'closed' | 'detached';
export const SESSION_STATES: readonly SessionStateName[] = ['connecting', 'open', 'closing', 'closed', 'detached'];

export interface BufferedLeg {
  /** Bytes written to the leg's socket and not yet flushed to the kernel. */
  readonly bufferedAmount: number;
}

export interface SessionView {
  readonly clientId: string;
  /** The upstream URL the session is relayed to. */
  readonly target: string;
  /** Given by the session directory when the session opens. */
  serial: number;
  /** Given by the session directory: performance.now() / 100 at open, rounded down (tenths of a second, a small integer). */
  openedAt: number;
  /** Messages and payload bytes accepted from the client (0) and from the upstream (1). */
  readonly messages0: number;
  readonly messages1: number;
  readonly bytes0: number;
  readonly bytes1: number;
  readonly stateName: SessionStateName;
  /** Reads of either leg are paused by backpressure. */
  readonly paused: boolean;
  /** The client reads too slowly (the upstream's reads are paused for it). */
  readonly slow: boolean;
  /** The client leg (null while a reliable session is detached). */
  readonly client: BufferedLeg | null;
  readonly upstream: BufferedLeg | null;
  /** Reliable sessions: envelopes kept until the client acknowledges them. Absent on verbatim sessions. */
  readonly bufferDepth?: number;
  /**
   * The operator closes the client connection with `code`. A reliable session keeps its
   * upstream and waits for the client to resume, unless `end`, which ends it and its
   * upstream; a verbatim session always ends both.
   */
  adminClose(code: number, reason: string, end: boolean): void;
}

/** One session as the admin API answers it (JSON). */
export interface SessionInfo {
  id: string;
  clientId: string;
  worker: number;
  kind: 'verbatim' | 'reliable';
  upstream: string;
  state: SessionStateName;
  /** When it opened (ISO 8601, 0.1 s resolution). */
  since: string;
  messages: { clientToUpstream: number; upstreamToClient: number };
  bytes: { clientToUpstream: number; upstreamToClient: number };
  paused: boolean;
  slow: boolean;
  /** Reliable sessions: envelopes not yet acknowledged; null on verbatim sessions. */
  bufferDepth: number | null;
  /** `GET /admin/sessions/{id}` only: bytes waiting in the gateway's socket buffers, per leg. */
  buffered?: { toClient: number | null; toUpstream: number | null };
  /** `GET /admin/sessions/{id}` only: seconds since it opened. */
  ageSeconds?: number;
}

/** A listing's filter and page (validated by the admin endpoints). */
export interface SessionQuery {
  /** clientId prefix ("" = every session). */
  readonly prefix: string;
  /** The upstream URL, exactly; undefined = any. */
  readonly upstream: string | undefined;
  readonly states: readonly SessionStateName[] | undefined;
  readonly limit: number;
  /** The last id of the previous page; the page holds the sessions after it. */
  readonly after: SessionId | undefined;
}

export interface SessionPage {
  sessions: SessionInfo[];
  /** Sessions matching the filter (on the workers that answered), all pages together. */
  total: number;
}

export interface SessionId {
  readonly worker: number;
  readonly generation: number;
  readonly serial: number;
}

const ID_PATTERN = /^(\d{1,4})-(\d{1,9})-(\d{1,15})$/;

export function formatSessionId(id: SessionId): string {
  return `${id.worker}-${id.generation}-${id.serial}`;
}

/** `"1-3-42"` → {worker: 1, generation: 3, serial: 42}; undefined if it is not an id. */
export function parseSessionId(text: string): SessionId | undefined {
  const m = ID_PATTERN.exec(text);
  if (m === null) return undefined;
  const id = { worker: Number(m[1]), generation: Number(m[2]), serial: Number(m[3]) };
  return Number.isSafeInteger(id.serial) ? id : undefined;
}

/** Negative when a sorts before b. */
export function compareSessionIds(a: SessionId, b: SessionId): number {
  return a.worker - b.worker || a.generation - b.generation || a.serial - b.serial;
}
