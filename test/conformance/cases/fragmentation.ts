/**
 * Group 5 (Autobahn 5.x): fragmentation (RFC 6455 §5.4). A fragmented message is
 * relayed as the same fragments (the upstream gets every frame as sent; the echo
 * upstream answers with the whole message); control frames may come between
 * fragments and are answered at once; a control frame may not be fragmented; a
 * continuation needs a message to continue and a new message may not start inside
 * one (1002).
 */
import { C, S } from '../../helpers/ws-wire.js';
import type { CaseGroup, ConformanceCase } from '../case-runner.js';
import { echoCase, failCase, pattern, REASON } from './common.js';

const f = ['fragment1', 'fragment2', 'fragment3', 'fragment4', 'fragment5'];
const hello = 'Hello, world!';

const twoFragments = [C.text(f[0]!, { fin: false }), C.cont(f[1]!)];
const withPing = [C.text(f[0]!, { fin: false }), C.ping('ping payload'), C.cont(f[1]!)];
const pingPong = [S.pong('ping payload')];

/** A case whose writes are spread over steps (Autobahn's "frame-wise chops"). */
function stepwise(id: string, title: string, rfc: string, frames: Buffer[], upstream: Buffer[], client: Buffer[], outcome: string, chop?: number): ConformanceCase {
  return {
    id,
    title,
    rfc,
    steps: [...frames.map((b) => (chop === undefined ? b : { chop, bytes: b })), C.close(1000)],
    upstream: [...upstream, C.close(1000)],
    client: [...client, S.close(1000)],
    outcome,
  };
}

const notContinuing = (fin: boolean) => [C.cont('non-continuation payload', { fin: fin ? true : false }), C.text(hello)];

const autobahn: ConformanceCase[] = [
  failCase({ id: '5.1', title: 'ping in 2 fragments', rfc: '§5.4, §5.5' }, [], Buffer.concat([C.ping(f[0]!, { fin: false }), C.cont(f[1]!)]), 1002, REASON.fragmentedControl),
  failCase({ id: '5.2', title: 'pong in 2 fragments', rfc: '§5.4, §5.5' }, [], Buffer.concat([C.pong(f[0]!, { fin: false }), C.cont(f[1]!)]), 1002, REASON.fragmentedControl),
  echoCase({ id: '5.3', title: 'text in 2 fragments', rfc: '§5.4' }, twoFragments, [S.text(f[0]! + f[1]!)], { outcome: 'relayed as 2 fragments; echoed whole' }),
  stepwise('5.4', 'text in 2 fragments, one TCP write each', '§5.4', twoFragments, twoFragments, [S.text(f[0]! + f[1]!)], 'relayed as 2 fragments; echoed whole'),
  echoCase({ id: '5.5', title: 'text in 2 fragments, in 1-byte TCP writes', rfc: '§5.4' }, twoFragments, [S.text(f[0]! + f[1]!)], { chop: 1, outcome: 'relayed as 2 fragments; echoed whole' }),
  echoCase({ id: '5.6', title: 'text in 2 fragments, a ping between them', rfc: '§5.4, §5.5' }, withPing, [S.text(f[0]! + f[1]!)], {
    pongs: pingPong,
    upstream: [...twoFragments, C.close(1000)],
    outcome: 'pong, then the echo; the ping never reaches the upstream',
  }),
  {
    ...stepwise('5.7', 'text in 2 fragments, a ping between them, one TCP write each', '§5.4, §5.5', withPing, twoFragments, [...pingPong, S.text(f[0]! + f[1]!)], 'pong, then the echo'),
  },
  echoCase({ id: '5.8', title: 'text in 2 fragments, a ping between them, in 1-byte TCP writes', rfc: '§5.4, §5.5' }, withPing, [S.text(f[0]! + f[1]!)], {
    chop: 1,
    pongs: pingPong,
    upstream: [...twoFragments, C.close(1000)],
    outcome: 'pong, then the echo',
  }),
  failCase({ id: '5.9', title: 'continuation (FIN) with nothing to continue, then text', rfc: '§5.4' }, [], Buffer.concat(notContinuing(true)), 1002, REASON.noMessage),
  failCase({ id: '5.10', title: 'as 5.9, one TCP write per frame', rfc: '§5.4' }, [], notContinuing(true)[0]!, 1002, REASON.noMessage, { after: [notContinuing(true)[1]!] }),
  failCase({ id: '5.11', title: 'as 5.9, in 1-byte TCP writes', rfc: '§5.4' }, [], Buffer.concat(notContinuing(true)), 1002, REASON.noMessage, { chop: 1 }),
  failCase({ id: '5.12', title: 'continuation (not FIN) with nothing to continue, then text', rfc: '§5.4' }, [], Buffer.concat(notContinuing(false)), 1002, REASON.noMessage),
  failCase({ id: '5.13', title: 'as 5.12, one TCP write per frame', rfc: '§5.4' }, [], notContinuing(false)[0]!, 1002, REASON.noMessage, { after: [notContinuing(false)[1]!] }),
  failCase({ id: '5.14', title: 'as 5.12, in 1-byte TCP writes', rfc: '§5.4' }, [], Buffer.concat(notContinuing(false)), 1002, REASON.noMessage, { chop: 1 }),
  failCase(
    { id: '5.15', title: 'text in 2 fragments, then a continuation with nothing to continue, then text', rfc: '§5.4' },
    twoFragments,
    C.cont(f[2]!, { fin: false }),
    1002,
    REASON.noMessage,
    { echoes: [S.text(f[0]! + f[1]!)], after: [C.text(f[3]!)] },
  ),
  failCase(
    { id: '5.16', title: 'twice: a continuation (not FIN) with nothing to continue, then text in 2 fragments', rfc: '§5.4' },
    [],
    Buffer.concat([C.cont(f[0]!, { fin: false }), C.text(f[1]!, { fin: false }), C.cont(f[2]!)]),
    1002,
    REASON.noMessage,
    { after: [C.cont(f[0]!, { fin: false }), C.text(f[1]!, { fin: false }), C.cont(f[2]!)] },
  ),
  failCase(
    { id: '5.17', title: 'twice: a continuation (FIN) with nothing to continue, then text in 2 fragments', rfc: '§5.4' },
    [],
    Buffer.concat([C.cont(f[0]!), C.text(f[1]!, { fin: false }), C.cont(f[2]!)]),
    1002,
    REASON.noMessage,
    { after: [C.cont(f[0]!), C.text(f[1]!, { fin: false }), C.cont(f[2]!)] },
  ),
  failCase({ id: '5.18', title: 'text in 2 fragments, both with the text opcode', rfc: '§5.4' }, [C.text(f[0]!, { fin: false })], C.text(f[1]!), 1002, REASON.newMessage),
  {
    id: '5.19',
    title: 'text in 5 fragments, pings between them, a pause after the first ping',
    rfc: '§5.4, §5.5',
    steps: [
      Buffer.concat([C.text(f[0]!, { fin: false }), C.cont(f[1]!, { fin: false }), C.ping('pongme 1!')]),
      { awaitFrames: 1 }, // the first pong arrives while the message is unfinished
      Buffer.concat([C.cont(f[2]!, { fin: false }), C.cont(f[3]!, { fin: false }), C.ping('pongme 2!'), C.cont(f[4]!), C.close(1000)]),
    ],
    upstream: [C.text(f[0]!, { fin: false }), C.cont(f[1]!, { fin: false }), C.cont(f[2]!, { fin: false }), C.cont(f[3]!, { fin: false }), C.cont(f[4]!), C.close(1000)],
    client: [S.pong('pongme 1!'), S.pong('pongme 2!'), S.text(f.join('')), S.close(1000)],
    outcome: 'each pong at once, then the echo; clean close',
  },
];
// 5.20 is 5.19 with every frame its own TCP write.
autobahn.push({
  ...autobahn.at(-1)!,
  id: '5.20',
  title: 'as 5.19, one TCP write per frame',
  steps: [
    C.text(f[0]!, { fin: false }),
    C.cont(f[1]!, { fin: false }),
    C.ping('pongme 1!'),
    { awaitFrames: 1 },
    C.cont(f[2]!, { fin: false }),
    C.cont(f[3]!, { fin: false }),
    C.ping('pongme 2!'),
    C.cont(f[4]!),
    C.close(1000),
  ],
});

const bin = pattern(3000);
const own: ConformanceCase[] = [
  echoCase({ id: '5.a', title: 'binary in 3 fragments (1000 bytes each)', rfc: '§5.4' }, [C.binary(bin.subarray(0, 1000), { fin: false }), C.cont(bin.subarray(1000, 2000), { fin: false }), C.cont(bin.subarray(2000))], [S.binary(bin)], {
    outcome: 'relayed as 3 fragments; echoed whole',
  }),
  echoCase({ id: '5.b', title: 'text in 3 empty fragments', rfc: '§5.4, §5.6' }, [C.text('', { fin: false }), C.cont('', { fin: false }), C.cont('')], [S.text('')], { outcome: 'relayed as 3 fragments; empty echo' }),
  echoCase({ id: '5.c', title: 'empty fragment, "middle", empty final fragment', rfc: '§5.4' }, [C.text('', { fin: false }), C.cont('middle', { fin: false }), C.cont('')], [S.text('middle')], { outcome: 'relayed as 3 fragments; echoed whole' }),
  echoCase({ id: '5.d', title: 'text in 2 fragments, a pong between them', rfc: '§5.4, §5.5' }, [C.text('a', { fin: false }), C.pong('p'), C.cont('b')], [S.text('ab')], {
    upstream: [C.text('a', { fin: false }), C.cont('b'), C.close(1000)],
    outcome: 'echoed whole; the pong never reaches the upstream',
  }),
  echoCase({ id: '5.e', title: '100 fragments of 1 byte', rfc: '§5.4' }, Array.from({ length: 100 }, (_, i) => (i === 0 ? C.text('x', { fin: false }) : C.cont('x', { fin: i === 99 }))), [S.text('x'.repeat(100))], {
    outcome: 'relayed as 100 fragments; echoed whole',
  }),
  failCase({ id: '5.f', title: 'a binary message started inside a fragmented text message', rfc: '§5.4' }, [C.text('a', { fin: false })], C.binary('b'), 1002, REASON.newMessage),
  failCase({ id: '5.g', title: 'a ping (not FIN) between fragments', rfc: '§5.4, §5.5' }, [C.text('a', { fin: false })], C.ping('p', { fin: false }), 1002, REASON.fragmentedControl),
  echoCase(
    { id: '5.h', title: 'fragments and pings, every byte its own TCP write', rfc: '§5.4, §5.5' },
    [C.binary('ab', { fin: false }), C.ping('1'), C.cont('cd', { fin: false }), C.ping('2'), C.cont('ef')],
    [S.binary('abcdef')],
    { chop: 1, pongs: [S.pong('1'), S.pong('2')], upstream: [C.binary('ab', { fin: false }), C.cont('cd', { fin: false }), C.cont('ef'), C.close(1000)], outcome: '2 pongs, then the echo' },
  ),
];

export const fragmentation: CaseGroup = { number: '5', name: 'fragmentation', cases: [...autobahn, ...own] };
