/**
 * WebSocket frames on the wire, for tests that must say exactly what crossed a
 * socket: a builder for any frame (legal or not: RSV bits, reserved opcodes, a
 * non-minimal or lying length, unmasked client frames), an incremental decoder
 * that reads a byte stream back into frames (unmasking them), and a one-line
 * description of a frame that names every header field, so that two streams
 * compare field by field and a failing assertion shows where they differ.
 *
 * Written from RFC 6455 §5.2 alone (no code shared with src/relay/), so that a
 * test built on it checks the gateway rather than agreeing with it.
 */
import { createHash, randomBytes } from 'node:crypto';

export const OP = { CONT: 0x0, TEXT: 0x1, BINARY: 0x2, CLOSE: 0x8, PING: 0x9, PONG: 0xa } as const;

/** Which of the three length encodings (7-bit, 16-bit, 64-bit) a header uses. */
export type LengthForm = 7 | 16 | 64;

export interface FrameSpec {
  opcode: number;
  payload?: Buffer | string;
  /** Default true. */
  fin?: boolean;
  /** The three RSV bits as a number 0–7 (RSV1 = 4, RSV2 = 2, RSV3 = 1). */
  rsv?: number;
  /** Default true (a client frame). */
  mask?: boolean;
  /** The length encoding; default the minimal one. */
  form?: LengthForm;
  /** A length to claim instead of the payload's (the 64-bit form can claim up to 2^64 - 1). */
  claimed?: bigint;
}

/** One frame, as bytes. A masked frame gets a random key. */
export function wsFrame(f: FrameSpec): Buffer {
  const payload = typeof f.payload === 'string' ? Buffer.from(f.payload) : (f.payload ?? Buffer.alloc(0));
  const mask = f.mask ?? true;
  const len = f.claimed ?? BigInt(payload.length);
  const form: LengthForm = f.form ?? (len < 126n ? 7 : len < 65536n ? 16 : 64);
  const hlen = 2 + (form === 16 ? 2 : form === 64 ? 8 : 0) + (mask ? 4 : 0);
  const out = Buffer.allocUnsafe(hlen + payload.length);
  out[0] = ((f.fin ?? true) ? 0x80 : 0) | (((f.rsv ?? 0) & 7) << 4) | (f.opcode & 0x0f);
  const m = mask ? 0x80 : 0;
  if (form === 7) out[1] = m | Number(len);
  else if (form === 16) {
    out[1] = m | 126;
    out.writeUInt16BE(Number(len), 2);
  } else {
    out[1] = m | 127;
    out.writeBigUInt64BE(len, 2);
  }
  if (!mask) {
    payload.copy(out, hlen);
    return out;
  }
  const key = randomBytes(4);
  key.copy(out, hlen - 4);
  for (let i = 0; i < payload.length; i++) out[hlen + i] = payload[i]! ^ key[i & 3]!;
  return out;
}

/** A close payload: a 2-byte code (if given) and a reason (string as UTF-8, or raw bytes). */
export function closeBody(code?: number, reason: string | Buffer = ''): Buffer {
  if (code === undefined) return Buffer.alloc(0);
  const r = typeof reason === 'string' ? Buffer.from(reason) : reason;
  const p = Buffer.alloc(2 + r.length);
  p.writeUInt16BE(code, 0);
  r.copy(p, 2);
  return p;
}

type Extra = Omit<FrameSpec, 'opcode' | 'payload' | 'mask'>;

function builders(mask: boolean) {
  return {
    text: (p: Buffer | string = '', o: Extra = {}) => wsFrame({ ...o, opcode: OP.TEXT, payload: p, mask }),
    binary: (p: Buffer | string = '', o: Extra = {}) => wsFrame({ ...o, opcode: OP.BINARY, payload: p, mask }),
    cont: (p: Buffer | string = '', o: Extra = {}) => wsFrame({ ...o, opcode: OP.CONT, payload: p, mask }),
    ping: (p: Buffer | string = '', o: Extra = {}) => wsFrame({ ...o, opcode: OP.PING, payload: p, mask }),
    pong: (p: Buffer | string = '', o: Extra = {}) => wsFrame({ ...o, opcode: OP.PONG, payload: p, mask }),
    close: (code?: number, reason: string | Buffer = '', o: Extra = {}) => wsFrame({ ...o, opcode: OP.CLOSE, payload: closeBody(code, reason), mask }),
    raw: (opcode: number, p: Buffer | string = '', o: Extra = {}) => wsFrame({ ...o, opcode, payload: p, mask }),
  };
}

/** Client frames (masked). */
export const C = builders(true);
/** Server frames (unmasked). */
export const S = builders(false);

export interface WireFrame {
  fin: boolean;
  rsv: number;
  opcode: number;
  masked: boolean;
  form: LengthForm;
  /** Unmasked payload. */
  payload: Buffer;
}

/**
 * Reads frames out of a byte stream as it arrives (chunks are kept, not copied
 * together per read, so a 16 MiB frame costs one copy).
 */
export class FrameReader {
  readonly frames: WireFrame[] = [];
  #chunks: Buffer[] = [];
  #have = 0;
  /** Called after each complete frame. */
  onFrame: ((f: WireFrame) => void) | undefined;

  push(chunk: Buffer): void {
    this.#chunks.push(chunk);
    this.#have += chunk.length;
    for (;;) {
      const f = this.#next();
      if (f === undefined) return;
      this.frames.push(f);
      this.onFrame?.(f);
    }
  }

  /** Bytes after the last complete frame. */
  get pending(): number {
    return this.#have;
  }

  /** The unfinished frame at the end, if its header is complete: its fields, declared length and the payload so far (unmasked). */
  partial(): { frame: WireFrame; declared: number } | undefined {
    if (this.#have < 2) return undefined;
    const all = Buffer.concat(this.#chunks);
    const len7 = all[1]! & 0x7f;
    const masked = (all[1]! & 0x80) !== 0;
    const form: LengthForm = len7 === 126 ? 16 : len7 === 127 ? 64 : 7;
    const hlen = 2 + (form === 16 ? 2 : form === 64 ? 8 : 0) + (masked ? 4 : 0);
    if (all.length < hlen) return undefined;
    const declared = form === 7 ? len7 : form === 16 ? all.readUInt16BE(2) : Number(all.readBigUInt64BE(2));
    const payload = Buffer.from(all.subarray(hlen));
    if (masked) for (let i = 0; i < payload.length; i++) payload[i]! ^= all[hlen - 4 + (i & 3)]!;
    return { frame: { fin: (all[0]! & 0x80) !== 0, rsv: (all[0]! >> 4) & 7, opcode: all[0]! & 0x0f, masked, form, payload }, declared };
  }

  #peek(n: number): Buffer | undefined {
    if (this.#have < n) return undefined;
    if (this.#chunks[0]!.length < n) this.#chunks = [Buffer.concat(this.#chunks)];
    return this.#chunks[0]!;
  }

  #next(): WireFrame | undefined {
    const h = this.#peek(2);
    if (h === undefined) return undefined;
    const len7 = h[1]! & 0x7f;
    const masked = (h[1]! & 0x80) !== 0;
    const form: LengthForm = len7 === 126 ? 16 : len7 === 127 ? 64 : 7;
    const hlen = 2 + (form === 16 ? 2 : form === 64 ? 8 : 0) + (masked ? 4 : 0);
    const hh = this.#peek(hlen);
    if (hh === undefined) return undefined;
    const len = form === 7 ? len7 : form === 16 ? hh.readUInt16BE(2) : Number(hh.readBigUInt64BE(2));
    const all = this.#peek(hlen + len);
    if (all === undefined) return undefined;
    const payload = Buffer.from(all.subarray(hlen, hlen + len));
    if (masked) {
      const key = all.subarray(hlen - 4, hlen);
      for (let i = 0; i < len; i++) payload[i]! ^= key[i & 3]!;
    }
    const frame: WireFrame = { fin: (all[0]! & 0x80) !== 0, rsv: (all[0]! >> 4) & 7, opcode: all[0]! & 0x0f, masked, form, payload };
    this.#chunks[0] = all.subarray(hlen + len);
    this.#have -= hlen + len;
    if (this.#chunks[0].length === 0) this.#chunks.shift();
    return frame;
  }
}

/** Every complete frame in `stream`. */
export function decodeFrames(stream: Buffer): WireFrame[] {
  const r = new FrameReader();
  r.push(stream);
  return r.frames;
}

const NAMES: Record<number, string> = { 0: 'cont', 1: 'text', 2: 'binary', 8: 'close', 9: 'ping', 10: 'pong' };

/**
 * One line naming every header field and the payload, e.g.
 * `text fin rsv0 masked len7 "hello"`, `close fin rsv0 len7 1000 "bye"`,
 * `binary fin rsv0 len64 16777216B sha1:…`.
 */
export function describeFrame(f: WireFrame): string {
  const head = `${NAMES[f.opcode] ?? `op${f.opcode}`} ${f.fin ? 'fin' : 'more'} rsv${f.rsv}${f.masked ? ' masked' : ''} len${f.form}`;
  return `${head} ${describePayload(f.opcode, f.payload)}`;
}

function describePayload(opcode: number, p: Buffer): string {
  if (opcode === OP.CLOSE && p.length >= 2) return `${p.readUInt16BE(0)} ${describeBytes(p.subarray(2))}`;
  return describeBytes(p);
}

function describeBytes(p: Buffer): string {
  if (p.length > 48) return `${p.length}B sha1:${createHash('sha1').update(p).digest('hex').slice(0, 16)}`;
  const printable = p.every((b) => b >= 0x20 && b < 0x7f && b !== 0x22);
  return printable ? `"${p.toString('latin1')}"` : `0x${p.toString('hex')}`;
}

/** The frames of `stream`, described (a stream cut mid-frame gets a last line saying so). */
export function describeStream(stream: Buffer): string[] {
  const r = new FrameReader();
  r.push(stream);
  const lines = r.frames.map(describeFrame);
  if (r.pending > 0) {
    const p = r.partial();
    lines.push(p === undefined ? `unfinished: ${r.pending} bytes of a frame header` : `unfinished: ${p.frame.payload.length} of ${p.declared} payload bytes of ${describeFrame(p.frame)}`);
  }
  return lines;
}
