/**
 * A reliable session (docs/protocol.md §3): one upstream connection that the
 * session owns, and a client connection that comes and goes.
 *
 * Life: CONNECTING (WELCOME sent, the first upstream opening) → OPEN → (the upstream
 * closed with a retryable code) RECONNECTING → OPEN … → ENDED (the upstream closed for
 * good: upstream_closed is delivered, then the client is closed with 1000) → CLOSED.
 * A client connection is attached or not; a detached session waits for a resume for
 * reliable.resumeWindowMs (the host keeps the deadline), its upstream read, logged
 * and answered meanwhile.
 *
 * Gateway → client: each upstream message becomes a DATA envelope with the next seq
 * (EVENTs share the sequence), is appended to the message log, kept in the ring
 * until the client acknowledges it, and sent at the turn's flush, after the log
 * write that holds it (`flushTurn`). The ring holds the frame in memory until it is
 * sent to a connected client, and only the envelope's place in the log after that: a
 * replay of an envelope sent before (a resume) reads it back from the log. At the session's bounds (messages, bytes) or the
 * host's (memory, log), the upstream is not read any more: TCP backpressure, nothing
 * dropped.
 *
 * Client → gateway: each DATA is checked (envelope-codec.ts), looked up in the
 * duplicate cache, decoded straight into a masked upstream frame, logged as
 * ACCEPTED, written at the flush (upstream-outbox.ts), and ACKed when its bytes have
 * left for the upstream; the outcome is logged, so that a duplicate after a crash
 * gets it too.
 */
import type { Socket } from 'node:net';
import { isUtf8 } from 'node:buffer';
import { NackCodes, nackByIndex, upstreamError, type NackCode, type UpstreamError } from '../errors.js';
import { CloseCode, type CloseCodeInfo } from '../protocol/close-codes.js';
import { Direction } from '../metrics/gateway-metrics.js';
import { allocMaskedFrame, maskPayload, OP_BINARY, OP_TEXT } from '../relay/frame-codec.js';
import { Leg, LegKind, type LegOwner } from '../relay/leg.js';
import type { ConnectTimed } from '../relay/session.js';
import { UpstreamConnect, type UpstreamConnectOwner } from '../relay/upstream-connect.js';
import { Backoff } from '../time/backoff.js';
import { DuplicateCache, IN_FLIGHT, ACKED } from './duplicate-cache.js';
import {
  ackFrame,
  ackFrameLength,
  dataFrame,
  EnvelopeType,
  envelopeStart,
  eventText,
  frameOfEnvelope,
  HEARTBEAT_TEXT,
  maxEnvelopeBytes,
  nackText,
  parseClientEnvelope,
  textFrameOf,
  welcomeText,
  writeAckFrame,
  type SessionEventName,
  type Welcome,
} from './envelope-codec.js';
import { EnvelopeRing } from './envelope-ring.js';
import { base64DecodedLength, base64DecodedLengthOf, decodeBase64BytesInto, decodeBase64Into, DECODED, DECODED_ASCII, INVALID } from './strict-base64.js';
import { bareBody, RecordKind, sessionBody, type SessionState } from './log-records.js';
import type { ReliableHost } from './reliable-host.js';
import type { EndReason } from './reliable-metrics.js';
import { MessageRate, type RatePaused } from '../admission/message-rate.js';
import { UpstreamOutbox, type OutboxOwner } from './upstream-outbox.js';

export const enum ReliableState {
  Connecting = 0,
  Open = 1,
  Reconnecting = 2,
  Ended = 3,
  Closed = 4,
}

/** Upstream close codes after which the session survives and reconnects (docs/protocol.md §3.4). */
const RETRYABLE = new Set([1001, 1006, 1011, 1012, 1013, 4520, 4521, 4522, 4523]);
/** The upstream was closed by the gateway to move it (routing.onRouteChange "migrate"): reconnect at once. */
const ROUTE_CHANGED = CloseCode.ROUTE_CHANGED.code;

// Flags.
/** In the host's flush list. */
const DIRTY = 1;
/** The client's cumulative ack moved this turn: a CLIENT_ACK record is due. */
const ACK_DIRTY = 2;
/** Upstream reads stopped at the session's bound. */
const PAUSED_SESSION = 4;
/** Upstream reads stopped at the host's bound (memory, buffered messages, the log). */
const PAUSED_INSTANCE = 8;
/** The client's socket buffer is over the mark: sending waits for 'drain'. */
const CLIENT_SLOW = 16;
/** Something was written to the client since the last heartbeat round. */
const SENT = 32;
/** An upstream has been open: the next open is a reset. */
const EVER_OPEN = 64;
/** Client reads stopped: its own buffer is over the mark (ACKs, NACKs or pongs it does not read). */
const CLIENT_READS_PAUSED = 128;
/** Client reads stopped: the upstream's buffer is over the mark (it reads slower than the client sends). */
const READS_PAUSED_FOR_UPSTREAM = 512;
/** The deferred ACK/NACK frames are being sent now. */
const SMALL_DUE = 256;
/** Waiting for its turn in the per-upstream connect pacing. */
const CONNECT_QUEUED = 1024;
/** Client reads stopped by its rate limit (admission.client). */
const CLIENT_RATE = 2048;
/** Upstream reads stopped by the client's rate limit. */
const UPSTREAM_RATE = 4096;
/** In the host's list of sessions whose ACK/NACK frames wait for company (until sendSmall). */
const SMALL_DEFERRED = 8192;
/** Reasons the client's reads are stopped. */
const CLIENT_READS_HELD = CLIENT_READS_PAUSED | READS_PAUSED_FOR_UPSTREAM | CLIENT_RATE;
/** Reasons the upstream's reads are stopped. */
const UPSTREAM_HELD = PAUSED_SESSION | PAUSED_INSTANCE | UPSTREAM_RATE;
/** Frames to one client up to this many bytes in all are concatenated into one write. */
/** A frame for the client, or the messageId of an ACK to write as one. */
type ClientFrame = Buffer | string;

const COALESCE_MAX = 16 * 1024;

export class ReliableSession implements LegOwner, UpstreamConnectOwner, ConnectTimed, OutboxOwner, RatePaused {
  readonly host: ReliableHost;
  readonly id: string;
  readonly clientId: string;
  target: string;
  /** This session's number in the current log generation. */
  handle: number;
  /** Forwarding headers for its upstream (upstream.forwardedHeaders, forwardOrigin), captured from the first connection. */
  forwarded: Readonly<Record<string, string>> | undefined = undefined;
  readonly createdAtMs: number;
  state = ReliableState.Connecting;
  flags = 0;
  client: Leg | null = null;
  upstream: Leg | null = null;
  /** The last seq assigned, the client's cumulative ack, the highest seq written to the current connection. */
  lastSeq = 0;
  ackedSeq = 0;
  sentSeq = 0;
  /** The highest seq whose log write is durable (sendable). */
  durableSeq = 0;
  /** Replays of this connection end here (for the metric). */
  #replayTo = 0;
  /** The seq of upstream_closed, once sent. */
  #endSeq = 0;
  /** The seq of the last upstream_reset: DATA waits until the client has acknowledged it. */
  #resetSeq = 0;
  /** Connection counter: answers go only to the connection their message came on. */
  generation = 0;
  ring: EnvelopeRing | null = null;
  dups: DuplicateCache | null = null;
  #outbox: UpstreamOutbox | null = null;
  /**
   * For the admin API (src/server/session-view.ts): client messages accepted and their
   * payload bytes (0), envelopes made for the client and their bytes (1), as the
   * metrics count them; the number and open time the session directory gives it.
   */
  messages0 = 0;
  messages1 = 0;
  bytes0 = 0;
  bytes1 = 0;
  serial = 0;
  openedAt = 0;
  /** Small frames (ACK, NACK) for the client at this turn's flush. */
  /** Frames for the client at the next flush; a string is the messageId of an ACK (written in place then). */
  #toClient: ClientFrame[] | null = null;
  #connect: UpstreamConnect | null = null;
  #backoff: Backoff | null = null;
  /** Its rate buckets (admission.client), made on its first message when a limit is set. */
  #rate: MessageRate | null = null;
  /** Why the last upstream went (for upstream_reset / upstream_closed). */
  #lastCode = 0;
  #lastReason = '';
  /** How the last open upstream went (for upstream_reset; failed attempts since do not change it). */
  #resetCode = 0;
  #resetReason = '';

  constructor(host: ReliableHost, id: string, clientId: string, target: string, handle: number, createdAtMs: number) {
    this.host = host;
    this.id = id;
    this.clientId = clientId;
    this.target = target;
    this.handle = handle;
    this.createdAtMs = createdAtMs;
  }

  // --- Gateway-facing --------------------------------------------------------------

  /** Still a session (the gateway's drain and migrations skip closed ones). */
  get live(): boolean {
    return this.state !== ReliableState.Closed;
  }

  get attached(): boolean {
    return this.client !== null;
  }

  // --- The admin API's view (src/server/session-view.ts) ------------------------------

  get stateName(): 'connecting' | 'open' | 'closing' | 'closed' | 'detached' {
    if (this.state === ReliableState.Closed) return 'closed';
    if (this.state === ReliableState.Ended) return 'closing';
    if (this.client === null) return 'detached';
    return this.state === ReliableState.Open ? 'open' : 'connecting';
  }

  /** Upstream reads stopped at a bound, or client reads stopped. */
  get paused(): boolean {
    return (this.flags & (PAUSED_SESSION | PAUSED_INSTANCE | CLIENT_READS_PAUSED)) !== 0;
  }

  /** The client's socket buffer is over the mark. */
  get slow(): boolean {
    return (this.flags & CLIENT_SLOW) !== 0;
  }

  /** Envelopes kept until the client acknowledges them. */
  get bufferDepth(): number {
    return this.lastSeq - this.ackedSeq;
  }

  /**
   * The operator closes the client connection with `code` (the session waits for a
   * resume), or with `end` ends the session and its upstream too.
   */
  adminClose(code: number, reason: string, end: boolean): void {
    if (!end) {
      this.client?.close(code, reason);
      return;
    }
    const c = this.client;
    this.client = null;
    c?.close(code, reason);
    this.upstream?.close(CloseCode.NORMAL.code, 'the session was ended by the operator');
    this.#finish('operator');
  }

  /** The state as a SESSION record. */
  snapshot(): SessionState {
    return {
      sessionId: this.id,
      clientId: this.clientId,
      target: this.target,
      createdAtMs: this.createdAtMs,
      lastSeq: this.lastSeq,
      ackedSeq: this.ackedSeq,
      detachedAtMs: this.client === null ? this.host.detachedAt(this) : 0,
      upstreamOpened: (this.flags & EVER_OPEN) !== 0,
    };
  }

  /** A recovered session: its state from the log (no upstream: it died with the old process). */
  restore(s: SessionState): void {
    this.lastSeq = s.lastSeq;
    this.ackedSeq = s.ackedSeq;
    this.sentSeq = s.ackedSeq;
    this.durableSeq = s.lastSeq;
    this.state = ReliableState.Reconnecting;
    this.flags |= EVER_OPEN;
    this.#lastCode = this.#resetCode = CloseCode.SERVICE_RESTART.code;
    this.#lastReason = this.#resetReason = 'gateway restarted';
  }

  /** Takes this session into the host's flush list; false when it is there already. */
  claimFlush(): boolean {
    if (this.flags & DIRTY) return false;
    this.flags |= DIRTY;
    return true;
  }

  /** A recovered envelope `seq` (read back from an older log) goes into this log and the ring; false when it leaves a gap. */
  restoreEnvelope(seq: number, envelope: Buffer, keepInMemory: boolean): boolean {
    const ring = (this.ring ??= new EnvelopeRing(this.ackedSeq + 1));
    if (seq < ring.endSeq) return true; // already held (a checkpointed copy read twice)
    if (seq !== ring.endSeq) return false;
    const h = this.host;
    const frame = keepInMemory ? frameOfEnvelope(envelope) : null;
    const pos = h.log.appendNumber(RecordKind.Envelope, this.handle, seq, envelope);
    const seg = h.log.currentSegment;
    h.log.retain(seg);
    ring.push(frame, seg, pos, envelope.length);
    h.bufferChanged(1, envelope.length, frame?.length ?? 0);
    return true;
  }

  /** After recovery: the seq really held last (a lost log tail or a gap shortens it). */
  settleRecovered(): void {
    const end = (this.ring?.endSeq ?? this.ackedSeq + 1) - 1;
    this.lastSeq = end;
    this.durableSeq = end;
  }

  /** A message outcome read back from an older log (ACCEPTED without an outcome counts as lost). */
  restoreOutcome(messageId: string, atMs: number, outcome: number): void {
    const h = this.host;
    const o = outcome < 0 ? NackCodes.UPSTREAM_LOST.index : outcome;
    this.#evicted((this.dups ??= new DuplicateCache(h.settings.duplicateWindowMessages, h.settings.resumeWindowMs)).remember(messageId, atMs, o));
    h.log.appendMessage(this.handle, atMs, messageId, o);
    h.log.pin(h.log.currentSegment, atMs + h.settings.resumeWindowMs);
  }

  /** The host's bound cleared: read the upstream again. */
  resumeFromInstance(): void {
    this.resumeUpstream(PAUSED_INSTANCE);
  }

  /** The log stayed unwritable: the session ends, its client told with `info` (4507). */
  abandon(info: CloseCodeInfo): void {
    const c = this.client;
    this.client = null;
    c?.close(info.code, 'the message log cannot be written');
    this.upstream?.close(CloseCode.INTERNAL_ERROR.code, 'gateway message log unavailable');
    this.#finish('log_unavailable');
  }

  /**
   * Closes the client connection with `info` (drain 1012, slow 4408…): the session
   * stays, the client may resume. Except TAKEN_OVER (the duplicate-clientId policy
   * gave the clientId to another connection): told not to come back, the client
   * will not resume, so the session ends with it.
   */
  close(info: CloseCodeInfo, reason: string = info.name.toLowerCase().replace(/_/g, ' ')): void {
    if (info.code !== CloseCode.TAKEN_OVER.code) {
      this.client?.close(info.code, reason);
      return;
    }
    const c = this.client;
    this.client = null;
    c?.close(info.code, reason);
    this.upstream?.close(CloseCode.NORMAL.code, 'the session was taken over');
    this.#finish('taken_over');
  }

  /** The route changed (routing.onRouteChange "migrate"): the upstream moves; the session and the client stay. */
  routeChanged(target: string): void {
    if (target === this.target || this.state >= ReliableState.Ended) return;
    this.target = target;
    this.host.log.append(sessionBody(this.handle, this.snapshot()));
    const up = this.upstream;
    if (up !== null) {
      up.close(CloseCode.GOING_AWAY.code, 'route changed');
      this.#upstreamDown(ROUTE_CHANGED, 'route changed');
    }
  }

  /** Drops both connections at once (the process stops; the log keeps the session). */
  terminate(): void {
    this.#connect?.abort();
    this.#connect = null;
    this.client?.terminate();
    this.upstream?.terminate();
  }

  // --- Attaching ---------------------------------------------------------------------

  /**
   * `leg` (after its HELLO) becomes this session's client connection. `lastSeq`:
   * the client's position (undefined for a new session). A connection still
   * attached is taken over (4410). Sends the WELCOME; the replay follows at the flush.
   */
  attach(leg: Leg, lastSeq: number | undefined, fresh: Welcome['resume'] | undefined): Welcome['resume'] {
    const old = this.client;
    if (old !== null) {
      this.client = null;
      old.close(CloseCode.TAKEN_OVER.code, 'taken over by a newer connection');
    }
    this.client = leg;
    leg.owner = this;
    this.generation++;
    this.#toClient = null;
    this.flags &= ~(CLIENT_SLOW | CLIENT_READS_PAUSED | READS_PAUSED_FOR_UPSTREAM | CLIENT_RATE);
    let resume: Welcome['resume'];
    if (lastSeq === undefined) {
      resume = fresh ?? 'new';
      this.sentSeq = this.ackedSeq;
    } else if (lastSeq >= this.ackedSeq && lastSeq <= this.lastSeq) {
      resume = 'recovered';
      if (lastSeq > this.ackedSeq) {
        this.#ackUpTo(lastSeq);
        this.flags |= ACK_DIRTY;
      }
      this.sentSeq = lastSeq;
    } else {
      resume = 'out_of_range';
      this.sentSeq = this.ackedSeq;
    }
    this.#replayTo = this.durableSeq;
    const s = this.host.settings;
    leg.write(textFrameOf(welcomeText({
      sessionId: this.id,
      recovered: resume === 'recovered',
      resume,
      firstSeq: this.ackedSeq + 1,
      lastSeq: this.lastSeq,
      resumeWindowMs: s.resumeWindowMs,
      heartbeatMs: s.heartbeatMs,
    })));
    this.flags |= SENT;
    if (old === null) this.host.attached(this);
    this.host.log.append(bareBody(RecordKind.Attached, this.handle), undefined, false);
    if (this.state === ReliableState.Ended && this.sentSeq >= this.#endSeq) {
      this.#closeEnded();
      return resume;
    }
    this.host.touch(this);
    // A recovered session connects its upstream when its client is back.
    if (this.state === ReliableState.Reconnecting && this.#connect === null && !this.host.reconnectPending(this)) this.#retry();
    return resume;
  }

  /** Starts the first upstream connection (after the WELCOME of a new session). */
  start(): void {
    this.#retry();
  }

  /** The client connection is gone (dropped, FIN, a close other than 1000, a fault): the window starts. */
  #detach(): void {
    const leg = this.client;
    if (leg === null) return;
    this.client = null;
    this.generation++;
    this.#toClient = null;
    if (this.state === ReliableState.Closed) return;
    if (this.state === ReliableState.Ended && this.sentSeq >= this.#endSeq && this.#endSeq > 0) {
      this.#finish('upstream_closed');
      return;
    }
    const at = this.host.clock.wallMs();
    this.host.detached(this, at);
    this.host.log.appendNumber(RecordKind.Detached, this.handle, at, undefined, false);
  }

  /** The window passed without a resume. */
  expire(): void {
    this.upstream?.close(CloseCode.GOING_AWAY.code, 'the client did not come back');
    this.#finish('expired');
  }

  // --- The turn's flush ------------------------------------------------------------------

  /**
   * Called by the host after the turn's log batch was written: `durableSeq` is the
   * last seq that batch made durable (undefined: none, the write failed or waits for
   * its fdatasync). Writes waiting client messages upstream, sends ACK/NACKs and the
   * durable envelopes to the client, and logs the client's ack.
   */
  flushTurn(durableSeq: number | undefined): void {
    this.flags &= ~DIRTY;
    if (durableSeq !== undefined && durableSeq > this.durableSeq) this.durableSeq = durableSeq;
    const log = this.host.log;
    if (this.flags & ACK_DIRTY) {
      this.flags &= ~ACK_DIRTY;
      log.appendNumber(RecordKind.ClientAck, this.handle, this.ackedSeq, undefined, false);
    }
    const out = this.#outbox;
    const up = this.upstream;
    if (out !== null && up !== null && this.state === ReliableState.Open) {
      out.write(up.socket);
      const buffered = up.bufferedAmount; // completing messages writes nothing upstream
      out.complete(buffered, this);
      if (buffered > this.host.relay.highWaterMarkBytes) this.#pauseClientReads(READS_PAUSED_FOR_UPSTREAM);
      else if (buffered <= this.host.relay.lowWaterMarkBytes) this.#resumeClientReads(READS_PAUSED_FOR_UPSTREAM); // no 'drain' will come
    }
    const c = this.client;
    if (c === null || c.closeSent || c.gone) {
      if (c === null) this.host.shedMemory(this);
      return;
    }
    this.#send(c);
  }

  #send(c: Leg): void {
    const small = this.#toClient;
    const from = this.sentSeq + 1;
    const to = this.flags & CLIENT_SLOW ? this.sentSeq : this.durableSeq;
    if (from > to) {
      // Only ACK/NACK frames: they wait a moment for company (one write instead of two).
      if (small !== null) {
        if (this.host.settings.ackDelayMs === 0 || this.flags & SMALL_DUE) this.#write(c, small);
        else if (!(this.flags & SMALL_DEFERRED)) {
          this.flags |= SMALL_DEFERRED;
          this.host.deferSmall(this);
        }
      }
      return;
    }
    const frames = small ?? [];
    this.#toClient = null;
    this.flags &= ~SMALL_DUE;
    const hwm = this.host.relay.highWaterMarkBytes;
    const m = this.host.metrics;
    const ring = this.ring!;
    let bytes = c.bufferedAmount;
    let freed = 0;
    let s = from;
    for (; s <= to; s++) {
      // Once sent, the in-memory copy goes: a replay (rare) reads the envelope back from the log.
      let f = ring.frame(s);
      if (f === null) f = this.#frameFromLog(s);
      else {
        ring.setFrame(s, null);
        freed += f.length;
      }
      frames.push(f);
      bytes += f.length;
      m.envelopesSent++;
      if (s <= this.#replayTo) m.envelopesReplayed++;
      if (bytes > hwm) {
        this.flags |= CLIENT_SLOW;
        s++;
        break;
      }
    }
    this.sentSeq = s - 1;
    if (freed > 0) this.host.bufferChanged(0, 0, -freed);
    this.#write(c, frames);
    this.host.shedMemory(this);
    if (this.state === ReliableState.Ended && this.sentSeq >= this.#endSeq) this.#closeEnded();
  }

  /** The deferred ACK/NACK frames are due (the host's timer). */
  sendSmall(): void {
    this.flags &= ~SMALL_DEFERRED;
    const c = this.client;
    if (c === null || c.closeSent || c.gone || this.#toClient === null) return;
    this.flags |= SMALL_DUE;
    this.#send(c);
    this.flags &= ~SMALL_DUE;
  }

  /** Writes `frames` to the client: one write (small ones concatenated, ACKs written in place), or a corked batch when large. */
  #write(c: Leg, frames: ClientFrame[]): void {
    this.#toClient = null;
    this.flags |= SENT;
    let total = 0;
    for (const f of frames) total += typeof f === 'string' ? ackFrameLength(f) : f.length;
    if (frames.length === 1 && typeof frames[0] !== 'string') c.write(frames[0]!);
    else if (total <= COALESCE_MAX) {
      const out = Buffer.allocUnsafe(total);
      let at = 0;
      for (const f of frames) {
        if (typeof f === 'string') at = writeAckFrame(out, at, f);
        else at += f.copy(out, at);
      }
      c.write(out);
    } else {
      const socket = c.socket;
      socket.cork();
      for (const f of frames) socket.write(typeof f === 'string' ? ackFrame(f) : f);
      socket.uncork();
    }
    // A client that sends but does not read its ACKs holds a bounded buffer: stop reading it.
    if (c.bufferedAmount > this.host.relay.highWaterMarkBytes) this.#pauseClientReads(CLIENT_READS_PAUSED);
  }

  /** Stops reading the client (`why`: its own buffer, or the upstream's, is over the mark) until that one drains. */
  #pauseClientReads(why: number): void {
    if (this.flags & why) return;
    const was = this.flags & CLIENT_READS_HELD;
    this.flags |= why;
    if (why !== CLIENT_RATE) this.host.counters.backpressurePauses.inc({ direction: 'client_to_upstream' });
    if (was === 0) this.client?.pause();
  }

  #resumeClientReads(why: number): void {
    if (!(this.flags & why)) return;
    this.flags &= ~why;
    if (!(this.flags & CLIENT_READS_HELD)) this.client?.resume();
  }

  /** The client's reads are paused (a full buffer, its own or the upstream's, or its rate limit). */
  get clientReadsPaused(): boolean {
    return (this.flags & CLIENT_READS_HELD) !== 0;
  }

  /** One message of `bytes` went `dir` (0: from the client, 1: to it); over the limit, that side waits. */
  #chargeRate(dir: 0 | 1, bytes: number): void {
    const limits = this.host.settings.rateLimits;
    if (limits === undefined) return;
    const ms = (this.#rate ??= new MessageRate(limits, () => this.host.clock.now())).charge(dir, bytes);
    if (ms <= 0) return;
    this.host.counters.ratePauses.inc({ direction: dir === 0 ? 'client_to_upstream' : 'upstream_to_client' });
    this.host.ratePauses.pause(this, dir, ms);
    if (dir === 0) this.#pauseClientReads(CLIENT_RATE);
    else this.pauseUpstream(UPSTREAM_RATE);
  }

  rateResume(dir: 0 | 1): void {
    if (dir === 0) this.#resumeClientReads(CLIENT_RATE);
    else this.resumeUpstream(UPSTREAM_RATE);
  }

  /** Kept paused by its rate limit too long: its connection is closed with 4429 (the session stays: it may resume). */
  rateExceeded(): void {
    this.host.logger.info({ clientId: this.clientId }, 'closing a reliable client kept paused by its rate limit');
    this.close(CloseCode.RATE_LIMITED, 'message rate limit exceeded');
  }

  /** The frame of envelope `seq`, read back from the log. */
  #frameFromLog(seq: number): Buffer {
    const ring = this.ring!;
    return frameOfEnvelope(this.host.log.read(ring.segment(seq), ring.position(seq), ring.length(seq)));
  }

  /** The host is short of memory: drops the in-memory copies of a detached session's envelopes (a connected client's go once sent). */
  dropFrames(): number {
    const ring = this.ring;
    if (ring === null) return 0;
    const last = this.client === null ? this.durableSeq : Math.min(this.sentSeq, this.durableSeq);
    let freed = 0;
    for (let s = ring.firstSeq; s <= last && s < ring.endSeq; s++) {
      const f = ring.frame(s);
      if (f !== null) {
        freed += f.length;
        ring.setFrame(s, null);
      }
    }
    return freed;
  }

  /** Bytes of envelope frames this session holds in memory. */
  memoryBytes(): number {
    const ring = this.ring;
    if (ring === null) return 0;
    let n = 0;
    for (let s = ring.firstSeq; s < ring.endSeq; s++) n += ring.frame(s)?.length ?? 0;
    return n;
  }

  // --- Client messages ---------------------------------------------------------------------

  legMessageData(leg: Leg, payload: Buffer, binary: boolean): void {
    if (leg === this.upstream) {
      this.#upstreamMessage(payload, binary);
      return;
    }
    if (leg !== this.client) return;
    if (binary) {
      leg.close(CloseCode.UNSUPPORTED_DATA.code, 'stratix.v1 frames are JSON text');
      return;
    }
    const scan = this.host.scanner;
    if (scan.scan(payload, this.clientId)) {
      const { messageId, binary: bin, dataStart, dataEnd } = scan;
      if (scan.ack < 0 || this.#takeAck(leg, scan.ack)) this.#takeData(messageId, bin, payload, dataStart, dataEnd);
      return;
    }
    const e = parseClientEnvelope(payload, this.clientId);
    switch (e.type) {
      case EnvelopeType.Data:
        if (e.ack < 0 || this.#takeAck(leg, e.ack)) this.#takeData(e.messageId, e.binary, e.data, 0, e.data.length);
        break;
      case EnvelopeType.Ack:
        this.#takeAck(leg, e.seq);
        break;
      case EnvelopeType.Hello:
        leg.close(CloseCode.BAD_REQUEST.code, 'HELLO sent twice');
        break;
      case EnvelopeType.Heartbeat:
        break;
      case -1:
        if (e.ack < 0 || this.#takeAck(leg, e.ack)) this.#nack(e.messageId, e.nack, e.reason, false);
        break;
      default:
        leg.close(CloseCode.BAD_REQUEST.code, e.reason);
    }
  }

  /** A DATA whose base64 is `data[start, end)` (the envelope's bytes, or the string JSON.parse gave). */
  #takeData(id: string, binary: boolean, data: Buffer | string, start: number, end: number): void {
    const h = this.host;
    const dups = (this.dups ??= new DuplicateCache(h.settings.duplicateWindowMessages, h.settings.resumeWindowMs));
    const prior = dups.lookup(id);
    if (prior !== undefined) {
      if (prior === IN_FLIGHT) {
        dups.wait(id, this.generation);
        h.metrics.duplicates.inc({ outcome: 'waited' });
      } else {
        h.metrics.duplicates.inc({ outcome: prior === ACKED ? 'ack' : 'nack' });
        this.#answer(id, prior);
      }
      return;
    }
    const counters = h.counters;
    counters.messagesReceived[Direction.ClientToUpstream]++;
    this.messages0++;
    if (this.state === ReliableState.Ended || this.state === ReliableState.Closed) return this.#refuse(id, NackCodes.SESSION_ENDED, 'the upstream closed for good');
    if (this.state !== ReliableState.Open || this.upstream === null) return this.#refuse(id, NackCodes.UPSTREAM_NOT_OPEN, 'no upstream connection is open now');
    // Sent before the client read upstream_reset: meant for the old upstream, not the fresh one.
    if (this.ackedSeq < this.#resetSeq) return this.#refuse(id, NackCodes.UPSTREAM_NOT_OPEN, `acknowledge upstream_reset (seq ${this.#resetSeq}) first`);
    if (!h.log.writable) return this.#refuse(id, NackCodes.LOG_UNAVAILABLE, 'the message log cannot be written');
    const n = typeof data === 'string' ? base64DecodedLength(data) : base64DecodedLengthOf(data, start, end);
    if (n < 0) return this.#refuse(id, NackCodes.BAD_BASE64, 'data is not strict base64');
    if (n > h.relay.maxMessageBytes) return this.#refuse(id, NackCodes.TOO_LARGE, `payload over ${h.relay.maxMessageBytes} bytes`);
    const frame = allocMaskedFrame(binary ? OP_BINARY : OP_TEXT, n);
    const at = frame.length - n;
    const decoded = typeof data === 'string' ? (decodeBase64Into(data, frame, at, n) ? DECODED : INVALID) : decodeBase64BytesInto(data, start, end, frame, at, n);
    if (decoded === INVALID) return this.#refuse(id, NackCodes.BAD_BASE64, 'data is not strict base64');
    if (!binary && decoded !== DECODED_ASCII && !isUtf8(frame.subarray(at))) return this.#refuse(id, NackCodes.INVALID_UTF8, 'a text payload must be valid UTF-8');
    maskPayload(frame, n);
    const now = h.clock.wallMs();
    this.#evicted(dups.remember(id, now));
    h.log.appendMessage(this.handle, now, id, undefined);
    h.log.pin(h.log.currentSegment, now + h.settings.resumeWindowMs);
    counters.bytesReceived[Direction.ClientToUpstream] += n;
    this.#chargeRate(0, n);
    this.bytes0 += n;
    const out = (this.#outbox ??= new UpstreamOutbox());
    out.add(frame, id, this.generation);
    h.touch(this);
    // An upstream that reads slower than the client sends: stop reading the client now, not after the turn.
    if (out.waitingBytes + (this.upstream?.bufferedAmount ?? 0) > h.relay.highWaterMarkBytes) this.#pauseClientReads(READS_PAUSED_FOR_UPSTREAM);
  }

  /** `n` messageIds were forgotten to keep the duplicate cache at reliable.duplicateWindowMessages. */
  #evicted(n: number): void {
    if (n > 0) this.host.metrics.duplicateEvictions.inc(n);
  }

  /** The write of `messageId` to the upstream completed: ACK (on the connection it came on). */
  upstreamWritten(messageId: string, generation: number): void {
    this.host.counters.messagesSent[Direction.ClientToUpstream]++;
    this.#settle(messageId, ACKED, generation);
  }

  /** Records a message's outcome (logged), answers it, and any duplicate waiting for it. */
  #settle(messageId: string, outcome: number, generation: number): void {
    const h = this.host;
    const now = h.clock.wallMs();
    const waiter = this.dups?.settle(messageId, outcome) ?? -1;
    if (outcome !== ACKED) h.counters.failed(Direction.ClientToUpstream, 'nacked');
    h.log.appendMessage(this.handle, now, messageId, outcome, false);
    h.log.pin(h.log.currentSegment, now + h.settings.resumeWindowMs);
    if (generation === this.generation) this.#answer(messageId, outcome);
    // A duplicate that waited for this outcome is answered too (on the connection it came on).
    if (waiter === this.generation) this.#answer(messageId, outcome);
  }

  #answer(messageId: string, outcome: number): void {
    if (outcome === ACKED) {
      this.host.metrics.acksSent++;
      this.#queueClient(messageId);
    } else {
      const nack = nackByIndex(outcome) ?? NackCodes.UPSTREAM_LOST;
      this.host.metrics.nacks.inc({ code: nack.code });
      this.#queueClient(textFrameOf(nackText(messageId, nack, nack.meaning)));
    }
  }

  /** A NACK for a message taken now (remembered as its outcome, so that a duplicate gets it too). */
  #refuse(messageId: string, nack: NackCode, reason: string): void {
    this.#nack(messageId, nack, reason, true);
  }

  #nack(messageId: string | null, nack: NackCode, reason: string, remember: boolean): void {
    const h = this.host;
    if (!remember) h.counters.messagesReceived[Direction.ClientToUpstream]++; // a malformed DATA still counts
    if (messageId !== null && remember) {
      const now = h.clock.wallMs();
      this.#evicted(this.dups!.remember(messageId, now, nack.index));
      h.log.appendMessage(this.handle, now, messageId, nack.index, false);
      h.log.pin(h.log.currentSegment, now + h.settings.resumeWindowMs);
    }
    h.counters.failed(Direction.ClientToUpstream, 'nacked');
    h.metrics.nacks.inc({ code: nack.code });
    this.#queueClient(textFrameOf(nackText(messageId, nack, reason)));
  }

  #queueClient(frame: ClientFrame): void {
    if (this.client === null) return;
    (this.#toClient ??= []).push(frame);
    this.host.touch(this);
  }

  /** A cumulative ACK (an ACK envelope, or a DATA's `ack`); false when it breaks the protocol (the connection is closed). */
  #takeAck(leg: Leg, seq: number): boolean {
    if (seq > this.lastSeq) {
      leg.close(CloseCode.BAD_REQUEST.code, `ACK of seq ${seq}, never sent (last ${this.lastSeq})`);
      return false;
    }
    this.#clientAck(seq);
    return true;
  }

  #clientAck(seq: number): void {
    this.host.metrics.clientAcks++;
    if (seq <= this.ackedSeq) return;
    this.#ackUpTo(seq);
    if (seq > this.sentSeq) this.sentSeq = seq;
    this.flags |= ACK_DIRTY;
    this.host.touch(this);
  }

  /** Everything up to `seq` is acknowledged: frees it (memory, log references). */
  #ackUpTo(seq: number): void {
    const ring = this.ring;
    const h = this.host;
    if (ring !== null) {
      let messages = 0;
      let bytes = 0;
      let memory = 0;
      while (ring.count > 0 && ring.firstSeq <= seq) {
        const s = ring.firstSeq;
        h.log.release(ring.segment(s));
        memory += ring.frame(s)?.length ?? 0;
        bytes += ring.length(s);
        messages++;
        ring.shift();
      }
      h.bufferChanged(-messages, -bytes, -memory);
      h.counters.messagesSent[Direction.UpstreamToClient] += messages;
      h.counters.bytesSent[Direction.UpstreamToClient] += bytes;
      ring.firstSeq = seq + 1;
    }
    this.ackedSeq = seq;
    if (this.flags & PAUSED_SESSION && !this.#atSessionBound()) this.resumeUpstream(PAUSED_SESSION);
  }

  // --- Upstream messages ------------------------------------------------------------------------

  #upstreamMessage(payload: Buffer, binary: boolean): void {
    this.#appendEnvelope(dataFrame(this.lastSeq + 1, this.host.clock.wallUs(), payload, binary));
    this.#chargeRate(1, payload.length);
  }

  #appendEvent(event: SessionEventName, code?: number, reason?: string): number {
    this.#appendEnvelope(textFrameOf(eventText(this.lastSeq + 1, event, code, reason)));
    return this.lastSeq;
  }

  /** Appends the next envelope (its frame built for seq lastSeq + 1) to the log and the ring. */
  #appendEnvelope(frame: Buffer): void {
    const h = this.host;
    const seq = ++this.lastSeq;
    const env = frame.subarray(envelopeStart(frame));
    const log = h.log;
    const pos = log.appendNumber(RecordKind.Envelope, this.handle, seq, env);
    const seg = log.currentSegment;
    log.retain(seg);
    (this.ring ??= new EnvelopeRing(this.ackedSeq + 1)).push(frame, seg, pos, env.length);
    h.bufferChanged(1, env.length, frame.length);
    // Upstream → client counts envelopes: received when made, sent when acknowledged.
    h.counters.messagesReceived[Direction.UpstreamToClient]++;
    h.counters.bytesReceived[Direction.UpstreamToClient] += env.length;
    this.messages1++;
    this.bytes1 += env.length;
    h.touch(this);
    if (this.#atSessionBound()) this.pauseUpstream(PAUSED_SESSION);
    else if (!h.acceptingEnvelopes) this.pauseUpstream(PAUSED_INSTANCE);
  }

  #atSessionBound(): boolean {
    const ring = this.ring;
    const s = this.host.settings;
    return ring !== null && (ring.count >= s.maxUnackedMessages || ring.bytes >= s.maxUnackedBytes);
  }

  /** Stops reading the upstream (`why`: PAUSED_SESSION or PAUSED_INSTANCE). */
  pauseUpstream(why: number): void {
    if (this.flags & why) return;
    const was = this.flags & UPSTREAM_HELD;
    this.flags |= why;
    if (why !== UPSTREAM_RATE) this.host.metrics.upstreamPauses.inc({ bound: why === PAUSED_SESSION ? 'session' : 'instance' });
    if (why === PAUSED_INSTANCE) this.host.pausedForInstance(this);
    if (was === 0) this.upstream?.pause();
  }

  resumeUpstream(why: number): void {
    if (!(this.flags & why)) return;
    this.flags &= ~why;
    if (!(this.flags & UPSTREAM_HELD)) this.upstream?.resume();
  }

  get pausedBySession(): boolean {
    return (this.flags & PAUSED_SESSION) !== 0;
  }

  get pausedByInstance(): boolean {
    return (this.flags & PAUSED_INSTANCE) !== 0;
  }

  /** How long the client has been at the session bound while connected (for the slow-client rule), by the host. */
  get stuckAtBound(): boolean {
    return this.client !== null && (this.flags & (PAUSED_SESSION | CLIENT_SLOW)) !== 0;
  }

  // --- The upstream connection ---------------------------------------------------------------

  /** Connect now if the breaker lets us, else wait for it. */
  #retry(): void {
    if (this.state >= ReliableState.Ended || this.#connect !== null || this.flags & CONNECT_QUEUED) return;
    if (this.host.breaker.request(this.target, this)) this.#connectUpstream();
  }

  /** The host's reconnect timer fired. */
  reconnectDue(): void {
    this.#retry();
  }

  breakerAllows(): void {
    if (this.state >= ReliableState.Ended || this.#connect !== null || this.flags & CONNECT_QUEUED) return;
    this.#connectUpstream();
  }

  /** The breaker lets us: wait for this upstream's connect pacing (admission.upstream), then open. */
  #connectUpstream(): void {
    if (this.flags & CONNECT_QUEUED) return;
    this.flags |= CONNECT_QUEUED;
    if (this.host.paceConnect(this)) this.connectTurn();
  }

  /** Its turn in the per-upstream pacing came. */
  connectTurn(): void {
    this.flags &= ~CONNECT_QUEUED;
    if (this.state >= ReliableState.Ended || this.#connect !== null) {
      this.host.connectDone(this);
      return;
    }
    this.#connect = new UpstreamConnect(this, this.host.upstreamRequest(this.target, this.forwarded));
    this.host.connecting.set(this, this.host.clock.now());
  }

  /** It waited too long for its turn: a failed attempt (retried later). */
  connectQueueTimedOut(): void {
    this.flags &= ~CONNECT_QUEUED;
    this.#lastCode = CloseCode.UPSTREAM_TIMEOUT.code;
    this.#lastReason = 'upstream connect queue: no turn in time';
    if (this.state < ReliableState.Ended) this.#reconnectLater();
  }

  checkConnectTimeout(now: number, since: number): void {
    const limit = this.host.relay.connectTimeoutMs;
    if (this.#connect === null || now - since < limit) return;
    this.upstreamFailed(upstreamError('TIMEOUT', `upstream did not open within ${limit} ms`));
  }

  upstreamOpened(socket: Socket, head: Buffer): void {
    const h = this.host;
    this.#connect = null;
    h.connectDone(this);
    const startedAt = h.connecting.get(this) ?? h.clock.now();
    h.connecting.delete(this);
    h.counters.upstreamConnectSeconds.observe({ result: 'open' }, (h.clock.now() - startedAt) / 1000);
    h.breaker.success(this.target, h.clock.now());
    if (this.state >= ReliableState.Ended) {
      socket.destroy();
      return;
    }
    const reconnect = (this.flags & EVER_OPEN) !== 0;
    if (reconnect) h.metrics.upstreamReconnects.inc({ result: 'opened' });
    this.#backoff = null;
    h.reconnectSettled(this);
    const up = new Leg(this, socket, LegKind.Upstream, true);
    this.upstream = up;
    this.state = ReliableState.Open;
    if (reconnect) this.#resetSeq = this.#appendEvent('upstream_reset', this.#resetCode, this.#resetReason);
    else {
      this.flags |= EVER_OPEN;
      h.log.append(sessionBody(this.handle, this.snapshot()));
      this.#appendEvent('upstream_open');
    }
    if (this.flags & UPSTREAM_HELD) up.pause();
    if (head.length > 0) up.onData(head);
  }

  upstreamFailed(failure: UpstreamError): void {
    const h = this.host;
    const attempt = this.#connect;
    if (attempt === null) return;
    this.#connect = null;
    attempt.abort();
    h.connectDone(this);
    const startedAt = h.connecting.get(this) ?? h.clock.now();
    h.connecting.delete(this);
    h.counters.upstreamConnectSeconds.observe({ result: 'error' }, (h.clock.now() - startedAt) / 1000);
    h.counters.upstreamConnectFailures.inc({ code: failure.code });
    if (h.breaker.failure(this.target)) h.logger.warn({ target: this.target }, 'upstream circuit breaker opened after repeated connect failures');
    if (this.flags & EVER_OPEN) h.metrics.upstreamReconnects.inc({ result: 'failed' });
    this.#lastCode = failure.close.code;
    this.#lastReason = failure.message;
    if (this.state >= ReliableState.Ended) return;
    if (RETRYABLE.has(failure.close.code)) this.#reconnectLater();
    else this.#endUpstream(failure.close.code, failure.message);
  }

  /** The upstream connection went (`code`: its close code, 4520 if it vanished). */
  #upstreamDown(code: number, reason: string): void {
    if (this.upstream === null) return;
    this.upstream = null;
    this.#resumeClientReads(READS_PAUSED_FOR_UPSTREAM); // its buffer went with it
    this.#outbox?.drop(
      (id, gen) => this.#settle(id, NackCodes.UPSTREAM_LOST.index, gen),
      (id, gen) => this.#settle(id, NackCodes.UPSTREAM_NOT_OPEN.index, gen),
    );
    this.#lastCode = this.#resetCode = code;
    this.#lastReason = this.#resetReason = reason;
    if (this.state >= ReliableState.Ended) return;
    // A lost connection is a signal to the breaker: reconnects probe the upstream one at a time.
    if (code !== ROUTE_CHANGED) this.host.breaker.lost(this.target);
    if (code === ROUTE_CHANGED) {
      this.state = ReliableState.Reconnecting;
      this.#retry();
    } else if (RETRYABLE.has(code)) {
      this.state = ReliableState.Reconnecting;
      this.#reconnectLater();
    } else {
      this.#endUpstream(code, reason);
    }
  }

  #reconnectLater(): void {
    const h = this.host;
    this.state = ReliableState.Reconnecting;
    const r = h.settings.reconnect;
    if (this.#backoff === null) {
      this.#backoff = new Backoff({ initialMs: r.initialDelayMs, maxMs: r.maxDelayMs });
      h.reconnectStarted(this);
    }
    if (h.reconnectingFor(this) > r.giveUpAfterMs) {
      h.metrics.upstreamReconnects.inc({ result: 'gave_up' });
      this.#endUpstream(this.#lastCode, `upstream reconnect gave up: ${this.#lastReason}`);
      return;
    }
    h.reconnectLater(this, this.#backoff.next());
  }

  /** The upstream is gone for good: upstream_closed, then (once delivered) the client is closed with 1000. */
  #endUpstream(code: number, reason: string): void {
    const h = this.host;
    this.state = ReliableState.Ended;
    this.#backoff = null;
    h.breaker.cancel(this.target, this);
    h.reconnectSettled(this);
    this.#outbox?.drop(
      (id, gen) => this.#settle(id, NackCodes.UPSTREAM_LOST.index, gen),
      (id, gen) => this.#settle(id, NackCodes.SESSION_ENDED.index, gen),
    );
    this.#endSeq = this.#appendEvent('upstream_closed', code, reason);
  }

  #closeEnded(): void {
    const c = this.client;
    if (c !== null && !c.closeSent) c.close(CloseCode.NORMAL.code, 'session ended');
  }

  /** The session is over: the log forgets it, the host too. */
  #finish(reason: EndReason): void {
    if (this.state === ReliableState.Closed) return;
    const h = this.host;
    this.state = ReliableState.Closed;
    if (this.#connect !== null) {
      this.#connect.abort();
      this.#connect = null;
      h.breaker.abandoned(this.target); // its attempt may have been the probe
    }
    h.connectDone(this); // in flight, or waiting for its turn
    h.connecting.delete(this);
    h.breaker.cancel(this.target, this);
    h.reconnectSettled(this);
    const ring = this.ring;
    if (ring !== null) {
      let memory = 0;
      for (let s = ring.firstSeq; s < ring.endSeq; s++) {
        h.log.release(ring.segment(s));
        memory += ring.frame(s)?.length ?? 0;
      }
      h.bufferChanged(-ring.count, -ring.bytes, -memory);
      if (ring.count > 0) h.counters.failed(Direction.UpstreamToClient, 'session_ended', ring.count);
      this.ring = null;
    }
    this.#outbox?.drop(() => undefined, () => undefined);
    h.log.append(bareBody(RecordKind.End, this.handle));
    h.ended(this, reason);
  }

  // --- LegOwner: closes and faults ------------------------------------------------------------------

  legCloseReceived(leg: Leg, code: number | undefined, reason: string): void {
    if (leg === this.upstream) {
      leg.close(code, reason);
      this.#upstreamDown(code ?? 1005, reason);
      return;
    }
    const reply = leg.closeSent; // the client answers a close of ours (drain, 4408, session ended…)
    if (!reply) leg.close(code, reason);
    if (leg !== this.client) return;
    this.host.counters.clientCloses.inc({ code: String(code ?? 1005) });
    if (!reply && code === CloseCode.NORMAL.code) {
      // The client ends the session.
      this.client = null;
      this.upstream?.close(CloseCode.NORMAL.code, 'the client ended the session');
      this.#finish('client_close');
    } else {
      this.#detach();
    }
  }

  legFault(leg: Leg, code: number, reason: string): void {
    if (leg === this.upstream) {
      this.#upstreamDown(CloseCode.BAD_GATEWAY.code, `upstream protocol error: ${reason}`);
    } else if (leg === this.client) {
      this.host.counters.clientCloses.inc({ code: String(code) });
      this.#detach();
    }
  }

  legEnded(leg: Leg): void {
    leg.close(CloseCode.GOING_AWAY.code, 'client went away');
    if (leg === this.client) this.#detach();
  }

  legGone(leg: Leg): void {
    if (leg === this.upstream) this.#upstreamDown(CloseCode.UPSTREAM_LOST.code, 'upstream connection lost');
    else if (leg === this.client) {
      if (!leg.closeReceived && !leg.closeSent) this.host.counters.clientCloses.inc({ code: '1006' });
      this.#detach();
    }
  }

  legDrained(leg: Leg): void {
    if (leg === this.client) {
      this.#resumeClientReads(CLIENT_READS_PAUSED);
      if (this.flags & CLIENT_SLOW) {
        this.flags &= ~CLIENT_SLOW;
        this.host.touch(this);
      }
    } else if (leg === this.upstream) {
      this.#outbox?.complete(0, this);
      this.#resumeClientReads(READS_PAUSED_FOR_UPSTREAM);
    }
  }

  legControlDropped(leg: Leg, why: 'pong' | 'held'): void {
    this.host.counters.controlFramesDropped.inc({ leg: leg === this.upstream ? 'upstream' : 'client', why });
    if (why === 'pong' && leg === this.client) this.#pauseClientReads(CLIENT_READS_PAUSED);
  }

  messageLimit(leg: Leg): number {
    const max = this.host.relay.maxMessageBytes;
    return leg === this.upstream ? max : maxEnvelopeBytes(max);
  }

  controlBufferLimit(): number {
    return this.host.relay.highWaterMarkBytes;
  }

  legData(): void {
    throw new Error('reliable legs deliver messages, not frames');
  }

  legMessage(): void {
    throw new Error('reliable legs deliver messages, not frames');
  }

  // --- Liveness -----------------------------------------------------------------------------

  /** One liveness round (per ping interval): pings both legs, drops one that did not answer (as the relay does). */
  heartbeat(): void {
    const c = this.client;
    const m = this.host.counters;
    if (c !== null && !this.clientReadsPaused && c.bufferedAmount === 0) {
      if (!c.alive) {
        m.pingTimeouts.inc({ leg: 'client' });
        c.terminate();
      } else c.ping();
    }
    const up = this.upstream;
    if (up !== null && !(this.flags & UPSTREAM_HELD) && up.bufferedAmount === 0) {
      if (!up.alive) {
        m.pingTimeouts.inc({ leg: 'upstream' });
        up.terminate();
      } else up.ping();
    }
  }

  /** One HEARTBEAT round (every reliable.heartbeatMs / 2): a connected client that got nothing since the last round gets a HEARTBEAT (so it never waits heartbeatMs in silence); idle structures are freed. */
  keepAlive(nowMs: number): void {
    const c = this.client;
    if (c !== null && !c.closeSent) {
      if (!(this.flags & SENT)) c.write(HEARTBEAT_FRAME);
      this.flags &= ~SENT;
    }
    this.dropIdle(nowMs);
  }

  /** Frees what it holds empty: the ring, the outbox, a duplicate cache whose entries all expired. Made again when needed. */
  dropIdle(nowMs: number): void {
    if (this.ring !== null && this.ring.count === 0) this.ring = null;
    if (this.dups !== null && this.dups.expire(nowMs) === 0) this.dups = null;
    if (this.#outbox !== null && this.#outbox.empty) this.#outbox = null;
  }
}

const HEARTBEAT_FRAME = textFrameOf(HEARTBEAT_TEXT);
