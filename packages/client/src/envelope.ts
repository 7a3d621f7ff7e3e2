/**
 * The stratix.v1 envelope codec, client side (docs/protocol.md §3.2): the text of
 * what the client sends, and the checked form of what the gateway sends. No socket
 * here.
 */
import { topLevelNumberText } from './json-member.js';

export const enum Type {
  Data = 0,
  Ack = 1,
  Hello = 2,
  Nack = 3,
  Event = 4,
  Heartbeat = 5,
}

/** 1–128 printable ASCII characters without `"` and `\` (written into JSON as they are). */
export const MESSAGE_ID = /^[\x21\x23-\x5b\x5d-\x7e]{1,128}$/;
/** A sessionId as the gateway makes them (22 base64url characters). */
export const SESSION_ID = /^[A-Za-z0-9_-]{22}$/;

export type ResumeOutcome = 'new' | 'recovered' | 'unknown' | 'expired' | 'out_of_range';

export interface Welcome {
  readonly type: Type.Hello;
  readonly sessionId: string;
  readonly recovered: boolean;
  readonly resume: ResumeOutcome;
  readonly firstSeq: number;
  readonly lastSeq: number;
  readonly resumeWindowMs: number;
  readonly heartbeatMs: number;
}

export interface Data {
  readonly type: Type.Data;
  readonly seq: number;
  readonly data: string;
  readonly binary: boolean;
  /** Nanoseconds since the epoch, as the exact digits the gateway wrote. */
  readonly timestamp: string;
}

export interface SessionEvent {
  readonly type: Type.Event;
  /** Absent for retry_after (not part of the session). */
  readonly seq: number | undefined;
  readonly event: string;
  readonly code: number | undefined;
  readonly reason: string;
  readonly retryAfterMs: number | undefined;
  readonly errorCode: string | undefined;
}

export interface Answer {
  readonly type: Type.Ack | Type.Nack;
  readonly messageId: string | null;
  readonly code: string;
  readonly reason: string;
}

export interface Heartbeat {
  readonly type: Type.Heartbeat;
}

export type GatewayEnvelope = Welcome | Data | SessionEvent | Answer | Heartbeat;

const RESUME_OUTCOMES = new Set<string>(['new', 'recovered', 'unknown', 'expired', 'out_of_range']);
const DIGITS = /^\d+$/;

function isSeq(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Parses one gateway envelope; a string is the reason it breaks the protocol. */
export function parseGatewayEnvelope(text: string): GatewayEnvelope | string {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return 'a frame that is not JSON';
  }
  if (typeof v !== 'object' || v === null) return 'a frame that is not a JSON object';
  const e = v as Record<string, unknown>;
  switch (e.type) {
    case Type.Data: {
      if (!isSeq(e.seq) || e.seq === 0 || typeof e.data !== 'string') return 'a DATA without seq or data';
      // The digits as written: JSON.parse has rounded e.timestamp (19 digits) to a double.
      const timestamp = e.timestamp === undefined ? '0' : topLevelNumberText(text, 'timestamp');
      if (typeof timestamp !== 'string' || !DIGITS.test(timestamp)) return 'a DATA whose timestamp is not an unsigned integer';
      return { type: Type.Data, seq: e.seq, data: e.data, binary: e.binary === true, timestamp };
    }
    case Type.Event:
      if (typeof e.event !== 'string' || (e.seq !== undefined && (!isSeq(e.seq) || e.seq === 0))) return 'an EVENT without event or with a bad seq';
      return {
        type: Type.Event,
        seq: e.seq as number | undefined,
        event: e.event,
        code: typeof e.code === 'number' ? e.code : undefined,
        reason: typeof e.reason === 'string' ? e.reason : '',
        retryAfterMs: isSeq(e.retryAfterMs) ? e.retryAfterMs : undefined,
        errorCode: typeof e.code === 'string' ? e.code : undefined,
      };
    case Type.Ack:
    case Type.Nack:
      if (e.messageId !== null && typeof e.messageId !== 'string') return 'an ACK or NACK without messageId';
      return { type: e.type, messageId: e.messageId, code: typeof e.code === 'string' ? e.code : '', reason: typeof e.reason === 'string' ? e.reason : '' };
    case Type.Hello:
      if (
        typeof e.sessionId !== 'string' ||
        typeof e.recovered !== 'boolean' ||
        typeof e.resume !== 'string' ||
        !RESUME_OUTCOMES.has(e.resume) ||
        !isSeq(e.firstSeq) ||
        !isSeq(e.lastSeq) ||
        !isSeq(e.heartbeatMs) ||
        e.heartbeatMs === 0
      ) {
        return 'a malformed WELCOME';
      }
      return {
        type: Type.Hello,
        sessionId: e.sessionId,
        recovered: e.recovered,
        resume: e.resume as ResumeOutcome,
        firstSeq: e.firstSeq,
        lastSeq: e.lastSeq,
        resumeWindowMs: isSeq(e.resumeWindowMs) ? e.resumeWindowMs : 0,
        heartbeatMs: e.heartbeatMs,
      };
    case Type.Heartbeat:
      return { type: Type.Heartbeat };
    default:
      return `an envelope of unknown type ${JSON.stringify(e.type) ?? 'undefined'}`;
  }
}

export function helloText(sessionId: string | undefined, lastSeq: number): string {
  return sessionId === undefined ? '{"type":2}' : `{"type":2,"sessionId":"${sessionId}","lastSeq":${lastSeq}}`;
}

export function ackText(seq: number): string {
  return `{"type":1,"seq":${seq}}`;
}

/** DATA envelope `text` (from dataText) carrying the cumulative ACK `seq` in its `ack` field. */
export function withAck(text: string, seq: number): string {
  return `{"type":0,"ack":${seq},${text.slice(10)}`; // after '{"type":0,'
}

/** A DATA envelope; `messageId` matches MESSAGE_ID and `data` is base64, so neither needs escaping. */
export function dataText(messageId: string, data: string, binary: boolean): string {
  return binary ? `{"type":0,"messageId":"${messageId}","data":"${data}","binary":true}` : `{"type":0,"messageId":"${messageId}","data":"${data}"}`;
}
