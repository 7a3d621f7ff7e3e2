/**
 * The message log's record format (the codec; message-log.ts writes the files and
 * log-scan.ts reads them back). Every record is
 *
 *   u32 LE  body length
 *   u32 LE  CRC-32 of the body
 *   body:   u8 kind, u32 LE session handle, then the kind's fields
 *
 * A session handle is a small integer given to a session by the log generation
 * that writes it (its SESSION record maps it to the sessionId). Numbers that can
 * pass 2^32 (seq, wall-clock ms) are f64 LE, exact up to 2^53. Strings are
 * length-prefixed ASCII/UTF-8.
 *
 * Kinds:
 *   SESSION   the session's whole state (written when it starts, and again into
 *             every new segment: a checkpoint, so older segments are only needed
 *             for the envelopes and outcomes they hold)
 *   ENVELOPE  f64 seq, then the envelope as sent to the client (JSON)
 *   CLIENT_ACK f64 seq: the client has everything up to seq
 *   ACCEPTED  f64 at, u8 len, messageId: a client message taken, outcome pending
 *   OUTCOME   f64 at, u8 nack index (0 = ACK), u8 len, messageId
 *   DETACHED  f64 at: the client went away
 *   ATTACHED  a client resumed
 *   END       the session is over (nothing to recover)
 */
import { writeLatin1 } from './ascii-bytes.js';

export const enum RecordKind {
  Session = 1,
  Envelope = 2,
  ClientAck = 3,
  Accepted = 4,
  Outcome = 5,
  Detached = 6,
  Attached = 7,
  End = 8,
}

/** Bytes before a record's body (length + CRC). */
export const RECORD_PREFIX = 8;
/** kind + handle. */
export const BODY_HEAD = 5;
/** An ENVELOPE record's bytes before the envelope: prefix, kind, handle, seq. */
export const ENVELOPE_HEAD = RECORD_PREFIX + BODY_HEAD + 8;
/** Records larger than this are corruption (the largest envelope is about 33 MiB). */
export const MAX_RECORD_BYTES = 64 * 1024 * 1024;

/** A session's state as a SESSION record holds it. */
export interface SessionState {
  readonly sessionId: string;
  readonly clientId: string;
  readonly target: string;
  readonly createdAtMs: number;
  /** The last seq assigned. */
  readonly lastSeq: number;
  /** The client's cumulative ack. */
  readonly ackedSeq: number;
  /** Wall-clock ms the client went away; 0 while attached. */
  readonly detachedAtMs: number;
  /** An upstream has been open at least once (the next open is then a reset). */
  readonly upstreamOpened: boolean;
}

/** Writes the prefix (length, CRC) of a record whose body (and tail) is `len` bytes with CRC-32 `crc`. */
export function writePrefixOf(out: Buffer, at: number, len: number, crc: number): void {
  out.writeUInt32LE(len, at);
  out.writeUInt32LE(crc >>> 0, at + 4);
}

/** A record's body head. */
export function writeBodyHead(out: Buffer, at: number, kind: RecordKind, handle: number): number {
  out[at] = kind;
  out.writeUInt32LE(handle >>> 0, at + 1);
  return at + BODY_HEAD;
}

export function sessionBody(handle: number, s: SessionState): Buffer {
  const id = Buffer.from(s.sessionId, 'latin1');
  const cid = Buffer.from(s.clientId, 'latin1');
  const tgt = Buffer.from(s.target, 'utf8');
  const body = Buffer.allocUnsafe(BODY_HEAD + 8 * 4 + 1 + 2 + id.length + 2 + cid.length + 2 + tgt.length);
  let at = writeBodyHead(body, 0, RecordKind.Session, handle);
  at = body.writeDoubleLE(s.createdAtMs, at);
  at = body.writeDoubleLE(s.lastSeq, at);
  at = body.writeDoubleLE(s.ackedSeq, at);
  at = body.writeDoubleLE(s.detachedAtMs, at);
  at = body.writeUInt8(s.upstreamOpened ? 1 : 0, at);
  for (const b of [id, cid, tgt]) {
    at = body.writeUInt16LE(b.length, at);
    at += b.copy(body, at);
  }
  return body;
}

export function parseSessionBody(body: Buffer): SessionState {
  let at = BODY_HEAD;
  const createdAtMs = body.readDoubleLE(at);
  const lastSeq = body.readDoubleLE((at += 8));
  const ackedSeq = body.readDoubleLE((at += 8));
  const detachedAtMs = body.readDoubleLE((at += 8));
  const upstreamOpened = body.readUInt8((at += 8)) === 1;
  at += 1;
  const strings: string[] = [];
  for (let i = 0; i < 3; i++) {
    const n = body.readUInt16LE(at);
    at += 2;
    strings.push(body.toString(i === 2 ? 'utf8' : 'latin1', at, at + n));
    at += n;
  }
  return { sessionId: strings[0]!, clientId: strings[1]!, target: strings[2]!, createdAtMs, lastSeq, ackedSeq, detachedAtMs, upstreamOpened };
}

/** The length of a body of kind + handle + one f64 (CLIENT_ACK, DETACHED; ENVELOPE's head). */
export const NUMBER_BODY = BODY_HEAD + 8;

/** Writes a kind + handle + f64 body at `at` of `out` (NUMBER_BODY bytes). */
export function writeNumberBody(out: Buffer, at: number, kind: RecordKind, handle: number, value: number): void {
  out.writeDoubleLE(value, writeBodyHead(out, at, kind, handle));
}

export function numberBody(kind: RecordKind, handle: number, value: number): Buffer {
  const body = Buffer.allocUnsafe(NUMBER_BODY);
  writeNumberBody(body, 0, kind, handle, value);
  return body;
}

export function bareBody(kind: RecordKind, handle: number): Buffer {
  const body = Buffer.allocUnsafe(BODY_HEAD);
  writeBodyHead(body, 0, kind, handle);
  return body;
}

/** The length of an ACCEPTED (`nack` undefined) or OUTCOME body for `messageId`. */
export function messageBodyLength(messageId: string, nack: number | undefined): number {
  return BODY_HEAD + 8 + (nack === undefined ? 0 : 1) + 1 + messageId.length;
}

/** Writes an ACCEPTED (`nack` undefined) or OUTCOME (`nack` 0 = ACK, else the NACK code's index) body at `at` of `out`. */
export function writeMessageBody(out: Buffer, at: number, handle: number, atMs: number, messageId: string, nack: number | undefined): void {
  const kind = nack === undefined ? RecordKind.Accepted : RecordKind.Outcome;
  let i = out.writeDoubleLE(atMs, writeBodyHead(out, at, kind, handle));
  if (nack !== undefined) i = out.writeUInt8(nack, i);
  i = out.writeUInt8(messageId.length, i);
  writeLatin1(out, i, messageId); // printable ASCII by construction: a loop, no call into Buffer.write
}

export function messageBody(handle: number, atMs: number, messageId: string, nack?: number): Buffer {
  const body = Buffer.allocUnsafe(messageBodyLength(messageId, nack));
  writeMessageBody(body, 0, handle, atMs, messageId, nack);
  return body;
}

export interface MessageRecord {
  readonly atMs: number;
  readonly messageId: string;
  /** OUTCOME: 0 = ACK, else a NACK index; ACCEPTED: -1. */
  readonly outcome: number;
}

export function parseMessageBody(kind: RecordKind, body: Buffer): MessageRecord {
  let at = BODY_HEAD;
  const atMs = body.readDoubleLE(at);
  at += 8;
  let outcome = -1;
  if (kind === RecordKind.Outcome) outcome = body.readUInt8(at++);
  const n = body.readUInt8(at++);
  return { atMs, messageId: body.toString('latin1', at, at + n), outcome };
}
