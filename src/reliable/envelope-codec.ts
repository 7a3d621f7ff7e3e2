/**
 * The `stratix.v1` envelope codec (docs/protocol.md §3): checking what a client
 * sends, and writing what the gateway sends. No socket here.
 *
 * Client envelopes are parsed with JSON.parse and then checked field by field; the
 * result names the NACK code when something is wrong. `data` stays a string until
 * it is decoded straight into the upstream frame (strict-base64.ts). The common
 * DATA envelope takes a faster way, read from its bytes (client-data-scanner.ts).
 *
 * Gateway DATA envelopes are built directly as the WebSocket text frame that
 * carries them: one allocation for the frame, the base64 written straight into it.
 */
import { NackCodes, type NackCode } from '../errors.js';
import { OP_TEXT } from '../relay/frame-codec.js';
import { digitCount, writeBytes, writeDigits } from './ascii-bytes.js';
import { base64EncodedLength, encodeBase64Into } from './strict-base64.js';

export const enum EnvelopeType {
  Data = 0,
  Ack = 1,
  Hello = 2,
  Nack = 3,
  Event = 4,
  Heartbeat = 5,
}

/** 1–128 printable ASCII characters without `"` and `\`: written into JSON as they are. */
const MESSAGE_ID = /^[\x21\x23-\x5b\x5d-\x7e]{1,128}$/;
/** A sessionId as the gateway makes them: 16 bytes, base64url without padding. */
const SESSION_ID = /^[A-Za-z0-9_-]{22}$/;

export interface DataEnvelope {
  readonly type: EnvelopeType.Data;
  readonly messageId: string;
  readonly data: string;
  readonly binary: boolean;
  /** The cumulative ACK it carries (`ack`), -1 without one. */
  readonly ack: number;
}
export interface AckEnvelope {
  readonly type: EnvelopeType.Ack;
  readonly seq: number;
}
export interface HelloEnvelope {
  readonly type: EnvelopeType.Hello;
  readonly sessionId: string | undefined;
  readonly lastSeq: number;
}
export interface HeartbeatEnvelope {
  readonly type: EnvelopeType.Heartbeat;
}
/** A client envelope to NACK (`messageId` null when it had no usable one). */
export interface BadEnvelope {
  readonly type: -1;
  readonly messageId: string | null;
  readonly nack: NackCode;
  readonly reason: string;
  /** The cumulative ACK a DATA carried (applied even though the DATA is refused), -1 without one. */
  readonly ack: number;
}
/** A HELLO (or an ACK) that breaks the protocol: the connection is closed with 4400. */
export interface ProtocolBreach {
  readonly type: -2;
  readonly reason: string;
}

export type ClientEnvelope = DataEnvelope | AckEnvelope | HelloEnvelope | HeartbeatEnvelope | BadEnvelope | ProtocolBreach;

function bad(messageId: string | null, nack: NackCode, reason: string, ack = -1): BadEnvelope {
  return { type: -1, messageId, nack, reason, ack };
}

function breach(reason: string): ProtocolBreach {
  return { type: -2, reason };
}

function isSeq(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Parses and checks one client envelope (`raw`: the text frame's UTF-8 bytes, already validated). */
export function parseClientEnvelope(raw: Buffer, clientId: string): ClientEnvelope {
  const text = raw.toString('utf8');
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return bad(null, NackCodes.BAD_JSON, 'not JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return bad(null, NackCodes.BAD_JSON, 'not a JSON object');
  const e = v as Record<string, unknown>;
  switch (e.type) {
    case EnvelopeType.Data:
      return checkData(e, text, clientId);
    case EnvelopeType.Ack:
      return isSeq(e.seq) ? { type: EnvelopeType.Ack, seq: e.seq } : breach('ACK needs an integer seq >= 0');
    case EnvelopeType.Hello:
      return checkHello(e, clientId);
    case EnvelopeType.Heartbeat:
      return { type: EnvelopeType.Heartbeat };
    default: {
      const id = typeof e.messageId === 'string' && MESSAGE_ID.test(e.messageId) ? e.messageId : null;
      return bad(id, NackCodes.BAD_ENVELOPE, `type ${JSON.stringify(e.type) ?? 'missing'} is not one a client sends`);
    }
  }
}

function checkData(e: Record<string, unknown>, text: string, clientId: string): DataEnvelope | BadEnvelope | ProtocolBreach {
  // The piggybacked ACK is checked first, as an ACK envelope would be: it counts even when the DATA is refused.
  let ack = -1;
  if (e.ack !== undefined) {
    if (!isSeq(e.ack)) return breach('DATA ack needs an integer seq >= 0');
    ack = e.ack;
  }
  const id = e.messageId;
  if (typeof id !== 'string' || !MESSAGE_ID.test(id)) return bad(null, NackCodes.BAD_ENVELOPE, 'messageId must be 1-128 printable ASCII characters without " and \\', ack);
  if (e.clientId !== undefined && e.clientId !== clientId) return bad(id, NackCodes.CLIENT_ID_MISMATCH, 'clientId differs from the connection\'s', ack);
  if (e.binary !== undefined && typeof e.binary !== 'boolean') return bad(id, NackCodes.BAD_ENVELOPE, 'binary must be true or false', ack);
  if (e.timestamp !== undefined && !isIntegerLiteral(text, 'timestamp', e.timestamp)) return bad(id, NackCodes.BAD_ENVELOPE, 'timestamp must be an integer (nanoseconds)', ack);
  if (typeof e.data !== 'string') return bad(id, NackCodes.BAD_ENVELOPE, 'data must be a base64 string', ack);
  return { type: EnvelopeType.Data, messageId: id, data: e.data, binary: e.binary === true, ack };
}

function checkHello(e: Record<string, unknown>, clientId: string): HelloEnvelope | ProtocolBreach {
  if (e.clientId !== undefined && e.clientId !== clientId) return breach('HELLO clientId differs from the connection\'s');
  if (e.sessionId === undefined) return { type: EnvelopeType.Hello, sessionId: undefined, lastSeq: 0 };
  if (typeof e.sessionId !== 'string' || !SESSION_ID.test(e.sessionId)) return breach('HELLO sessionId must be a sessionId from a WELCOME');
  if (!isSeq(e.lastSeq)) return breach('HELLO lastSeq must be an integer >= 0');
  return { type: EnvelopeType.Hello, sessionId: e.sessionId, lastSeq: e.lastSeq };
}

/**
 * Whether the JSON integer `value` (parsed as a double) was written as digits only
 * in `text`: exponents and fractions are refused, and the digits are what counts,
 * not the rounded double. `"key"` cannot occur unescaped inside a string, but it
 * can be a whole string value (a messageId "timestamp"): the key is the occurrence
 * followed by a colon.
 */
function isIntegerLiteral(text: string, key: string, value: unknown): boolean {
  if (typeof value !== 'number' || value < 0) return false;
  const quoted = `"${key}"`;
  for (let at = text.indexOf(quoted); at !== -1; at = text.indexOf(quoted, at + 1)) {
    COLON_AFTER.lastIndex = at + quoted.length;
    if (!COLON_AFTER.test(text)) continue;
    DIGITS_AFTER.lastIndex = at + quoted.length;
    return DIGITS_AFTER.test(text);
  }
  return false;
}

const COLON_AFTER = /[ \t\n\r]*:/y;
const DIGITS_AFTER = /[ \t\n\r]*:[ \t\n\r]*\d{1,20}[ \t\n\r]*[,}]/y;

// ---------------------------------------------------------------------------
// Gateway envelopes

export const HEARTBEAT_TEXT = '{"type":5}';

export function ackText(messageId: string): string {
  return `{"type":1,"messageId":"${messageId}"}`;
}

const ACK_HEAD = Buffer.from('{"type":1,"messageId":"', 'latin1');
const ACK_TEXT_EXTRA = ACK_HEAD.length + 2; // and '"}'

/** The length of the frame of an ACK for `messageId`. */
export function ackFrameLength(messageId: string): number {
  const len = messageId.length + ACK_TEXT_EXTRA;
  return frameHeaderLength(len) + len;
}

/**
 * Writes the frame of an ACK into `out` at `at` (it needs `ackFrameLength` bytes);
 * returns the offset after it. messageIds are printable ASCII by construction: their
 * characters are their bytes.
 */
export function writeAckFrame(out: Buffer, at: number, messageId: string): number {
  const len = messageId.length + ACK_TEXT_EXTRA;
  writeTextHeader(out, len, at);
  let o = at + frameHeaderLength(len);
  for (let i = 0; i < ACK_HEAD.length; i++) out[o++] = ACK_HEAD[i]!;
  for (let i = 0; i < messageId.length; i++) out[o++] = messageId.charCodeAt(i);
  out[o++] = 0x22; // "
  out[o++] = 0x7d; // }
  return o;
}

/** The frame of an ACK. */
export function ackFrame(messageId: string): Buffer {
  const frame = Buffer.allocUnsafe(ackFrameLength(messageId));
  writeAckFrame(frame, 0, messageId);
  return frame;
}

export function nackText(messageId: string | null, nack: NackCode, reason: string): string {
  return JSON.stringify({ type: EnvelopeType.Nack, messageId, code: nack.code, reason });
}

export interface Welcome {
  readonly sessionId: string;
  readonly recovered: boolean;
  readonly resume: 'new' | 'recovered' | 'unknown' | 'expired' | 'out_of_range';
  readonly firstSeq: number;
  readonly lastSeq: number;
  readonly resumeWindowMs: number;
  readonly heartbeatMs: number;
}

export function welcomeText(w: Welcome): string {
  return JSON.stringify({ type: EnvelopeType.Hello, ...w });
}

export type SessionEventName = 'upstream_open' | 'upstream_reset' | 'upstream_closed';

export function eventText(seq: number, event: SessionEventName, code?: number, reason?: string): string {
  return JSON.stringify(code === undefined ? { type: EnvelopeType.Event, seq, event } : { type: EnvelopeType.Event, seq, event, code, reason: reason ?? '' });
}

/** The header length of an unmasked frame with a `len`-byte payload. */
export function frameHeaderLength(len: number): number {
  return len < 126 ? 2 : len < 65536 ? 4 : 10;
}

/** Writes an unmasked FIN text frame header for a `len`-byte payload at `at` (the start) of `frame`. */
export function writeTextHeader(frame: Buffer, len: number, at = 0): void {
  frame[at] = 0x80 | OP_TEXT;
  if (len < 126) frame[at + 1] = len;
  else if (len < 65536) {
    frame[at + 1] = 126;
    frame.writeUInt16BE(len, at + 2);
  } else {
    frame[at + 1] = 127;
    frame.writeUInt32BE(Math.floor(len / 0x100000000), at + 2);
    frame.writeUInt32BE(len >>> 0, at + 6);
  }
}

/** A text frame carrying `text` (gateway → client). */
export function textFrameOf(text: string): Buffer {
  const len = Buffer.byteLength(text);
  const h = frameHeaderLength(len);
  const frame = Buffer.allocUnsafe(h + len);
  writeTextHeader(frame, len);
  frame.write(text, h);
  return frame;
}

/**
 * The frame of a gateway DATA envelope for upstream message `payload`:
 * `{"type":0,"seq":S,"messageId":"S","timestamp":T,"data":"…"[,"binary":true]}`.
 * The envelope is `frame.subarray(frameHeaderLength(frame.length - …))`; use
 * `envelopeStart(frame)` to find it.
 */
export function dataFrame(seq: number, timestampUs: number, payload: Buffer, binary: boolean): Buffer {
  const seqDigits = digitCount(seq);
  const usDigits = digitCount(timestampUs);
  const tail = binary ? DATA_TAIL_BINARY : DATA_TAIL;
  // Nanoseconds: the microseconds' digits and "000" (just "0" at 0, which JSON allows no other way).
  const nsDigits = timestampUs === 0 ? 1 : usDigits + 3;
  const len = DATA_FIXED + 2 * seqDigits + nsDigits + base64EncodedLength(payload.length) + tail.length;
  const h = frameHeaderLength(len);
  const frame = Buffer.allocUnsafe(h + len);
  writeTextHeader(frame, len);
  let at = writeBytes(frame, h, DATA_SEQ);
  at = writeDigits(frame, at, seq, seqDigits);
  at = writeBytes(frame, at, DATA_MESSAGE_ID);
  at = writeDigits(frame, at, seq, seqDigits);
  at = writeBytes(frame, at, DATA_TIMESTAMP);
  at = writeDigits(frame, at, timestampUs, usDigits);
  if (timestampUs !== 0) at = writeBytes(frame, at, THOUSAND);
  at = writeBytes(frame, at, DATA_DATA);
  writeBytes(frame, encodeBase64Into(payload, frame, at), tail);
  return frame;
}

const DATA_SEQ = Buffer.from('{"type":0,"seq":', 'latin1');
const DATA_MESSAGE_ID = Buffer.from(',"messageId":"', 'latin1');
const DATA_TIMESTAMP = Buffer.from('","timestamp":', 'latin1');
const THOUSAND = Buffer.from('000', 'latin1');
const DATA_DATA = Buffer.from(',"data":"', 'latin1');
const DATA_TAIL = Buffer.from('"}', 'latin1');
const DATA_TAIL_BINARY = Buffer.from('","binary":true}', 'latin1');
const DATA_FIXED = DATA_SEQ.length + DATA_MESSAGE_ID.length + DATA_TIMESTAMP.length + DATA_DATA.length;

/** Where the envelope (the frame's payload) starts in a frame built here. */
export function envelopeStart(frame: Buffer): number {
  const len7 = frame[1]! & 0x7f;
  return len7 === 126 ? 4 : len7 === 127 ? 10 : 2;
}

/** The frame for an envelope read back from the log. */
export function frameOfEnvelope(envelope: Buffer): Buffer {
  const h = frameHeaderLength(envelope.length);
  const frame = Buffer.allocUnsafe(h + envelope.length);
  writeTextHeader(frame, envelope.length);
  envelope.copy(frame, h);
  return frame;
}

/** The largest envelope a client may send: base64 of the largest payload plus 1 KiB for the fields. */
export function maxEnvelopeBytes(maxPayloadBytes: number): number {
  return 4 * Math.ceil(maxPayloadBytes / 3) + 1024;
}
