/**
 * Shapes most conformance cases share, so that each group file reads as a list
 * of what the client sends and what must come of it.
 */
import { C, S } from '../../helpers/ws-wire.js';
import type { ConformanceCase, LazyCase, Step } from '../case-runner.js';

/** What the upstream gets when the client fails the protocol or leaves: the gateway's own close. */
export const CLIENT_WENT_AWAY = C.close(1001, 'client went away');

/** The fault reasons the gateway's close frame carries (src/relay/frame-parser.ts). */
export const REASON = {
  rsv: 'reserved bits set (no extension was negotiated)',
  unmasked: 'client frames must be masked',
  opcode: (op: number) => `reserved opcode ${op}`,
  fragmentedControl: 'fragmented control frame',
  controlTooLong: 'control frame over 125 bytes',
  noMessage: 'continuation frame without a message to continue',
  newMessage: 'new message before the previous one finished',
  tooBig: (limit: number) => `message over ${limit} bytes`,
  utf8: 'invalid UTF-8 in a text message',
  close1: 'close frame with a 1-byte payload',
  closeCode: (code: number) => `invalid close code ${code}`,
  closeUtf8: 'invalid UTF-8 in the close reason',
  length64: 'the 64-bit payload length has its most significant bit set',
} as const;

export interface CaseHead {
  id: string;
  title: string;
  rfc: string;
  long?: boolean;
}

export interface EchoOptions {
  /** Chop every client write into TCP writes of this many bytes. */
  chop?: number;
  /** The close the client ends with (default 1000, no reason). */
  close?: Buffer;
  /** The answer the client gets to it (default: the same code, echoed by the upstream). */
  answer?: Buffer;
  /** Extra frames the client receives before the echoes (pongs). */
  pongs?: Buffer[];
  /** What the upstream receives, when not `frames` and the close (control frames are not relayed). */
  upstream?: Buffer[];
  outcome?: string;
}

/**
 * The client sends `frames` (client frames) and a close; every frame reaches the
 * upstream verbatim, the upstream echoes each message (`echoes`, server frames),
 * and its answer to the close ends the session.
 */
export function echoCase(head: CaseHead, frames: Buffer[], echoes: Buffer[], o: EchoOptions = {}): ConformanceCase {
  const close = o.close ?? C.close(1000);
  const answer = o.answer ?? S.close(1000);
  const all = Buffer.concat([...frames, close]);
  const steps: Step[] = o.chop === undefined ? [all] : [{ chop: o.chop, bytes: all }];
  return {
    ...head,
    steps,
    upstream: o.upstream ?? [...frames, close],
    client: [...(o.pongs ?? []), ...echoes, answer],
    outcome: o.outcome ?? (echoes.length === 0 ? 'nothing echoed; clean close' : `${echoes.length === 1 ? 'echoed' : `${echoes.length} echoes`}; clean close`),
  };
}

export interface FailOptions {
  /** Echoes the client must have received before it sends the bad frame (they are awaited). */
  echoes?: Buffer[];
  /** Pongs the client receives before the close. */
  pongs?: Buffer[];
  /** Chop the bad part into TCP writes of this many bytes. */
  chop?: number;
  /** Frames sent after the bad one, one TCP write each (ignored by the gateway). */
  after?: Buffer[];
  /** What the upstream receives instead of `before` + the gateway's 1001 (a frame cut in two, say). */
  upstream?: Buffer[] | null;
}

/**
 * The client sends the valid `before` frames (whose echoes arrive first), then
 * `bad`: the gateway fails the connection with `code`, the upstream gets what
 * came before and the gateway's 1001, and nothing after the bad frame counts.
 */
export function failCase(head: CaseHead, before: Buffer[], bad: Buffer, code: number, reason: string, o: FailOptions = {}): ConformanceCase {
  const echoes = o.echoes ?? [];
  const steps: Step[] = [];
  if (before.length > 0) steps.push(Buffer.concat(before));
  if (echoes.length > 0) steps.push({ awaitFrames: echoes.length });
  for (const b of [bad, ...(o.after ?? [])]) steps.push(o.chop === undefined ? b : { chop: o.chop, bytes: b });
  return {
    ...head,
    steps,
    upstream: o.upstream === undefined ? [...before, CLIENT_WENT_AWAY] : o.upstream,
    client: [...echoes, ...(o.pongs ?? []), S.close(code, reason)],
    outcome: `fail ${code}${echoes.length > 0 ? ` after ${echoes.length === 1 ? 'the echo' : `${echoes.length} echoes`}` : ''}`,
  };
}

/**
 * A case whose frames (megabytes) are made only when it runs; `head` says what the
 * document shows without making them (the made case keeps that head).
 */
export function lazy(head: CaseHead & { outcome: string; closeLabel: string }, make: () => ConformanceCase): LazyCase {
  return { ...head, make: () => ({ ...make(), ...head }) };
}

/** `n` bytes of `fill`. */
export function bytes(n: number, fill = 0x2a): Buffer {
  return Buffer.alloc(n, fill);
}

/** A payload of `n` bytes that is not all one value (so a shifted or swapped byte shows). */
export function pattern(n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + (i >> 8)) & 0xff;
  return b;
}

export const KiB = 1024;
export const MiB = 1024 * KiB;
