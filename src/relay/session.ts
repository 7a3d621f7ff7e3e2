/**
 * A Session is one client leg and its one upstream leg, relayed verbatim.
 *
 * Life: CONNECTING (client open, upstream connecting; client messages wait in a
 * bounded PendingQueue) → OPEN (relaying) → CLOSING (one leg gone, the other
 * being closed) → CLOSED (both gone; the owner forgets the session).
 *
 * Hot path: event handlers are module-level functions that find their session
 * through a symbol on the WebSocket (as ws does), so there is no closure per
 * connection or per message. Counters are typed-array additions.
 *
 * Backpressure: after each write, if the receiving leg buffers more than the
 * high-water mark, reads on the sending leg pause. They resume when the buffer
 * drains (socket 'drain') or falls to the low-water mark (checked by the owner's
 * tick). A client whose buffer stays high for `slowClientTimeoutMs` is closed
 * with 4408, so one slow reader holds at most highWaterMark + one message.
 */
import type { Socket } from 'node:net';
import WebSocket from 'ws';
import type { Logger } from 'pino';
import { CloseCode, isSendableCloseCode, type CloseCodeInfo } from '../protocol/close-codes.js';
import { upstreamError, type UpstreamError } from '../errors.js';
import { Direction, type GatewayMetrics, type FailureReason } from '../metrics/gateway-metrics.js';
import { PendingQueue } from './pending-queue.js';
import { classifyConnectError, classifyOpenError } from './upstream-failure.js';

const kSession = Symbol('stratix.session');

type Tagged<T> = T & { [kSession]?: Session };

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
  /** Sessions with a paused leg; the owner's tick resumes them or closes slow clients. */
  readonly paused: Set<Session>;
  /** Sessions whose upstream is connecting; the owner's tick enforces the connect timeout. */
  readonly connecting: Set<Session>;
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

const BINARY = Object.freeze({ binary: true, compress: false });
const TEXT = Object.freeze({ binary: false, compress: false });
const SAMPLE_MASK = 63;

// Flag bits.
const CLIENT_ALIVE = 1;
const UPSTREAM_ALIVE = 2;
/** Client reads paused (upstream buffer high). */
const PAUSED_C2U = 4;
/** Upstream reads paused (client buffer high). */
const PAUSED_U2C = 8;
/** The client broke the protocol; ws already closed it with the right code. */
const CLIENT_FAULT = 16;

export class Session {
  readonly owner: SessionOwner;
  readonly clientId: string;
  readonly target: string;
  readonly client: WebSocket;
  readonly clientSocket: Socket;
  upstream: WebSocket | null = null;
  upstreamSocket: Socket | null = null;
  state: SessionState = SessionState.Connecting;
  flags = CLIENT_ALIVE | UPSTREAM_ALIVE;
  /** Client messages waiting for the upstream to open; null once open. */
  pending: PendingQueue | null;
  /** Messages handed to a leg's socket since its buffer was last empty, per direction. */
  backlog0 = 0;
  backlog1 = 0;
  /** When the client leg went over the high-water mark (ms, for the slow-client check). */
  slowSince = 0;
  /** Set when the upstream's HTTP answer to the upgrade was not 101. */
  upstreamStatus: number | undefined;
  /** Why the upstream failed, when it did. */
  upstreamFailure: UpstreamError | undefined;
  connectStartedAt = 0;

  constructor(owner: SessionOwner, clientId: string, client: WebSocket, clientSocket: Socket, target: string) {
    this.owner = owner;
    this.clientId = clientId;
    this.client = client;
    this.clientSocket = clientSocket;
    this.target = target;
    this.pending = new PendingQueue(owner.settings.preOpenQueueMessages, owner.settings.preOpenQueueBytes);
    (client as Tagged<WebSocket>)[kSession] = this;
    (clientSocket as Tagged<Socket>)[kSession] = this;
    client.on('message', onClientMessage);
    client.on('close', onClientClose);
    client.on('error', onClientError);
    client.on('pong', onClientPong);
    clientSocket.on('drain', onClientDrain);
  }

  /** Opens the upstream leg. */
  connect(request: UpstreamRequest): void {
    const s = this.owner.settings;
    this.connectStartedAt = performance.now();
    const upstream = new WebSocket(request.url, {
      perMessageDeflate: false,
      maxPayload: s.maxMessageBytes,
      followRedirects: false,
      headers: request.headers,
      ...(request.origin === undefined ? {} : { origin: request.origin }),
    });
    this.upstream = upstream;
    this.owner.connecting.add(this);
    (upstream as Tagged<WebSocket>)[kSession] = this;
    upstream.on('upgrade', onUpstreamUpgrade);
    upstream.on('unexpected-response', onUpstreamUnexpectedResponse);
    upstream.on('open', onUpstreamOpen);
    upstream.on('message', onUpstreamMessage);
    upstream.on('close', onUpstreamClose);
    upstream.on('error', onUpstreamError);
    upstream.on('pong', onUpstreamPong);
  }

  /**
   * Called by the owner's tick: gives up on an upstream still connecting after
   * `connectTimeoutMs` (the owner's coarse clock replaces a timer per connection).
   */
  checkConnectTimeout(now: number): void {
    if (this.state !== SessionState.Connecting || this.upstream === null) return;
    if (now - this.connectStartedAt < this.owner.settings.connectTimeoutMs) return;
    this.upstreamFailure = upstreamError('TIMEOUT', `upstream did not open within ${this.owner.settings.connectTimeoutMs} ms`);
    this.upstream.terminate();
  }

  get paused(): boolean {
    return (this.flags & (PAUSED_C2U | PAUSED_U2C)) !== 0;
  }

  /**
   * Called by the owner's tick. Resumes a paused leg whose peer buffer fell to the
   * low-water mark; returns true when the client has been slow for longer than `slowMs`.
   */
  checkBackpressure(now: number, slowMs: number): boolean {
    if (this.state !== SessionState.Open) return false;
    const low = this.owner.settings.lowWaterMarkBytes;
    if (this.flags & PAUSED_C2U && (this.upstream === null || this.upstream.bufferedAmount <= low)) resumeLeg(this, Direction.ClientToUpstream);
    if (this.flags & PAUSED_U2C) {
      if (this.client.bufferedAmount <= low) resumeLeg(this, Direction.UpstreamToClient);
      else if (now - this.slowSince >= slowMs) return true;
    }
    return false;
  }

  /**
   * One liveness round (called once per ping interval): a leg that did not answer
   * the previous ping is dropped; the others are pinged. A leg whose reads are
   * paused by backpressure cannot read its pong, so it is not judged.
   */
  heartbeat(): void {
    if (this.state !== SessionState.Open && this.state !== SessionState.Connecting) return;
    const m = this.owner.metrics;
    if (!(this.flags & PAUSED_C2U)) {
      if (!(this.flags & CLIENT_ALIVE)) {
        m.pingTimeouts.inc({ leg: 'client' });
        this.client.terminate();
        return;
      }
      this.flags &= ~CLIENT_ALIVE;
      this.client.ping();
    }
    const up = this.upstream;
    if (this.state === SessionState.Open && up !== null && !(this.flags & PAUSED_U2C)) {
      if (!(this.flags & UPSTREAM_ALIVE)) {
        m.pingTimeouts.inc({ leg: 'upstream' });
        this.upstreamFailure = classifyOpenError(Object.assign(new Error('upstream did not answer ping'), { code: 'ETIMEDOUT' }));
        up.terminate();
        return;
      }
      this.flags &= ~UPSTREAM_ALIVE;
      up.ping();
    }
  }

  /** Closes the client with `info` (or a relayed code) and the upstream with 1001. */
  close(info: CloseCodeInfo, reason: string = info.name.toLowerCase().replace(/_/g, ' ')): void {
    closeBoth(this, info.code, reason, CloseCode.GOING_AWAY.code, 'client session closed by gateway');
  }

  /** Drops both legs at once (no close handshake). */
  terminate(): void {
    this.client.terminate();
    this.upstream?.terminate();
  }
}

// ---------------------------------------------------------------------------
// Client leg handlers (this = the client WebSocket).

function onClientMessage(this: Tagged<WebSocket>, data: Buffer, isBinary: boolean): void {
  const s = this[kSession]!;
  const m = s.owner.metrics;
  m.messagesReceived[Direction.ClientToUpstream]++;
  m.bytesReceived[Direction.ClientToUpstream] += data.length;
  s.flags |= CLIENT_ALIVE;
  if (s.state === SessionState.Open) {
    forward(s, s.upstream!, data, isBinary, Direction.ClientToUpstream);
  } else if (s.state === SessionState.Connecting) {
    enqueue(s, data, isBinary);
  } else {
    m.failed(Direction.ClientToUpstream, 'peer_closed');
  }
}

function onClientPong(this: Tagged<WebSocket>): void {
  this[kSession]!.flags |= CLIENT_ALIVE;
}

function onClientError(this: Tagged<WebSocket>, err: Error): void {
  // ws has already started closing the client with the matching code (1002, 1007, 1009…).
  const s = this[kSession]!;
  s.flags |= CLIENT_FAULT;
  s.owner.logger.debug({ clientId: s.clientId, err: err.message, code: (err as NodeJS.ErrnoException).code }, 'client error');
}

function onClientDrain(this: Tagged<Socket>): void {
  const s = this[kSession]!;
  s.backlog1 = 0;
  if (s.flags & PAUSED_U2C) resumeLeg(s, Direction.UpstreamToClient);
}

function onClientClose(this: Tagged<WebSocket>, code: number, reason: Buffer): void {
  const s = this[kSession]!;
  s.owner.metrics.clientCloses.inc({ code: closeLabel(code) });
  if (s.backlog1 > 0 && this.bufferedAmount > 0) unflushed(s, Direction.UpstreamToClient);
  const up = s.upstream;
  if (s.state === SessionState.Connecting) {
    dropPending(s, 'peer_closed');
    s.state = SessionState.Closing;
    up?.terminate();
  } else if (s.state === SessionState.Open) {
    s.state = SessionState.Closing;
    if (s.flags & CLIENT_FAULT || code === 1006) closeLeg(up!, CloseCode.GOING_AWAY.code, 'client went away');
    else closeLeg(up!, code, reason.toString());
  }
  finish(s);
}

// ---------------------------------------------------------------------------
// Upstream leg handlers (this = the upstream WebSocket).

function onUpstreamUpgrade(this: Tagged<WebSocket>, res: { socket: Socket }): void {
  const s = this[kSession]!;
  const socket = res.socket as Tagged<Socket>;
  s.upstreamSocket = socket;
  socket[kSession] = s;
  socket.on('drain', onUpstreamDrain);
}

function onUpstreamUnexpectedResponse(this: Tagged<WebSocket>, _req: unknown, res: { statusCode?: number; resume(): void }): void {
  const s = this[kSession]!;
  s.upstreamStatus = res.statusCode ?? 0;
  res.resume();
  this.terminate(); // → 'error' then 'close', classified as REJECTED
}

function onUpstreamOpen(this: Tagged<WebSocket>): void {
  const s = this[kSession]!;
  const m = s.owner.metrics;
  s.owner.connecting.delete(s);
  s.owner.upstreamOutcome(s, true);
  m.upstreamConnectSeconds.observe({ result: 'open' }, (performance.now() - s.connectStartedAt) / 1000);
  if (s.state !== SessionState.Connecting) {
    this.close(CloseCode.GOING_AWAY.code, 'client went away');
    return;
  }
  s.state = SessionState.Open;
  const queue = s.pending!;
  s.pending = null;
  for (let i = 0; i < queue.length; i++) forward(s, this, queue.dataAt(i), queue.binaryAt(i), Direction.ClientToUpstream);
  if (s.flags & PAUSED_C2U && this.bufferedAmount <= s.owner.settings.highWaterMarkBytes) resumeLeg(s, Direction.ClientToUpstream);
}

function onUpstreamMessage(this: Tagged<WebSocket>, data: Buffer, isBinary: boolean): void {
  const s = this[kSession]!;
  const m = s.owner.metrics;
  m.messagesReceived[Direction.UpstreamToClient]++;
  m.bytesReceived[Direction.UpstreamToClient] += data.length;
  s.flags |= UPSTREAM_ALIVE;
  if (s.state === SessionState.Open) forward(s, s.client, data, isBinary, Direction.UpstreamToClient);
  else m.failed(Direction.UpstreamToClient, 'peer_closed');
}

function onUpstreamPong(this: Tagged<WebSocket>): void {
  this[kSession]!.flags |= UPSTREAM_ALIVE;
}

function onUpstreamDrain(this: Tagged<Socket>): void {
  const s = this[kSession]!;
  s.backlog0 = 0;
  if (s.flags & PAUSED_C2U) resumeLeg(s, Direction.ClientToUpstream);
}

function onUpstreamError(this: Tagged<WebSocket>, err: Error): void {
  const s = this[kSession]!;
  if (s.upstreamFailure !== undefined) return;
  s.upstreamFailure = s.state === SessionState.Connecting ? classifyConnectError(err, s.upstreamStatus) : classifyOpenError(err);
}

function onUpstreamClose(this: Tagged<WebSocket>, code: number, reason: Buffer): void {
  const s = this[kSession]!;
  const m = s.owner.metrics;
  s.owner.connecting.delete(s);
  if (s.backlog0 > 0 && this.bufferedAmount > 0) unflushed(s, Direction.ClientToUpstream);
  if (s.state === SessionState.Connecting) {
    // Never opened: classify and tell the client why.
    const failure = s.upstreamFailure ?? classifyConnectError(new Error('upstream closed during handshake'), s.upstreamStatus);
    m.upstreamConnectSeconds.observe({ result: 'error' }, (performance.now() - s.connectStartedAt) / 1000);
    m.upstreamConnectFailures.inc({ code: failure.code });
    if (failure.code !== 'STRATIX_ERR_UPSTREAM_REJECTED' || (s.upstreamStatus ?? 0) >= 500) s.owner.upstreamOutcome(s, false);
    dropPending(s, 'upstream_unavailable');
    s.state = SessionState.Closing;
    s.owner.logger.debug({ clientId: s.clientId, target: s.target, err: failure.message }, 'upstream connect failed');
    closeLeg(s.client, failure.close.code, failure.message);
  } else if (s.state === SessionState.Open) {
    s.state = SessionState.Closing;
    const failure = s.upstreamFailure;
    if (failure !== undefined && (failure.close === CloseCode.BAD_GATEWAY || code === 1006)) {
      closeLeg(s.client, failure.close.code, failure.message);
    } else if (code === 1006) {
      closeLeg(s.client, CloseCode.UPSTREAM_LOST.code, 'upstream connection lost');
    } else {
      closeLeg(s.client, code, reason.toString());
    }
  }
  s.upstream = null;
  finish(s);
}

// ---------------------------------------------------------------------------

function forward(s: Session, to: WebSocket, data: Buffer, isBinary: boolean, dir: Direction): void {
  const m = s.owner.metrics;
  if (to.readyState !== WebSocket.OPEN) {
    m.failed(dir, 'peer_closed');
    return;
  }
  if ((++s.owner.sampleCounter & SAMPLE_MASK) === 0) {
    to.send(data, isBinary ? BINARY : TEXT, latencyProbe(m, dir));
  } else {
    to.send(data, isBinary ? BINARY : TEXT);
  }
  m.messagesSent[dir]++;
  m.bytesSent[dir] += data.length;
  const buffered = to.bufferedAmount;
  if (dir === Direction.ClientToUpstream) {
    s.backlog0 = buffered === 0 ? 0 : s.backlog0 + 1;
    if (buffered > s.owner.settings.highWaterMarkBytes && !(s.flags & PAUSED_C2U)) pauseLeg(s, dir);
  } else {
    s.backlog1 = buffered === 0 ? 0 : s.backlog1 + 1;
    if (buffered > s.owner.settings.highWaterMarkBytes && !(s.flags & PAUSED_U2C)) pauseLeg(s, dir);
  }
}

function latencyProbe(m: GatewayMetrics, dir: Direction): (err?: Error) => void {
  const start = performance.now();
  const label = dir === Direction.ClientToUpstream ? 'client_to_upstream' : 'upstream_to_client';
  return (err) => {
    if (err === undefined || err === null) m.relayLatencySeconds.observe({ direction: label }, (performance.now() - start) / 1000);
  };
}

function enqueue(s: Session, data: Buffer, isBinary: boolean): void {
  const settings = s.owner.settings;
  if (data.length > settings.preOpenMaxMessageBytes) {
    s.owner.metrics.failed(Direction.ClientToUpstream, 'upstream_unavailable');
    closeBoth(s, CloseCode.MESSAGE_TOO_BIG.code, `message over ${settings.preOpenMaxMessageBytes} bytes before the upstream opened`, CloseCode.GOING_AWAY.code, 'client went away');
    return;
  }
  const queue = s.pending!;
  queue.push(data, isBinary);
  if (queue.full && !(s.flags & PAUSED_C2U)) pauseLeg(s, Direction.ClientToUpstream);
}

function dropPending(s: Session, reason: FailureReason): void {
  const q = s.pending;
  if (q !== null && q.length > 0) s.owner.metrics.failed(Direction.ClientToUpstream, reason, q.length);
  s.pending = null;
}

/** Messages still in a leg's user-space buffer when it closed: they move from sent to failed. */
function unflushed(s: Session, dir: Direction): void {
  const n = dir === Direction.ClientToUpstream ? s.backlog0 : s.backlog1;
  const m = s.owner.metrics;
  m.messagesSent[dir] -= n;
  m.failed(dir, 'unflushed', n);
  if (dir === Direction.ClientToUpstream) s.backlog0 = 0;
  else s.backlog1 = 0;
}

function pauseLeg(s: Session, dir: Direction): void {
  const m = s.owner.metrics;
  m.backpressurePauses.inc({ direction: dir === Direction.ClientToUpstream ? 'client_to_upstream' : 'upstream_to_client' });
  if (dir === Direction.ClientToUpstream) {
    s.flags |= PAUSED_C2U;
    s.client.pause();
  } else {
    s.flags |= PAUSED_U2C;
    s.slowSince = performance.now();
    s.upstream?.pause();
  }
  s.owner.paused.add(s);
}

function resumeLeg(s: Session, dir: Direction): void {
  if (dir === Direction.ClientToUpstream) {
    if (s.pending !== null && s.pending.full) return; // still waiting for the upstream
    s.flags &= ~PAUSED_C2U;
    s.client.resume();
  } else {
    s.flags &= ~PAUSED_U2C;
    s.upstream?.resume();
  }
  if (!s.paused) s.owner.paused.delete(s);
}

function closeBoth(s: Session, clientCode: number, clientReason: string, upstreamCode: number, upstreamReason: string): void {
  if (s.state === SessionState.Closed) return;
  const up = s.upstream;
  if (s.state === SessionState.Connecting) {
    dropPending(s, 'peer_closed');
    up?.terminate();
  } else if (up !== null) {
    closeLeg(up, upstreamCode, upstreamReason);
  }
  s.state = SessionState.Closing;
  closeLeg(s.client, clientCode, clientReason);
}

/**
 * Closes a leg with a relayed code, mapping what cannot go on the wire. A leg
 * paused by backpressure is resumed first: the close handshake needs its reply
 * read (whatever data comes before it is counted as failed, peer_closed).
 */
function closeLeg(ws: WebSocket, code: number, reason: string): void {
  if (ws.readyState === WebSocket.CLOSED || ws.readyState === WebSocket.CLOSING) return;
  if (ws.readyState === WebSocket.CONNECTING) {
    ws.terminate();
    return;
  }
  if (ws.isPaused) ws.resume();
  if (code === 1005) ws.close();
  else ws.close(isSendableCloseCode(code) ? code : CloseCode.GOING_AWAY.code, truncateReason(reason));
}

function finish(s: Session): void {
  const clientDone = s.client.readyState === WebSocket.CLOSED;
  const upstreamDone = s.upstream === null || s.upstream.readyState === WebSocket.CLOSED;
  if (!clientDone || !upstreamDone || s.state === SessionState.Closed) return;
  s.state = SessionState.Closed;
  s.pending = null;
  s.owner.paused.delete(s);
  s.owner.sessionClosed(s);
}

/** A close reason is at most 123 bytes of UTF-8. */
function truncateReason(reason: string): string {
  if (Buffer.byteLength(reason) <= 123) return reason;
  let r = reason.slice(0, 120);
  while (Buffer.byteLength(r) > 120) r = r.slice(0, -1);
  return `${r}…`;
}

const KNOWN_CODES = new Set([1000, 1001, 1002, 1003, 1005, 1006, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 1015, 4408, 4502, 4520, 4521, 4522, 4523]);
function closeLabel(code: number): string {
  return KNOWN_CODES.has(code) ? String(code) : code >= 4000 ? '4xxx' : code >= 3000 ? '3xxx' : 'other';
}
