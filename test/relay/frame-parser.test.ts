/**
 * The frame parser fed raw bytes (no sockets): split headers at every byte, control
 * frames between fragments, UTF-8 split across frames and across reads, the 64-bit
 * length rule, every header rule, close-frame validation, both modes, and the order
 * of what it reports (the frames before a fault are handed over first).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { FrameParser, ParseMode } from '../../src/relay/frame-parser.js';

type Event =
  | { e: 'bytes'; hex: string }
  | { e: 'done'; bytes: number }
  | { e: 'message'; text: string; binary: boolean }
  | { e: 'ping' | 'pong'; payload: string }
  | { e: 'close'; code: number | undefined; reason: string }
  | { e: 'fault'; code: number; reason: string };

/** A parser that records every hook call. */
class Recorder extends FrameParser {
  readonly events: Event[] = [];
  /** Relay mode: the bytes handed over, concatenated. */
  relayed: Buffer = Buffer.alloc(0);
  limit = 1 << 20;
  constructor(mode: number) {
    super(mode);
  }
  protected onFrameBytes(buf: Buffer, start: number, end: number): void {
    this.relayed = Buffer.concat([this.relayed, buf.subarray(start, end)]);
    this.events.push({ e: 'bytes', hex: buf.subarray(start, end).toString('hex') });
  }
  protected onMessageDone(bytes: number): void {
    this.events.push({ e: 'done', bytes });
  }
  protected onMessage(payload: Buffer, binary: boolean): void {
    this.events.push({ e: 'message', text: binary ? payload.toString('hex') : payload.toString('utf8'), binary });
  }
  protected onPing(payload: Buffer): void {
    this.events.push({ e: 'ping', payload: payload.toString() });
  }
  protected onPong(payload: Buffer): void {
    this.events.push({ e: 'pong', payload: payload.toString() });
  }
  protected onCloseFrame(code: number | undefined, reason: string): void {
    this.events.push({ e: 'close', code, reason });
  }
  protected onProtocolFault(code: number, reason: string): void {
    this.events.push({ e: 'fault', code, reason });
  }
  protected maxMessageBytes(): number {
    return this.limit;
  }
  feed(...chunks: Buffer[]): this {
    for (const c of chunks) this.parse(Buffer.from(c), c.length);
    return this;
  }
  get faults(): number[] {
    return this.events.filter((x): x is Extract<Event, { e: 'fault' }> => x.e === 'fault').map((x) => x.code);
  }
  get messages(): string[] {
    return this.events.filter((x): x is Extract<Event, { e: 'message' }> => x.e === 'message').map((x) => x.text);
  }
}

interface FrameSpec {
  opcode: number;
  payload: Buffer | string;
  fin?: boolean;
  mask?: boolean;
  rsv?: number;
  /** Force the 16- or 64-bit length form. */
  lengthForm?: 16 | 64;
  /** Raw 64-bit length to claim (for the top-bit rule). */
  claimed64?: bigint;
  /** The masking key (default: random). */
  key?: Buffer;
}

function frame(f: FrameSpec): Buffer {
  const payload = typeof f.payload === 'string' ? Buffer.from(f.payload) : f.payload;
  const mask = f.mask ?? true;
  const head: number[] = [((f.fin ?? true) ? 0x80 : 0) | ((f.rsv ?? 0) << 4) | f.opcode];
  const m = mask ? 0x80 : 0;
  const len = payload.length;
  if (f.claimed64 !== undefined || f.lengthForm === 64 || len > 0xffff) {
    head.push(m | 127);
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(f.claimed64 ?? BigInt(len));
    head.push(...b);
  } else if (f.lengthForm === 16 || len >= 126) head.push(m | 126, len >> 8, len & 0xff);
  else head.push(m | len);
  if (!mask) return Buffer.concat([Buffer.from(head), payload]);
  const key = f.key ?? randomBytes(4);
  const masked = Buffer.from(payload);
  for (let i = 0; i < masked.length; i++) masked[i]! ^= key[i & 3]!;
  return Buffer.concat([Buffer.from(head), key, masked]);
}

const MESSAGES = ParseMode.Masked | ParseMode.Messages;

/** Unmasks a relayed stream of client frames (each with its own key) into their payloads. */
function unmaskStream(stream: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let o = 0;
  while (o < stream.length) {
    const b1 = stream[o + 1]!;
    let len = b1 & 0x7f;
    let p = o + 2;
    if (len === 126) {
      len = stream.readUInt16BE(p);
      p += 2;
    } else if (len === 127) {
      len = Number(stream.readBigUInt64BE(p));
      p += 8;
    }
    const key = stream.subarray(p, p + 4);
    p += 4;
    const payload = Buffer.from(stream.subarray(p, p + len));
    for (let i = 0; i < len; i++) payload[i]! ^= key[i & 3]!;
    out.push(payload);
    o = p + len;
  }
  return out;
}

test('messages mode: one read, many frames, each message delivered whole and unmasked', () => {
  const r = new Recorder(MESSAGES).feed(Buffer.concat([frame({ opcode: 1, payload: 'héllo' }), frame({ opcode: 2, payload: Buffer.from([0, 255]) }), frame({ opcode: 1, payload: '' })]));
  assert.deepEqual(r.events, [
    { e: 'message', text: 'héllo', binary: false },
    { e: 'message', text: '00ff', binary: true },
    { e: 'message', text: '', binary: false },
  ]);
});

test('a header split at every byte position is assembled (both modes)', () => {
  const big = Buffer.alloc(70_000, 0x61); // the 64-bit length form: a 14-byte header
  for (const f of [frame({ opcode: 1, payload: 'abc' }), frame({ opcode: 2, payload: Buffer.alloc(300, 7) }), frame({ opcode: 1, payload: big })]) {
    for (let cut = 1; cut < 14; cut++) {
      const m = new Recorder(MESSAGES).feed(f.subarray(0, cut), f.subarray(cut));
      assert.equal(m.messages.length, 1, `messages mode, cut at ${cut}`);
      assert.equal(m.faults.length, 0);
      const relay = new Recorder(ParseMode.Masked).feed(f.subarray(0, cut), f.subarray(cut));
      const payloads = unmaskStream(relay.relayed);
      assert.equal(payloads.length, 1, `relay mode, cut at ${cut}`);
      const binary = (f[0]! & 0x0f) === 2;
      const original = new Recorder(MESSAGES).feed(f).messages[0]!;
      assert.equal(payloads[0]!.toString(binary ? 'hex' : 'utf8'), original);
    }
  }
});

// The all-zero key is a valid key (RFC 6455 §5.3): the parser once took it for "not masked",
// wrote its own key into the header and left the payload as it was, so the upstream unmasked garbage.
test('relay mode re-masks a frame masked with the all-zero key too', () => {
  for (const opcode of [1, 2]) {
    const payloads = ['€uro', 'x'.repeat(300)];
    const r = new Recorder(ParseMode.Masked).feed(Buffer.concat(payloads.map((p) => frame({ opcode, payload: p, key: Buffer.alloc(4) }))));
    assert.deepEqual(unmaskStream(r.relayed).map((b) => b.toString()), payloads, `opcode ${opcode}`);
  }
});

test('relay mode re-masks with a fresh key: the relayed bytes unmask to the original payloads', () => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { minLength: 1, maxLength: 6 }), fc.array(fc.integer({ min: 1, max: 97 }), { minLength: 1, maxLength: 8 }), (payloads, cuts) => {
      const frames = payloads.map((p) => frame({ opcode: 2, payload: Buffer.from(p) }));
      const stream = Buffer.concat(frames);
      const r = new Recorder(ParseMode.Masked);
      let at = 0;
      for (let i = 0; at < stream.length; i++) {
        const n = cuts[i % cuts.length]!;
        r.feed(stream.subarray(at, at + n));
        at += n;
      }
      assert.equal(r.relayed.length, stream.length, 'every byte handed over');
      assert.deepEqual(unmaskStream(r.relayed).map((b) => b.toString('hex')), payloads.map((p) => Buffer.from(p).toString('hex')));
    }),
    { numRuns: 200 },
  );
});

test('relay mode hands over a read of many small frames as one range', () => {
  const r = new Recorder(ParseMode.Masked).feed(Buffer.concat([frame({ opcode: 1, payload: 'a' }), frame({ opcode: 1, payload: 'b' }), frame({ opcode: 2, payload: 'c' })]));
  assert.equal(r.events.filter((e) => e.e === 'bytes').length, 1);
  assert.deepEqual(r.events.filter((e) => e.e === 'done'), [{ e: 'done', bytes: 1 }, { e: 'done', bytes: 1 }, { e: 'done', bytes: 1 }]);
});

test('control frames between the fragments of a message are reported, never relayed; the message stays whole', () => {
  const parts = [frame({ opcode: 1, fin: false, payload: 'ab' }), frame({ opcode: 9, payload: 'p1' }), frame({ opcode: 0, fin: false, payload: 'cd' }), frame({ opcode: 10, payload: 'p2' }), frame({ opcode: 0, payload: 'ef' })];
  const m = new Recorder(MESSAGES).feed(Buffer.concat(parts));
  assert.deepEqual(m.events, [{ e: 'ping', payload: 'p1' }, { e: 'pong', payload: 'p2' }, { e: 'message', text: 'abcdef', binary: false }]);
  const relay = new Recorder(ParseMode.Masked).feed(Buffer.concat(parts));
  assert.deepEqual(unmaskStream(relay.relayed).map((b) => b.toString()), ['ab', 'cd', 'ef'], 'only the data frames are relayed');
  assert.deepEqual(relay.events.filter((e) => e.e === 'ping' || e.e === 'pong').map((e) => e.e), ['ping', 'pong']);
});

test('UTF-8 split across frames and across reads is valid; broken UTF-8 is 1007 wherever it is split', () => {
  const text = Buffer.from('a€😀ü', 'utf8');
  for (let split = 0; split <= text.length; split++) {
    const frames = Buffer.concat([frame({ opcode: 1, fin: false, payload: text.subarray(0, split) }), frame({ opcode: 0, payload: text.subarray(split) })]);
    for (let cut = 1; cut < frames.length; cut++) {
      const r = new Recorder(MESSAGES).feed(frames.subarray(0, cut), frames.subarray(cut));
      assert.deepEqual(r.messages, ['a€😀ü'], `split ${split}, cut ${cut}`);
      const relay = new Recorder(ParseMode.Masked).feed(frames.subarray(0, cut), frames.subarray(cut));
      assert.deepEqual(relay.faults, [], `relay: split ${split}, cut ${cut}`);
    }
  }
  const bad = Buffer.from([0x61, 0xe2, 0x82]); // a truncated code point at the end of the message
  for (let split = 0; split <= bad.length; split++) {
    const frames = Buffer.concat([frame({ opcode: 1, fin: false, payload: bad.subarray(0, split) }), frame({ opcode: 0, payload: bad.subarray(split) })]);
    assert.deepEqual(new Recorder(MESSAGES).feed(frames).faults, [1007], `split ${split}`);
    assert.deepEqual(new Recorder(ParseMode.Masked).feed(frames).faults, [1007]);
  }
});

test('the 64-bit length: the top bit set is 1002; a huge valid length is 1009 (over the limit)', () => {
  const top = frame({ opcode: 2, payload: Buffer.alloc(0), claimed64: 1n << 63n }).subarray(0, 14);
  assert.deepEqual(new Recorder(MESSAGES).feed(top).faults, [1002]);
  const huge = frame({ opcode: 2, payload: Buffer.alloc(0), claimed64: (1n << 62n) }).subarray(0, 14);
  assert.deepEqual(new Recorder(MESSAGES).feed(huge).faults, [1009]);
  const justOver = new Recorder(MESSAGES);
  justOver.limit = 100;
  assert.deepEqual(justOver.feed(frame({ opcode: 2, payload: Buffer.alloc(101) }).subarray(0, 6)).faults, [1009], 'known from the header alone');
  const exact = new Recorder(MESSAGES);
  exact.limit = 100;
  assert.deepEqual(exact.feed(frame({ opcode: 2, payload: Buffer.alloc(100), lengthForm: 64 })).faults, []);
});

test('every header rule gives its code', () => {
  const cases: Array<[string, Buffer, number, number]> = [
    ['RSV1', frame({ opcode: 1, payload: 'x', rsv: 4 }), 1002, ParseMode.Masked],
    ['RSV2', frame({ opcode: 1, payload: 'x', rsv: 2 }), 1002, ParseMode.Masked],
    ['RSV3', frame({ opcode: 1, payload: 'x', rsv: 1 }), 1002, ParseMode.Masked],
    ['unmasked client frame', frame({ opcode: 1, payload: 'x', mask: false }), 1002, ParseMode.Masked],
    ['masked server frame', frame({ opcode: 1, payload: 'x', mask: true }), 1002, 0],
    ['reserved data opcode 3', frame({ opcode: 3, payload: 'x' }), 1002, ParseMode.Masked],
    ['reserved control opcode 11', frame({ opcode: 11, payload: 'x' }), 1002, ParseMode.Masked],
    ['fragmented ping', frame({ opcode: 9, fin: false, payload: 'x' }), 1002, ParseMode.Masked],
    ['ping over 125 bytes', frame({ opcode: 9, payload: Buffer.alloc(126) }), 1002, ParseMode.Masked],
    ['continuation without a message', frame({ opcode: 0, payload: 'x' }), 1002, ParseMode.Masked],
    ['a new message inside a fragmented one', Buffer.concat([frame({ opcode: 1, fin: false, payload: 'a' }), frame({ opcode: 1, payload: 'b' })]), 1002, ParseMode.Masked],
    ['close with a 1-byte payload', frame({ opcode: 8, payload: Buffer.from([3]) }), 1002, ParseMode.Masked],
    ['invalid UTF-8 in the close reason', frame({ opcode: 8, payload: Buffer.from([0x03, 0xe8, 0xc3, 0x28]) }), 1007, ParseMode.Masked],
  ];
  for (const [what, bytes, code, mode] of cases) {
    assert.deepEqual(new Recorder(mode).feed(bytes).faults, [code], what);
    assert.deepEqual(new Recorder(mode | ParseMode.Messages).feed(bytes).faults, [code], `${what} (messages)`);
  }
});

test('invalid close codes are 1002; valid ones are reported with their reason', () => {
  for (const code of [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535]) {
    const p = Buffer.alloc(2);
    p.writeUInt16BE(code);
    assert.deepEqual(new Recorder(MESSAGES).feed(frame({ opcode: 8, payload: p })).faults, [1002], String(code));
  }
  for (const code of [1000, 1001, 1003, 1007, 1011, 1014, 3000, 4000, 4999]) {
    const p = Buffer.concat([Buffer.from([code >> 8, code & 0xff]), Buffer.from('bye ✓')]);
    assert.deepEqual(new Recorder(MESSAGES).feed(frame({ opcode: 8, payload: p })).events, [{ e: 'close', code, reason: 'bye ✓' }]);
  }
  assert.deepEqual(new Recorder(MESSAGES).feed(frame({ opcode: 8, payload: '' })).events, [{ e: 'close', code: undefined, reason: '' }]);
});

test('nothing after a close frame or a fault is parsed', () => {
  const close = frame({ opcode: 8, payload: Buffer.from([0x03, 0xe8]) });
  const r = new Recorder(MESSAGES).feed(Buffer.concat([close, frame({ opcode: 1, payload: 'late' })]), frame({ opcode: 1, payload: 'later' }));
  assert.deepEqual(r.events.map((e) => e.e), ['close']);
  assert.equal(r.parserDone, true);
  const f = new Recorder(MESSAGES).feed(Buffer.concat([frame({ opcode: 1, payload: 'x', mask: false }), frame({ opcode: 1, payload: 'after' })]));
  assert.deepEqual(f.events.map((e) => e.e), ['fault']);
});

test('the valid frames before a fault in the same read are handed over before the fault is reported', () => {
  const read = Buffer.concat([frame({ opcode: 1, payload: 'one' }), frame({ opcode: 1, payload: 'two' }), frame({ opcode: 1, payload: 'bad', mask: false })]);
  const r = new Recorder(ParseMode.Masked).feed(read);
  assert.deepEqual(r.events.map((e) => e.e), ['done', 'done', 'bytes', 'fault']);
  assert.deepEqual(unmaskStream(r.relayed).map((b) => b.toString()), ['one', 'two']);
  assert.equal(r.midFrame, false, 'nothing of the bad frame was handed over');
  // The same with the bad frame's UTF-8 failing mid-payload: its own bytes are kept back.
  const utf = Buffer.concat([frame({ opcode: 1, payload: 'ok' }), frame({ opcode: 1, payload: Buffer.from([0x61, 0xff, 0x62]) })]);
  const u = new Recorder(ParseMode.Masked).feed(utf);
  assert.deepEqual(unmaskStream(u.relayed).map((b) => b.toString()), ['ok']);
  assert.deepEqual(u.faults, [1007]);
  // ...and the frames before a close frame go first too.
  const c = new Recorder(ParseMode.Masked).feed(Buffer.concat([frame({ opcode: 1, payload: 'last words' }), frame({ opcode: 8, payload: Buffer.from([0x03, 0xe8]) })]));
  assert.deepEqual(c.events.map((e) => e.e), ['done', 'bytes', 'close']);
});

test('midFrame: set while a relayed frame is half handed over, cleared when it ends', () => {
  const f = frame({ opcode: 2, payload: Buffer.alloc(1000, 1) });
  const r = new Recorder(ParseMode.Masked).feed(f.subarray(0, 100));
  assert.equal(r.midFrame, true);
  r.feed(f.subarray(100, 999));
  assert.equal(r.midFrame, true);
  r.feed(f.subarray(999));
  assert.equal(r.midFrame, false);
  // A fault in the payload of a frame whose start was handed over leaves the stream broken mid-frame.
  const t = frame({ opcode: 1, payload: Buffer.concat([Buffer.alloc(500, 0x61), Buffer.from([0xff])]) });
  const b = new Recorder(ParseMode.Masked).feed(t.subarray(0, 200));
  b.feed(t.subarray(200));
  assert.deepEqual(b.faults, [1007]);
  assert.equal(b.midFrame, true);
  assert.equal(b.parserDone, true);
});

test('messages mode: a message assembled from frames over many reads is delivered once, whole', () => {
  const payload = randomBytes(200_000);
  const frames = Buffer.concat([frame({ opcode: 2, fin: false, payload: payload.subarray(0, 70_000) }), frame({ opcode: 0, fin: false, payload: payload.subarray(70_000, 70_000) }), frame({ opcode: 0, payload: payload.subarray(70_000) })]);
  const r = new Recorder(MESSAGES);
  for (let at = 0; at < frames.length; at += 4093) r.feed(frames.subarray(at, at + 4093));
  assert.deepEqual(r.messages, [payload.toString('hex')]);
});

test('unmasked input (an upstream) in messages mode', () => {
  const r = new Recorder(ParseMode.Messages).feed(Buffer.concat([frame({ opcode: 1, payload: 'from upstream', mask: false }), frame({ opcode: 9, payload: 'p', mask: false })]));
  assert.deepEqual(r.events, [{ e: 'message', text: 'from upstream', binary: false }, { e: 'ping', payload: 'p' }]);
});
