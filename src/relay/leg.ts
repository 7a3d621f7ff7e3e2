/**
 * A Leg is one WebSocket connection of a session, over its raw socket: the client
 * leg (the gateway is the server: frames arrive masked, go out unmasked) or the
 * upstream leg (the gateway is the client: frames arrive unmasked, go out masked).
 *
 * Data frames are relayed as frames, not reassembled into messages: the parser
 * reads each header, checks it (RSV bits, masking, opcode, fragmentation order,
 * size), and passes the bytes on. A client frame is re-masked in place with a
 * fresh key from a strong random pool (header key rewritten, payload XORed with
 * old ^ new key), so a socket chunk usually leaves as the same Buffer it came in:
 * one read, one write, no copy, no allocation per message. Text is validated as
 * UTF-8 on the fly. Control frames are handled per leg: pings answered, pongs
 * noted, closes mapped by the Session; they are never relayed.
 *
 * Handlers are module-level functions that find their leg through a symbol on
 * the socket: no closure per connection. An idle leg holds no buffer and no
 * boxed number: its state is small integers (flags, parser state, int32 mask
 * keys, the UTF-8 validator's carry) so that 100k sessions stay a few KB each.
 */
import type { Socket } from 'node:net';
import { isSendableCloseCode } from '../protocol/close-codes.js';
import { closePayload, controlFrame, OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_PONG, OP_TEXT, randomMaskKey } from './frame-codec.js';
import { withSharedReads } from './shared-reads.js';
import { UTF8_INVALID, UTF8_START, utf8Step } from './utf8-stream.js';
import { rotateKey, xorInPlace } from './xor-mask.js';

const kLeg = Symbol('stratix.leg');
type TaggedSocket = Socket & { [kLeg]?: Leg };

export const enum LegKind {
  /** Faces a WebSocket client: the gateway is the server. */
  Client = 0,
  /** Faces the upstream: the gateway is the client. */
  Upstream = 1,
}

/** What a leg tells its session. The session decides where bytes go and how closes map. */
export interface LegOwner {
  /**
   * Bytes [start, end) of `buf`, ready for the other leg (already re-masked if
   * needed). `buf` may be the process's shared read buffer: valid only during the
   * call, so what is kept or written must be copied.
   */
  legData(leg: Leg, buf: Buffer, start: number, end: number): void;
  /** A data message (all its frames) has been passed on; `bytes` is its payload size. */
  legMessage(leg: Leg, bytes: number): void;
  /** The largest message this leg may send now. */
  messageLimit(leg: Leg): number;
  /** The peer sent a valid close frame (`code` undefined: no status code). */
  legCloseReceived(leg: Leg, code: number | undefined, reason: string): void;
  /** The peer broke the protocol; the leg is being closed with `code`. */
  legFault(leg: Leg, code: number, reason: string): void;
  /** The socket is closed. */
  legGone(leg: Leg): void;
  /** The socket's write buffer drained. */
  legDrained(leg: Leg): void;
}

// Parser states.
const HEADER = 0;
const PAYLOAD = 1;
const CONTROL = 2;

// Flags.
const CLOSE_SENT = 1;
const CLOSE_RECEIVED = 2;
const ALIVE = 4;
const DISCARD = 8;
const GONE = 16;
/** LegKind.Upstream. */
const UPSTREAM = 32;
/** A data frame of ours has been handed over but not all of its payload yet. */
const OUT_MID = 64;
/** Our close waits behind held control frames. */
const CLOSE_HELD = 128;

/** performance.now() when the socket chunk being parsed arrived (one chunk is parsed at a time). */
let chunkArrivedAt = 0;

/** When the chunk being relayed arrived (relay latency samples). */
export function currentChunkArrivedAt(): number {
  return chunkArrivedAt;
}

export class Leg {
  readonly socket: Socket;
  readonly owner: LegOwner;
  flags = ALIVE;
  #state = HEADER;
  /**
   * Bytes being assembled across socket chunks: a split frame header (HEADER)
   * or a split control frame's payload (CONTROL); null otherwise.
   */
  #partial: Buffer | null = null;
  #partialLen = 0;
  #opcode = 0;
  #fin = false;
  #remaining = 0;
  /** Masking keys as int32 (a uint32 above 2^31 would be a boxed number). */
  #inKey = 0;
  #outKey = 0;
  #phase = 0;
  /** OP_TEXT or OP_BINARY while a message is in progress, else 0. */
  #msgOpcode = 0;
  #msgBytes = 0;
  /** The text message's UTF-8 validator state (utf8-stream.ts). */
  #utf8 = UTF8_START;
  /**
   * The leg this one's data frames go to (set once both exist). Frames are relayed
   * as they arrive, so while one of ours is half written to `peer`, nothing else may
   * be written to `peer`: its control frames wait (see `outMid`, `writeControl`).
   */
  peer: Leg | null = null;
  /** Control frames waiting for the peer's frame in flight to end. */
  #held: Buffer[] | null = null;

  /** `from`: the connected socket; the leg may carry on over a new object on its handle (shared-reads.ts). */
  constructor(owner: LegOwner, from: Socket, kind: LegKind) {
    this.owner = owner;
    const shared = withSharedReads(from, onSharedRead);
    const socket = shared ?? from;
    this.socket = socket;
    if (kind === LegKind.Upstream) this.flags |= UPSTREAM;
    (socket as TaggedSocket)[kLeg] = this;
    socket.setNoDelay(true);
    // The peer's FIN ends our side too (Node does it after 'end'; no listener needed).
    socket.allowHalfOpen = false;
    if (shared === undefined) socket.on('data', onSocketData);
    socket.on('close', onSocketClose);
    socket.on('error', onSocketError);
    socket.on('drain', onSocketDrain);
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

  /** Clears the alive flag and sends a ping; the next data or pong sets it again. */
  ping(): void {
    if (this.flags & (CLOSE_SENT | GONE)) return;
    this.flags &= ~ALIVE;
    this.writeControl(controlFrame(OP_PING, EMPTY, (this.flags & UPSTREAM) !== 0));
  }

  /** True while a data frame from this leg is half written to its peer. */
  get outMid(): boolean {
    return (this.flags & OUT_MID) !== 0;
  }

  /**
   * Writes a control frame now, or after the peer's frame in flight to this leg
   * ends (a control frame may not cut a data frame in two).
   */
  writeControl(frame: Buffer): void {
    const source = this.peer;
    if (source !== null && source.outMid) {
      if (source.broken) {
        // That frame can never be finished: the stream is broken, cut the connection.
        this.terminate();
        return;
      }
      const held = (this.#held ??= []);
      if (held.length < 8) held.push(frame); // pings/pongs beyond that are redundant
      return;
    }
    this.socket.write(frame);
  }

  /** Gone, or faulted: a frame of ours in flight will never be finished. */
  get broken(): boolean {
    return (this.flags & (GONE | DISCARD)) !== 0 && !(this.flags & CLOSE_RECEIVED);
  }

  /** The peer's frame in flight ended (or the peer is gone): write what waited. */
  flushHeld(): void {
    const held = this.#held;
    this.#held = null;
    if (this.peer?.outMid === true) {
      if (!this.peer.broken) {
        this.#held = held; // still in flight
        return;
      }
      // The frame can never be finished: the stream is broken, cut the connection.
      this.terminate();
      return;
    }
    if (held !== null) for (const f of held) this.socket.write(f);
    if (this.flags & CLOSE_HELD) {
      this.flags &= ~CLOSE_HELD;
      if (this.flags & CLOSE_RECEIVED) this.socket.end();
    }
  }

  get holding(): boolean {
    return this.#held !== null || (this.flags & CLOSE_HELD) !== 0;
  }

  /** Starts the close handshake (or answers the peer's). `code` undefined sends a close without status. */
  close(code: number | undefined, reason: string): void {
    if (this.flags & (CLOSE_SENT | GONE)) return;
    this.flags |= CLOSE_SENT;
    if (this.socket.isPaused()) this.socket.resume(); // the peer's close reply must be read
    this.writeControl(controlFrame(OP_CLOSE, closePayload(code, reason), (this.flags & UPSTREAM) !== 0));
    if (this.#held !== null) this.flags |= CLOSE_HELD;
    else if (this.flags & CLOSE_RECEIVED) this.socket.end();
  }

  /** Drops the connection without a close handshake. */
  terminate(): void {
    this.socket.destroy();
  }

  pause(): void {
    if (!(this.flags & (CLOSE_SENT | GONE))) this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  get bufferedAmount(): number {
    return this.socket.writableLength;
  }

  /** Parses bytes [0, len) of a chunk from the socket, passing data frames on. */
  onData(chunk: Buffer, len: number = chunk.length): void {
    this.flags |= ALIVE;
    chunkArrivedAt = performance.now();
    if (this.flags & DISCARD) return;
    let pos = 0;
    /** Start of the bytes of `chunk` ready to pass on, or -1. */
    let fwd = -1;
    /** Where the current frame's bytes start in `chunk` (what to keep back if it turns out bad). */
    let frameStart = 0;
    /** The frame being parsed began in an earlier chunk (its first bytes are already handed over). */
    let continued = this.#state === PAYLOAD;
    while (pos < len) {
      if (this.#state === HEADER) {
        const start = pos;
        frameStart = start;
        let h: Buffer;
        let ho: number;
        let hlen: number;
        if (this.#partialLen === 0 && (hlen = headerLength(chunk, pos, len - pos)) > 0 && hlen <= len - pos) {
          h = chunk;
          ho = pos;
          pos += hlen;
        } else {
          // The header continues in the next chunk: assemble it aside.
          const hdr = (this.#partial ??= Buffer.allocUnsafe(14));
          hlen = 0;
          while (pos < len) {
            hdr[this.#partialLen++] = chunk[pos++]!;
            hlen = headerLength(hdr, 0, this.#partialLen);
            if (hlen > 0 && this.#partialLen === hlen) break;
          }
          if (hlen === 0 || this.#partialLen < hlen) {
            // Still incomplete: pass on what came before it, wait for the next chunk.
            if (fwd !== -1) this.owner.legData(this, chunk, fwd, start);
            this.flags &= ~OUT_MID;
            if (this.peer !== null && this.peer.holding) this.peer.flushHeld();
            return;
          }
          h = hdr;
          ho = 0;
          this.#partial = null;
          this.#partialLen = 0;
        }
        continued = false;
        const kind = this.#beginFrame(h, ho, hlen);
        if (kind < 0) break;
        if (kind === 1 && h === chunk) {
          if (fwd === -1) fwd = start;
        } else {
          if (fwd !== -1) this.owner.legData(this, chunk, fwd, start);
          fwd = -1;
          // A data frame whose header was split: pass the assembled header on by itself.
          if (kind === 1) {
            this.owner.legData(this, Buffer.from(h.subarray(0, hlen)), 0, hlen);
            continued = true;
          }
          frameStart = pos;
        }
        if (this.#remaining === 0 && !this.#endFrame()) break;
        frameStart = pos;
        continue;
      }
      const n = Math.min(this.#remaining, len - pos);
      if (this.#state === PAYLOAD) {
        if (fwd === -1) fwd = pos;
        if (!this.#payload(chunk, pos, pos + n)) break;
      } else {
        this.#controlPayload(chunk, pos, pos + n);
      }
      pos += n;
      this.#remaining -= n;
      this.#phase += n;
      if (this.#remaining === 0) {
        if (!this.#endFrame()) break;
        frameStart = pos;
      }
    }
    const complete = pos === len && !(this.flags & DISCARD);
    if (fwd !== -1) {
      // Stopped early (a fault, or a close): pass on only the frames before the current one.
      const end = complete ? pos : frameStart;
      if (fwd < end) this.owner.legData(this, chunk, fwd, end);
    }
    if (complete ? this.#state === PAYLOAD && this.#remaining > 0 : continued) this.flags |= OUT_MID;
    else this.flags &= ~OUT_MID;
    if (this.peer !== null && this.peer.holding && (!(this.flags & OUT_MID) || this.broken)) this.peer.flushHeld();
  }

  /**
   * Checks a complete header. Returns 1 for a data frame (header bytes to pass
   * on), 0 for a control frame (not passed on), -1 after a fault.
   */
  #beginFrame(h: Buffer, o: number, hlen: number): number {
    const b0 = h[o]!;
    const b1 = h[o + 1]!;
    const opcode = b0 & 0x0f;
    const fin = (b0 & 0x80) !== 0;
    const masked = (b1 & 0x80) !== 0;
    const len7 = b1 & 0x7f;
    let length: number;
    if (len7 === 126) length = h.readUInt16BE(o + 2);
    else if (len7 === 127) {
      const hi = h.readUInt32BE(o + 2);
      length = hi > 0x1fffff ? Number.MAX_SAFE_INTEGER : hi * 0x100000000 + h.readUInt32BE(o + 6);
    } else length = len7;

    const client = (this.flags & UPSTREAM) === 0;
    if ((b0 & 0x70) !== 0) return this.#fault(1002, 'reserved bits set (no extension was negotiated)');
    if (masked !== client) {
      return this.#fault(1002, client ? 'client frames must be masked' : 'server frames must not be masked');
    }
    this.#opcode = opcode;
    this.#fin = fin;
    this.#remaining = length;
    this.#phase = 0;
    this.#inKey = masked ? h.readInt32BE(o + hlen - 4) : 0;

    if (opcode >= 0x8) {
      if (opcode !== OP_CLOSE && opcode !== OP_PING && opcode !== OP_PONG) return this.#fault(1002, `reserved opcode ${opcode}`);
      if (!fin) return this.#fault(1002, 'fragmented control frame');
      if (length > 125) return this.#fault(1002, 'control frame over 125 bytes');
      this.#state = CONTROL;
      this.#partial = null;
      this.#partialLen = 0;
      return 0;
    }
    if (opcode === OP_CONTINUATION) {
      if (this.#msgOpcode === 0) return this.#fault(1002, 'continuation frame without a message to continue');
    } else if (opcode === OP_TEXT || opcode === OP_BINARY) {
      if (this.#msgOpcode !== 0) return this.#fault(1002, 'new message before the previous one finished');
      this.#msgOpcode = opcode;
      this.#msgBytes = 0;
      if (opcode === OP_TEXT) this.#utf8 = UTF8_START;
    } else {
      return this.#fault(1002, `reserved opcode ${opcode}`);
    }
    this.#msgBytes += length;
    if (this.#msgBytes > this.owner.messageLimit(this)) return this.#fault(1009, `message over ${this.owner.messageLimit(this)} bytes`);
    this.#state = PAYLOAD;
    if (client) {
      // Re-mask for the upstream leg with a key of our own.
      this.#outKey = randomMaskKey() | 0;
      h.writeInt32BE(this.#outKey, o + hlen - 4);
    }
    return 1;
  }

  /** Transforms (client leg) and validates payload bytes [s, e) of a data frame in place. */
  #payload(buf: Buffer, s: number, e: number): boolean {
    const last = this.#fin && this.#remaining === e - s;
    if ((this.flags & UPSTREAM) === 0) {
      if (this.#msgOpcode === OP_TEXT) {
        xorInPlace(buf, s, e, rotateKey(this.#inKey, this.#phase));
        if (!this.#validate(buf.subarray(s, e), last)) return false;
        xorInPlace(buf, s, e, rotateKey(this.#outKey, this.#phase));
      } else {
        xorInPlace(buf, s, e, rotateKey((this.#inKey ^ this.#outKey) >>> 0, this.#phase));
      }
    } else if (this.#msgOpcode === OP_TEXT) {
      return this.#validate(buf.subarray(s, e), last);
    }
    return true;
  }

  /** Runs text bytes through the UTF-8 validator; false (after the fault) when invalid. */
  #validate(piece: Buffer, last: boolean): boolean {
    this.#utf8 = utf8Step(this.#utf8, piece, last);
    if (this.#utf8 !== UTF8_INVALID) return true;
    this.#fault(1007, 'invalid UTF-8 in a text message');
    return false;
  }

  #controlPayload(buf: Buffer, s: number, e: number): void {
    if (this.#partial === null && s + this.#remaining === e && this.#partialLen === 0) {
      // The whole payload is in this chunk: use it where it is.
      this.#partial = buf.subarray(s, e);
      this.#partialLen = e - s;
    } else {
      if (this.#partial === null || this.#partial.length < 125) {
        const grown = Buffer.allocUnsafe(125);
        if (this.#partial !== null) this.#partial.copy(grown, 0, 0, this.#partialLen);
        this.#partial = grown;
      }
      buf.copy(this.#partial, this.#partialLen, s, e);
      this.#partialLen += e - s;
    }
  }

  /** A frame's last payload byte was seen. False after a fault or a close. */
  #endFrame(): boolean {
    if (this.#state === CONTROL) {
      this.#state = HEADER;
      const payload = this.#partial === null ? EMPTY : this.#partial.subarray(0, this.#partialLen);
      this.#partial = null;
      this.#partialLen = 0;
      if (this.#inKey !== 0) xorInPlace(payload, 0, payload.length, this.#inKey);
      return this.#control(this.#opcode, payload);
    }
    // A final text frame with no payload of its own: the message must not end mid code point.
    if (this.#msgOpcode === OP_TEXT && this.#fin && this.#phase === 0 && !this.#validate(EMPTY, true)) return false;
    this.#state = HEADER;
    if (this.#fin) {
      const bytes = this.#msgBytes;
      this.#msgOpcode = 0;
      this.#msgBytes = 0;
      this.owner.legMessage(this, bytes);
    }
    return true;
  }

  #control(opcode: number, payload: Buffer): boolean {
    if (opcode === OP_PING) {
      if (!(this.flags & CLOSE_SENT)) this.writeControl(controlFrame(OP_PONG, payload, (this.flags & UPSTREAM) !== 0));
      return true;
    }
    if (opcode === OP_PONG) return true;
    // Close.
    let code: number | undefined;
    let reason = '';
    if (payload.length === 1) return this.#fault(1002, 'close frame with a 1-byte payload') === 1;
    if (payload.length >= 2) {
      code = payload.readUInt16BE(0);
      if (!isSendableCloseCode(code)) return this.#fault(1002, `invalid close code ${code}`) === 1;
      const r = payload.subarray(2);
      if (utf8Step(UTF8_START, r, true) === UTF8_INVALID) return this.#fault(1007, 'invalid UTF-8 in the close reason') === 1;
      reason = r.toString('utf8');
    }
    this.flags |= CLOSE_RECEIVED | DISCARD;
    this.owner.legCloseReceived(this, code, reason);
    // Answer with the same code if we had not started closing ourselves.
    if (!(this.flags & CLOSE_SENT)) this.close(code, reason);
    else if (this.#held === null) this.socket.end();
    else this.flags |= CLOSE_HELD;
    return false;
  }

  /** The peer broke the protocol: close this leg with `code`, ignore what follows. Returns -1. */
  #fault(code: number, reason: string): number {
    this.flags |= DISCARD;
    this.owner.legFault(this, code, reason);
    this.close(code, reason);
    return -1;
  }
}

const EMPTY = Buffer.alloc(0);

/** Length of the frame header at `o`, or 0 if fewer than 2 bytes are available. */
function headerLength(b: Buffer, o: number, avail: number): number {
  if (avail < 2) return 0;
  const b1 = b[o + 1]!;
  const len7 = b1 & 0x7f;
  return 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (b1 & 0x80 ? 4 : 0);
}

function onSocketData(this: TaggedSocket, chunk: Buffer): void {
  this[kLeg]!.onData(chunk);
}

function onSharedRead(this: TaggedSocket, nread: number, buf: Buffer): void {
  this[kLeg]!.onData(buf, nread);
}

function onSocketClose(this: TaggedSocket): void {
  const leg = this[kLeg]!;
  leg.flags |= GONE;
  leg.owner.legGone(leg);
  if (leg.peer !== null && leg.peer.holding) leg.peer.flushHeld();
}

function onSocketError(this: TaggedSocket): void {
  // 'close' follows; the session classifies the loss from the leg's flags.
}

function onSocketDrain(this: TaggedSocket): void {
  const leg = this[kLeg]!;
  leg.owner.legDrained(leg);
}
