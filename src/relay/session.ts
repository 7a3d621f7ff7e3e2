/**
 * A Session is one client leg and its one upstream leg, relayed verbatim.
 *
 * Life: CONNECTING (client open, upstream handshake in flight; client frames wait
 * in a bounded queue) → OPEN (relaying) → CLOSING (one leg closing or gone, the
 * other being closed) → CLOSED (both sockets gone; the owner forgets the session).
 *
 * The legs (leg.ts) parse frames and hand the bytes over; the session decides
 * where they go and maps closes between the legs:
 * - a close frame is relayed with its code (a close without a code stays so);
 * - a client that vanishes gives the upstream 1001; an upstream that vanishes
 *   gives the client 4520; an upstream that breaks the protocol gives 1014;
 * - an upstream that cannot be opened gives 4502/4521/4522/4523 (errors.ts).
 *
 * Backpressure: when a leg buffers more than the high-water mark, reads on the
 * other leg pause; they resume on 'drain' or at the low-water mark (owner's
 * tick). A client above the mark for `slowClientTimeoutMs` is closed with 4408.
 *
 * Accounting: every data message received is counted once it is complete, and
 * then as sent (written to the other leg), queued (upstream not open yet) or
 * failed (with a reason). Queued ones become sent or failed when the upstream
 * opens or fails.
 */
import type { ClientRequest, IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { CloseCode, closeCodeLabel, type CloseCodeInfo } from '../protocol/close-codes.js';
import { upstreamError, type UpstreamError } from '../errors.js';
import { Direction, type GatewayMetrics, type FailureReason } from '../metrics/gateway-metrics.js';
import { currentChunkArrivedAt, Leg, LegKind, type LegOwner } from './leg.js';
import { checkUpgradeResponse, requestUpgrade } from './websocket-handshake.js';
import { classifyConnectError } from './upstream-failure.js';

const kSession = Symbol('stratix.session');
type TaggedRequest = ClientRequest & { [kSession]?: Session };

export const enum SessionState {
  Connecting = 0,
  Open = 1,
  Closing = 2,
  Closed = 3,
}

/** Settings the relay reads; a slice of the validated config. */
export interface RelaySettings {
  readonly maxMessageBytes: number;
  readonly preOpenMaxMessageBytes: number;
  readonly preOpenQueueMessages: number;
  readonly preOpenQueueBytes: number;
  readonly highWaterMarkBytes: number;
  readonly lowWaterMarkBytes: number;
  readonly connectTimeoutMs: number;
}

/** What a session needs from its owner (the Gateway). */
export interface SessionOwner {
  readonly settings: RelaySettings;
  readonly metrics: GatewayMetrics;
  readonly logger: Logger;
  /*
   * The transient states, each with the performance.now() it began: the time
   * lives here, not on the session, so an idle session carries no boxed number.
   */
  /** Sessions with a paused leg (since when the client became slow, or the pause); the owner's tick resumes them or closes slow clients. */
  readonly paused: Map<Session, number>;
  /** Sessions whose upstream is connecting (since the attempt began); the owner's tick enforces the connect timeout. */
  readonly connecting: Map<Session, number>;
  /** Sessions with a close handshake in flight (since it began); the owner's tick cuts the ones that hang. */
  readonly closing: Map<Session, number>;
  sessionClosed(session: Session): void;
  /** Told once per connect attempt whether the upstream opened (feeds pool health). */
  upstreamOutcome(session: Session, opened: boolean): void;
  /** Increments per relayed message; every 64th is timed for the latency histogram. */
  sampleCounter: number;
}

export interface UpstreamRequest {
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly origin: string | undefined;
}

/** A leg whose close handshake is not answered within this time is cut. */
export const CLOSE_TIMEOUT_MS = 10_000;
const SAMPLE_MASK = 63;

const STATE_NAMES = ['connecting', 'open', 'closing', 'closed'] as const;

// Flag bits.
/** Client reads paused (upstream buffer high, or the pre-open queue full). */
const PAUSED_C2U = 1;
/** Upstream reads paused (client buffer high). */
const PAUSED_U2C = 2;

export class Session implements LegOwner {
  readonly owner: SessionOwner;
  readonly clientId: string;
  readonly target: string;
  readonly client: Leg;
  upstream: Leg | null = null;
  state: SessionState = SessionState.Connecting;
  flags = 0;
  /** Client bytes waiting for the upstream to open (already re-masked); null once open. */
  pending: Buffer[] | null = [];
  pendingBytes = 0;
  pendingMessages = 0;
  pendingPayloadBytes = 0;
  /** Messages written since the receiving leg's buffer was last seen empty, per direction. */
  backlog0 = 0;
  backlog1 = 0;
  /** Why the upstream failed, once it did. */
  upstreamFailure: UpstreamError | undefined;
  /**
   * For the admin API (src/server/session-view.ts): messages and payload bytes accepted
   * per direction (0 client→upstream, 1 upstream→client), and the number and open time
   * the owner's session directory gives the session. Small integers only.
   */
  messages0 = 0;
  messages1 = 0;
  bytes0 = 0;
  bytes1 = 0;
  serial = 0;
  openedAt = 0;
  #req: ClientRequest | null = null;
  /** The Sec-WebSocket-Accept the upstream must answer with (until it answers). */
  #accept = '';

  constructor(owner: SessionOwner, clientId: string, clientSocket: Socket, target: string) {
    this.owner = owner;
    this.clientId = clientId;
    this.target = target;
    this.client = new Leg(this, clientSocket, LegKind.Client);
  }

  /** Opens the upstream leg. */
  connect(request: UpstreamRequest): void {
    const { req, accept } = requestUpgrade(new URL(request.url), request.headers, request.origin);
    this.#req = req;
    this.#accept = accept;
    (req as TaggedRequest)[kSession] = this;
    req.on('upgrade', onUpgrade);
    req.on('response', onResponse);
    req.on('error', onRequestError);
    req.end();
    this.owner.connecting.set(this, performance.now());
  }

  get paused(): boolean {
    return (this.flags & (PAUSED_C2U | PAUSED_U2C)) !== 0;
  }

  /** The client reads too slowly: upstream reads are paused for it. */
  get slow(): boolean {
    return (this.flags & PAUSED_U2C) !== 0;
  }

  get stateName(): 'connecting' | 'open' | 'closing' | 'closed' {
    return STATE_NAMES[this.state];
  }

  /** The operator closes the session (admin API): a verbatim session always ends both legs, so `end` changes nothing. */
  adminClose(code: number, reason: string, _end: boolean): void {
    this.close({ code, name: 'OPERATOR', reconnect: 'backoff', meaning: reason }, reason);
  }

  /** Owner's tick: gives up on an upstream still connecting after `connectTimeoutMs`. */
  checkConnectTimeout(now: number, since: number): void {
    if (this.#req === null || now - since < this.owner.settings.connectTimeoutMs) return;
    this.#connectFailed(upstreamError('TIMEOUT', `upstream did not open within ${this.owner.settings.connectTimeoutMs} ms`));
  }

  /** Owner's tick: cuts legs whose close handshake hangs (the session began closing at `since`). */
  checkClosing(now: number, since: number): void {
    if (now - since < CLOSE_TIMEOUT_MS) return;
    if (this.client.closeSent && !this.client.gone) this.client.terminate();
    if (this.upstream !== null && this.upstream.closeSent && !this.upstream.gone) this.upstream.terminate();
  }

  /**
   * Owner's tick: resumes a paused leg whose peer buffer fell to the low-water
   * mark; returns true when the client has been slow for longer than `slowMs`.
   */
  checkBackpressure(now: number, since: number, slowMs: number): boolean {
    if (this.state !== SessionState.Open) return false;
    const low = this.owner.settings.lowWaterMarkBytes;
    if (this.flags & PAUSED_C2U && this.upstream !== null && this.upstream.bufferedAmount <= low) resumeLeg(this, Direction.ClientToUpstream);
    if (this.flags & PAUSED_U2C) {
      if (this.client.bufferedAmount <= low) resumeLeg(this, Direction.UpstreamToClient);
      else if (now - since >= slowMs) return true;
    }
    return false;
  }

  /**
   * One liveness round (once per ping interval): a leg that did not answer the
   * previous ping (nor sent anything) is dropped; the others are pinged. A leg
   * whose reads are paused by backpressure cannot be heard, so it is not judged.
   */
  heartbeat(): void {
    if (this.state !== SessionState.Open && this.state !== SessionState.Connecting) return;
    const m = this.owner.metrics;
    if (!(this.flags & PAUSED_C2U)) {
      if (!this.client.alive) {
        m.pingTimeouts.inc({ leg: 'client' });
        this.client.terminate();
        return;
      }
      this.client.ping();
    }
    const up = this.upstream;
    if (this.state === SessionState.Open && up !== null && !(this.flags & PAUSED_U2C)) {
      if (!up.alive) {
        m.pingTimeouts.inc({ leg: 'upstream' });
        this.upstreamFailure = upstreamError('LOST', 'upstream did not answer ping');
        up.terminate();
        return;
      }
      up.ping();
    }
  }

  /** Closes the client with `info` and the upstream with 1001. */
  close(info: CloseCodeInfo, reason: string = info.name.toLowerCase().replace(/_/g, ' ')): void {
    if (this.state === SessionState.Closed) return;
    if (this.state === SessionState.Connecting) this.#abortConnect('peer_closed');
    else this.upstream?.close(CloseCode.GOING_AWAY.code, 'client session closed by gateway');
    this.state = SessionState.Closing;
    this.client.close(info.code, reason);
    closingSince(this);
  }

  /** Drops both legs at once (no close handshake). */
  terminate(): void {
    this.#req?.destroy();
    this.client.terminate();
    this.upstream?.terminate();
  }

  // -------------------------------------------------------------------------
  // LegOwner

  messageLimit(leg: Leg): number {
    const s = this.owner.settings;
    return leg === this.client && this.state === SessionState.Connecting ? s.preOpenMaxMessageBytes : s.maxMessageBytes;
  }

  legData(leg: Leg, buf: Buffer, start: number, end: number): void {
    // `buf` is the shared read buffer (shared-reads.ts): a write that does not
    // complete at once keeps pointing at its bytes, so they are copied (from
    // Buffer's pool when small: no allocation of its own).
    const bytes = Buffer.allocUnsafe(end - start);
    buf.copy(bytes, 0, start, end);
    const open = this.state === SessionState.Open;
    if (leg === this.client) {
      if (this.state === SessionState.Connecting) {
        this.pending!.push(bytes);
        this.pendingBytes += bytes.length;
        if (this.pendingBytes >= this.owner.settings.preOpenQueueBytes && !(this.flags & PAUSED_C2U)) pauseLeg(this, Direction.ClientToUpstream);
        return;
      }
      const to = this.upstream;
      // Closing: only the rest of a frame already half written goes on (its close waits for it).
      if (to === null || to.gone || (!open && !to.holding)) return;
      to.socket.write(bytes);
      if (open && to.bufferedAmount > this.owner.settings.highWaterMarkBytes && !(this.flags & PAUSED_C2U)) pauseLeg(this, Direction.ClientToUpstream);
    } else {
      const to = this.client;
      if (to.gone || (!open && !to.holding)) return;
      to.socket.write(bytes);
      if (open && to.bufferedAmount > this.owner.settings.highWaterMarkBytes && !(this.flags & PAUSED_U2C)) pauseLeg(this, Direction.UpstreamToClient);
    }
  }

  legMessage(leg: Leg, bytes: number): void {
    const m = this.owner.metrics;
    const dir = leg === this.client ? Direction.ClientToUpstream : Direction.UpstreamToClient;
    if (dir === Direction.ClientToUpstream) {
      this.messages0++;
      this.bytes0 += bytes;
    } else {
      this.messages1++;
      this.bytes1 += bytes;
    }
    m.messagesReceived[dir]++;
    m.bytesReceived[dir] += bytes;
    const to = dir === Direction.ClientToUpstream ? this.upstream : this.client;
    if (to !== null && !to.gone && (this.state === SessionState.Open || to.holding)) {
      m.messagesSent[dir]++;
      m.bytesSent[dir] += bytes;
      const buffered = to.bufferedAmount;
      if (dir === Direction.ClientToUpstream) this.backlog0 = buffered === 0 ? 0 : this.backlog0 + 1;
      else this.backlog1 = buffered === 0 ? 0 : this.backlog1 + 1;
      if ((++this.owner.sampleCounter & SAMPLE_MASK) === 0) sampleLatency(m, to, dir, currentChunkArrivedAt());
    } else if (this.state === SessionState.Connecting && dir === Direction.ClientToUpstream) {
      this.pendingMessages++;
      this.pendingPayloadBytes += bytes;
      if (this.pendingMessages >= this.owner.settings.preOpenQueueMessages && !(this.flags & PAUSED_C2U)) pauseLeg(this, dir);
    } else {
      m.failed(dir, 'peer_closed');
    }
  }

  legCloseReceived(leg: Leg, code: number | undefined, reason: string): void {
    if (leg === this.client) {
      this.owner.metrics.clientCloses.inc({ code: closeCodeLabel(code ?? 1005) });
      if (this.state === SessionState.Connecting) this.#abortConnect('peer_closed');
      else if (this.state === SessionState.Open) this.upstream!.close(code, reason);
    } else if (this.state === SessionState.Open) {
      this.client.close(code, reason);
    }
    if (this.state !== SessionState.Closed) this.state = SessionState.Closing;
    closingSince(this);
  }

  legFault(leg: Leg, code: number, reason: string): void {
    this.owner.logger.debug({ clientId: this.clientId, leg: leg === this.client ? 'client' : 'upstream', code, reason }, 'protocol violation');
    if (leg === this.client) {
      this.owner.metrics.clientCloses.inc({ code: closeCodeLabel(code) });
      if (this.state === SessionState.Connecting) this.#abortConnect('peer_closed');
      else if (this.state === SessionState.Open) this.upstream!.close(CloseCode.GOING_AWAY.code, 'client went away');
    } else {
      this.upstreamFailure = upstreamError('PROTOCOL', `upstream protocol error: ${reason}`);
      if (this.state === SessionState.Open) this.client.close(CloseCode.BAD_GATEWAY.code, this.upstreamFailure.message);
    }
    if (this.state !== SessionState.Closed) this.state = SessionState.Closing;
    closingSince(this);
  }

  legGone(leg: Leg): void {
    if (leg === this.client) {
      if (this.backlog1 > 0 && !leg.closeReceived) unflushed(this, Direction.UpstreamToClient);
      if (!leg.closeReceived && !leg.closeSent) this.owner.metrics.clientCloses.inc({ code: '1006' });
      if (this.state === SessionState.Connecting) this.#abortConnect('peer_closed');
      else if (this.state === SessionState.Open && this.upstream !== null) this.upstream.close(CloseCode.GOING_AWAY.code, 'client went away');
    } else {
      if (this.backlog0 > 0 && !leg.closeReceived) unflushed(this, Direction.ClientToUpstream);
      if (this.state === SessionState.Open && !leg.closeReceived) {
        const failure = this.upstreamFailure ?? upstreamError('LOST', 'upstream connection lost');
        this.client.close(failure.close.code, failure.message);
      }
    }
    if (this.state !== SessionState.Closed) this.state = SessionState.Closing;
    closingSince(this);
    this.#finish();
  }

  legDrained(leg: Leg): void {
    if (leg === this.client) {
      this.backlog1 = 0;
      if (this.flags & PAUSED_U2C) resumeLeg(this, Direction.UpstreamToClient);
    } else {
      this.backlog0 = 0;
      if (this.flags & PAUSED_C2U) resumeLeg(this, Direction.ClientToUpstream);
    }
  }

  // -------------------------------------------------------------------------
  // Upstream handshake

  /** The upstream answered 101: check it and start relaying. */
  upgraded(res: IncomingMessage, socket: Socket, head: Buffer): void {
    this.#req = null;
    const startedAt = this.owner.connecting.get(this) ?? performance.now();
    this.owner.connecting.delete(this);
    const problem = checkUpgradeResponse(res, this.#accept);
    this.#accept = '';
    if (problem !== undefined) {
      socket.destroy();
      this.#connectFailed(upstreamError('REJECTED', problem));
      return;
    }
    const m = this.owner.metrics;
    m.upstreamConnectSeconds.observe({ result: 'open' }, (performance.now() - startedAt) / 1000);
    this.owner.upstreamOutcome(this, true);
    const up = new Leg(this, socket, LegKind.Upstream);
    this.upstream = up;
    up.peer = this.client;
    this.client.peer = up;
    if (this.state !== SessionState.Connecting) {
      // The client left while we were connecting.
      up.close(CloseCode.GOING_AWAY.code, 'client went away');
      closingSince(this);
      return;
    }
    this.state = SessionState.Open;
    const queue = this.pending!;
    this.pending = null;
    if (queue.length > 0) {
      const out = up.socket;
      out.cork();
      for (const b of queue) out.write(b);
      out.uncork();
    }
    m.messagesSent[Direction.ClientToUpstream] += this.pendingMessages;
    m.bytesSent[Direction.ClientToUpstream] += this.pendingPayloadBytes;
    this.pendingMessages = 0;
    this.pendingPayloadBytes = 0;
    this.pendingBytes = 0;
    if (this.flags & PAUSED_C2U) resumeLeg(this, Direction.ClientToUpstream);
    if (head.length > 0) up.onData(head);
  }

  /** Connecting failed: tell the client why. */
  #connectFailed(failure: UpstreamError): void {
    if (this.#req === null && this.upstreamFailure !== undefined) return;
    const req = this.#req;
    this.#req = null;
    const startedAt = this.owner.connecting.get(this) ?? performance.now();
    this.owner.connecting.delete(this);
    req?.destroy();
    this.upstreamFailure = failure;
    const m = this.owner.metrics;
    if (this.state === SessionState.Connecting) {
      m.upstreamConnectSeconds.observe({ result: 'error' }, (performance.now() - startedAt) / 1000);
      m.upstreamConnectFailures.inc({ code: failure.code });
      if (failure.code !== 'STRATIX_ERR_UPSTREAM_REJECTED' || failure.message.includes('HTTP 5')) this.owner.upstreamOutcome(this, false);
      this.owner.logger.debug({ clientId: this.clientId, target: this.target, err: failure.message }, 'upstream connect failed');
      this.#dropPending('upstream_unavailable');
      this.state = SessionState.Closing;
      this.client.close(failure.close.code, failure.message);
      closingSince(this);
    }
    this.#finish();
  }

  /** The client is gone or closing before the upstream opened. */
  #abortConnect(reason: FailureReason): void {
    this.#dropPending(reason);
    const req = this.#req;
    if (req !== null) {
      this.#req = null;
      this.owner.connecting.delete(this);
      req.destroy();
    }
  }

  #dropPending(reason: FailureReason): void {
    if (this.pendingMessages > 0) this.owner.metrics.failed(Direction.ClientToUpstream, reason, this.pendingMessages);
    this.pending = null;
    this.pendingMessages = 0;
    this.pendingPayloadBytes = 0;
    this.pendingBytes = 0;
  }

  #finish(): void {
    if (this.state === SessionState.Closed || !this.client.gone) return;
    if (this.#req !== null || (this.upstream !== null && !this.upstream.gone)) return;
    this.state = SessionState.Closed;
    this.pending = null;
    this.owner.paused.delete(this);
    this.owner.closing.delete(this);
    this.owner.connecting.delete(this);
    this.owner.sessionClosed(this);
  }

  /** Called when the upstream request ended without a 101 (error or HTTP answer). */
  requestEnded(err: Error | undefined, status: number | undefined): void {
    if (this.#req === null) {
      this.#finish();
      return;
    }
    this.#connectFailed(classifyConnectError(err ?? new Error('upstream closed during handshake'), status));
  }
}

// ---------------------------------------------------------------------------
// Upstream request handlers (this = the ClientRequest).

function onUpgrade(this: TaggedRequest, res: IncomingMessage, socket: Socket, head: Buffer): void {
  this[kSession]!.upgraded(res, socket, head);
}

function onResponse(this: TaggedRequest, res: IncomingMessage): void {
  res.resume();
  this[kSession]!.requestEnded(undefined, res.statusCode ?? 0);
}

function onRequestError(this: TaggedRequest, err: Error): void {
  this[kSession]!.requestEnded(err, undefined);
}

// ---------------------------------------------------------------------------

function sampleLatency(m: GatewayMetrics, to: Leg, dir: Direction, since: number): void {
  const label = dir === Direction.ClientToUpstream ? 'client_to_upstream' : 'upstream_to_client';
  if (to.bufferedAmount === 0) {
    m.relayLatencySeconds.observe({ direction: label }, (performance.now() - since) / 1000);
  } else {
    // Still buffered: time it to the flush.
    to.socket.write(EMPTY, (err?: Error | null) => {
      if (!err) m.relayLatencySeconds.observe({ direction: label }, (performance.now() - since) / 1000);
    });
  }
}

const EMPTY = Buffer.alloc(0);

/** Messages still in a leg's buffer when it was cut: they move from sent to failed. */
function unflushed(s: Session, dir: Direction): void {
  const n = dir === Direction.ClientToUpstream ? s.backlog0 : s.backlog1;
  const m = s.owner.metrics;
  m.messagesSent[dir] -= n;
  m.failed(dir, 'unflushed', n);
  if (dir === Direction.ClientToUpstream) s.backlog0 = 0;
  else s.backlog1 = 0;
}

function pauseLeg(s: Session, dir: Direction): void {
  s.owner.metrics.backpressurePauses.inc({ direction: dir === Direction.ClientToUpstream ? 'client_to_upstream' : 'upstream_to_client' });
  if (dir === Direction.ClientToUpstream) {
    s.flags |= PAUSED_C2U;
    s.client.pause();
    if (!s.owner.paused.has(s)) s.owner.paused.set(s, performance.now());
  } else {
    s.flags |= PAUSED_U2C;
    s.upstream?.pause();
    s.owner.paused.set(s, performance.now()); // the slow-client clock starts now
  }
}

function resumeLeg(s: Session, dir: Direction): void {
  if (dir === Direction.ClientToUpstream) {
    if (s.state === SessionState.Connecting) return; // the queue empties when the upstream opens
    s.flags &= ~PAUSED_C2U;
    s.client.resume();
  } else {
    s.flags &= ~PAUSED_U2C;
    s.upstream?.resume();
  }
  if (!s.paused) s.owner.paused.delete(s);
}

/** Enters the closing state's clock (once: a second close on the other leg does not restart it). */
function closingSince(s: Session): void {
  if (!s.owner.closing.has(s)) s.owner.closing.set(s, performance.now());
}
