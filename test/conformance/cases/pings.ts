/**
 * Group 2 (Autobahn 2.x): pings and pongs. Control frames are per leg: the
 * gateway answers the client's pings itself (a pong with the same payload, RFC
 * 6455 §5.5.3), pongs are noted and dropped, neither reaches the upstream; the
 * upstream's pings are answered by the gateway and never reach the client.
 */
import { C, S } from '../../helpers/ws-wire.js';
import type { CaseGroup, ConformanceCase } from '../case-runner.js';
import { bytes, echoCase, failCase, REASON } from './common.js';

const ping = (p: Buffer | string) => C.ping(p);
const pong = (p: Buffer | string) => S.pong(p);

/** The client sends control frames `sent`, then a close; it gets `pongs`, and the upstream only the close. */
function controlCase(id: string, title: string, rfc: string, sent: Buffer[], pongs: Buffer[], chop?: number): ConformanceCase {
  const all = Buffer.concat([...sent, C.close(1000)]);
  return {
    id,
    title,
    rfc,
    steps: [chop === undefined ? all : { chop, bytes: all }],
    upstream: [C.close(1000)],
    client: [...pongs, S.close(1000)],
    outcome: pongs.length === 0 ? 'no answer; clean close' : `${pongs.length === 1 ? 'pong with the same payload' : `${pongs.length} pongs, same payloads, in order`}; clean close`,
  };
}

const BIN = Buffer.from([0x00, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0x00, 0xff]);
const tenPings = Array.from({ length: 10 }, (_, i) => `payload-${i}`);

const autobahn: ConformanceCase[] = [
  controlCase('2.1', 'ping without payload', '§5.5.2, §5.5.3', [ping('')], [pong('')]),
  controlCase('2.2', 'ping with a small text payload', '§5.5.2, §5.5.3', [ping('Hello, world!')], [pong('Hello, world!')]),
  controlCase('2.3', 'ping with a small binary payload', '§5.5.2, §5.5.3', [ping(BIN)], [pong(BIN)]),
  controlCase('2.4', 'ping with a 125-byte payload', '§5.5, §5.5.3', [ping(bytes(125, 0xfe))], [pong(bytes(125, 0xfe))]),
  failCase({ id: '2.5', title: 'ping with a 126-byte payload', rfc: '§5.5' }, [], ping(bytes(126, 0xfe)), 1002, REASON.controlTooLong),
  controlCase('2.6', 'ping with a 125-byte payload, in 1-byte TCP writes', '§5.5.3', [ping(bytes(125, 0xfe))], [pong(bytes(125, 0xfe))], 1),
  controlCase('2.7', 'unsolicited pong without payload', '§5.5.3', [C.pong('')], []),
  controlCase('2.8', 'unsolicited pong with payload', '§5.5.3', [C.pong('unsolicited pong payload')], []),
  controlCase('2.9', 'unsolicited pong, then a ping', '§5.5.3', [C.pong('unsolicited pong payload'), ping('ping payload')], [pong('ping payload')]),
  controlCase('2.10', '10 pings in a row', '§5.5.2', tenPings.map(ping), tenPings.map(pong)),
  controlCase('2.11', '10 pings in a row, in 1-byte TCP writes', '§5.5.2', tenPings.map(ping), tenPings.map(pong), 1),
];

const every = Array.from({ length: 126 }, (_, n) => bytes(n, 0x50 + (n % 32)));
const flood = Array.from({ length: 1000 }, (_, i) => Buffer.concat([Buffer.from(`${i}:`), bytes(120, 0x70)]).subarray(0, 125));

const own: ConformanceCase[] = [
  controlCase('2.a', 'pings of every payload length 0–125', '§5.5, §5.5.3', every.map(ping), every.map(pong)),
  controlCase('2.b', 'a flood of 1000 pings (125 bytes each) in one TCP write, the client reading', '§5.5.3', flood.map(ping), flood.map(pong)),
  controlCase('2.c', 'pong with a 125-byte payload', '§5.5.3', [C.pong(bytes(125))], []),
  failCase({ id: '2.d', title: 'pong with a 126-byte payload', rfc: '§5.5' }, [], C.pong(bytes(126)), 1002, REASON.controlTooLong),
  failCase({ id: '2.e', title: 'ping with a 126-byte payload in the 16-bit length form', rfc: '§5.5' }, [], C.ping(bytes(126), { form: 16 }), 1002, REASON.controlTooLong),
  controlCase('2.f', 'ping with a 5-byte payload in the 64-bit length form', '§5.2, §5.5', [C.ping('hello', { form: 64 })], [pong('hello')]),
  echoCase(
    { id: '2.g', title: 'text, ping, binary in one TCP write: the pong comes first (the echoes go round the upstream)', rfc: '§5.5.2' },
    [C.text('a'), ping('p'), C.binary('b')],
    [S.text('a'), S.binary('b')],
    { pongs: [pong('p')], upstream: [C.text('a'), C.binary('b'), C.close(1000)], outcome: 'pong; 2 echoes (the ping never reaches the upstream); clean close' },
  ),
];

/** The upstream's own control frames are answered or dropped by the gateway, never relayed to the client. */
const upstreamSide: ConformanceCase[] = [
  {
    id: '2.h',
    title: 'the upstream pings: the gateway answers it, the client sees nothing',
    rfc: '§5.5.2, §5.5.3',
    steps: [{ upstream: (c) => c.ws.ping('from upstream'), does: 'ping "from upstream"' }, { upstreamFrames: 1 }, C.close(1000)],
    upstream: [C.pong('from upstream'), C.close(1000)],
    client: [S.close(1000)],
    outcome: 'pong to the upstream; nothing to the client; clean close',
  },
  {
    id: '2.i',
    title: 'the upstream sends an unsolicited pong: not relayed to the client',
    rfc: '§5.5.3',
    steps: [{ upstream: (c) => c.ws.pong('unsolicited'), does: 'pong "unsolicited"' }, C.close(1000)],
    upstream: [C.close(1000)],
    client: [S.close(1000)],
    outcome: 'nothing to the client; clean close',
  },
];

export const pings: CaseGroup = { number: '2', name: 'pings and pongs', cases: [...autobahn, ...own, ...upstreamSide] };
