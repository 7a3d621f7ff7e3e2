/**
 * Group 6 (Autobahn 6.x): UTF-8 in text messages (RFC 6455 §5.6, §8.1). The
 * gateway checks every text message as it relays it and fails the connection with
 * 1007 as soon as the bytes so far cannot be valid UTF-8 (fail fast): the
 * fragments before the bad byte are already upstream, the rest never gets there.
 *
 * The sequences are those of Markus Kuhn's UTF-8 decoder stress test, grouped as
 * Autobahn groups them (6.5 … 6.23), each sent three ways:
 * - `x`: one frame in one TCP write;
 * - `f`: one frame per byte (a fragment ends inside every code point);
 * - `t`: one frame, every byte its own TCP write (a read ends inside every code point).
 * What reaches the upstream of an invalid one follows from where it stops being
 * viable (utf8-reference.ts): the whole fragments before that byte (`f`), or the
 * frame's header and the bytes before it, after which the upstream connection is
 * cut, since a frame cannot be finished (`t`).
 */
import { C, S } from '../../helpers/ws-wire.js';
import { viablePrefix } from '../../helpers/utf8-reference.js';
import type { CaseGroup, CaseSpec, ConformanceCase } from '../case-runner.js';
import { CLIENT_WENT_AWAY, echoCase, failCase, lazy, REASON } from './common.js';

const h = (hex: string): Buffer => Buffer.from(hex.replace(/\s+/g, ''), 'hex');
const u = (s: string): Buffer => Buffer.from(s, 'utf8');

/** [valid, bytes] by sub-group, after the stress test's sections. */
export const SEQUENCES: Array<[string, Array<[boolean, Buffer]>]> = [
  ['valid sequences', [[true, u('hello$world')], [true, h('68656c6c6fc2a2776f726c64')], [true, h('68656c6c6fe282ac776f726c64')], [true, h('68656c6c6ff0a4ada2776f726c64')], [true, h('cebae1bdb9cf83cebcceb5')]]],
  ['all prefixes of "κόσμε"', Array.from({ length: 11 }, (_, i) => [[2, 5, 7, 9, 11].includes(i + 1), h('cebae1bdb9cf83cebcceb5').subarray(0, i + 1)] as [boolean, Buffer])],
  ['first sequence of each length', [[true, h('00')], [true, h('c280')], [true, h('e0a080')], [true, h('f0908080')]]],
  ['first sequences of length 5 and 6 (never valid)', [[false, h('f888808080')], [false, h('fc8480808080')]]],
  ['last sequence of each length', [[true, h('7f')], [true, h('dfbf')], [true, h('efbfbf')], [true, h('f48fbfbf')]]],
  ['last sequences of length 4, 5, 6 (beyond U+10FFFF)', [[false, h('f7bfbfbf')], [false, h('fbbfbfbfbf')], [false, h('fdbfbfbfbfbf')]]],
  ['other boundaries: U+D7FF, U+E000, U+FFFD, U+10FFFF valid; U+110000 not', [[true, h('ed9fbf')], [true, h('ee8080')], [true, h('efbfbd')], [true, h('f48fbfbf')], [false, h('f4908080')]]],
  [
    'unexpected continuation bytes',
    [[false, h('80')], [false, h('bf')], [false, h('80bf')], [false, h('80bf80')], [false, h('80bf80bf')], [false, h('80bf80bf80')], [false, h('80bf80bf80bf')], [false, Buffer.from(Array.from({ length: 0x3f }, (_, i) => 0x80 + i))]],
  ],
  [
    'lonely start bytes, each followed by a space',
    (
      [
        [0xc0, 0xdf],
        [0xe0, 0xef],
        [0xf0, 0xf7],
        [0xf8, 0xfb],
        [0xfc, 0xfd],
      ] as const
    ).map(([lo, hi]) => [false, Buffer.from(Array.from({ length: hi - lo }, (_, i) => [lo + i, 0x20]).flat())] as [boolean, Buffer]),
  ],
  ['sequences with their last byte missing', ['c0', 'e080', 'f08080', 'f8808080', 'fc80808080', 'df', 'efbf', 'f7bfbf', 'fbbfbfbf', 'fdbfbfbfbf'].map((x) => [false, h(x)] as [boolean, Buffer])],
  ['those ten concatenated', [[false, h('c0e080f08080f8808080fc80808080dfefbff7bfbffbbfbfbffdbfbfbfbf')]]],
  ['impossible bytes', [[false, h('fe')], [false, h('ff')], [false, h('fefeffff')]]],
  ['overlong "/"', [[false, h('c0af')], [false, h('e080af')], [false, h('f08080af')], [false, h('f8808080af')], [false, h('fc80808080af')]]],
  ['maximum overlong sequences', [[false, h('c1bf')], [false, h('e09fbf')], [false, h('f08fbfbf')], [false, h('f887bfbfbf')], [false, h('fc83bfbfbfbf')]]],
  ['overlong NUL', [[false, h('c080')], [false, h('e08080')], [false, h('f0808080')], [false, h('f880808080')], [false, h('fc8080808080')]]],
  ['single UTF-16 surrogates', ['eda080', 'edadbf', 'edae80', 'edafbf', 'edb080', 'edbe80', 'edbfbf'].map((x) => [false, h(x)] as [boolean, Buffer])],
  [
    'paired UTF-16 surrogates',
    ['eda080edb080', 'eda080edbfbf', 'edadbfedb080', 'edadbfedbfbf', 'edae80edb080', 'edae80edbfbf', 'edafbfedb080', 'edafbfedbfbf'].map((x) => [false, h(x)] as [boolean, Buffer]),
  ],
  [
    'non-characters (valid UTF-8)',
    [
      [true, h('efbfbe')],
      [true, h('efbfbf')],
      ...['f0', 'f1', 'f2', 'f3', 'f4'].flatMap((a) =>
        ['8f', '9f', 'af', 'bf']
          .filter((b) => a !== 'f4' || b === '8f') // F4 90+ is beyond U+10FFFF
          .flatMap((b) => ['be', 'bf'].map((c) => `${a}${b}bf${c}`))
          .filter((x) => x !== 'f08fbfbe' && x !== 'f08fbfbf') // overlong
          .map((x) => [true, h(x)] as [boolean, Buffer]),
      ),
    ],
  ],
  ['specials U+FFF9 … U+FFFF', ['efbfb9', 'efbfba', 'efbfbb', 'efbfbc', 'efbfbd', 'efbfbe', 'efbfbf'].map((x) => [true, h(x)] as [boolean, Buffer])],
];

/** One sequence, sent three ways. */
function sequenceCases(id: string, valid: boolean, seq: Buffer): ConformanceCase[] {
  const hex = seq.toString('hex');
  const title = (how: string) => `${valid ? 'valid' : 'invalid'} 0x${hex.length > 40 ? `${hex.slice(0, 40)}…` : hex}, ${how}`;
  const whole = C.text(seq);
  const bytewise = Array.from(seq, (b, i) => (i === 0 ? C.text(Buffer.from([b]), { fin: seq.length === 1 }) : C.cont(Buffer.from([b]), { fin: i === seq.length - 1 })));
  const rfc = '§5.6, §8.1';
  if (valid) {
    return [
      echoCase({ id: `${id}.x`, title: title('one frame'), rfc }, [whole], [S.text(seq)]),
      echoCase({ id: `${id}.f`, title: title('one frame per byte'), rfc }, bytewise, [S.text(seq)], { outcome: `relayed as ${seq.length} fragments; echoed whole` }),
      echoCase({ id: `${id}.t`, title: title('one frame, 1-byte TCP writes'), rfc }, [whole], [S.text(seq)], { chop: 1 }),
    ];
  }
  // The bytes that can still begin valid UTF-8; a sequence cut short fails on its last byte.
  const ok = Math.min(viablePrefix(seq), seq.length - 1);
  const header = whole.length - seq.length;
  return [
    failCase({ id: `${id}.x`, title: title('one frame'), rfc }, [], whole, 1007, REASON.utf8),
    {
      ...failCase({ id: `${id}.f`, title: title('one frame per byte'), rfc }, bytewise.slice(0, ok), bytewise[ok]!, 1007, REASON.utf8, { after: bytewise.slice(ok + 1) }),
      outcome: `fail 1007 at fragment ${ok + 1}; the ${ok} before it relayed`,
    },
    {
      ...failCase({ id: `${id}.t`, title: title('one frame, 1-byte TCP writes'), rfc }, [], whole, 1007, REASON.utf8, { chop: 1, upstream: [whole.subarray(0, header + ok)] }),
      outcome: `fail 1007 at byte ${ok + 1}; the upstream got the header and ${ok} bytes, then its connection was cut`,
    },
  ];
}

const sequences: ConformanceCase[] = SEQUENCES.flatMap(([, list], g) => list.flatMap(([valid, seq], i) => sequenceCases(`6.${g + 5}.${i + 1}`, valid, seq)));

const HELLO = u('Hello-µ@ßöäüàá-UTF-8!!');
const KOSME = h('cebae1bdb9cf83cebcceb5');
const BAD = Buffer.concat([KOSME, h('eda080'), u('edited')]); // invalid at byte 12 (0xA0)
const FAIL_FAST = [KOSME, h('f4908080'), u('edited')] as const; // invalid at byte 13 (0x90): U+110000

function fragments(b: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < b.length; at += size) {
    const p = b.subarray(at, at + size);
    out.push(at === 0 ? C.text(p, { fin: at + size >= b.length }) : C.cont(p, { fin: at + size >= b.length }));
  }
  return out;
}

const autobahn: ConformanceCase[] = [
  echoCase({ id: '6.1.1', title: 'empty text message', rfc: '§5.6' }, [C.text('')], [S.text('')]),
  echoCase({ id: '6.1.2', title: 'text in 3 empty fragments', rfc: '§5.4, §5.6' }, [C.text('', { fin: false }), C.cont('', { fin: false }), C.cont('')], [S.text('')], { outcome: 'relayed as 3 fragments; empty echo' }),
  echoCase({ id: '6.1.3', title: 'empty fragment, "middle", empty fragment', rfc: '§5.4, §5.6' }, [C.text('', { fin: false }), C.cont('middle', { fin: false }), C.cont('')], [S.text('middle')], {
    outcome: 'relayed as 3 fragments; echoed whole',
  }),
  echoCase({ id: '6.2.1', title: 'valid UTF-8 in one frame', rfc: '§5.6' }, [C.text(HELLO)], [S.text(HELLO)]),
  echoCase({ id: '6.2.2', title: 'valid UTF-8 in 2 fragments split on a code point boundary', rfc: '§5.6' }, [C.text(HELLO.subarray(0, 8), { fin: false }), C.cont(HELLO.subarray(8))], [S.text(HELLO)]),
  echoCase({ id: '6.2.3', title: 'valid UTF-8 in 1-byte fragments', rfc: '§5.6' }, fragments(HELLO, 1), [S.text(HELLO)], { outcome: `relayed as ${HELLO.length} fragments; echoed whole` }),
  echoCase({ id: '6.2.4', title: '"κόσμε" in 1-byte fragments', rfc: '§5.6' }, fragments(KOSME, 1), [S.text(KOSME)], { outcome: `relayed as ${KOSME.length} fragments; echoed whole` }),
  failCase({ id: '6.3.1', title: 'invalid UTF-8 (a surrogate) in one frame', rfc: '§5.6, §8.1' }, [], C.text(BAD), 1007, REASON.utf8),
  failCase({ id: '6.3.2', title: 'the same in 1-byte fragments', rfc: '§5.6, §8.1' }, fragments(BAD, 1).slice(0, 12), fragments(BAD, 1)[12]!, 1007, REASON.utf8, {
    after: fragments(BAD, 1).slice(13),
  }),
  failFast('6.4.1', 'fail fast: 3 fragments, the 2nd makes it invalid (U+110000)', [C.text(FAIL_FAST[0], { fin: false }), C.cont(FAIL_FAST[1], { fin: false }), C.cont(FAIL_FAST[2])], [C.text(FAIL_FAST[0], { fin: false }), CLIENT_WENT_AWAY]),
  failFast(
    '6.4.2',
    'fail fast: 3 fragments, the 2nd is the one invalid byte',
    [C.text(Buffer.concat([KOSME, h('f4')]), { fin: false }), C.cont(h('90'), { fin: false }), C.cont(Buffer.concat([h('8080'), u('edited')]))],
    [C.text(Buffer.concat([KOSME, h('f4')]), { fin: false }), CLIENT_WENT_AWAY],
  ),
  failFastChops('6.4.3', 'fail fast: one frame in 3 TCP writes, the 2nd makes it invalid', [11, 4]),
  failFastChops('6.4.4', 'fail fast: one frame in 3 TCP writes, the 2nd is the one invalid byte', [12, 1]),
];

/**
 * Autobahn 6.4.1/6.4.2: the gateway must not fail on the valid first part, and must
 * have failed once it read the second, before the third is sent.
 */
function failFast(id: string, title: string, parts: [Buffer, Buffer, Buffer], upstream: Buffer[]): ConformanceCase {
  return {
    id,
    title,
    rfc: '§5.6, §8.1',
    steps: [parts[0], { gateway: 'open' }, parts[1], { gateway: 'failed' }, parts[2]],
    upstream,
    client: [S.close(1007, REASON.utf8)],
    outcome: 'open after part 1, failed (1007) right after part 2',
  };
}

/** The same with one frame in three TCP writes: `cuts` are the payload bytes in writes 1 and 2. */
function failFastChops(id: string, title: string, cuts: [number, number]): ConformanceCase {
  const payload = Buffer.concat(FAIL_FAST);
  const whole = C.text(payload);
  const header = whole.length - payload.length;
  const a = header + cuts[0];
  const b = a + cuts[1];
  return {
    id,
    title,
    rfc: '§5.6, §8.1',
    steps: [whole.subarray(0, a), { gateway: 'open' }, whole.subarray(a, b), { gateway: 'failed' }, whole.subarray(b)],
    // The first write's bytes were relayed as they came; the frame can never be finished: the upstream is cut.
    upstream: [whole.subarray(0, a)],
    client: [S.close(1007, REASON.utf8)],
    outcome: `open after write 1, failed (1007) right after write 2; the upstream got the header and ${cuts[0]} bytes, then its connection was cut`,
  };
}

/** Long: every code point U+0000…U+10FFFF except the surrogates, 1024 per message, one byte per TCP write. */
function allCodePoints(): CaseSpec[] {
  const cases: CaseSpec[] = [];
  for (let start = 0, n = 1; start <= 0x10ffff; start += 0x10000, n++) {
    const head = { id: `6.z.${n}`, title: `plane ${n - 1}: every code point but the surrogates, one message, in TCP writes of 3 bytes`, rfc: '§5.6', long: true };
    const from = start;
    cases.push(
      lazy({ ...head, outcome: 'echoed; clean close', closeLabel: '1000' }, () => {
        let s = '';
        for (let cp = from; cp < Math.min(from + 0x10000, 0x110000); cp++) if (cp < 0xd800 || cp > 0xdfff) s += String.fromCodePoint(cp);
        const b = u(s);
        return echoCase(head, [C.text(b)], [S.text(b)], { chop: 3 });
      }),
    );
  }
  return cases;
}

export const utf8: CaseGroup = { number: '6', name: 'UTF-8', cases: [...autobahn, ...sequences, ...allCodePoints()] };
