/**
 * A Session is one client leg and its one upstream leg, relayed verbatim.
 *
 * Life: CONNECTING (client open, upstream handshake in flight; client frames wait
 * in a bounded queue) → OPEN (relaying) → CLOSING (a close handshake in flight, or
 * a leg gone) → CLOSED (both sockets gone; the owner forgets the session).
 *
 * The legs (leg.ts) parse frames and hand the bytes over; the session decides
 * where they go and maps closes between the legs:
 * - the close handshake is end to end: a close frame (or a client's FIN) is relayed
 *   to the other leg, what that leg still sends is relayed back, and its close
 *   answers the first (within gateway.closeTimeoutMs, else the gateway answers itself);
 *   a client's close (or FIN) before the upstream is open follows the queued messages
 *   once it opens; a FIN inside a frame cuts the upstream leg (that frame cannot end);
 * - a client that vanishes gives the upstream 1001; an upstream that vanishes
 *   gives the client 4520; an upstream that breaks the protocol gives 1014;
 * - an upstream that cannot be opened gives 4502/4521/4522/4523 (errors.ts).
 *
 * Backpressure: when a leg buffers more than the high-water mark, reads on the
 * other leg pause; they resume on 'drain' or at the low-water mark (owner's
 * tick). A leg whose own pongs cannot be written (its buffer is over the mark: a
 * ping flood from a peer that never reads) has its reads paused the same way. A
 * client above the mark for `slowClientTimeoutMs` is closed with 4408. This holds
 * while the session closes too, until a leg's data can go nowhere (leg.ts). The
 * largest buffers are kept in stratix_relay_buffer_peak_bytes.
 *
 * Accounting: every data message received is counted once it is complete, and
 * then as sent (written to the other leg), queued (upstream not open yet) or
 * failed (with a reason). Queued ones become sent or failed when the upstream
 * opens or fails.
 */
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { CloseCode, closeCodeLabel, type CloseCodeInfo } from '../protocol/close-codes.js';
import { upstreamError, type UpstreamError } from '../errors.js';
import { Direction, RelayBuffer, type GatewayMetrics, type FailureReason } from '../metrics/gateway-metrics.js';
import { currentChunkArrivedAt, Leg, LegKind, type LegOwner } from './leg.js';
import { UpstreamConnect, type UpstreamConnectOwner, type UpstreamRequest } from './upstream-connect.js';
import { MessageRate, type ClientRateLimits, type RatePaused, type RatePauses } from '../admission/message-rate.js';
import { HandBack, type NativeDataPath, type NativeDirection, type NativeHandBack, type NativeHolder, type NativeTicket } from './native-data-path.js';

export type { UpstreamRequest } from './upstream-connect.js';

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
  /** How long a close handshake may take (gateway.closeTimeoutMs). */
  readonly closeTimeoutMs: number;
}

/** Something whose upstream connect the owner's tick times out. */
export interface ConnectTimed {
  checkConnectTimeout(now: number, since: number): void;
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
  /** Upstream connects in flight (since the attempt began); the owner's tick enforces the connect timeout. */
  readonly connecting: Map<ConnectTimed, number>;
  /** Sessions with a close handshake in flight (since it began); the owner's tick cuts the ones that hang. */
  readonly closing: Map<Session, number>;
  sessionClosed(session: Session): void;
  /** Told once per connect attempt whether the upstream opened (feeds pool health). */
  upstreamOutcome(session: Session, opened: boolean): void;
  /** Increments per relayed message; every 64th is timed for the latency histogram. */
  sampleCounter: number;
  /** admission.client, when a limit is set (undefined: no per-connection rate limit). */
  readonly rateLimits: ClientRateLimits | undefined;
  /** Sessions paused by their rate limit; the owner's tick resumes them. */
  readonly ratePauses: RatePauses<Session>;
  /** The native data path (relay.dataPath), or undefined for the JS path only. */
  readonly native: NativeDataPath | undefined;
}

const SAMPLE_MASK = 63;

/** The reason of a 4307 close. */
export const ROUTE_CHANGED_REASON = 'route changed, reconnect now';

/** Scratch for `#liveRelayed` (the addon fills it; read at once). */
const RELAYED = new Float64Array(4);

const STATE_NAMES = ['connecting', 'open', 'closing', 'closed'] as const;

// Flag bits.
/** Client reads paused (upstream buffer high, or the pre-open queue full). */
const PAUSED_C2U = 1;
/** Upstream reads paused (client buffer high). */
const PAUSED_U2C = 2;
/** Client reads paused because the client's own buffer is high (its pongs could not be written). */
const PAUSED_CLIENT_SELF = 4;
/** Upstream reads paused because the upstream's own buffer is high. */
const PAUSED_UPSTREAM_SELF = 8;
/** Client reads paused by its rate limit (admission.client). */
const PAUSED_RATE_C = 16;
/** Upstream reads paused by the client's rate limit (what the upstream sends it). */
const PAUSED_RATE_U = 32;
const PAUSED_ANY = PAUSED_C2U | PAUSED_U2C | PAUSED_CLIENT_SELF | PAUSED_UPSTREAM_SELF | PAUSED_RATE_C | PAUSED_RATE_U;
/** Reasons the client's reads are paused; it is read again when none is left. */
const CLIENT_HELD = PAUSED_C2U | PAUSED_CLIENT_SELF | PAUSED_RATE_C;
const UPSTREAM_HELD = PAUSED_U2C | PAUSED_UPSTREAM_SELF | PAUSED_RATE_U;
/** The client's buffer is over the mark (the slow-client clock runs). */
const CLIENT_SLOW = PAUSED_U2C | PAUSED_CLIENT_SELF;

// What waits for a session on the native data path to come back (it is released for it).
const NATIVE_HEARTBEAT = 1;
const NATIVE_CLOSE = 2;
const NATIVE_TERMINATE = 4;

export class Session implements LegOwner, UpstreamConnectOwner, ConnectTimed, RatePaused, NativeHolder {
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
  #messages0 = 0;
  #messages1 = 0;
  #bytes0 = 0;
  #bytes1 = 0;
  serial = 0;
  openedAt = 0;
  #connect: UpstreamConnect | null = null;
  /** The client's close (or FIN) while connecting: relayed after the queue once the upstream opens. */
  #closeAfterOpen: { code: number | undefined; reason: string } | null = null;
  /** Its rate buckets (admission.client), made on its first message when a limit is set. */
  #rate: MessageRate | null = null;
  /** On the native data path: the relay thread has both sockets (native-data-path.ts). */
  #native: NativeTicket | null = null;
  /** NATIVE_* bits: what to do once the relay thread hands the session back. */
  #nativeWanted = 0;
  #nativeClose: { info: CloseCodeInfo; reason: string } | null = null;

  constructor(owner: SessionOwner, clientId: string, clientSocket: Socket, target: string) {
    this.owner = owner;
    this.clientId = clientId;
    this.target = target;
    this.client = new Leg(this, clientSocket, LegKind.Client);
  }

  /** Opens the upstream leg. */
  connect(request: UpstreamRequest): void {
    this.#connect = new UpstreamConnect(this, request);
    this.owner.connecting.set(this, performance.now());
  }

  get paused(): boolean {
    return (this.flags & PAUSED_ANY) !== 0;
  }

  /** Connecting or open. */
  get live(): boolean {
    return this.state === SessionState.Connecting || this.state === SessionState.Open;
  }

  /**
   * The client's connection already ended or failed, whether or not the session has
   * seen it yet (a FIN that came with the request head, from a client that gave up
   * waiting for its 101, is in the socket's state before the leg reads it).
   */
  get clientGone(): boolean {
    const socket = this.client.socket;
    return socket.readableEnded || socket.destroyed;
  }

  /** The route changed (routing.onRouteChange "migrate"): the client reconnects to the new one. */
  routeChanged(): void {
    if (this.live) this.close(CloseCode.ROUTE_CHANGED, ROUTE_CHANGED_REASON);
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
    if (this.#connect === null || now - since < this.owner.settings.connectTimeoutMs) return;
    this.upstreamFailed(upstreamError('TIMEOUT', `upstream did not open within ${this.owner.settings.connectTimeoutMs} ms`));
  }

  /**
   * Owner's tick: the session began closing at `since`. After closeTimeoutMs a
   * close still owed is answered by the gateway and a leg that never replied to
   * ours is cut; at twice that, everything left is cut.
   */
  checkClosing(now: number, since: number): void {
    const t = now - since;
    const timeout = this.owner.settings.closeTimeoutMs;
    if (t < timeout) return;
    for (const leg of [this.client, this.upstream]) {
      if (leg === null || leg.gone) continue;
      if (leg.owesClose) leg.close(CloseCode.GOING_AWAY.code, 'the other side did not answer the close in time');
      else if (leg.closeSent && (t >= 2 * timeout || !leg.socket.writableEnded)) leg.terminate();
    }
  }

  /**
   * Owner's tick: resumes paused legs whose buffer fell to the low-water mark;
   * returns true when the client has been slow for longer than `slowMs`.
   */
  checkBackpressure(now: number, since: number, slowMs: number): boolean {
    const up = this.upstream;
    if ((this.state !== SessionState.Open && this.state !== SessionState.Closing) || up === null) return false;
    const low = this.owner.settings.lowWaterMarkBytes;
    if (this.flags & (PAUSED_C2U | PAUSED_UPSTREAM_SELF) && up.bufferedAmount <= low) upstreamDrained(this);
    if (this.flags & CLIENT_SLOW) {
      if (this.client.bufferedAmount <= low) clientDrained(this);
      else if (now - since >= slowMs) return true;
    }
    return false;
  }

  /**
   * One liveness round (once per ping interval): a leg that did not answer the
   * previous ping (nor sent anything) is dropped; the others are pinged. A leg
   * that cannot be heard (its reads are paused) or whose ping would wait behind
   * buffered data (a slow reader: the 4408 rule judges it) or behind a frame the
   * other leg is still sending to it (a slow upload: the ping could not go out
   * before the frame ends) is neither pinged nor judged in this round.
   */
  heartbeat(): void {
    if (this.#native !== null) {
      // The relay thread runs the round itself (the same rules); a session already asked back runs it on return.
      if (this.#nativeWanted === 0) this.owner.native!.relay.heartbeat(this.#native);
      else this.#nativeWanted |= NATIVE_HEARTBEAT;
      return;
    }
    if (this.state !== SessionState.Open && this.state !== SessionState.Connecting) return;
    const c = this.client;
    const up = this.upstream;
    if (!(this.flags & CLIENT_HELD) && c.bufferedAmount === 0 && up?.midFrame !== true) {
      if (!c.alive) {
        this.#pingTimedOut(c);
        return;
      }
      c.ping();
    }
    if (this.state === SessionState.Open && up !== null && !(this.flags & UPSTREAM_HELD) && up.bufferedAmount === 0 && !c.midFrame) {
      if (!up.alive) {
        this.#pingTimedOut(up);
        return;
      }
      up.ping();
    }
  }

  /** A leg did not answer its last ping (nor sent anything since): it is dropped, and counted. */
  #pingTimedOut(leg: Leg): void {
    const client = leg === this.client;
    this.owner.metrics.pingTimeouts.inc({ leg: client ? 'client' : 'upstream' });
    if (!client) this.upstreamFailure = upstreamError('LOST', 'upstream did not answer ping');
    leg.terminate();
  }

  /** Closes the client with `info` and the upstream with 1001. */
  close(info: CloseCodeInfo, reason: string = info.name.toLowerCase().replace(/_/g, ' ')): void {
    if (this.state === SessionState.Closed) return;
    if (this.#native !== null) {
      this.#nativeClose ??= { info, reason };
      this.#release(NATIVE_CLOSE);
      return;
    }
    if (this.state === SessionState.Connecting) this.#abortConnect('peer_closed');
    else this.upstream?.close(CloseCode.GOING_AWAY.code, 'client session closed by gateway');
    this.state = SessionState.Closing;
    this.client.close(info.code, reason);
    closingSince(this);
  }

  /** Drops both legs at once (no close handshake). */
  terminate(): void {
    if (this.#native !== null) {
      this.#release(NATIVE_TERMINATE);
      return;
    }
    this.#connect?.abort();
    this.client.terminate();
    this.upstream?.terminate();
  }

  // -------------------------------------------------------------------------
  // LegOwner

  messageLimit(leg: Leg): number {
    const s = this.owner.settings;
    return leg === this.client && this.state === SessionState.Connecting ? s.preOpenMaxMessageBytes : s.maxMessageBytes;
  }

  controlBufferLimit(): number {
    return this.owner.settings.highWaterMarkBytes;
  }

  legData(leg: Leg, buf: Buffer, start: number, end: number): void {
    // `buf` is the shared read buffer (shared-reads.ts): a write that does not
    // complete at once keeps pointing at its bytes, so they are copied (from
    // Buffer's pool when small: no allocation of its own).
    const bytes = Buffer.allocUnsafe(end - start);
    buf.copy(bytes, 0, start, end);
    if (leg === this.client) {
      if (this.state === SessionState.Connecting) {
        this.pending!.push(bytes);
        this.pendingBytes += bytes.length;
        this.owner.metrics.bufferAt(RelayBuffer.PreOpenQueue, this.pendingBytes);
        if (this.pendingBytes >= this.owner.settings.preOpenQueueBytes && !(this.flags & PAUSED_C2U)) pauseLeg(this, Direction.ClientToUpstream);
        return;
      }
      const to = this.upstream;
      if (to === null || !acceptsData(to)) return;
      to.socket.write(bytes);
      this.owner.metrics.bufferAt(RelayBuffer.UpstreamWrite, to.bufferedAmount);
      // Closing too: what a leg sends before its close answer is held to the mark like the rest.
      if (to.bufferedAmount > this.owner.settings.highWaterMarkBytes && !(this.flags & PAUSED_C2U)) pauseLeg(this, Direction.ClientToUpstream);
    } else {
      const to = this.client;
      if (!acceptsData(to)) return;
      to.socket.write(bytes);
      this.owner.metrics.bufferAt(RelayBuffer.ClientWrite, to.bufferedAmount);
      if (to.bufferedAmount > this.owner.settings.highWaterMarkBytes && !(this.flags & PAUSED_U2C)) pauseLeg(this, Direction.UpstreamToClient);
    }
  }

  legMessage(leg: Leg, bytes: number): void {
    const m = this.owner.metrics;
    const dir = leg === this.client ? Direction.ClientToUpstream : Direction.UpstreamToClient;
    if (dir === Direction.ClientToUpstream) {
      this.#messages0++;
      this.#bytes0 += bytes;
    } else {
      this.#messages1++;
      this.#bytes1 += bytes;
    }
    m.messagesReceived[dir]++;
    m.bytesReceived[dir] += bytes;
    const limits = this.owner.rateLimits;
    if (limits !== undefined) {
      const ms = (this.#rate ??= new MessageRate(limits)).charge(dir, bytes);
      if (ms > 0) this.#ratePause(dir, ms);
    }
    const to = dir === Direction.ClientToUpstream ? this.upstream : this.client;
    if (to !== null && acceptsData(to)) {
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

  legMessageData(): void {
    throw new Error('a verbatim session relays frames, not messages');
  }

  /** Over its rate limit: that side is not read for `ms` (the owner's tick resumes it). */
  #ratePause(dir: Direction, ms: number): void {
    const flag = dir === Direction.ClientToUpstream ? PAUSED_RATE_C : PAUSED_RATE_U;
    this.owner.metrics.ratePauses.inc({ direction: dir === Direction.ClientToUpstream ? 'client_to_upstream' : 'upstream_to_client' });
    this.owner.ratePauses.pause(this, dir, ms);
    if (this.flags & flag) return;
    this.flags |= flag;
    (dir === Direction.ClientToUpstream ? this.client : this.upstream)?.pause();
  }

  rateResume(dir: 0 | 1): void {
    const flag = dir === Direction.ClientToUpstream ? PAUSED_RATE_C : PAUSED_RATE_U;
    if (!(this.flags & flag)) return;
    this.flags &= ~flag;
    if (dir === Direction.ClientToUpstream) {
      if (!(this.flags & CLIENT_HELD)) this.client.resume();
    } else if (!(this.flags & UPSTREAM_HELD)) this.upstream?.resume();
  }

  /** Kept paused by its rate limit for admission.client.pausedTimeoutMs. */
  rateExceeded(): void {
    this.owner.logger.info({ clientId: this.clientId }, 'closing a client kept paused by its rate limit');
    this.close(CloseCode.RATE_LIMITED, 'message rate limit exceeded');
  }

  /**
   * A close frame arrived on `leg`. If it answers ours, the other leg may be
   * waiting for exactly this answer; otherwise it is relayed to the other leg,
   * whose answer will answer it — or, with nobody to relay to, answered now.
   */
  legCloseReceived(leg: Leg, code: number | undefined, reason: string): void {
    if (leg === this.client) this.owner.metrics.clientCloses.inc({ code: closeCodeLabel(code ?? 1005) });
    const other = leg === this.client ? this.upstream : this.client;
    if (this.state === SessionState.Connecting) {
      // End to end here too: the close follows the queued messages to the upstream once it opens.
      this.#closeAfterOpen = { code, reason };
      closingSince(this);
      return;
    } else if (leg.closeSent) {
      if (other !== null && other.owesClose) other.close(code, reason);
    } else if (other === null || other.gone || other.closeSent) {
      leg.close(code, reason);
    } else {
      other.close(code, reason);
    }
    if (this.state !== SessionState.Closed) this.state = SessionState.Closing;
    closingSince(this);
  }

  legFault(leg: Leg, code: number, reason: string): void {
    this.owner.logger.debug({ clientId: this.clientId, leg: leg === this.client ? 'client' : 'upstream', code, reason }, 'protocol violation');
    if (leg === this.client) {
      this.owner.metrics.clientCloses.inc({ code: closeCodeLabel(code) });
      if (this.state === SessionState.Connecting) this.#abortConnect('peer_closed');
      else this.upstream?.close(CloseCode.GOING_AWAY.code, 'client went away');
    } else {
      this.upstreamFailure = upstreamError('PROTOCOL', `upstream protocol error: ${reason}`);
      this.client.close(CloseCode.BAD_GATEWAY.code, this.upstreamFailure.message);
    }
    if (this.state !== SessionState.Closed) this.state = SessionState.Closing;
    closingSince(this);
  }

  /** The client sent FIN: the upstream is closed, and its answer (and what it says before it) still reaches the client. */
  legEnded(leg: Leg): void {
    // After its close frame a FIN changes nothing: the upstream's answer still comes.
    if (leg.closeReceived) return;
    if (leg.midFrame) {
      // A frame cut short can never be finished: the upstream leg is cut, the client answered.
      if (this.state === SessionState.Connecting) this.#abortConnect('peer_closed');
      this.upstream?.terminate();
      leg.close(CloseCode.GOING_AWAY.code, 'client went away');
    } else if (this.state === SessionState.Connecting) {
      this.#closeAfterOpen = { code: CloseCode.GOING_AWAY.code, reason: 'client went away' };
      closingSince(this);
      return;
    } else if (this.upstream === null || this.upstream.gone || this.upstream.closeSent) {
      leg.close(CloseCode.GOING_AWAY.code, 'client went away');
    } else {
      this.upstream.close(CloseCode.GOING_AWAY.code, 'client went away');
    }
    if (this.state !== SessionState.Closed) this.state = SessionState.Closing;
    closingSince(this);
  }

  legControlDropped(leg: Leg, why: 'pong' | 'held'): void {
    const isClient = leg === this.client;
    this.owner.metrics.controlFramesDropped.inc({ leg: isClient ? 'client' : 'upstream', why });
    if (why !== 'pong' || this.state !== SessionState.Open) return;
    // A peer that sends pings and does not read its pongs: stop reading it until it does.
    const flag = isClient ? PAUSED_CLIENT_SELF : PAUSED_UPSTREAM_SELF;
    if (this.flags & flag) return;
    this.flags |= flag;
    leg.pause();
    if (!this.owner.paused.has(this) || isClient) this.owner.paused.set(this, performance.now());
  }

  legGone(leg: Leg): void {
    if (leg === this.client) {
      if (this.backlog1 > 0 && !leg.closeReceived) unflushed(this, Direction.UpstreamToClient);
      if (!leg.closeReceived && !leg.closeSent) this.owner.metrics.clientCloses.inc({ code: '1006' });
      if (this.state === SessionState.Connecting) this.#abortConnect('peer_closed');
      else if (this.upstream !== null && !this.upstream.gone) this.upstream.close(CloseCode.GOING_AWAY.code, 'client went away');
    } else {
      if (this.backlog0 > 0 && !leg.closeReceived) unflushed(this, Direction.ClientToUpstream);
      if (!leg.closeReceived || this.client.owesClose) {
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
      if (this.flags & CLIENT_SLOW) clientDrained(this);
    } else {
      this.backlog0 = 0;
      if (this.flags & (PAUSED_C2U | PAUSED_UPSTREAM_SELF)) upstreamDrained(this);
    }
  }

  // -------------------------------------------------------------------------
  // Upstream handshake (UpstreamConnectOwner)

  /** The upstream answered a valid 101: start relaying. */
  upstreamOpened(socket: Socket, head: Buffer): void {
    this.#connect = null;
    const startedAt = this.owner.connecting.get(this) ?? performance.now();
    this.owner.connecting.delete(this);
    this.owner.metrics.upstreamConnectSeconds.observe({ result: 'open' }, (performance.now() - startedAt) / 1000);
    this.owner.upstreamOutcome(this, true);
    this.adoptUpstream(socket, head);
  }

  /**
   * Takes the open upstream socket as the upstream leg (also used when the
   * upstream was opened before the client's 101: negotiated subprotocols).
   */
  adoptUpstream(socket: Socket, head: Buffer): void {
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
    const m = this.owner.metrics;
    const queue = this.pending!;
    this.pending = null;
    if (queue.length > 0) {
      const out = up.socket;
      out.cork();
      for (const b of queue) out.write(b);
      out.uncork();
      m.bufferAt(RelayBuffer.UpstreamWrite, up.bufferedAmount);
    }
    m.messagesSent[Direction.ClientToUpstream] += this.pendingMessages;
    m.bytesSent[Direction.ClientToUpstream] += this.pendingPayloadBytes;
    this.pendingMessages = 0;
    this.pendingPayloadBytes = 0;
    this.pendingBytes = 0;
    if (this.flags & PAUSED_C2U) resumeLeg(this, Direction.ClientToUpstream);
    const close = this.#closeAfterOpen;
    if (close !== null) {
      this.#closeAfterOpen = null;
      this.state = SessionState.Closing;
      up.close(close.code, close.reason);
    }
    if (head.length > 0) up.onData(head);
    // After what the caller still feeds the legs (a negotiated upgrade's client bytes).
    if (this.owner.native !== undefined) process.nextTick(nativeSoon, this);
  }

  // -------------------------------------------------------------------------
  // The native data path (native-data-path.ts)

  /** On the native data path now. */
  get onNative(): boolean {
    return this.#native !== null;
  }

  /** Bytes read from the client's socket so far, on either data path. */
  get clientBytesRead(): number {
    return this.#bytesRead(this.client, 0);
  }

  /** Bytes read from the upstream's socket so far, on either data path (0 before it opened). */
  get upstreamBytesRead(): number {
    return this.upstream === null ? 0 : this.#bytesRead(this.upstream, 1);
  }

  get messages0(): number {
    return this.#messages0 + this.#liveRelayed(0);
  }

  get messages1(): number {
    return this.#messages1 + this.#liveRelayed(1);
  }

  get bytes0(): number {
    return this.#bytes0 + this.#liveRelayed(2);
  }

  get bytes1(): number {
    return this.#bytes1 + this.#liveRelayed(3);
  }

  /** What the relay thread relayed on the loan it holds now (native-data-path.ts `relayed`), or 0. */
  #liveRelayed(k: number): number {
    if (this.#native === null) return 0;
    this.owner.native!.relay.relayed(this.#native, RELAYED);
    return RELAYED[k]!;
  }

  #bytesRead(leg: Leg, side: number): number {
    const live = this.#native === null ? 0 : this.owner.native!.relay.bytesRead(this.#native, side);
    return leg.socket.bytesRead + leg.nativeBytesRead + live;
  }

  /**
   * Gives both sockets to the relay thread when the session is open with nothing
   * pending, paused, held, buffered or half parsed. False: not now (try again later);
   * true: done, or never (closing, a leg that cannot be lent).
   */
  nativeTry(): boolean {
    const native = this.owner.native;
    const up = this.upstream;
    if (native === undefined || this.#native !== null || this.state !== SessionState.Open || up === null) return true;
    if (!this.client.canLend || !up.canLend) return true;
    if (this.flags !== 0 || !this.client.lendable || !up.lendable) return false;
    const s = this.owner.settings;
    this.backlog0 = this.backlog1 = 0;
    const alive = (this.client.alive ? 1 : 0) | (up.alive ? 2 : 0);
    this.#native = native.adopt(this, this.client.lend(), up.lend(), s.maxMessageBytes, s.highWaterMarkBytes, true, alive);
    // The relay thread has duplicates of the descriptors: the socket objects go until the session comes back.
    this.client.stow();
    up.stow();
    return true;
  }

  /**
   * The relay thread handed the session back: each leg's parser goes on where the
   * thread stopped, the output it still owed is written first, then the bytes it
   * read and did not relay go through the JS parser (a control frame, a fault, a
   * split header), and the legs are read again. Then what waited (heartbeat,
   * close), and the session goes back to the thread when it is clean.
   */
  nativeReturned(e: NativeHandBack): void {
    this.#native = null;
    this.owner.native!.returned(e.kind);
    const c = this.client;
    const up = this.upstream!;
    c.revive(e.clientFd);
    up.revive(e.upstreamFd);
    const [d0, d1] = e.dirs;
    this.#messages0 += d0.messages;
    this.#bytes0 += d0.bytes;
    this.#messages1 += d1.messages;
    this.#bytes1 += d1.bytes;
    c.returned(d0);
    up.returned(d1);
    if (d0.pending.length > 0) this.legData(c, d0.pending, 0, d0.pending.length);
    if (d1.pending.length > 0) this.legData(up, d1.pending, 0, d1.pending.length);
    feed(c, d0, e.dir === 0 ? e.rest : EMPTY);
    feed(up, d1, e.dir === 1 ? e.rest : EMPTY);
    if (!(this.flags & CLIENT_HELD)) c.resume();
    if (!(this.flags & UPSTREAM_HELD)) up.resume();
    const wanted = this.#nativeWanted;
    this.#nativeWanted = 0;
    if (e.kind === HandBack.PingTimeout) {
      // As the JS round: the client is judged first.
      this.#pingTimedOut(e.code & 1 ? c : up);
      return;
    }
    if (wanted & NATIVE_TERMINATE) this.terminate();
    else if (wanted & NATIVE_CLOSE) {
      const { info, reason } = this.#nativeClose!;
      this.#nativeClose = null;
      this.close(info, reason);
    } else if (wanted & NATIVE_HEARTBEAT) this.heartbeat();
    // After EOF or a socket error the JS path reads the end itself: the session is ending.
    if (e.kind !== HandBack.Eof && e.kind !== HandBack.Error) nativeSoon(this);
  }

  /** Asks the relay thread for the session back, for `action`. */
  #release(action: number): void {
    if (this.#nativeWanted === 0) this.owner.native!.relay.release(this.#native!);
    this.#nativeWanted |= action;
  }

  /** Connecting failed (or timed out): tell the client why. */
  upstreamFailed(failure: UpstreamError): void {
    const attempt = this.#connect;
    if (attempt === null) return;
    this.#connect = null;
    attempt.abort();
    const startedAt = this.owner.connecting.get(this) ?? performance.now();
    this.owner.connecting.delete(this);
    this.upstreamFailure = failure;
    if (this.state === SessionState.Connecting) {
      const m = this.owner.metrics;
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
    const attempt = this.#connect;
    if (attempt !== null) {
      this.#connect = null;
      this.owner.connecting.delete(this);
      attempt.abort();
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
    if (this.#connect !== null || (this.upstream !== null && !this.upstream.gone)) return;
    this.state = SessionState.Closed;
    this.pending = null;
    this.owner.paused.delete(this);
    this.owner.closing.delete(this);
    this.owner.connecting.delete(this);
    this.owner.ratePauses.delete(this);
    this.owner.native?.retry.delete(this);
    this.owner.sessionClosed(this);
  }
}

// ---------------------------------------------------------------------------

/** Whether data may still be written to `to`: not gone, and no close sent (or only the rest of a frame before our held close). */
function acceptsData(to: Leg): boolean {
  return !to.gone && (!to.closeSent || to.holding);
}

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

/** To the native data path now if the session is clean, else at one of the owner's next ticks. */
function nativeSoon(s: Session): void {
  if (!s.nativeTry()) s.owner.native!.retry.add(s);
}

/** Back from the relay thread: the bytes of one direction it read and did not relay, in order, to the JS parser. */
function feed(leg: Leg, d: NativeDirection, rest: Buffer): void {
  const n = d.held.length + rest.length + d.received.length;
  if (n === 0 || leg.gone) return;
  if (n === rest.length) leg.onData(rest);
  else leg.onData(Buffer.concat([d.held, rest, d.received], n));
}

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
    if (!(s.flags & CLIENT_HELD)) s.client.resume();
  } else {
    s.flags &= ~PAUSED_U2C;
    if (!(s.flags & UPSTREAM_HELD)) s.upstream?.resume();
  }
  if (!s.paused) s.owner.paused.delete(s);
}

/** The client's buffer drained: upstream reads (and the client's own, after a pong flood) resume. */
function clientDrained(s: Session): void {
  if (s.flags & PAUSED_CLIENT_SELF) {
    s.flags &= ~PAUSED_CLIENT_SELF;
    if (!(s.flags & CLIENT_HELD)) s.client.resume();
  }
  if (s.flags & PAUSED_U2C) resumeLeg(s, Direction.UpstreamToClient);
  else if (!s.paused) s.owner.paused.delete(s);
}

/** The upstream's buffer drained: client reads (and the upstream's own) resume. */
function upstreamDrained(s: Session): void {
  if (s.flags & PAUSED_UPSTREAM_SELF) {
    s.flags &= ~PAUSED_UPSTREAM_SELF;
    if (!(s.flags & UPSTREAM_HELD)) s.upstream?.resume();
  }
  if (s.flags & PAUSED_C2U) resumeLeg(s, Direction.ClientToUpstream);
  else if (!s.paused) s.owner.paused.delete(s);
}

/** Enters the closing state's clock (once: a second close on the other leg does not restart it). */
function closingSince(s: Session): void {
  if (!s.owner.closing.has(s)) s.owner.closing.set(s, performance.now());
}
