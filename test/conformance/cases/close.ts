/**
 * Group 7 (Autobahn 7.x): the close handshake. Through the relay it is end to end
 * (docs/protocol.md §2): the client's close frame (code and reason) goes to the
 * upstream, whose answer (`ws` echoes the code and reason) is the client's answer,
 * and the gateway then ends TCP at once (RFC 6455 §5.5.1, §7.1.1). Close frames are
 * control frames: the gateway re-frames them (minimal length), it does not relay
 * their bytes. After a close nothing more from that side is read. A close frame
 * with an invalid payload fails the connection (1002, or 1007 for the reason's UTF-8).
 */
import { C, S } from '../../helpers/ws-wire.js';
import type { CaseGroup, ConformanceCase } from '../case-runner.js';
import { CLIENT_WENT_AWAY, echoCase, failCase, REASON } from './common.js';

const hello = 'Hello World!';
const KOSME_SURROGATE = Buffer.from('cebae1bdb9cf83cebcceb5eda080656469746564', 'hex');

/** The client closes with `close` (after `before`), and the upstream's echo of it answers. */
function closeCase(id: string, title: string, rfc: string, before: Buffer[], close: Buffer, answer: Buffer, o: { after?: Buffer[]; upstream?: Buffer[]; echoes?: Buffer[]; outcome?: string } = {}): ConformanceCase {
  return {
    id,
    title,
    rfc,
    steps: [Buffer.concat([...before, close, ...(o.after ?? [])])],
    upstream: o.upstream ?? [...before, close],
    client: [...(o.echoes ?? []), answer],
    outcome: o.outcome ?? 'the close is relayed; the upstream answers; TCP ends',
  };
}

/** Autobahn 7.7.1 … 7.7.13, then the codes registered since (7.7.a …). */
const VALID = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999];
const VALID_SINCE = [1012, 1013, 1014];
/** Autobahn 7.9.1 … 7.9.9, then more that no endpoint may send (7.9.a …). */
const INVALID = [0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999];
const INVALID_MORE = [1015, 5000, 65535];
const letter = (i: number) => String.fromCharCode(0x61 + i);

const autobahn: ConformanceCase[] = [
  echoCase({ id: '7.1.1', title: 'a message, then a close', rfc: '§5.5.1, §7.1.2' }, [C.text(hello)], [S.text(hello)], { outcome: 'the echo, then the upstream answers the close' }),
  closeCase('7.1.2', 'two close frames', '§5.5.1', [], C.close(1000), S.close(1000), { after: [C.close()], outcome: 'the second close is ignored' }),
  closeCase('7.1.3', 'a ping after the close', '§5.5.1', [], C.close(1000), S.close(1000), { after: [C.ping('')], outcome: 'no pong; clean close' }),
  closeCase('7.1.4', 'a text message after the close', '§5.5.1, §1.4', [], C.close(1000), S.close(1000), { after: [C.text(hello)], outcome: 'the message is not relayed; clean close' }),
  closeCase('7.1.5', 'a fragment, a close, the last fragment', '§5.4, §5.5.1', [C.text('fragment1', { fin: false })], C.close(1000), S.close(1000), {
    after: [C.cont('fragment2')],
    outcome: 'the first fragment and the close reach the upstream; clean close',
  }),
  closeCase('7.1.6', 'a 256 KiB message, a message, a close, a ping', '§5.5.1, §7.1.2', [C.text(Buffer.alloc(256 * 1024, 0x42)), C.text(hello)], C.close(1000), S.close(1000), {
    after: [C.ping('')],
    echoes: [S.text(Buffer.alloc(256 * 1024, 0x42)), S.text(hello)],
    outcome: 'both echoes, then the close answer; no pong',
  }),
  closeCase('7.3.1', 'close without a payload', '§5.5.1, §7.4.1 (1005)', [], C.close(), S.close(), { outcome: 'relayed without a code; answered without a code' }),
  failCase({ id: '7.3.2', title: 'close with a 1-byte payload', rfc: '§5.5.1' }, [], C.raw(8, 'a'), 1002, REASON.close1),
  closeCase('7.3.3', 'close with code 1000 and no reason', '§5.5.1', [], C.close(1000), S.close(1000)),
  closeCase('7.3.4', 'close with a code and a reason', '§5.5.1', [], C.close(1000, hello), S.close(1000, hello), { outcome: 'code and reason relayed, and echoed back' }),
  closeCase('7.3.5', 'close with a 123-byte reason (the longest)', '§5.5, §5.5.1', [], C.close(1000, '*'.repeat(123)), S.close(1000, '*'.repeat(123))),
  failCase({ id: '7.3.6', title: 'close with a 124-byte reason (payload 126)', rfc: '§5.5' }, [], C.close(1000, '*'.repeat(124)), 1002, REASON.controlTooLong),
  failCase({ id: '7.5.1', title: 'close with an invalid UTF-8 reason', rfc: '§5.5.1, §8.1' }, [], C.close(1000, KOSME_SURROGATE), 1007, REASON.closeUtf8),
  ...VALID.map((code, i) => closeCase(`7.7.${i + 1}`, `close with the valid code ${code}`, '§7.4.1, §7.4.2', [], C.close(code), S.close(code), { outcome: `${code} relayed, and echoed back` })),
  ...VALID_SINCE.map((code, i) => closeCase(`7.7.${letter(i)}`, `close with the valid code ${code} (registered after RFC 6455)`, '§7.4.2, §11.7', [], C.close(code), S.close(code), { outcome: `${code} relayed, and echoed back` })),
  ...INVALID.map((code, i) => failCase({ id: `7.9.${i + 1}`, title: `close with the invalid code ${code}`, rfc: '§7.4.1, §7.4.2' }, [], C.close(code), 1002, REASON.closeCode(code))),
  ...INVALID_MORE.map((code, i) => failCase({ id: `7.9.${letter(i)}`, title: `close with the invalid code ${code}`, rfc: '§7.4.1, §7.4.2' }, [], C.close(code), 1002, REASON.closeCode(code))),
];

const own: ConformanceCase[] = [
  closeCase('7.a', 'close with a multi-byte UTF-8 reason', '§5.5.1', [], C.close(4000, 'bye ✓ κόσμε'), S.close(4000, 'bye ✓ κόσμε')),
  closeCase('7.b', 'close in the 16-bit length form', '§5.2, §5.5.1', [], C.close(1000, 'x', { form: 16 }), S.close(1000, 'x'), {
    upstream: [C.close(1000, 'x')],
    outcome: 'the close is re-framed (minimal length) for the upstream; clean close',
  }),
  {
    id: '7.c',
    title: 'close in 1-byte TCP writes',
    rfc: '§5.5.1',
    steps: [{ chop: 1, bytes: C.close(1001, 'going') }],
    upstream: [C.close(1001, 'going')],
    client: [S.close(1001, 'going')],
    outcome: 'relayed and echoed back',
  },
  {
    id: '7.d',
    title: 'the upstream closes first: the client sends a message before its answer',
    rfc: '§5.5.1, §7.1.2',
    steps: [
      { upstream: (c) => c.ws.close(4001, 'upstream done'), does: 'close 4001 "upstream done"' },
      { awaitFrames: 1 },
      Buffer.concat([C.text('one more'), C.close(4002, 'client agrees')]),
    ],
    upstream: [C.text('one more'), C.close(4002, 'client agrees')],
    client: [S.close(4001, 'upstream done')],
    outcome: "the upstream's close reaches the client; the message and the client's answer reach the upstream; TCP ends",
  },
  {
    id: '7.e',
    title: 'the upstream closes first with no code',
    rfc: '§5.5.1, §7.4.1 (1005)',
    steps: [{ upstream: (c) => c.ws.close(), does: 'close without a code' }, { awaitFrames: 1 }, C.close()],
    upstream: [C.close()],
    client: [S.close()],
    outcome: 'relayed without a code both ways',
  },
  {
    id: '7.f',
    title: 'a message, then FIN without a close frame',
    rfc: '§7.1.5, §7.3',
    steps: [C.text(hello), { fin: true }],
    upstream: [C.text(hello), CLIENT_WENT_AWAY],
    client: [S.text(hello), S.close(1001, 'client went away')],
    outcome: 'the upstream gets 1001; its echo and answer still reach the half-closed client; TCP ends',
  },
  {
    id: '7.g',
    title: 'FIN in the middle of a fragmented message',
    rfc: '§7.1.5, §7.3',
    steps: [C.text('fragment1', { fin: false }), { upstreamFrames: 1 }, { fin: true }],
    upstream: [C.text('fragment1', { fin: false }), CLIENT_WENT_AWAY],
    client: [S.close(1001, 'client went away')],
    outcome: 'the upstream gets 1001 (the message never ends); TCP ends',
  },
  {
    id: '7.h',
    title: 'FIN in the middle of a frame',
    rfc: '§7.1.5, §7.3',
    steps: [C.text('a frame cut short').subarray(0, 10), { upstreamFrames: 0 }, { fin: true }],
    // The frame's first bytes went upstream as they came; it can never be finished: the upstream connection is cut.
    upstream: [C.text('a frame cut short').subarray(0, 10)],
    client: [S.close(1001, 'client went away')],
    outcome: 'the upstream connection is cut (a frame cannot be finished); the client gets 1001; TCP ends',
  },
  {
    id: '7.i',
    title: 'a close and FIN back to back',
    rfc: '§7.1.2',
    steps: [C.close(1000, 'bye'), { fin: true }],
    upstream: [C.close(1000, 'bye')],
    client: [S.close(1000, 'bye')],
    outcome: "the upstream's answer still reaches the half-closed client; TCP ends",
  },
];

export const close: CaseGroup = { number: '7', name: 'close handling', cases: [...autobahn, ...own] };
