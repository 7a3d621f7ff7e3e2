/**
 * What a reliable session needs from its process's reliable layer
 * (reliable-sessions.ts implements it): settings, the clock, the log, the breaker,
 * metrics, the turn's flush, the window and reconnect timers (kept by the host, so
 * that an idle session holds no timer and no boxed number), and the process's
 * bounds.
 */
import type { Logger } from 'pino';
import type { GatewayMetrics } from '../metrics/gateway-metrics.js';
import type { ConnectTimed, RelaySettings } from '../relay/session.js';
import type { UpstreamRequest } from '../relay/upstream-connect.js';
import type { Clock } from '../time/clock.js';
import type { ClientDataScanner } from './client-data-scanner.js';
import type { MessageLog } from './message-log.js';
import type { ReliableMetrics, EndReason } from './reliable-metrics.js';
import type { ReliableSession } from './reliable-session.js';
import type { UpstreamBreaker } from './upstream-breaker.js';
import type { ClientRateLimits, RatePauses } from '../admission/message-rate.js';

/** The `reliable` settings a session reads (resolved from the config). */
export interface ReliableSettings {
  readonly resumeWindowMs: number;
  readonly heartbeatMs: number;
  readonly helloTimeoutMs: number;
  readonly maxUnackedMessages: number;
  readonly maxUnackedBytes: number;
  readonly duplicateWindowMessages: number;
  readonly ackDelayMs: number;
  /** admission.client, when a limit is set. */
  readonly rateLimits: ClientRateLimits | undefined;
  readonly reconnect: { readonly initialDelayMs: number; readonly maxDelayMs: number; readonly giveUpAfterMs: number };
}

export interface ReliableHost {
  readonly settings: ReliableSettings;
  readonly relay: RelaySettings;
  readonly clock: Clock;
  /** Reads the common client DATA from its bytes (one per process: used at once, never kept). */
  readonly scanner: ClientDataScanner;
  readonly log: MessageLog;
  readonly metrics: ReliableMetrics;
  /** The gateway's counters (stratix_messages_*, closes, connect times). */
  readonly counters: GatewayMetrics;
  readonly logger: Logger;
  readonly breaker: UpstreamBreaker;
  /** The gateway's map of connects in flight (its tick enforces upstream.connectTimeoutMs). */
  readonly connecting: Map<ConnectTimed, number>;
  /** Sessions paused by their rate limit (admission.client); the host's tick resumes them. */
  readonly ratePauses: RatePauses<ReliableSession>;
  /** False while the process is at a bound (buffered messages, memory, the log): sessions stop reading their upstreams. */
  readonly acceptingEnvelopes: boolean;

  /** `s` has work for this turn's flush. */
  touch(s: ReliableSession): void;
  /** The client went away at wall-clock `atMs`: the window starts. */
  detached(s: ReliableSession, atMs: number): void;
  /** When `s` was detached (wall-clock ms), 0 if attached. */
  detachedAt(s: ReliableSession): number;
  attached(s: ReliableSession): void;
  /** `s` is over: forget it. */
  ended(s: ReliableSession, reason: EndReason): void;
  /** Reconnect bookkeeping: started, due in `delayMs`, pending?, for how long, settled. */
  reconnectStarted(s: ReliableSession): void;
  reconnectLater(s: ReliableSession, delayMs: number): void;
  reconnectPending(s: ReliableSession): boolean;
  reconnectingFor(s: ReliableSession): number;
  reconnectSettled(s: ReliableSession): void;
  upstreamRequest(target: string, forwarded: Readonly<Record<string, string>> | undefined): UpstreamRequest;
  /** Per-upstream connect pacing: true = connect now; false = `s.connectTurn()` later. */
  paceConnect(s: ReliableSession): boolean;
  /** The connect attempt of `s` is over. */
  connectDone(s: ReliableSession): void;
  /** Envelopes held changed by these deltas (count, envelope bytes, bytes in memory). */
  bufferChanged(messages: number, bytes: number, memory: number): void;
  /** `s` holds only ACK/NACK frames for its client: send them after reliable.ackDelayMs and the next reads (unless other frames go first). Called once until `s.sendSmall()`. */
  deferSmall(s: ReliableSession): void;
  /** After a send: drop in-memory copies of `s` if the process is short of memory. */
  shedMemory(s: ReliableSession): void;
  /** `s` stopped reading its upstream at the process's bound; the host resumes it. */
  pausedForInstance(s: ReliableSession): void;
}
