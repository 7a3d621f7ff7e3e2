/**
 * Group 1 (Autobahn 1.x, and the long 9.x): text and binary messages of every
 * length boundary, in each length encoding, whole or chopped into TCP writes.
 * The gateway relays frames verbatim: the upstream gets the client's header
 * (its length encoding too, even a non-minimal one) and payload, re-masked.
 */
import { C, S } from '../../helpers/ws-wire.js';
import type { CaseGroup, CaseSpec, ConformanceCase } from '../case-runner.js';
import { bytes, echoCase, failCase, KiB, lazy, MiB, pattern, REASON, CLIENT_WENT_AWAY, type CaseHead } from './common.js';

const LENGTHS = [0, 125, 126, 127, 128, 65535, 65536] as const;

function lengthCases(sub: string, binary: boolean): ConformanceCase[] {
  const kind = binary ? 'binary' : 'text';
  const make = (p: Buffer) => (binary ? C.binary(p) : C.text(p));
  const echo = (p: Buffer) => (binary ? S.binary(p) : S.text(p));
  const fill = binary ? 0xfe : 0x2a;
  const cases = LENGTHS.map((n, i) =>
    echoCase({ id: `1.${sub}.${i + 1}`, title: `${kind} message, payload ${n}`, rfc: '§5.2, §5.6' }, [make(bytes(n, fill))], [echo(bytes(n, fill))]),
  );
  cases.push(
    echoCase({ id: `1.${sub}.8`, title: `${kind} message, payload 65536, in TCP writes of 997 bytes`, rfc: '§5.2, §5.6' }, [make(bytes(65536, fill))], [echo(bytes(65536, fill))], { chop: 997 }),
  );
  return cases;
}

const t5 = Buffer.from('hello');

/** A big message, whole or chopped into TCP writes, echoed (made when it runs). */
function bigEcho(head: CaseHead, n: number, binary: boolean, chop?: number): CaseSpec {
  return lazy({ ...head, outcome: 'echoed; clean close', closeLabel: '1000' }, () => {
    const p = binary ? pattern(n) : bytes(n);
    return echoCase(head, [binary ? C.binary(p) : C.text(p)], [binary ? S.binary(p) : S.text(p)], chop === undefined ? {} : { chop });
  });
}

/** Autobahn 9.3/9.4: a 4 MiB message in fragments of `size` bytes, relayed as those fragments, echoed whole. */
function fragmented(head: CaseHead, size: number, binary: boolean): CaseSpec {
  const n = 4 * MiB;
  return lazy({ ...head, outcome: `relayed as ${n / size} fragments; echoed whole`, closeLabel: '1000' }, () => {
    const p = binary ? pattern(n) : bytes(n);
    const frames: Buffer[] = [];
    for (let at = 0; at < n; at += size) {
      const piece = p.subarray(at, at + size);
      const fin = at + size >= n;
      frames.push(at > 0 ? C.cont(piece, { fin }) : binary ? C.binary(piece, { fin }) : C.text(piece, { fin }));
    }
    return echoCase(head, frames, [binary ? S.binary(p) : S.text(p)]);
  });
}

const own: CaseSpec[] = [
  echoCase({ id: '1.3.a', title: 'text, payload 5 in the 16-bit length form (not minimal)', rfc: '§5.2' }, [C.text(t5, { form: 16 })], [S.text(t5)], { outcome: 'relayed in the 16-bit form; echoed' }),
  echoCase({ id: '1.3.b', title: 'binary, payload 5 in the 64-bit length form', rfc: '§5.2' }, [C.binary(t5, { form: 64 })], [S.binary(t5)], { outcome: 'relayed in the 64-bit form; echoed' }),
  echoCase({ id: '1.3.c', title: 'binary, payload 65535 in the 64-bit length form', rfc: '§5.2' }, [C.binary(pattern(65535), { form: 64 })], [S.binary(pattern(65535))], { outcome: 'relayed in the 64-bit form; echoed' }),
  echoCase({ id: '1.3.d', title: 'text, payload 126 in the 64-bit length form, header in 1-byte TCP writes', rfc: '§5.2' }, [C.text(bytes(126), { form: 64 })], [S.text(bytes(126))], { chop: 1, outcome: 'relayed in the 64-bit form; echoed' }),
  bigEcho({ id: '1.3.e', title: 'binary 1 MiB (not all one byte value)', rfc: '§5.2' }, MiB, true),
  bigEcho({ id: '1.3.f', title: 'binary 16 MiB', rfc: '§5.2' }, 16 * MiB, true),
  bigEcho({ id: '1.3.g', title: 'text 16 MiB', rfc: '§5.2, §5.6' }, 16 * MiB, false),
  echoCase(
    { id: '1.3.h', title: '100 small text and binary messages in one TCP write', rfc: '§5.2' },
    Array.from({ length: 100 }, (_, i) => (i % 2 === 0 ? C.text(`m${i}`) : C.binary(Buffer.from([i])))),
    Array.from({ length: 100 }, (_, i) => (i % 2 === 0 ? S.text(`m${i}`) : S.binary(Buffer.from([i])))),
    { outcome: '100 echoes in order; clean close' },
  ),
  echoCase(
    { id: '1.3.i', title: 'three messages, every byte its own TCP write', rfc: '§5.2' },
    [C.text('one'), C.binary(pattern(300)), C.text('three')],
    [S.text('one'), S.binary(pattern(300)), S.text('three')],
    { chop: 1, outcome: '3 echoes; clean close' },
  ),
  failCase(
    { id: '1.3.j', title: 'binary frame whose 64-bit length has its top bit set', rfc: '§5.2' },
    [C.text('before')],
    C.binary(Buffer.alloc(0), { claimed: 1n << 63n }),
    1002,
    REASON.length64,
    { echoes: [S.text('before')] },
  ),
  failCase(
    { id: '1.3.k', title: 'unmasked text frame from the client', rfc: '§5.1, §5.3' },
    [],
    S.text('not masked'),
    1002,
    REASON.unmasked,
  ),
  failCase(
    { id: '1.3.l', title: 'unmasked frame after a valid one, in the same TCP write', rfc: '§5.1' },
    [],
    Buffer.concat([C.text('valid'), S.text('not masked')]),
    1002,
    REASON.unmasked,
    { upstream: [C.text('valid'), CLIENT_WENT_AWAY] },
  ),
];

/** Autobahn 9.1/9.2: one message of 64 KiB … 16 MiB. */
const bigSizes = [64 * KiB, 256 * KiB, MiB, 4 * MiB, 8 * MiB, 16 * MiB];
const fragmentSizes = [64, 256, KiB, 4 * KiB, 16 * KiB, 64 * KiB, 256 * KiB, MiB, 4 * MiB];
const size = (n: number) => (n >= MiB ? `${n / MiB} MiB` : n >= KiB ? `${n / KiB} KiB` : `${n} bytes`);
const long: CaseSpec[] = [
  ...bigSizes.map((n, i) => bigEcho({ id: `9.1.${i + 1}`, title: `text message of ${size(n)}`, rfc: '§5.2', long: true }, n, false)),
  ...bigSizes.map((n, i) => bigEcho({ id: `9.2.${i + 1}`, title: `binary message of ${size(n)}`, rfc: '§5.2', long: true }, n, true)),
  ...fragmentSizes.map((f, i) => fragmented({ id: `9.3.${i + 1}`, title: `text 4 MiB in fragments of ${size(f)}`, rfc: '§5.4', long: true }, f, false)),
  ...fragmentSizes.map((f, i) => fragmented({ id: `9.4.${i + 1}`, title: `binary 4 MiB in fragments of ${size(f)}`, rfc: '§5.4', long: true }, f, true)),
  // 9.5/9.6: 1 MiB sent in TCP writes of 64 bytes … 2 KiB.
  ...[64, 128, 256, 512, 1024, 2048].map((chop, i) => bigEcho({ id: `9.5.${i + 1}`, title: `text 1 MiB in TCP writes of ${chop} bytes`, rfc: '§5.2', long: true }, MiB, false, chop)),
  ...[64, 128, 256, 512, 1024, 2048].map((chop, i) => bigEcho({ id: `9.6.${i + 1}`, title: `binary 1 MiB in TCP writes of ${chop} bytes`, rfc: '§5.2', long: true }, MiB, true, chop)),
];

/** Autobahn 9.7/9.8: 1000 round trips (send, wait for the echo) of each size. */
const roundTrips: ConformanceCase[] = [0, 16, 64, 256, 1024, 4096].flatMap((n, i) =>
  [false, true].map((binary) => {
    const frame = binary ? C.binary(bytes(n, 0xfe)) : C.text(bytes(n));
    const echo = binary ? S.binary(bytes(n, 0xfe)) : S.text(bytes(n));
    const steps = Array.from({ length: 1000 }, (_, k) => [frame, { awaitFrames: k + 1 }] as const).flat();
    return {
      id: `9.${binary ? 8 : 7}.${i + 1}`,
      title: `1000 ${binary ? 'binary' : 'text'} round trips of ${n} bytes`,
      rfc: '§5.2',
      long: true,
      steps: [...steps, C.close(1000)],
      upstream: [...new Array<Buffer>(1000).fill(frame), C.close(1000)],
      client: [...new Array<Buffer>(1000).fill(echo), S.close(1000)],
      outcome: '1000 echoes; clean close',
    } satisfies ConformanceCase;
  }),
);

export const framing: CaseGroup = {
  number: '1',
  name: 'framing',
  cases: [...lengthCases('1', false), ...lengthCases('2', true), ...own, ...long, ...roundTrips],
};


