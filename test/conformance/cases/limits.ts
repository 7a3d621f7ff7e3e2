/**
 * Group 9 (Autobahn's 9.x measure sizes; these pin the gateway's own limits,
 * docs/protocol.md §2): limits.maxMessageBytes once the upstream is open,
 * limits.preOpenMaxMessageBytes and the pre-open queue before. A message over its
 * limit fails the connection with 1009 as soon as a frame header makes the
 * message's declared size exceed it (RFC 6455 §7.4.1), before any byte of that
 * frame is relayed.
 */
import { C, S } from '../../helpers/ws-wire.js';
import type { CaseGroup, ConformanceCase } from '../case-runner.js';
import { CLIENT_WENT_AWAY, echoCase, failCase, KiB, pattern, REASON } from './common.js';

export const MAX = 128 * KiB;
export const PRE_OPEN_MAX = 16 * KiB;
const PRE_OPEN_QUEUE_MESSAGES = 64;
const PRE_OPEN_QUEUE_BYTES = 64 * KiB;
/** The upstream answers its upgrades this late, so that what the client sends first arrives pre-open. */
export const UPSTREAM_DELAY_MS = 300;

const limitsConfig = { limits: { maxMessageBytes: MAX, preOpenMaxMessageBytes: PRE_OPEN_MAX, preOpenQueueMessages: PRE_OPEN_QUEUE_MESSAGES, preOpenQueueBytes: PRE_OPEN_QUEUE_BYTES } };

const open: ConformanceCase[] = [
  echoCase({ id: '9.a.1', title: `binary of exactly limits.maxMessageBytes (${MAX})`, rfc: '§5.2' }, [C.binary(pattern(MAX))], [S.binary(pattern(MAX))]),
  failCase({ id: '9.a.2', title: 'binary of limits.maxMessageBytes + 1', rfc: '§5.2, §7.4.1' }, [], C.binary(pattern(MAX + 1)), 1009, REASON.tooBig(MAX)),
  failCase({ id: '9.a.3', title: 'only the header of a frame over the limit', rfc: '§5.2, §7.4.1' }, [], C.binary(Buffer.alloc(0), { claimed: BigInt(MAX + 1) }), 1009, REASON.tooBig(MAX)),
  failCase({ id: '9.a.4', title: 'a 64-bit length of 2^62 (header only)', rfc: '§5.2, §7.4.1' }, [], C.binary(Buffer.alloc(0), { claimed: 1n << 62n }), 1009, REASON.tooBig(MAX)),
  echoCase({ id: '9.a.5', title: 'text in 2 fragments adding up to exactly the limit', rfc: '§5.4' }, [C.text(Buffer.alloc(MAX / 2, 0x61), { fin: false }), C.cont(Buffer.alloc(MAX / 2, 0x62))], [S.text(Buffer.concat([Buffer.alloc(MAX / 2, 0x61), Buffer.alloc(MAX / 2, 0x62)]))], {
    outcome: 'relayed as 2 fragments; echoed whole',
  }),
  failCase(
    { id: '9.a.6', title: 'text in 2 fragments adding up to the limit + 1 (each under it)', rfc: '§5.4, §7.4.1' },
    [C.text(Buffer.alloc(MAX / 2, 0x61), { fin: false })],
    C.cont(Buffer.alloc(MAX / 2 + 1, 0x62)),
    1009,
    REASON.tooBig(MAX),
    { upstream: [C.text(Buffer.alloc(MAX / 2, 0x61), { fin: false }), CLIENT_WENT_AWAY] },
  ),
  failCase(
    { id: '9.a.7', title: '200 fragments of 1 KiB: the 129th passes the limit', rfc: '§5.4, §7.4.1' },
    Array.from({ length: 128 }, (_, i) => (i === 0 ? C.binary(pattern(KiB), { fin: false }) : C.cont(pattern(KiB), { fin: false }))),
    C.cont(pattern(KiB), { fin: false }),
    1009,
    REASON.tooBig(MAX),
    { after: [C.cont(pattern(KiB))] },
  ),
  echoCase({ id: '9.a.8', title: 'a message of 64 KiB (over the pre-open limit) once the upstream is open', rfc: '§5.2' }, [C.binary(pattern(64 * KiB))], [S.binary(pattern(64 * KiB))], {
    outcome: 'echoed: the pre-open limit no longer applies',
  }),
];

const preOpen: ConformanceCase[] = [
  { ...echoCase({ id: '9.b.1', title: `before the upstream is open: binary of exactly limits.preOpenMaxMessageBytes (${PRE_OPEN_MAX})`, rfc: '§5.2' }, [C.binary(pattern(PRE_OPEN_MAX))], [S.binary(pattern(PRE_OPEN_MAX))], {
    outcome: 'queued, relayed when the upstream opens, echoed',
  }), steps: [C.binary(pattern(PRE_OPEN_MAX)), { upstreamFrames: 1 }, C.close(1000)], preOpen: true },
  {
    ...failCase({ id: '9.b.2', title: 'before the upstream is open: binary of limits.preOpenMaxMessageBytes + 1', rfc: '§5.2, §7.4.1' }, [], C.binary(pattern(PRE_OPEN_MAX + 1)), 1009, REASON.tooBig(PRE_OPEN_MAX), { upstream: null }),
    preOpen: true,
    outcome: 'fail 1009; the upstream connection is abandoned before it opens',
  },
  {
    ...failCase({ id: '9.b.3', title: 'before the upstream is open: a message queued, then an invalid frame', rfc: '§5.2' }, [], Buffer.concat([C.text('queued'), C.raw(3)]), 1002, REASON.opcode(3), { upstream: null }),
    preOpen: true,
    outcome: 'fail 1002; the queued message is counted as failed, no upstream connection opens',
  },
  {
    id: '9.b.4',
    title: `before the upstream is open: ${PRE_OPEN_QUEUE_MESSAGES + 36} small messages (more than limits.preOpenQueueMessages)`,
    rfc: '§5.2',
    preOpen: true,
    steps: [{ write: Buffer.concat(Array.from({ length: PRE_OPEN_QUEUE_MESSAGES + 36 }, (_, i) => C.text(`q${i}`))) }, { gateway: 'paused' }, { upstreamFrames: PRE_OPEN_QUEUE_MESSAGES + 36 }, C.close(1000)],
    upstream: [...Array.from({ length: PRE_OPEN_QUEUE_MESSAGES + 36 }, (_, i) => C.text(`q${i}`)), C.close(1000)],
    client: [...Array.from({ length: PRE_OPEN_QUEUE_MESSAGES + 36 }, (_, i) => S.text(`q${i}`)), S.close(1000)],
    outcome: 'client reads pause while the queue is full; all delivered in order when the upstream opens',
  },
  {
    id: '9.b.5',
    title: `before the upstream is open: 6 messages of ${PRE_OPEN_MAX / KiB} KiB (more than limits.preOpenQueueBytes)`,
    rfc: '§5.2',
    preOpen: true,
    steps: [{ write: Buffer.concat(Array.from({ length: 6 }, () => C.binary(pattern(PRE_OPEN_MAX)))) }, { gateway: 'paused' }, { upstreamFrames: 6 }, C.close(1000)],
    upstream: [...Array.from({ length: 6 }, () => C.binary(pattern(PRE_OPEN_MAX))), C.close(1000)],
    client: [...Array.from({ length: 6 }, () => S.binary(pattern(PRE_OPEN_MAX))), S.close(1000)],
    outcome: 'client reads pause while the queue is full; all delivered in order when the upstream opens',
  },
  {
    id: '9.b.6',
    title: 'before the upstream is open: a message, then a close',
    rfc: '§5.5.1, §7.1.2',
    preOpen: true,
    steps: [Buffer.concat([C.text('first words'), C.close(1000, 'bye')])],
    upstream: [C.text('first words'), C.close(1000, 'bye')],
    client: [S.text('first words'), S.close(1000, 'bye')],
    outcome: 'the close waits for the upstream: the message and the close reach it, its echo and answer reach the client',
  },
  {
    id: '9.b.7',
    title: 'before the upstream is open: a message, then FIN',
    rfc: '§7.1.5, §7.3',
    preOpen: true,
    steps: [C.text('first words'), { fin: true }],
    upstream: [C.text('first words'), CLIENT_WENT_AWAY],
    client: [S.text('first words'), S.close(1001, 'client went away')],
    outcome: 'the upstream gets the message and 1001; its echo and answer reach the half-closed client',
  },
  {
    id: '9.b.8',
    title: 'a fragmented message begun before the upstream is open, finished after',
    rfc: '§5.4',
    preOpen: true,
    steps: [C.binary(pattern(PRE_OPEN_MAX), { fin: false }), { upstreamFrames: 1 }, C.cont(pattern(64 * KiB)), C.close(1000)],
    upstream: [C.binary(pattern(PRE_OPEN_MAX), { fin: false }), C.cont(pattern(64 * KiB)), C.close(1000)],
    client: [S.binary(Buffer.concat([pattern(PRE_OPEN_MAX), pattern(64 * KiB)])), S.close(1000)],
    outcome: 'each frame is held to the limit in force when its header arrives: echoed whole',
  },
];

export const limits: CaseGroup = { number: '9.a', name: 'limits (upstream open)', cases: open, config: limitsConfig };
export const preOpenLimits: CaseGroup = { number: '9.b', name: 'limits before the upstream is open', cases: preOpen, config: limitsConfig, upstream: { answerAfterMs: UPSTREAM_DELAY_MS } };
