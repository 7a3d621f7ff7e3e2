/**
 * WebSocket frame constants and the frames the gateway writes itself: close, ping,
 * pong, and (reliable sessions) whole messages to the upstream. The verbatim relay
 * never builds data frames: it relays them as they arrive (frame-parser.ts).
 */
import { randomFillSync } from 'node:crypto';
import { xorInPlace } from './xor-mask.js';

export const OP_CONTINUATION = 0x0;
export const OP_TEXT = 0x1;
export const OP_BINARY = 0x2;
export const OP_CLOSE = 0x8;
export const OP_PING = 0x9;
export const OP_PONG = 0xa;

/** Masking keys come from a pool of strong random bytes, refilled 8 KiB at a time (as ws does). */
const POOL_SIZE = 8192;
const pool = Buffer.alloc(POOL_SIZE);
let poolOffset = POOL_SIZE;

/** A fresh random 32-bit masking key. */
export function randomMaskKey(): number {
  if (poolOffset === POOL_SIZE) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const key = pool.readUInt32BE(poolOffset);
  poolOffset += 4;
  return key;
}

/**
 * Builds a control frame (close, ping, pong): `masked` when the gateway is the
 * client on that leg (the upstream leg).
 */
export function controlFrame(opcode: number, payload: Buffer, masked: boolean): Buffer {
  const len = payload.length; // <= 125 for control frames
  const frame = Buffer.allocUnsafe(2 + (masked ? 4 : 0) + len);
  frame[0] = 0x80 | opcode;
  if (!masked) {
    frame[1] = len;
    payload.copy(frame, 2);
    return frame;
  }
  frame[1] = 0x80 | len;
  const key = randomMaskKey();
  frame.writeUInt32BE(key >>> 0, 2);
  for (let i = 0; i < len; i++) frame[6 + i] = payload[i]! ^ ((key >>> (24 - 8 * (i & 3))) & 0xff);
  return frame;
}

/**
 * A masked (client → server) FIN frame of `opcode` with room for a `len`-byte
 * payload at its end: the caller writes the payload there, then `maskPayload`.
 */
export function allocMaskedFrame(opcode: number, len: number): Buffer {
  const hlen = (len < 126 ? 2 : len < 65536 ? 4 : 10) + 4;
  const frame = Buffer.allocUnsafe(hlen + len);
  frame[0] = 0x80 | opcode;
  if (len < 126) frame[1] = 0x80 | len;
  else if (len < 65536) {
    frame[1] = 0x80 | 126;
    frame.writeUInt16BE(len, 2);
  } else {
    frame[1] = 0x80 | 127;
    frame.writeUInt32BE(Math.floor(len / 0x100000000), 2);
    frame.writeUInt32BE(len >>> 0, 6);
  }
  frame.writeUInt32BE(randomMaskKey() >>> 0, hlen - 4);
  return frame;
}

/** Masks the payload of a frame from `allocMaskedFrame` (written in place after `len` bytes of header room). */
export function maskPayload(frame: Buffer, len: number): void {
  const at = frame.length - len;
  xorInPlace(frame, at, frame.length, frame.readUInt32BE(at - 4));
}

/** An unmasked (server → client) text frame carrying `payload` whole. */
export function textFrame(payload: Buffer): Buffer {
  const len = payload.length;
  const hlen = len < 126 ? 2 : len < 65536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(hlen + len);
  frame[0] = 0x80 | OP_TEXT;
  if (hlen === 2) frame[1] = len;
  else if (hlen === 4) {
    frame[1] = 126;
    frame.writeUInt16BE(len, 2);
  } else {
    frame[1] = 127;
    frame.writeUInt32BE(Math.floor(len / 0x100000000), 2);
    frame.writeUInt32BE(len >>> 0, 6);
  }
  payload.copy(frame, hlen);
  return frame;
}

/** The payload of a close frame: a 2-byte code and a UTF-8 reason of at most 123 bytes; no code → empty. */
export function closePayload(code: number | undefined, reason: string): Buffer {
  if (code === undefined) return Buffer.alloc(0);
  let r = Buffer.from(reason, 'utf8');
  if (r.length > 123) {
    let cut = 120;
    while (cut > 0 && (r[cut]! & 0xc0) === 0x80) cut--; // do not split a code point
    r = Buffer.concat([r.subarray(0, cut), Buffer.from('…')]);
  }
  const p = Buffer.allocUnsafe(2 + r.length);
  p.writeUInt16BE(code, 0);
  r.copy(p, 2);
  return p;
}

export const EMPTY = Buffer.alloc(0);
