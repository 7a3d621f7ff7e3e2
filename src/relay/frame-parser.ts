/**
 * The WebSocket frame parser (RFC 6455 §5), fed raw socket bytes as they arrive:
 * the codec, apart from the connection that owns the socket (leg.ts).
 *
 * It checks every frame header (RSV bits, masking, opcodes, fragmentation order,
 * the control-frame rules, the 64-bit length's top bit, the message size limit),
 * validates text as UTF-8 across frames and reads, and validates close frames
 * (payload length, code, reason). Two modes:
 * - relay (the verbatim path): data frames are handed over as raw bytes, as they
 *   arrive, in as few ranges as possible (a read of many small frames is one
 *   range); masked input (from a client) is re-masked in place with a fresh key
 *   for the other side (header key rewritten, payload XORed with old ^ new key),
 *   so a read usually leaves as the bytes it came in;
 * - messages (reliable sessions): each data message is delivered whole and
 *   unmasked, straight from the read buffer when it came in one frame in one read.
 *
 * A subclass implements the hooks. The bytes handed over before a control frame
 * or a fault are always handed over before that frame is reported, so a fault
 * never takes the valid frames before it with it. After a close frame or a fault
 * the parser ignores everything (`parserDone`).
 *
 * State is small integers only (the UTF-8 carry packed in one number, masking keys
 * as int32), so an idle connection holds no buffer and no boxed number.
 */
import { isSendableCloseCode } from '../protocol/close-codes.js';
import { OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_PONG, OP_TEXT, randomMaskKey } from './frame-codec.js';
import { UTF8_INVALID, UTF8_START, utf8Step } from './utf8-stream.js';
import { rotateKey, xorInPlace } from './xor-mask.js';

/** Mode bits. */
export const enum ParseMode {
  /** Frames arrive masked (the peer is a client) and are relayed re-masked... */
  Masked = 1,
  /** ...or, with this bit, delivered as whole unmasked messages instead of relayed. */
  Messages = 2,
}

/** A relay parser's state between two reads (what `restore` takes). */
export interface ParserState {
  /** Payload bytes of the data frame in flight still to come (0: at a frame header). */
  readonly remaining: number;
  /** Payload bytes of that frame seen so far (the mask's phase). */
  readonly phase: number;
  readonly opcode: number;
  readonly fin: number;
  /** The masking key of that frame as an int32 (masked streams). */
  readonly key: number;
  /** OP_TEXT or OP_BINARY while a message is in progress, else 0. */
  readonly messageOpcode: number;
  readonly messageBytes: number;
  /** The UTF-8 carry (utf8-stream.ts). */
  readonly utf8: number;
}

// Parser states.
const HEADER = 0;
const PAYLOAD = 1;
const CONTROL = 2;
const DONE = 3;

const EMPTY = Buffer.alloc(0);

/** The fault found by `beginFrame` (one parse runs at a time in a process). */
let faultCode = 0;
let faultReason = '';

export abstract class FrameParser {
  #mode: number;
  #state = HEADER;
  /** A split frame header (HEADER) or control payload (CONTROL) being assembled, else null. */
  #partial: Buffer | null = null;
  #partialLen = 0;
  #opcode = 0;
  #fin = false;
  #remaining = 0;
  /** Masking keys as int32 (a uint32 above 2^31 would be a boxed number). */
  #inKey = 0;
  #outKey = 0;
  /** Payload bytes of the current frame seen so far (the mask's phase). */
  #phase = 0;
  /** OP_TEXT or OP_BINARY while a message is in progress, else 0. */
  #msgOpcode = 0;
  #msgBytes = 0;
  #utf8 = UTF8_START;
  /** Relay: bytes of a data frame were handed over, not its last one. */
  #mid = false;
  /** Messages: the pieces of the message being assembled (copies), or the one-read view. */
  #pieces: Buffer[] | null = null;
  #view: Buffer | null = null;

  constructor(mode: number) {
    this.#mode = mode;
  }

  // --- Hooks -----------------------------------------------------------------

  /** Relay: bytes [start, end) of `buf` are frames (or parts) for the other side; `buf` is valid during the call. */
  protected abstract onFrameBytes(buf: Buffer, start: number, end: number): void;
  /** Relay: the last frame of a data message was parsed; `bytes` is its payload size. */
  protected abstract onMessageDone(bytes: number): void;
  /** Messages: a whole data message, unmasked; valid during the call only. */
  protected abstract onMessage(payload: Buffer, binary: boolean): void;
  protected abstract onPing(payload: Buffer): void;
  protected abstract onPong(payload: Buffer): void;
  /** A valid close frame (`code` undefined: none given). The parser is done. */
  protected abstract onCloseFrame(code: number | undefined, reason: string): void;
  /** The peer broke the protocol; the connection must be failed with `code`. The parser is done. */
  protected abstract onProtocolFault(code: number, reason: string): void;
  /** The largest data message accepted now. */
  protected abstract maxMessageBytes(): number;

  // --- State -----------------------------------------------------------------

  /** Relay: a data frame has been handed over in part; nothing else may be written to its destination. */
  get midFrame(): boolean {
    return this.#mid;
  }

  /** A close frame or a fault was seen: nothing more is parsed. */
  get parserDone(): boolean {
    return this.#state === DONE;
  }

  /** A message has begun and not ended (its later frames are still to come). */
  get midMessage(): boolean {
    return this.#msgOpcode !== 0;
  }

  /** Relay: between frames and messages, nothing assembled aside: the parser state a relay thread starts from. */
  get atRest(): boolean {
    return this.#state === HEADER && this.#partialLen === 0 && this.#msgOpcode === 0 && !this.#mid;
  }

  /**
   * Relay: carries on from the state another parser of the same stream stopped in
   * (native-data-path.ts): after the bytes it relayed, at a frame header or inside a
   * data frame's payload. That parser did not re-mask: the frame in flight keeps
   * its own key on the way out.
   */
  restore(s: ParserState): void {
    this.#partial = null;
    this.#partialLen = 0;
    this.#opcode = s.opcode;
    this.#fin = s.fin !== 0;
    this.#remaining = s.remaining;
    this.#phase = s.phase;
    this.#inKey = (this.#mode & ParseMode.Masked) !== 0 ? s.key | 0 : 0;
    this.#outKey = this.#inKey;
    this.#msgOpcode = s.messageOpcode;
    this.#msgBytes = s.messageBytes;
    this.#utf8 = s.messageOpcode === OP_TEXT ? s.utf8 : UTF8_START;
    this.#state = s.remaining > 0 ? PAYLOAD : HEADER;
    this.#mid = s.remaining > 0;
  }

  /** Stops parsing (the connection is being dropped): later bytes are ignored. */
  protected stopParsing(): void {
    this.#state = DONE;
    this.#pieces = null;
    this.#view = null;
    this.#partial = null;
    this.#partialLen = 0;
  }

  // --- Parsing ---------------------------------------------------------------

  /** Parses bytes [0, len) of a read. */
  parse(chunk: Buffer, len: number = chunk.length): void {
    if (this.#state === DONE) return;
    const relay = (this.#mode & ParseMode.Messages) === 0;
    let pos = 0;
    /** Relay: start of the bytes not yet handed over, or -1. */
    let fwd = -1;
    /** Where the current frame's bytes start in `chunk` (what to keep back if it turns out bad). */
    let frameStart = 0;
    /** The current frame's first bytes were handed over before this frame's bytes in `chunk`. */
    let continued = this.#state === PAYLOAD;
    while (pos < len) {
      if (this.#state === HEADER) {
        const start = pos;
        frameStart = start;
        continued = false;
        let h: Buffer;
        let ho: number;
        let hlen: number;
        if (this.#partialLen === 0 && (hlen = headerLength(chunk, pos, len - pos)) > 0 && hlen <= len - pos) {
          h = chunk;
          ho = pos;
          pos += hlen;
        } else {
          // The header continues in the next read: assemble it aside.
          const hdr = (this.#partial ??= Buffer.allocUnsafe(14));
          hlen = 0;
          while (pos < len) {
            hdr[this.#partialLen++] = chunk[pos++]!;
            hlen = headerLength(hdr, 0, this.#partialLen);
            if (hlen > 0 && this.#partialLen === hlen) break;
          }
          if (hlen === 0 || this.#partialLen < hlen) {
            if (relay) this.#handOver(chunk, fwd, start);
            this.#mid = false;
            return;
          }
          h = hdr;
          ho = 0;
          this.#partial = null;
          this.#partialLen = 0;
        }
        // Every frame before this one is complete.
        this.#mid = false;
        const kind = this.#beginFrame(h, ho, hlen);
        if (kind < 0) {
          if (relay) this.#handOver(chunk, fwd, start);
          this.#fail(false);
          return;
        }
        if (kind === 0) {
          // A control frame: never relayed; what came before it goes first.
          if (relay) this.#handOver(chunk, fwd, start);
          fwd = -1;
        } else if (relay) {
          if (h === chunk) {
            if (fwd === -1) fwd = start;
          } else {
            // A data frame whose header was split: pass the assembled header on by itself.
            this.#handOver(chunk, fwd, start);
            fwd = -1;
            this.onFrameBytes(h, 0, hlen);
            continued = true;
            this.#mid = true;
          }
          frameStart = continued ? pos : start;
        }
        if (this.#remaining === 0 && !this.#endFrame()) return;
        continue;
      }
      const n = Math.min(this.#remaining, len - pos);
      if (this.#state === PAYLOAD) {
        if (relay && fwd === -1) fwd = pos;
        if (!this.#payload(chunk, pos, pos + n)) {
          if (relay) this.#handOver(chunk, fwd, frameStart);
          this.#fail(continued);
          return;
        }
      } else {
        this.#controlPayload(chunk, pos, pos + n);
      }
      pos += n;
      this.#remaining -= n;
      this.#phase += n;
      if (this.#remaining === 0 && !this.#endFrame()) return;
    }
    if (relay) {
      this.#handOver(chunk, fwd, len);
      this.#mid = this.#state === PAYLOAD && this.#remaining > 0;
    }
  }

  #handOver(chunk: Buffer, from: number, to: number): void {
    if (from !== -1 && from < to) this.onFrameBytes(chunk, from, to);
  }

  /** Reports the fault found (`faultCode`), then stops. `mid`: part of the bad frame was handed over already. */
  #fail(mid: boolean): void {
    this.#mid = mid;
    this.stopParsing();
    this.onProtocolFault(faultCode, faultReason);
  }

  /**
   * Checks a complete header. Returns 1 for a data frame, 0 for a control frame,
   * -1 for a fault (in `faultCode`/`faultReason`).
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
      if (hi >= 0x80000000) return fault(1002, 'the 64-bit payload length has its most significant bit set');
      length = hi > 0x1fffff ? Number.MAX_SAFE_INTEGER : hi * 0x100000000 + h.readUInt32BE(o + 6);
    } else length = len7;

    const expectMasked = (this.#mode & ParseMode.Masked) !== 0;
    if ((b0 & 0x70) !== 0) return fault(1002, 'reserved bits set (no extension was negotiated)');
    if (masked !== expectMasked) return fault(1002, expectMasked ? 'client frames must be masked' : 'server frames must not be masked');
    this.#opcode = opcode;
    this.#fin = fin;
    this.#remaining = length;
    this.#phase = 0;
    this.#inKey = masked ? h.readInt32BE(o + hlen - 4) : 0;

    if (opcode >= 0x8) {
      if (opcode !== OP_CLOSE && opcode !== OP_PING && opcode !== OP_PONG) return fault(1002, `reserved opcode ${opcode}`);
      if (!fin) return fault(1002, 'fragmented control frame');
      if (length > 125) return fault(1002, 'control frame over 125 bytes');
      this.#state = CONTROL;
      this.#partial = null;
      this.#partialLen = 0;
      return 0;
    }
    if (opcode === OP_CONTINUATION) {
      if (this.#msgOpcode === 0) return fault(1002, 'continuation frame without a message to continue');
    } else if (opcode === OP_TEXT || opcode === OP_BINARY) {
      if (this.#msgOpcode !== 0) return fault(1002, 'new message before the previous one finished');
      this.#msgOpcode = opcode;
      this.#msgBytes = 0;
      if (opcode === OP_TEXT) this.#utf8 = UTF8_START;
    } else {
      return fault(1002, `reserved opcode ${opcode}`);
    }
    this.#msgBytes += length;
    const limit = this.maxMessageBytes();
    if (this.#msgBytes > limit) return fault(1009, `message over ${limit} bytes`);
    this.#state = PAYLOAD;
    if (masked && (this.#mode & ParseMode.Messages) === 0) {
      // Relayed: re-mask for the other side with a key of our own.
      this.#outKey = randomMaskKey() | 0;
      h.writeInt32BE(this.#outKey, o + hlen - 4);
    }
    return 1;
  }

  /** Transforms and validates payload bytes [s, e) of a data frame in place. False after a fault (in `faultCode`). */
  #payload(buf: Buffer, s: number, e: number): boolean {
    const last = this.#fin && this.#remaining === e - s;
    const text = this.#msgOpcode === OP_TEXT;
    if ((this.#mode & ParseMode.Messages) !== 0) {
      if (this.#inKey !== 0) xorInPlace(buf, s, e, rotateKey(this.#inKey, this.#phase));
      const piece = buf.subarray(s, e);
      if (text && !this.#validate(piece, last)) return false;
      if (last && this.#phase === 0 && this.#pieces === null && this.#opcode !== OP_CONTINUATION) this.#view = piece;
      else (this.#pieces ??= []).push(Buffer.from(piece));
      return true;
    }
    // Masked input (a key of 0 is a key too: the header carries our key now, so the payload must be re-masked).
    if ((this.#mode & ParseMode.Masked) !== 0) {
      if (text) {
        xorInPlace(buf, s, e, rotateKey(this.#inKey, this.#phase));
        if (!this.#validate(buf.subarray(s, e), last)) return false;
        xorInPlace(buf, s, e, rotateKey(this.#outKey, this.#phase));
      } else {
        xorInPlace(buf, s, e, rotateKey((this.#inKey ^ this.#outKey) >>> 0, this.#phase));
      }
    } else if (text) {
      return this.#validate(buf.subarray(s, e), last);
    }
    return true;
  }

  #validate(piece: Buffer, last: boolean): boolean {
    this.#utf8 = utf8Step(this.#utf8, piece, last);
    if (this.#utf8 !== UTF8_INVALID) return true;
    fault(1007, 'invalid UTF-8 in a text message');
    return false;
  }

  #controlPayload(buf: Buffer, s: number, e: number): void {
    if (this.#partial === null && s + this.#remaining === e && this.#partialLen === 0) {
      // The whole payload is in this read: use it where it is.
      this.#partial = buf.subarray(s, e);
      this.#partialLen = e - s;
      return;
    }
    if (this.#partial === null || this.#partial.length < 125) {
      const grown = Buffer.allocUnsafe(125);
      if (this.#partial !== null) this.#partial.copy(grown, 0, 0, this.#partialLen);
      this.#partial = grown;
    }
    buf.copy(this.#partial, this.#partialLen, s, e);
    this.#partialLen += e - s;
  }

  /** A frame's last payload byte was seen. False when parsing must stop (a fault, a close, or a hook stopped it). */
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
    if (this.#msgOpcode === OP_TEXT && this.#fin && this.#phase === 0 && !this.#validate(EMPTY, true)) {
      this.#fail(false);
      return false;
    }
    this.#state = HEADER;
    if (!this.#fin) return true;
    const bytes = this.#msgBytes;
    const binary = this.#msgOpcode === OP_BINARY;
    this.#msgOpcode = 0;
    this.#msgBytes = 0;
    if ((this.#mode & ParseMode.Messages) === 0) {
      this.onMessageDone(bytes);
    } else {
      const pieces = this.#pieces;
      const payload = this.#view ?? (pieces === null ? EMPTY : pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces, bytes));
      this.#pieces = null;
      this.#view = null;
      this.onMessage(payload, binary);
    }
    return this.#state !== DONE;
  }

  #control(opcode: number, payload: Buffer): boolean {
    if (opcode === OP_PING) {
      this.onPing(payload);
      return this.#state !== DONE;
    }
    if (opcode === OP_PONG) {
      this.onPong(payload);
      return this.#state !== DONE;
    }
    let code: number | undefined;
    let reason = '';
    if (payload.length === 1) return this.#closeFault(1002, 'close frame with a 1-byte payload');
    if (payload.length >= 2) {
      code = payload.readUInt16BE(0);
      if (!isSendableCloseCode(code)) return this.#closeFault(1002, `invalid close code ${code}`);
      const r = payload.subarray(2);
      if (utf8Step(UTF8_START, r, true) === UTF8_INVALID) return this.#closeFault(1007, 'invalid UTF-8 in the close reason');
      reason = r.toString('utf8');
    }
    this.stopParsing();
    this.onCloseFrame(code, reason);
    return false;
  }

  #closeFault(code: number, reason: string): false {
    fault(code, reason);
    this.#fail(false);
    return false;
  }
}

function fault(code: number, reason: string): -1 {
  faultCode = code;
  faultReason = reason;
  return -1;
}

/** Length of the frame header at `o`, or 0 if fewer than 2 bytes are available. */
function headerLength(b: Buffer, o: number, avail: number): number {
  if (avail < 2) return 0;
  const b1 = b[o + 1]!;
  const len7 = b1 & 0x7f;
  return 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (b1 & 0x80 ? 4 : 0);
}
