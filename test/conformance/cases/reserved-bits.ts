/**
 * Group 3 (Autobahn 3.x): RSV bits. No extension is ever negotiated (the gateway
 * offers none upstream and accepts none from clients), so any RSV bit set fails
 * the connection with 1002 (RFC 6455 §5.2), on data and control frames alike, and
 * what came before it still reaches the upstream.
 */
import { C, S } from '../../helpers/ws-wire.js';
import type { CaseGroup, ConformanceCase } from '../case-runner.js';
import { failCase, REASON } from './common.js';

const hello = 'Hello, world!';

const autobahn: ConformanceCase[] = [
  failCase({ id: '3.1', title: 'small text message with RSV = 1', rfc: '§5.2' }, [], C.text(hello, { rsv: 1 }), 1002, REASON.rsv),
  failCase({ id: '3.2', title: 'text, then text with RSV = 2, then a ping', rfc: '§5.2' }, [C.text(hello)], C.text(hello, { rsv: 2 }), 1002, REASON.rsv, { echoes: [S.text(hello)], after: [C.ping('')] }),
  failCase({ id: '3.3', title: 'text, text with RSV = 3, ping, all in one TCP write', rfc: '§5.2' }, [], Buffer.concat([C.text(hello), C.text(hello, { rsv: 3 }), C.ping('')]), 1002, REASON.rsv, {
    upstream: [C.text(hello), C.close(1001, 'client went away')],
  }),
  failCase({ id: '3.4', title: 'text, text with RSV = 4, ping, in 1-byte TCP writes', rfc: '§5.2' }, [C.text(hello)], C.text(hello, { rsv: 4 }), 1002, REASON.rsv, {
    echoes: [S.text(hello)],
    after: [C.ping('')],
    chop: 1,
  }),
  failCase({ id: '3.5', title: 'binary message with RSV = 5', rfc: '§5.2' }, [], C.binary(Buffer.from([0x00, 0xff, 0xfe, 0xfd]), { rsv: 5 }), 1002, REASON.rsv),
  failCase({ id: '3.6', title: 'ping with RSV = 6', rfc: '§5.2, §5.5' }, [], C.ping(hello, { rsv: 6 }), 1002, REASON.rsv),
  failCase({ id: '3.7', title: 'close with RSV = 7', rfc: '§5.2, §5.5.1' }, [], C.close(1000, '', { rsv: 7 }), 1002, REASON.rsv),
];

const BITS = [
  [4, 'RSV1'],
  [2, 'RSV2'],
  [1, 'RSV3'],
] as const;

/** Each RSV bit alone on each kind of frame. */
const own: ConformanceCase[] = BITS.flatMap(([rsv, name], b) => {
  const id = (k: number) => `3.${String.fromCharCode(0x61 + b)}.${k}`;
  return [
    failCase({ id: id(1), title: `${name} on a text frame`, rfc: '§5.2' }, [], C.text('x', { rsv }), 1002, REASON.rsv),
    failCase({ id: id(2), title: `${name} on a binary frame`, rfc: '§5.2' }, [], C.binary('x', { rsv }), 1002, REASON.rsv),
    failCase({ id: id(3), title: `${name} on a continuation frame`, rfc: '§5.2, §5.4' }, [C.text('first', { fin: false })], C.cont('second', { rsv }), 1002, REASON.rsv),
    failCase({ id: id(4), title: `${name} on a ping`, rfc: '§5.2, §5.5.2' }, [], C.ping('x', { rsv }), 1002, REASON.rsv),
    failCase({ id: id(5), title: `${name} on a pong`, rfc: '§5.2, §5.5.3' }, [], C.pong('x', { rsv }), 1002, REASON.rsv),
    failCase({ id: id(6), title: `${name} on a close`, rfc: '§5.2, §5.5.1' }, [], C.close(1000, 'bye', { rsv }), 1002, REASON.rsv),
  ];
});

export const reservedBits: CaseGroup = { number: '3', name: 'reserved bits', cases: [...autobahn, ...own] };
