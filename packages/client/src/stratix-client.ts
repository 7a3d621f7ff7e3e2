/**
 * A reliable session with Stratix Gateway (docs/protocol.md §3), from the client's
 * side: one logical connection that survives network cuts, sleeps and gateway
 * restarts.
 *
 * States: `connecting` (a new session) or `resuming` (with a sessionId) while an
 * attempt runs; `open` from its WELCOME; `offline` while waiting for the next
 * attempt; `closed` for good (close(), or a close code whose advice is "no").
 *
 * Receiving: every DATA and EVENT has a seq; the client hands them on in seq order,
 * each once: a seq at or below its position is a replay and is skipped, and the
 * position is stored (if there is storage) before the message reaches a listener.
 * With an asynchronous storage the next envelope waits for that write, no ACK goes
 * out while it is in flight, and a message whose write was in flight is handed on
 * even if the client closes meanwhile (close() waits for it): what storage holds
 * has always been handed on. Acknowledgements are batched; upstream_open,
 * upstream_reset and upstream_closed are acknowledged at once (upstream_reset must
 * be, before anything is sent to the fresh upstream).
 *
 * Sending: each message waits in the outbox until its ACK or NACK. After a resume
 * that recovered the session the unanswered ones are written again (the gateway
 * answers duplicates from memory); after a gap or an upstream reset they are
 * rejected, since the upstream they were meant for is gone.
 */
import { decodeBase64, encodeBase64 } from './base64.js';
import { Emitter } from './emitter.js';
import {
  ClientErrorCodes,
  ClosedByGatewayError,
  NackError,
  NotDeliveredError,
  RecoverableError,
  SendRefusedError,
  SessionEndedError,
  type ClientErrorCode,
  type NackCode,
  type StratixError,
} from './errors.js';
import { ackText, dataText, helloText, MESSAGE_ID, parseGatewayEnvelope, Type, withAck, type Answer, type Data, type SessionEvent, type Welcome } from './envelope.js';
import { Inbox } from './inbox.js';
import { Liveness } from './liveness.js';
import { attemptUrl, settingsOf, type Settings, type StratixClientOptions } from './options.js';
import { Outbox, type Pending } from './outbox.js';
import { adviceFor, ReconnectPolicy, type Advice, type RetryAfter } from './reconnect-policy.js';
import { isPromise, ResumeState } from './resume-state.js';
import { abandon, OPEN, type WebSocketLike } from './websocket.js';

export type ClientState = 'connecting' | 'open' | 'resuming' | 'offline' | 'closed';

export interface MessageMeta {
  /** The envelope's sequence number in the session (1, 2, 3… with no gaps). */
  readonly seq: number;
  /** The upstream sent a binary message (data is a Uint8Array); else text (a string). */
  readonly binary: boolean;
  /** When the gateway read it from the upstream, nanoseconds since the epoch (exact). */
  readonly timestampNs: bigint;
}

/** A resume that did not recover the session (docs/protocol.md §3.4). */
export interface GapInfo {
  readonly recovered: false;
  /** "unknown" or "expired": a new session (and a new upstream); "out_of_range": the same session, envelopes missing. */
  readonly resume: 'unknown' | 'expired' | 'out_of_range';
  readonly sessionId: string;
  readonly previousSessionId: string;
  /** The oldest seq the gateway still has, and the last it assigned (WELCOME's firstSeq and lastSeq). */
  readonly firstSeq: number;
  readonly lastSeq: number;
  /** The last seq this client had handed on; delivery goes on after firstSeq - 1. */
  readonly lastProcessedSeq: number;
}

export interface UpstreamInfo {
  readonly seq: number;
  /** The old upstream's close code (4520: it vanished; 1012 with reason "gateway restarted"). */
  readonly code: number | undefined;
  readonly reason: string;
}

export interface ClientEvents {
  message: (data: string | Uint8Array, meta: MessageMeta) => void;
  state: (state: ClientState, previous: ClientState) => void;
  gap: (info: GapInfo) => void;
  /** The session's upstream opened (a new session): an OpenClaw upstream's connect.challenge follows. */
  upstreamOpen: (info: { readonly seq: number }) => void;
  /** The upstream was replaced by a new connection: redo the OpenClaw connect handshake. */
  upstreamReset: (info: UpstreamInfo) => void;
  /** The upstream closed for good: the session ends, the client closes. */
  upstreamClosed: (info: UpstreamInfo) => void;
  /**
   * A fatal error (the client's state is already `closed` when this runs; the
   * `state` event follows) or one the client recovers from (credentials, storage,
   * protocol).
   */
  error: (err: StratixError) => void;
}

export interface SendOptions {
  /** Your own id for the message (1–128 printable ASCII, no `"` or `\`), unique per session; default: a fresh one. */
  readonly messageId?: string;
}

/** What send() resolves with once the gateway ACKed the message. */
export interface SendResult {
  /** The message's id: the one you gave, or the one the client made (a NotDeliveredError or NackError carries it too). */
  readonly messageId: string;
}

export interface ClientStats {
  readonly state: ClientState;
  readonly sessionId: string | undefined;
  readonly lastSeq: number;
  readonly queuedMessages: number;
  readonly queuedBytes: number;
  /** WebSocket connections opened. */
  readonly connects: number;
  /** Resumes that recovered the session. */
  readonly resumes: number;
  readonly gaps: number;
  readonly upstreamResets: number;
  /** Replayed envelopes skipped because they had been handed on already. */
  readonly duplicatesSkipped: number;
  readonly queueFullRejections: number;
  readonly acked: number;
  readonly nacked: number;
}

type Payload = string | ArrayBuffer | ArrayBufferView;
type Item = { readonly gen: number; readonly text: string } | { readonly gen: number; readonly close: { readonly code: number; readonly reason: string } };

const PROTOCOL = 'stratix.v1';
/** Our close code for a connection we give up on but whose session we keep (not 1000, which ends it). */
const DETACH = 4000;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class StratixClient extends Emitter<ClientEvents> {
  readonly clientId: string;
  readonly #s: Settings;
  readonly #resume: ResumeState;
  readonly #outbox: Outbox;
  readonly #policy: ReconnectPolicy;
  readonly #liveness: Liveness;
  readonly #inbox: Inbox<Item>;
  #state: ClientState = 'connecting';
  #started = false;
  #ws: WebSocketLike | null = null;
  /** The current connection's number; a handler of another one is stale. */
  #gen = 0;
  /** The connection whose WELCOME was processed last. */
  #welcomedGen = 0;
  /** What the current connection's HELLO asked for. */
  #helloSession: string | undefined = undefined;
  #helloSeq = 0;
  /** false: the gateway has no upstream open for us now (before upstream_open, after NACK UPSTREAM_NOT_OPEN); undefined: unknown. */
  #upstreamReady: boolean | undefined = undefined;
  /** upstream_closed was handed on. */
  #ended: UpstreamInfo | undefined = undefined;
  /** The retry_after EVENT of the current connection, for the delay after its close. */
  #retryAfter: RetryAfter | undefined = undefined;
  /** When the current connection's WELCOME came (clock), and how long it must stay up for the backoff to start over. */
  #welcomedAt = 0;
  #stableAfterMs = 0;
  /** The storage write in flight (asynchronous storage); what it stores is handed on when it completes. */
  #step: Promise<void> | undefined = undefined;
  /** An ACK came due while a storage write was in flight: it goes out when the write completes. */
  #ackDue = false;
  #ackedSeq = 0;
  #unacked = 0;
  #ackTimer: ReturnType<typeof setTimeout> | undefined;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #connectTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #idPrefix = randomPrefix();
  #idCounter = 0;
  readonly #onOnline = (): void => this.#online();
  #stats = { connects: 0, resumes: 0, gaps: 0, upstreamResets: 0, duplicatesSkipped: 0, queueFullRejections: 0, acked: 0, nacked: 0 };

  constructor(options: StratixClientOptions) {
    super();
    const s = settingsOf(options);
    this.#s = s;
    this.clientId = s.clientId;
    this.#resume = new ResumeState(s.storage, s.storageKey, (err) => this.emit('error', err));
    this.#outbox = new Outbox(s.queueMaxMessages, s.queueMaxBytes);
    this.#policy = new ReconnectPolicy(s.reconnect, s.random);
    this.#liveness = new Liveness(s.clock, (why) => this.#drop(this.#gen, why));
    this.#inbox = new Inbox((item) => this.#process(item));
    const g = globalThis as { addEventListener?: (type: string, l: () => void) => void };
    if (typeof g.addEventListener === 'function') g.addEventListener('online', this.#onOnline);
    // Listeners are attached right after the constructor returns: start after that.
    queueMicrotask(() => void this.#connect());
  }

  get state(): ClientState {
    return this.#state;
  }

  get sessionId(): string | undefined {
    return this.#resume.sessionId;
  }

  /** The position: the last seq handed on, none missing before it (with an asynchronous storage, while a write is in flight, the seq it stores, handed on when it completes). */
  get lastSeq(): number {
    return this.#resume.lastSeq;
  }

  get stats(): ClientStats {
    return { state: this.#state, sessionId: this.#resume.sessionId, lastSeq: this.#resume.lastSeq, queuedMessages: this.#outbox.size, queuedBytes: this.#outbox.bytes, ...this.#stats };
  }

  /**
   * Sends `payload` (a string as text, bytes as binary). Resolves with its
   * messageId when the gateway ACKs it (its write to the upstream completed);
   * rejects with a NackError (the gateway's NACK code) or a StratixError of this
   * SDK (queue full, too large, the session or its upstream replaced, the client
   * closed). Never resolves for a message that was not ACKed.
   */
  send(payload: Payload, options?: SendOptions): Promise<SendResult> {
    const bytes = bytesOf(payload);
    if (bytes === undefined) return Promise.reject(new SendRefusedError(ClientErrorCodes.BAD_PAYLOAD.code, 'send() takes a string, an ArrayBuffer or a typed array'));
    const messageId = options?.messageId ?? `${this.#idPrefix}${++this.#idCounter}`;
    if (this.#isClosed()) return Promise.reject(new NotDeliveredError(ClientErrorCodes.CLOSED.code, messageId, 'the client is closed'));
    if (bytes.length > this.#s.maxPayloadBytes) {
      return Promise.reject(new SendRefusedError(ClientErrorCodes.TOO_LARGE.code, `the payload is ${bytes.length} bytes, over maxPayloadBytes ${this.#s.maxPayloadBytes}`));
    }
    if (!MESSAGE_ID.test(messageId) || this.#outbox.has(messageId)) {
      return Promise.reject(new SendRefusedError(ClientErrorCodes.BAD_MESSAGE_ID.code, `messageId ${JSON.stringify(messageId)} is not 1-128 printable ASCII characters without " and \\, or is waiting for its answer already`));
    }
    const full = this.#outbox.refusal(bytes.length);
    if (full !== undefined) {
      this.#stats.queueFullRejections++;
      return Promise.reject(full);
    }
    return new Promise<SendResult>((resolve, reject) => {
      const p: Pending = { messageId, text: dataText(messageId, encodeBase64(bytes), typeof payload !== 'string'), bytes: bytes.length, sentOn: 0, resolve: () => resolve({ messageId }), reject };
      this.#outbox.add(p);
      if (this.#canSend()) this.#write(p);
    });
  }

  /**
   * Closes the client. By default the session ends (close 1000: the gateway closes
   * its upstream) and the stored resume state is removed. With `keepSession` the
   * connection closes but the session waits for a resume (within the gateway's
   * window) by a client with the same storage. Messages not yet acknowledged are
   * rejected (STRATIX_CLIENT_ERR_CLOSED): await your sends first. With an
   * asynchronous storage, a message whose position is being written is handed on
   * (after the state became `closed`) before close() resolves, and only then is the
   * stored state removed: what storage keeps has been handed on.
   */
  async close(options?: { keepSession?: boolean }): Promise<void> {
    if (this.#isClosed()) return;
    const keep = options?.keepSession === true;
    const ws = this.#ws;
    const welcomed = ws !== null && this.#welcomedGen === this.#gen && ws.readyState === OPEN;
    const step = this.#step;
    this.#shutdown(ClientErrorCodes.CLOSED.code, 'the client was closed');
    if (step !== undefined) await step;
    if (!keep) await this.#resume.clear();
    if (ws === null) return;
    if (!welcomed) {
      abandon(ws, DETACH, 'client closed');
      return;
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        abandon(ws, DETACH, 'client closed');
        resolve();
      }, 5_000);
      ws.onmessage = null;
      ws.onclose = () => {
        clearTimeout(timer);
        resolve();
      };
      ws.close(keep ? DETACH : 1000, keep ? 'client detached' : 'client closed');
    });
  }

  // --- Connecting ------------------------------------------------------------------------

  async #connect(): Promise<void> {
    if (this.#isClosed()) return;
    const gen = ++this.#gen;
    const loaded = this.#resume.load();
    if (isPromise(loaded)) {
      await loaded;
      if (gen !== this.#gen || this.#isClosed()) return;
    }
    this.#setState(this.#resume.sessionId === undefined ? 'connecting' : 'resuming');
    // The attempt's time starts here: credentials() that never settles is given up too.
    this.#connectTimer = setTimeout(() => this.#attemptTimedOut(gen), this.#s.connectTimeoutMs);
    let href: string;
    try {
      const creds = this.#s.credentials === undefined ? {} : await this.#s.credentials();
      if (gen !== this.#gen || this.#isClosed()) return;
      href = attemptUrl(this.#s, creds);
    } catch (err) {
      if (gen !== this.#gen || this.#isClosed()) return;
      this.#attemptFailed(new RecoverableError(ClientErrorCodes.CREDENTIALS.code, `credentials() failed: ${messageOf(err)}`, err));
      return;
    }
    let ws: WebSocketLike;
    try {
      ws = new this.#s.WebSocket(href, PROTOCOL);
    } catch (err) {
      this.#attemptFailed(new RecoverableError(ClientErrorCodes.PROTOCOL.code, `the WebSocket could not be created: ${messageOf(err)}`, err));
      return;
    }
    this.#ws = ws;
    this.#stats.connects++;
    ws.onopen = () => this.#opened(gen, ws);
    ws.onmessage = (ev: { data: unknown }) => this.#frame(gen, ev.data);
    ws.onclose = (ev: { code: number; reason: string }) => this.#inbox.push({ gen, close: { code: ev.code, reason: ev.reason } });
    ws.onerror = () => undefined; // a close event follows
  }

  /** The current attempt failed before it had a WebSocket: reported, then the next one after the backoff. */
  #attemptFailed(err: RecoverableError): void {
    this.#release();
    this.emit('error', err);
    this.#retryLater(this.#gen, undefined);
  }

  /** connectTimeoutMs passed without a WELCOME (or without credentials). */
  #attemptTimedOut(gen: number): void {
    if (gen !== this.#gen || this.#isClosed()) return;
    const ms = this.#s.connectTimeoutMs;
    if (this.#ws !== null) this.#drop(gen, `no WELCOME within ${ms} ms`);
    else this.#attemptFailed(new RecoverableError(ClientErrorCodes.CREDENTIALS.code, `credentials() did not settle within ${ms} ms (connectTimeoutMs)`));
  }

  #opened(gen: number, ws: WebSocketLike): void {
    if (gen !== this.#gen) return;
    if (ws.protocol !== PROTOCOL) {
      this.#fatal(new ClosedByGatewayError(ClientErrorCodes.REFUSED.code, undefined, '', `the server did not select the ${PROTOCOL} subprotocol (got ${JSON.stringify(ws.protocol)}): is the URL a Stratix Gateway?`));
      return;
    }
    // The HELLO carries a position that is stored and handed on: wait for a write in flight.
    const step = this.#step;
    if (step !== undefined) {
      const again = (): void => this.#opened(gen, ws);
      void step.then(again, again);
      return;
    }
    this.#helloSession = this.#resume.sessionId;
    this.#helloSeq = this.#resume.lastSeq;
    ws.send(helloText(this.#helloSession, this.#helloSeq));
  }

  #frame(gen: number, data: unknown): void {
    if (gen !== this.#gen) return;
    this.#liveness.traffic();
    if (typeof data !== 'string') {
      this.#protocolError(gen, 'a binary frame (every stratix.v1 envelope is a JSON text frame)');
      return;
    }
    this.#inbox.push({ gen, text: data });
  }

  /** One frame or close of connection `item.gen`, in arrival order (a promise holds the next ones back). */
  #process(item: Item): unknown {
    if (this.#isClosed()) return undefined;
    if ('close' in item) return this.#socketClosed(item.gen, item.close.code, item.close.reason);
    const e = parseGatewayEnvelope(item.text);
    if (typeof e === 'string') return this.#protocolError(item.gen, e);
    switch (e.type) {
      case Type.Hello:
        return this.#welcome(item.gen, e);
      case Type.Data:
        return this.#sequenced(item.gen, e);
      case Type.Event:
        if (e.seq !== undefined) return this.#sequenced(item.gen, e);
        if (e.event === 'retry_after' && item.gen === this.#gen && e.retryAfterMs !== undefined) this.#retryAfter = { ms: e.retryAfterMs, code: e.errorCode };
        return undefined;
      case Type.Ack:
        return this.#answered(e);
      case Type.Nack:
        return this.#answered(e);
      default:
        return undefined; // HEARTBEAT: traffic, nothing else
    }
  }

  // --- The session -------------------------------------------------------------------------

  #welcome(gen: number, w: Welcome): unknown {
    if (gen !== this.#gen) return undefined; // a connection given up already
    if (this.#welcomedGen === gen) return this.#protocolError(gen, 'a second WELCOME');
    clearTimeout(this.#connectTimer);
    const asked = this.#helloSession;
    if (w.recovered && w.sessionId !== asked) return this.#protocolError(gen, 'a WELCOME that recovered another session');
    this.#welcomedGen = gen;
    // The backoff starts over once this connection has stayed up for a heartbeat interval (#release).
    this.#welcomedAt = this.#s.clock();
    this.#stableAfterMs = w.heartbeatMs;
    this.#retryAfter = undefined;
    this.#liveness.start(w.heartbeatMs);
    if (w.recovered) {
      this.#stats.resumes++;
      this.#upstreamReady ??= true;
      // Repeat the position as an ACK before anything is written: DATA after upstream_reset
      // is refused until an ACK covers it (protocol.md §3.4), and one sent on the lost
      // connection may never have arrived.
      this.#ackedSeq = 0;
      this.#ackNow();
      this.#flush();
      this.#setState('open');
      return undefined;
    }
    // A new session, or not the one asked for: nothing unacknowledged can be sent again.
    const previous = this.#resume.lastSeq;
    if (asked !== undefined) this.#rejectAll(ClientErrorCodes.SESSION_LOST.code, `the session could not be resumed (${w.resume})`);
    if (w.resume !== 'out_of_range') this.#upstreamReady = false;
    this.#ackedSeq = w.firstSeq - 1;
    return this.#then(this.#resume.set(w.sessionId, w.firstSeq - 1), () => {
      if (asked !== undefined) {
        this.#stats.gaps++;
        const resume = w.resume as GapInfo['resume'];
        this.emit('gap', { recovered: false, resume, sessionId: w.sessionId, previousSessionId: asked, firstSeq: w.firstSeq, lastSeq: w.lastSeq, lastProcessedSeq: previous });
      }
      if (gen !== this.#gen) return; // the connection went while the position was written
      this.#flush();
      this.#setState('open');
    });
  }

  /** A DATA or EVENT: skipped if handed on already, else stored, then handed on. */
  #sequenced(gen: number, e: Data | SessionEvent): unknown {
    if (gen > this.#welcomedGen) return this.#protocolError(gen, 'a sequenced envelope before the WELCOME');
    const seq = e.seq!;
    const pos = this.#resume.lastSeq;
    if (seq <= pos) {
      this.#stats.duplicatesSkipped++;
      return undefined;
    }
    if (seq !== pos + 1) return this.#protocolError(gen, `seq ${seq} after ${pos} (a gap within one connection)`);
    if (e.type === Type.Event) return this.#then(this.#resume.set(this.#resume.sessionId!, seq), () => this.#event(e, seq));
    let data: string | Uint8Array;
    try {
      const bytes = decodeBase64(e.data);
      data = e.binary ? bytes : decoder.decode(bytes);
    } catch (err) {
      return this.#protocolError(gen, `DATA seq ${seq}: ${messageOf(err)}`);
    }
    const meta: MessageMeta = { seq, binary: e.binary, timestampNs: BigInt(e.timestamp) };
    return this.#then(this.#resume.set(this.#resume.sessionId!, seq), () => {
      this.emit('message', data, meta);
      this.#ackSoon();
    });
  }

  #event(e: SessionEvent, seq: number): void {
    const info: UpstreamInfo = { seq, code: e.code, reason: e.reason };
    switch (e.event) {
      case 'upstream_open':
        this.#upstreamReady = true;
        this.#ackNow();
        this.emit('upstreamOpen', { seq });
        break;
      case 'upstream_reset':
        this.#stats.upstreamResets++;
        this.#rejectAll(ClientErrorCodes.UPSTREAM_RESET.code, `the upstream was reset (${e.code ?? ''} ${e.reason})`);
        this.#upstreamReady = true;
        this.#ackNow(); // before anything is written for the fresh upstream (docs/protocol.md §3.4)
        this.emit('upstreamReset', info);
        break;
      case 'upstream_closed':
        this.#ended = info;
        this.#rejectAll(ClientErrorCodes.SESSION_ENDED.code, `the upstream closed for good (${e.code ?? ''} ${e.reason})`);
        this.#ackNow();
        this.emit('upstreamClosed', info);
        break;
      default:
        this.#ackSoon(); // an event of a later version
        return;
    }
    this.#flush();
  }

  /**
   * Runs `next` (hand on what was stored) once `stored` (a storage write) is done:
   * now if it was synchronous. It runs even if the client closed meanwhile, since
   * the storage holds the new position either way.
   */
  #then(stored: void | Promise<void>, next: () => void): unknown {
    if (!isPromise(stored)) {
      next();
      return undefined;
    }
    const step = stored.then(() => {
      this.#step = undefined;
      next();
      if (this.#ackDue) this.#ackNow();
    });
    this.#step = step;
    return step;
  }

  // --- Acknowledgements -----------------------------------------------------------------------

  #ackSoon(): void {
    if (this.#isClosed()) return;
    if (++this.#unacked >= this.#s.ackMaxMessages) this.#ackNow();
    else this.#ackTimer ??= setTimeout(() => this.#ackNow(), this.#s.ackMaxDelayMs);
  }

  /**
   * The position to acknowledge in the `ack` field of a DATA about to be written (it
   * saves the ACK frame), or -1: nothing new, or a storage write in flight (as in #ackNow).
   */
  #ackAlong(): number {
    const seq = this.#resume.lastSeq;
    if (seq <= this.#ackedSeq || this.#step !== undefined) return -1;
    clearTimeout(this.#ackTimer);
    this.#ackTimer = undefined;
    this.#unacked = 0;
    this.#ackedSeq = seq;
    return seq;
  }

  #ackNow(): void {
    clearTimeout(this.#ackTimer);
    this.#ackTimer = undefined;
    // Never acknowledge a position whose write is in flight: a reload now would resume before it.
    this.#ackDue = this.#step !== undefined;
    if (this.#ackDue) return;
    this.#unacked = 0;
    const seq = this.#resume.lastSeq;
    const ws = this.#ws;
    // Offline, the next HELLO carries the position instead.
    if (seq <= this.#ackedSeq || ws === null || this.#welcomedGen !== this.#gen) return;
    this.#ackedSeq = seq;
    ws.send(ackText(seq));
  }

  // --- Sending ---------------------------------------------------------------------------------

  /** A WELCOME came on the current connection, its upstream is (as far as we know) open, and nothing ended. */
  #canSend(): boolean {
    return !this.#isClosed() && this.#ws !== null && this.#welcomedGen === this.#gen && this.#upstreamReady !== false && this.#ended === undefined;
  }

  #write(p: Pending): void {
    p.sentOn = this.#gen;
    const ack = this.#ackAlong();
    try {
      this.#ws!.send(ack < 0 ? p.text : withAck(p.text, ack));
    } catch {
      // closing: it is written again after the resume
    }
  }

  /** Writes every waiting message not yet written on this connection, in send order. */
  #flush(): void {
    if (!this.#canSend()) return;
    for (const p of this.#outbox.values()) if (p.sentOn !== this.#gen) this.#write(p);
  }

  #answered(a: Answer): undefined {
    if (a.messageId === null) {
      this.emit('error', new RecoverableError(ClientErrorCodes.PROTOCOL.code, `the gateway refused an envelope it could not read: ${a.code} ${a.reason}`));
      return undefined;
    }
    const p = this.#outbox.take(a.messageId);
    if (p === undefined) return undefined; // answered already, or rejected when the upstream was reset
    if (a.type === Type.Ack) {
      this.#stats.acked++;
      p.resolve();
      return undefined;
    }
    this.#stats.nacked++;
    if (a.code === 'STRATIX_NACK_UPSTREAM_NOT_OPEN') this.#upstreamReady = false; // hold the rest for upstream_reset or upstream_open
    p.reject(new NackError(a.code as NackCode, a.messageId, a.reason));
    return undefined;
  }

  #rejectAll(code: ClientErrorCode, why: string): void {
    for (const p of this.#outbox.drain()) p.reject(new NotDeliveredError(code, p.messageId, why));
  }

  // --- Losing the connection ------------------------------------------------------------------

  #socketClosed(gen: number, code: number, reason: string): undefined {
    if (gen !== this.#gen) return undefined;
    this.#release();
    if (this.#ended !== undefined || code === 1000) {
      const u = this.#ended;
      this.#fatal(new SessionEndedError(u?.code, u?.reason ?? '', code, reason));
    } else if (code === 4410) {
      this.#fatal(new ClosedByGatewayError(ClientErrorCodes.TAKEN_OVER.code, code, reason, 'another connection took the session over (4410): not reconnecting'));
    } else {
      const advice = adviceFor(code);
      if (advice === 'no') this.#fatal(new ClosedByGatewayError(ClientErrorCodes.REFUSED.code, code, reason, `the gateway closed with ${code} ${reason}: not reconnecting`));
      else this.#retryLater(this.#gen, advice);
    }
    return undefined;
  }

  /** The current connection is not trusted any more (silent, late, no WELCOME, a protocol breach): drop it, resume. */
  #drop(gen: number, why: string): void {
    if (gen !== this.#gen || this.#isClosed() || this.#ws === null) return;
    const ws = this.#ws;
    this.#release();
    abandon(ws, DETACH, why);
    this.#retryLater(this.#gen, undefined);
  }

  #protocolError(gen: number, why: string): undefined {
    this.emit('error', new RecoverableError(ClientErrorCodes.PROTOCOL.code, `the gateway sent ${why}`));
    this.#drop(gen, `protocol error: ${why}`);
    return undefined;
  }

  /** Forgets the current connection (its handlers become stale). One that stayed up a heartbeat interval starts the backoff over. */
  #release(): void {
    if (this.#ws !== null && this.#welcomedGen === this.#gen && this.#s.clock() - this.#welcomedAt >= this.#stableAfterMs) this.#policy.reset();
    this.#ws = null;
    this.#gen++;
    clearTimeout(this.#connectTimer);
    clearTimeout(this.#ackTimer);
    this.#ackTimer = undefined;
    this.#unacked = 0;
    this.#liveness.stop();
  }

  #retryLater(gen: number, advice: Advice | undefined): void {
    if (gen !== this.#gen || this.#isClosed()) return;
    const delay = this.#policy.next(advice, this.#retryAfter);
    this.#retryAfter = undefined;
    this.#setState('offline');
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      void this.#connect();
    }, delay);
  }

  /** The network is back (a browser's `online` event): skip the rest of the backoff. */
  #online(): void {
    if (this.#state !== 'offline' || this.#retryTimer === undefined) return;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    void this.#connect();
  }

  #fatal(err: ClosedByGatewayError): void {
    const ws = this.#ws;
    if (ws !== null) abandon(ws, DETACH, err.code);
    if (err instanceof SessionEndedError) void (this.#step ?? Promise.resolve()).then(() => this.#resume.clear());
    this.#shutdown(err.code as ClientErrorCode, err.message, err);
  }

  /** Stops everything: pending messages are rejected with `code`, `err` (if any) is reported, the state becomes closed. */
  #shutdown(code: ClientErrorCode, why: string, err?: StratixError): void {
    this.#release();
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    this.#inbox.clear();
    const g = globalThis as { removeEventListener?: (type: string, l: () => void) => void };
    if (typeof g.removeEventListener === 'function') g.removeEventListener('online', this.#onOnline);
    const previous = this.#state;
    this.#state = 'closed';
    this.#rejectAll(code, why);
    if (err !== undefined) this.emit('error', err);
    this.emit('state', 'closed', previous);
  }

  #isClosed(): boolean {
    return this.#state === 'closed';
  }

  #setState(s: ClientState): void {
    if (this.#isClosed() || (s === this.#state && this.#started)) return;
    this.#started = true;
    const previous = this.#state;
    this.#state = s;
    this.emit('state', s, previous);
  }
}

function bytesOf(payload: Payload): Uint8Array | undefined {
  if (typeof payload === 'string') return encoder.encode(payload);
  if (Object.prototype.toString.call(payload) === '[object ArrayBuffer]') return new Uint8Array(payload as ArrayBuffer);
  if (ArrayBuffer.isView(payload)) return new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength);
  return undefined;
}

/** A random prefix for this client's messageIds (12 base64url characters), so that ids never repeat across reloads. */
function randomPrefix(): string {
  const b = new Uint8Array(9);
  const c = (globalThis as { crypto?: { getRandomValues?: (a: Uint8Array) => Uint8Array } }).crypto;
  if (typeof c?.getRandomValues === 'function') c.getRandomValues(b);
  else for (let i = 0; i < b.length; i++) b[i] = Math.floor(Math.random() * 256);
  return `${encodeBase64(b).replace(/\+/g, '-').replace(/\//g, '_')}.`;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
