/**
 * Group 4 (Autobahn 4.x): opcodes. Data opcodes 3–7 and control opcodes 11–15 are
 * reserved (RFC 6455 §5.2, §11.8): the gateway fails the connection with 1002 and
 * relays nothing of the frame.
 */
import { C, S } from '../../helpers/ws-wire.js';
import type { CaseGroup, ConformanceCase } from '../case-runner.js';
import { failCase, REASON } from './common.js';

const hello = 'Hello, world!';

function group(sub: 1 | 2, ops: readonly number[]): ConformanceCase[] {
  const kind = sub === 1 ? 'non-control' : 'control';
  const [a, b, c, d, e] = ops as [number, number, number, number, number];
  return [
    failCase({ id: `4.${sub}.1`, title: `reserved ${kind} opcode ${a}`, rfc: '§5.2' }, [], C.raw(a), 1002, REASON.opcode(a)),
    failCase({ id: `4.${sub}.2`, title: `reserved ${kind} opcode ${b} with a payload`, rfc: '§5.2' }, [], C.raw(b, 'reserved opcode payload'), 1002, REASON.opcode(b)),
    failCase({ id: `4.${sub}.3`, title: `text, reserved ${kind} opcode ${c}, ping`, rfc: '§5.2' }, [C.text(hello)], C.raw(c), 1002, REASON.opcode(c), { echoes: [S.text(hello)], after: [C.ping('')] }),
    failCase({ id: `4.${sub}.4`, title: `text, reserved ${kind} opcode ${d} with a payload, ping`, rfc: '§5.2' }, [C.text(hello)], C.raw(d, hello), 1002, REASON.opcode(d), {
      echoes: [S.text(hello)],
      after: [C.ping('')],
    }),
    failCase({ id: `4.${sub}.5`, title: `text, reserved ${kind} opcode ${e} with a payload, ping, in 1-byte TCP writes`, rfc: '§5.2' }, [C.text(hello)], C.raw(e, hello), 1002, REASON.opcode(e), {
      echoes: [S.text(hello)],
      after: [C.ping('')],
      chop: 1,
    }),
  ];
}

/** Every reserved opcode alone, and inside a fragmented message. */
const own: ConformanceCase[] = [3, 4, 5, 6, 7, 11, 12, 13, 14, 15].flatMap((op) => [
  failCase({ id: `4.a.${op}`, title: `opcode ${op}, fin, 1-byte payload`, rfc: '§5.2' }, [], C.raw(op, 'x'), 1002, REASON.opcode(op)),
  failCase({ id: `4.b.${op}`, title: `opcode ${op} between the fragments of a text message`, rfc: '§5.2, §5.4' }, [C.text('frag', { fin: false })], C.raw(op, 'x'), 1002, REASON.opcode(op)),
]);

export const opcodes: CaseGroup = {
  number: '4',
  name: 'opcodes',
  cases: [...group(1, [3, 4, 5, 6, 7]), ...group(2, [11, 12, 13, 14, 15]), ...own],
};
