/**
 * A Leg is one WebSocket connection of a session, over its raw socket: the client
 * leg (the gateway is the server: frames arrive masked, go out unmasked) or the
 * upstream leg (the gateway is the client: frames arrive unmasked, go out masked).
 * It is the connection — the socket, liveness, control frames and the close
 * handshake; parsing is its base class (frame-parser.ts), the small frames it
 * writes come from frame-codec.ts, and the session decides where data goes.
 *
 * Control frames are per leg, never relayed: pings are answered, pongs noted,
 * closes handed to the owner, which answers them when the other side has (the
 * close handshake is end to end through a relay). A pong is only written while the
 * socket's buffer is below the owner's bound: past it the pong is dropped, counted,
 * and the owner stops reading this leg until it drains, so a client that floods
 * pings and never reads holds a bounded buffer. A control frame may not cut a data
 * frame in two: while the peer has a frame half written to this leg, control frames
 * wait — pings and pongs in a bounded queue (dropped and counted past it), our close
 * in a slot of its own, never dropped.
 *
 * After a protocol fault the leg fails the connection (RFC 6455 §7.1.7): its close
 * frame, then FIN at once, without waiting for the peer's reply. After a complete
 * close handshake the server side ends TCP at once (§5.5.1). A client leg is
 * half-open capable: a client that sends FIN can still read what the upstream says
 * before its own close.
 *
 * Handlers are module-level functions that find their leg through a symbol on
 * the socket: no closure per connection. An idle leg holds no buffer and no boxed
 * number.
 */
import { Socket } from 'node:net';
import { closePayload, controlFrame, OP_CLOSE, OP_PING, OP_PONG } from './frame-codec.js';
import { FrameParser, ParseMode, type ParserState } from './frame-parser.js';
import { carriedClose, connectionClosed, setCarriedClose, sharedReadsOnFd, withSharedReads } from './shared-reads.js';

const kLeg = Symbol('stratix.leg');
type TaggedSocket = Socket & { [kLeg]?: Leg };

export const enum LegKind {
  /** Faces a WebSocket client: the gateway is the server. */
  Client = 0,
  /** Faces the upstream: the gateway is the client. */
  Upstream = 1,
}

/** What a leg tells its owner (a session). The owner decides where bytes go and how closes map. */
export interface LegOwner {
  /**
   * Relay legs: bytes [start, end) of `buf`, ready for the other leg (already
   * re-masked if needed). `buf` may be the process's shared read buffer: valid
   * only during the call, so what is kept or written must be copied.
   */
  legData(leg: Leg, buf: Buffer, start: number, end: number): void;
  /** Relay legs: a data message (all its frames) has been passed on; `bytes` is its payload size. */
  legMessage(leg: Leg, bytes: number): void;
  /** Message legs: a whole data message (valid during the call only). */
  legMessageData(leg: Leg, payload: Buffer, binary: boolean): void;
  /** The largest message this leg may send now. */
  messageLimit(leg: Leg): number;
  /** Bytes a leg's socket may buffer before its pongs are dropped (and its reads paused). */
  controlBufferLimit(leg: Leg): number;
  /** The peer sent a valid close frame (`code` undefined: no status code). Answer it with `leg.close` (now or later). */
  legCloseReceived(leg: Leg, code: number | undefined, reason: string): void;
  /** The peer broke the protocol; the leg is failing the connection with `code`. */
  legFault(leg: Leg, code: number, reason: string): void;
  /** A client leg's peer sent FIN without a close frame; the leg can still write. */
  legEnded(leg: Leg): void;
  /** A control frame for this leg was dropped (`pong`: buffer over the bound; `held`: too many waiting). */
  legControlDropped(leg: Leg, why: 'pong' | 'held'): void;
  /** The socket is closed. */
  legGone(leg: Leg): void;
  /** The socket's write buffer drained. */
  legDrained(leg: Leg): void;
}

// Flags.
/** Our close frame is written or waiting in its slot. */
const CLOSE_SENT = 1;
const CLOSE_RECEIVED = 2;
const ALIVE = 4;
const GONE = 8;
/** LegKind.Upstream. */
const UPSTREAM = 16;
/** The peer sent FIN. */
const ENDED = 32;
/** Failing the connection: FIN right after our close frame. */
const FAILING = 64;
/** The socket reads into the shared buffer (shared-reads.ts): its handle can be lent to the native data path. */
const SHARED = 128;
/** Any of these: the leg is past the open state (a close or FIN either way, or gone). */
const NOT_OPEN = CLOSE_SENT | CLOSE_RECEIVED | GONE | ENDED | FAILING;

/** Pings and pongs waiting behind a frame in flight; more are redundant and dropped (counted). */
const MAX_HELD = 8;

/** performance.now() when the socket chunk being parsed arrived (one chunk is parsed at a time). */
let chunkArrivedAt = 0;

/** When the chunk being relayed arrived (relay latency samples). */
export function currentChunkArrivedAt(): number {
  return chunkArrivedAt;
}

export class Leg extends FrameParser {
  /** The connection; replaced when the native data path gives it back over a new object (`revive`). */
  socket: Socket;
  /** Who hears this leg; a reliable session's client leg changes hands once, after its HELLO. */
  owner: LegOwner;
  flags = ALIVE;
  /**
   * The leg this one's data frames go to (relay legs, set once both exist). Frames
   * are relayed as they arrive, so while one of ours is half written to `peer`,
   * nothing else may be written to `peer`: its control frames wait.
   */
  peer: Leg | null = null;
  /** Pings/pongs waiting for the peer's frame in flight to end. */
  #held: Buffer[] | null = null;
  /** Our close frame, waiting for the peer's frame in flight to end. */
  #heldClose: Buffer | null = null;
  /** Bytes the native data path read from this socket (not in socket.bytesRead), over its past loans; and those of stowed socket objects. */
  nativeBytesRead = 0;
  /** A stowed socket's carried close listener (shared-reads.ts), for the socket that replaces it. */
  #carried: ReturnType<typeof carriedClose> = undefined;

  /**
   * `from`: the connected socket; the leg may carry on over a new object on its
   * handle (shared-reads.ts). `messages`: deliver whole messages (reliable
   * sessions) instead of relaying frames.
   */
  constructor(owner: LegOwner, from: Socket, kind: LegKind, messages = false) {
    super((kind === LegKind.Client ? ParseMode.Masked : 0) | (messages ? ParseMode.Messages : 0));
    this.owner = owner;
    const client = kind === LegKind.Client;
    const shared = withSharedReads(from, onSharedRead, client);
    const socket = shared ?? from;
    this.socket = socket;
    if (!client) this.flags |= UPSTREAM;
    if (shared !== undefined) this.flags |= SHARED;
    socket.setNoDelay(true);
    // Upstream: its FIN ends our side too (Node does it after 'end'). Client: half-open,
    // so that what the upstream still says reaches a client that sent FIN.
    socket.allowHalfOpen = client;
    if (shared === undefined) socket.on('data', onSocketData);
    this.#listen(socket);
  }

  #listen(socket: Socket): void {
    (socket as TaggedSocket)[kLeg] = this;
    if ((this.flags & UPSTREAM) === 0) socket.on('end', onSocketEnd);
    socket.on('close', onSocketClose);
    socket.on('error', onSocketError);
    socket.on('drain', onSocketDrain);
  }

  /**
   * Lent to the native data path over a duplicate of its descriptor: the socket object
   * is closed (its handle, buffers and listeners are the larger part of an idle
   * session), the connection stays open on the duplicate. `revive` makes a new one.
   */
  stow(): void {
    const s = this.socket;
    this.nativeBytesRead += s.bytesRead;
    this.#carried = carriedClose(s);
    s.removeAllListeners();
    s.on('error', onSocketError);
    s.destroy();
    // Nothing keeps the old object: the leg points at a placeholder (closed, nothing buffered) until revive.
    this.socket = (stowed ??= stowedPlaceholder());
  }

  /** Back from the native data path with the connection on `fd`: a new socket object over it (not reading yet). */
  revive(fd: number): void {
    const s = sharedReadsOnFd(fd, onSharedRead, (this.flags & UPSTREAM) === 0);
    setCarriedClose(s, this.#carried);
    this.#carried = undefined;
    this.socket = s;
    this.#listen(s);
  }

  get alive(): boolean {
    return (this.flags & ALIVE) !== 0;
  }

  get closeSent(): boolean {
    return (this.flags & CLOSE_SENT) !== 0;
  }

  get closeReceived(): boolean {
    return (this.flags & CLOSE_RECEIVED) !== 0;
  }

  get gone(): boolean {
    return (this.flags & GONE) !== 0;
  }

  /** The peer sent FIN (client legs). */
  get ended(): boolean {
    return (this.flags & ENDED) !== 0;
  }

  /** The peer closed (a close frame or FIN) and we have not answered yet. */
  get owesClose(): boolean {
    return (this.flags & (CLOSE_RECEIVED | ENDED)) !== 0 && (this.flags & (CLOSE_SENT | GONE)) === 0;
  }

  /** Gone, or done parsing, while a frame of ours is half handed over: it will never be finished. */
  get broken(): boolean {
    return this.midFrame && ((this.flags & GONE) !== 0 || this.parserDone);
  }

  get holding(): boolean {
    return this.#held !== null || this.#heldClose !== null;
  }

  get bufferedAmount(): number {
    return this.socket.writableLength;
  }

  /** What this leg reads still goes somewhere: its peer exists and takes data (not gone, not closed by us). */
  get feedsPeer(): boolean {
    const p = this.peer;
    return p !== null && (p.flags & GONE) === 0 && ((p.flags & CLOSE_SENT) === 0 || p.holding);
  }

  /**
   * After our close, this leg's reply must be read: a paused leg is read again once
   * what it sends can no longer grow a buffer (its data goes nowhere); until then
   * backpressure holds, and the reply comes after the data before it.
   */
  resumeForClose(): void {
    if (this.flags & CLOSE_SENT && !this.feedsPeer && this.socket.isPaused()) this.socket.resume();
  }

  /**
   * Whether the native data path may take this leg's socket now (see canLend): open
   * both ways, nothing held, buffered or half parsed.
   */
  get lendable(): boolean {
    return (this.flags & (SHARED | NOT_OPEN)) === SHARED && this.#held === null && this.#heldClose === null && this.atRest && this.socket.writableLength === 0 && !this.socket.destroyed;
  }

  /** Whether the socket can ever be lent: read into the shared buffer (not TLS), and TCP (not the primary's TLS pipe). */
  get canLend(): boolean {
    return (this.flags & SHARED) !== 0 && this.socket.remoteAddress !== undefined;
  }

  /** Stops Node reading the socket and returns its descriptor, for the native data path (the socket keeps owning it). */
  lend(): number {
    this.socket.pause();
    return (this.socket as unknown as { _handle: { fd: number } })._handle.fd;
  }

  /** Back from the native data path: its parser goes on from `state`, and its liveness is the relay thread's (it pinged and heard the leg). */
  returned(state: ParserState & { readonly read: number; readonly alive: number }): void {
    this.restore(state);
    this.nativeBytesRead += state.read;
    if (state.alive !== 0) this.flags |= ALIVE;
    else this.flags &= ~ALIVE;
  }

  /** Clears the alive flag and sends a ping; the next data or pong sets it again. */
  ping(): void {
    if (this.flags & (CLOSE_SENT | GONE)) return;
    this.flags &= ~ALIVE;
    this.#writeControl(controlFrame(OP_PING, EMPTY, (this.flags & UPSTREAM) !== 0));
  }

  /**
   * Sends our close frame: starts the close handshake, or answers the peer's. After
   * an answer (or on a failing connection) the socket is ended at once.
   * `code` undefined sends a close without status.
   */
  close(code: number | undefined, reason: string): void {
    if (this.flags & (CLOSE_SENT | GONE)) return;
    this.flags |= CLOSE_SENT;
    this.resumeForClose();
    this.peer?.resumeForClose(); // its data can no longer come here
    const frame = controlFrame(OP_CLOSE, closePayload(code, reason), (this.flags & UPSTREAM) !== 0);
    const source = this.peer;
    if (source !== null && source.midFrame) {
      if (source.broken) this.terminate();
      else this.#heldClose = frame;
      return;
    }
    this.socket.write(frame);
    this.#afterClose();
  }

  /** Drops the connection without a close handshake. */
  terminate(): void {
    this.socket.destroy();
  }

  pause(): void {
    if (this.flags & GONE || (this.flags & CLOSE_SENT && !this.feedsPeer)) return;
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  /** Writes a frame the owner built (reliable sessions frame their own messages). */
  write(frame: Buffer): void {
    this.socket.write(frame);
  }

  /** The peer's frame in flight ended (or can never end): write what waited, or give up. */
  flushHeld(): void {
    const source = this.peer;
    if (source !== null && source.midFrame) {
      if (source.broken) this.terminate();
      return;
    }
    const held = this.#held;
    this.#held = null;
    if (held !== null) for (const f of held) this.socket.write(f);
    const close = this.#heldClose;
    if (close !== null) {
      this.#heldClose = null;
      this.socket.write(close);
      this.#afterClose();
    }
  }

  /** Parses bytes [0, len) of a read. */
  onData(chunk: Buffer, len: number = chunk.length): void {
    this.flags |= ALIVE;
    chunkArrivedAt = performance.now();
    this.parse(chunk, len);
    const peer = this.peer;
    if (peer !== null && peer.holding && (!this.midFrame || this.broken)) peer.flushHeld();
  }

  #afterClose(): void {
    if (this.flags & (CLOSE_RECEIVED | ENDED | FAILING)) this.socket.end();
  }

  #writeControl(frame: Buffer): void {
    const source = this.peer;
    if (source !== null && source.midFrame) {
      if (source.broken) {
        // That frame can never be finished: the stream is broken, cut the connection.
        this.terminate();
        return;
      }
      const held = (this.#held ??= []);
      if (held.length < MAX_HELD) held.push(frame);
      else this.owner.legControlDropped(this, 'held');
      return;
    }
    this.socket.write(frame);
  }

  // --- FrameParser hooks --------------------------------------------------------

  protected onFrameBytes(buf: Buffer, start: number, end: number): void {
    this.owner.legData(this, buf, start, end);
  }

  protected onMessageDone(bytes: number): void {
    this.owner.legMessage(this, bytes);
  }

  protected onMessage(payload: Buffer, binary: boolean): void {
    this.owner.legMessageData(this, payload, binary);
  }

  protected maxMessageBytes(): number {
    return this.owner.messageLimit(this);
  }

  protected onPing(payload: Buffer): void {
    if (this.flags & CLOSE_SENT) return;
    if (this.socket.writableLength >= this.owner.controlBufferLimit(this)) {
      this.owner.legControlDropped(this, 'pong');
      return;
    }
    this.#writeControl(controlFrame(OP_PONG, payload, (this.flags & UPSTREAM) !== 0));
  }

  protected onPong(): void {
    // Liveness is any byte received (onData).
  }

  protected onCloseFrame(code: number | undefined, reason: string): void {
    this.flags |= CLOSE_RECEIVED;
    // The answer to our own close: the handshake is complete, TCP ends now.
    if (this.flags & CLOSE_SENT && this.#heldClose === null) this.socket.end();
    this.owner.legCloseReceived(this, code, reason);
  }

  protected onProtocolFault(code: number, reason: string): void {
    this.flags |= FAILING;
    this.owner.legFault(this, code, reason);
    this.close(code, reason);
    if (this.flags & CLOSE_SENT && this.#heldClose === null && !this.socket.writableEnded) this.socket.end();
  }
}

const EMPTY = Buffer.alloc(0);

/** The socket of every stowed leg: one closed object for the process (stow). */
let stowed: Socket | undefined;

function stowedPlaceholder(): Socket {
  const s = new Socket();
  s.on('error', onSocketError);
  s.destroy();
  return s;
}

function onSocketData(this: TaggedSocket, chunk: Buffer): void {
  this[kLeg]!.onData(chunk);
}

function onSharedRead(this: TaggedSocket, nread: number, buf: Buffer): void {
  this[kLeg]!.onData(buf, nread);
}

function onSocketEnd(this: TaggedSocket): void {
  const leg = this[kLeg]!;
  leg.flags |= ENDED;
  // Our side is done too (our close was sent, or we failed the connection): close now.
  if (leg.closeSent || this.writableEnded) {
    if (!this.writableEnded) this.end(); // both directions done: the socket closes itself
    return;
  }
  leg.owner.legEnded(leg);
}

function onSocketClose(this: TaggedSocket): void {
  connectionClosed(this); // a source ticket moved here by withSharedReads
  const leg = this[kLeg]!;
  leg.flags |= GONE;
  leg.owner.legGone(leg);
  const peer = leg.peer;
  if (peer !== null) {
    if (peer.holding) peer.flushHeld();
    peer.resumeForClose();
  }
}

function onSocketError(this: TaggedSocket): void {
  // 'close' follows; the session classifies the loss from the leg's flags.
}

function onSocketDrain(this: TaggedSocket): void {
  const leg = this[kLeg]!;
  leg.owner.legDrained(leg);
}
