/**
 * The fuzz suite's client byte streams (frames.test.ts): fast-check arbitraries
 * for messages cut into fragments anywhere, control frames, arbitrary frames, and
 * the mutations and TCP writes applied to them.
 */
import fc from 'fast-check';
import { C, closeBody, OP, wsFrame, type LengthForm } from '../helpers/ws-wire.js';

const KiB = 1024;
/** limits.maxMessageBytes (and preOpenMaxMessageBytes) of the fuzzed gateway. */
export const MAX_MESSAGE = 2 * KiB;

const payload = fc.oneof(
  { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }).map((s) => Buffer.from(s, 'utf8')) },
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 160 }).map((a) => Buffer.from(a)) },
  { weight: 1, arbitrary: fc.constantFrom(...['c3', 'e282', 'f09f98', 'eda080', 'c0af', 'f4908080', 'ff', 'cebae1bdb9cf83cebcceb5'].map((h) => Buffer.from(h, 'hex'))) },
  { weight: 1, arbitrary: fc.integer({ min: 600, max: 1400 }).map((n) => Buffer.alloc(n, 0x61)) },
  // Around limits.maxMessageBytes: exactly at it passes, one byte more is 1009.
  { weight: 1, arbitrary: fc.integer({ min: MAX_MESSAGE - 2, max: MAX_MESSAGE + 2 }).map((n) => Buffer.alloc(n, 0x62)) },
);

/** A data message as 1–4 fragments cut anywhere (text may be cut inside a code point). */
const message = fc
  .record({ binary: fc.boolean(), payload, cuts: fc.array(fc.nat(), { maxLength: 3 }) })
  .map(({ binary, payload: p, cuts }) => {
    const at = [...new Set(cuts.map((c) => (p.length === 0 ? 0 : c % p.length)))].sort((a, b) => a - b);
    const pieces = [0, ...at, p.length].slice(0, -1).map((s, i, all) => p.subarray(s, i + 1 < all.length ? all[i + 1] : p.length));
    return pieces.map((piece, i) => wsFrame({ opcode: i === 0 ? (binary ? OP.BINARY : OP.TEXT) : OP.CONT, payload: piece, fin: i === pieces.length - 1 }));
  });

const closeCode = fc.oneof(fc.constantFrom(1000, 1001, 1003, 1008, 1011, 3000, 4999), fc.constantFrom(0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000), fc.integer({ min: 0, max: 65535 }));

const control = fc.oneof(
  fc.uint8Array({ maxLength: 125 }).map((a) => [C.ping(Buffer.from(a))]),
  fc.uint8Array({ maxLength: 125 }).map((a) => [C.pong(Buffer.from(a))]),
  fc.record({ code: fc.option(closeCode), reason: fc.oneof(fc.string({ maxLength: 20 }).map((s) => Buffer.from(s)), fc.uint8Array({ maxLength: 8 }).map((a) => Buffer.from(a))) }).map(({ code, reason }) => [
    wsFrame({ opcode: OP.CLOSE, payload: code === null ? Buffer.alloc(0) : closeBody(code, reason) }),
  ]),
  fc.constant([wsFrame({ opcode: OP.CLOSE, payload: Buffer.from([0x03]) })]),
);

/** Any frame at all. */
const anyFrame = fc
  .record({
    opcode: fc.integer({ min: 0, max: 15 }),
    fin: fc.boolean(),
    rsv: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 7 }) }),
    mask: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
    form: fc.constantFrom<LengthForm | undefined>(undefined, undefined, 16, 64),
    payload: fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)),
    claimed: fc.option(fc.constantFrom(1n << 63n, (1n << 64n) - 1n, BigInt(MAX_MESSAGE + 1), 1n << 40n, 126n, 70000n), { freq: 4 }),
  })
  .map(({ claimed, ...f }) => [wsFrame({ ...f, ...(claimed === null ? {} : { claimed, form: 64 as const }) })]);

const mutation = fc.record({ op: fc.constantFrom('flip', 'set', 'insert', 'delete', 'cut'), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) });

export const scenario = fc.record({
  parts: fc.array(fc.oneof({ weight: 5, arbitrary: message }, { weight: 3, arbitrary: control }, { weight: 1, arbitrary: anyFrame }), { maxLength: 8 }),
  repeat: fc.oneof({ weight: 6, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: fc.integer({ min: 2, max: 60 }) }),
  mutations: fc.oneof({ weight: 1, arbitrary: fc.constant([]) }, { weight: 1, arbitrary: fc.array(mutation, { minLength: 1, maxLength: 3 }) }),
  writes: fc.array(fc.nat(), { maxLength: 6 }),
  waitOpen: fc.boolean(),
  readAfterMs: fc.oneof({ weight: 5, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 20, max: 150 }) }),
});
export type Scenario = typeof scenario extends fc.Arbitrary<infer T> ? T : never;

export function streamOf(s: Scenario): Buffer {
  let b = Buffer.concat(s.parts.flat());
  if (s.repeat > 1) b = Buffer.concat(new Array<Buffer>(s.repeat).fill(b));
  for (const m of s.mutations) {
    if (b.length === 0 && m.op !== 'insert') continue;
    const at = m.at % Math.max(1, b.length);
    if (m.op === 'flip') b[at] = b[at]! ^ (1 << (m.value & 7));
    else if (m.op === 'set') b[at] = m.value;
    else if (m.op === 'insert') b = Buffer.concat([b.subarray(0, at), Buffer.from([m.value]), b.subarray(at)]);
    else if (m.op === 'delete') b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1)]);
    else b = b.subarray(0, at);
  }
  return b;
}

/** The TCP writes: `stream` cut at the given points. */
export function writesOf(stream: Buffer, cuts: number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => (stream.length === 0 ? 0 : c % stream.length)))].filter((c) => c > 0).sort((a, b) => a - b);
  return [0, ...at].map((s, i) => stream.subarray(s, i + 1 < at.length + 1 ? (at[i] ?? stream.length) : stream.length)).filter((w) => w.length > 0);
}
