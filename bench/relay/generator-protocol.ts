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
}

export interface OpenLoopResult {
  /** Round-trip times (ms) of messages sent inside the measurement window. */
  latenciesMs: Float64Array;
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

export type GeneratorRequest = ConnectRequest | ClosedLoopRequest | OpenLoopRequest | CloseRequest;

export interface ResultOf {
  connect: ConnectResult;
  'closed-loop': ClosedLoopResult;
  'open-loop': OpenLoopResult;
  close: CloseResult;
}

export type GeneratorReply =
  | { id: number; ok: true; result: ResultOf[keyof ResultOf] }
  | { id: number; ok: false; error: string };

export interface Envelope {
  id: number;
  request: GeneratorRequest;
}
