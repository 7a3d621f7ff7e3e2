/**
 * Messages between the benchmark runner and its load-generator child processes
 * (node IPC with `serialization: 'advanced'`, so typed arrays cross as they are).
 * One request at a time per generator; every request is answered once.
 */

export interface ConnectRequest {
  kind: 'connect';
  /** WebSocket URL without the clientId query; the generator appends `?clientId=...`. */
  url: string;
  /** `stratix.v1`: the sessions speak the reliable-session protocol (envelopes, acks); else plain frames. */
  protocol?: 'stratix.v1';
  /** Sessions this generator opens. */
  count: number;
  /** clientIds are `${clientIdPrefix}${firstIndex + i}`. */
  clientIdPrefix: string;
  firstIndex: number;
  /** Local addresses to bind, used round-robin by global client index. */
  sourceAddresses: string[];
  /** Connection attempts in flight at once. */
  concurrency: number;
  /** Each session's handshake plus one echoed probe must finish within this time. */
  sessionTimeoutMs: number;
  /** The whole connect request gives up after this long. */
  deadlineMs: number;
}

export interface ConnectResult {
  opened: number;
  failed: number;
  /** Opened sessions whose first probe got no echo in time, but a second one did. */
  reprobed: number;
  /** Of those, sessions whose re-sent probe was echoed first: the first message was lost (the relay keeps order), not late. */
  firstLost: number;
  /** The clientIds of those (the first LOST_IDS_KEPT), to look them up in the proxy's own account. */
  lostClientIds: string[];
  /** Sessions whose first message was another session's (the first LOST_IDS_KEPT: clientId and what came). */
  foreignEchoes: string[];
  /**
   * Opened sessions that were first refused with a Retry-After (503 or 429: an admission
   * bound) and opened when retried after it, as a client of docs/protocol.md does.
   */
  retried: number;
  /** Failure reasons and how often each happened. */
  failures: Record<string, number>;
  elapsedMs: number;
}

/**
 * Every session keeps exactly `inFlight` messages in flight for the whole phase
 * (closed loop): it sends that many at the start and one more per echo.
 */
export interface ClosedLoopRequest {
  kind: 'closed-loop';
  payloadBytes: number;
  /** Messages each session keeps in flight (1 or more). */
  inFlight: number;
  warmupMs: number;
  durationMs: number;
}

export interface ClosedLoopResult {
  /** Echoes received inside the measurement window. */
  roundTrips: number;
  windowMs: number;
  /** Messages (of all sessions, all in flight) that had not come back by the end of the drain wait. */
  lost: number;
  closedDuringPhase: number;
}

/** Messages are sent at a fixed rate, round-robin over the sessions, whether or not echoes came back. */
export interface OpenLoopRequest {
  kind: 'open-loop';
  payloadBytes: number;
  /** Messages per second this generator sends. */
  ratePerSecond: number;
  warmupMs: number;
  durationMs: number;
  /**
   * Time each message from its scheduled send time (start + seq / rate) rather than from
   * the moment it was written; the result then also carries how late each send was.
   */
  fromScheduledTime?: boolean;
}

export interface OpenLoopResult {
  /** Round-trip times (ms) of messages sent inside the measurement window. */
  latenciesMs: Float64Array;
  /** With `fromScheduledTime`: how late each timed message was written (ms), in the generator. */
  sendLagMs?: Float64Array;
  sent: number;
  lost: number;
  closedDuringPhase: number;
}

export interface CloseRequest {
  kind: 'close';
  timeoutMs: number;
}

export interface CloseResult {
  closed: number;
  terminated: number;
}

/** Every open session sends one probe and waits for its echo: proof that all still relay. */
export interface RoundTripRequest {
  kind: 'round-trip';
  timeoutMs: number;
}

export interface RoundTripResult {
  /** Sessions whose probe came back. */
  echoed: number;
  /** Sessions that were no longer open. */
  notOpen: number;
  /** Open sessions whose probe had not come back by the timeout. */
  noEcho: number;
}

/**
 * From now on, every session that closes reconnects (same clientId, same source
 * address) to `url`, retrying a failed attempt after `retryDelayMs` (+ up to as much
 * jitter) until `deadlineMs`; resolves once every session is back or at the deadline.
 */
export interface FollowRequest {
  kind: 'follow';
  url: string;
  sourceAddresses: string[];
  sessionTimeoutMs: number;
  retryDelayMs: number;
  deadlineMs: number;
}

export interface FollowResult {
  /** Sessions held when the request came. */
  sessions: number;
  /** Of those, how many closed, and how many were open on `url` again by the end. */
  closed: number;
  back: number;
  /** Failed attempts by reason (a session may fail several before it is back). */
  failures: Record<string, number>;
  /** Epoch ms of the first close and of the last session back (0 when none). */
  firstCloseAt: number;
  lastBackAt: number;
  /** Per session back: ms from its close to its probe echoed on `url`. */
  closeToBackMs: Float64Array;
  /** The close codes seen, and how often. */
  closeCodes: Record<string, number>;
}

export type GeneratorRequest = ConnectRequest | ClosedLoopRequest | OpenLoopRequest | CloseRequest | RoundTripRequest | FollowRequest;

export interface ResultOf {
  connect: ConnectResult;
  'closed-loop': ClosedLoopResult;
  'open-loop': OpenLoopResult;
  close: CloseResult;
  'round-trip': RoundTripResult;
  follow: FollowResult;
}

export type GeneratorReply =
  | { id: number; ok: true; result: ResultOf[keyof ResultOf] }
  | { id: number; ok: false; error: string };

export interface Envelope {
  id: number;
  request: GeneratorRequest;
}
