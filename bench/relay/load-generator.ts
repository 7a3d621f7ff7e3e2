/**
 * A load-generator process of the relay benchmark (started by load-generator-pool.ts
 * with node IPC; not meant to be run by hand). It holds a share of the client
 * sessions, each bound to one of several loopback source addresses, and runs the
 * phases the runner asks for: connect, closed loop (throughput), open loop at a
 * fixed rate (latency), close. Every phase is bounded in time.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { WebSocket } from 'ws';
import type {
  ClosedLoopRequest,
  ClosedLoopResult,
  CloseRequest,
  CloseResult,
  ConnectRequest,
  ConnectResult,
  Envelope,
  FollowRequest,
  FollowResult,
  GeneratorReply,
  GeneratorRequest,
  OpenLoopRequest,
  OpenLoopResult,
  RoundTripRequest,
  RoundTripResult,
} from './generator-protocol.js';
import { openProbedSession, PROBE, type ProbedSession } from './probed-session.js';

const TEXT = { binary: false } as const;
/** Open-loop messages start with this many ASCII digits: the message's sequence number. */
const SEQ_DIGITS = 12;
const DRAIN_WAIT_MS = 5_000;

const sessions: WebSocket[] = [];
let closedDuringPhase = 0;
/** The local address a session was opened from (kept for its reconnects). */
const kSource = Symbol('source');
type SourcedSocket = WebSocket & { [kSource]?: string };

// ---- stratix.v1 (reliable sessions) -------------------------------------------
// With `protocol` "stratix.v1" every message goes out as a DATA envelope (base64
// payload) and comes back as one; the phase handlers see the decoded payload. The
// client acknowledges cumulatively as the SDK does with its defaults
// (packages/client/src/options.ts: ack.maxMessages 100, ack.maxDelayMs 100): in the
// `ack` field of the next DATA it sends, else at the 100th unacknowledged message, or
// 100 ms after the first one.

let protocol: 'stratix.v1' | undefined;
let messageId = 0;
const ACK_EVERY = 100;
const ACK_MS = 100;
/** How often the ACK deadlines are checked (the SDK has a timer per connection; this is its granularity here). */
const ACK_SWEEP_MS = 5;
const kSeq = Symbol('seq');
const kUnacked = Symbol('unacked');
const kFirstUnackedAt = Symbol('firstUnackedAt');
type V1Socket = WebSocket & { [kSeq]?: number; [kUnacked]?: number; [kFirstUnackedAt]?: number };
let phaseHandler: (this: WebSocket, data: Buffer) => void = ignore;
let ackTimer: NodeJS.Timeout | undefined;
/** Sockets with unacknowledged messages, in the order their first one arrived (so their ACK deadlines are in order too). */
let ackDue: V1Socket[] = [];
let ackDueAt: number[] = [];
let ackDueHead = 0;

// The harness shares the machine's cores with the gateway it measures, so its own
// cost per message is kept low: the closed loop's payload is the same for every
// message (its base64 is made once), a gateway DATA in the gateway's own field order
// is read without JSON.parse (anything else is parsed), and the payload is decoded
// only for the phases that look at it.
let lastPayload: Buffer | undefined;
let lastPayloadBase64 = '';

/** Sends one benchmark message on `socket` in the session's protocol (a DATA carries the pending ACK, as the SDK's do). */
function sendMessage(socket: WebSocket, payload: Buffer): void {
  if (protocol === undefined) {
    socket.send(payload, TEXT);
    return;
  }
  const v1 = socket as V1Socket;
  let ack = '';
  if ((v1[kUnacked] ?? 0) > 0) {
    v1[kUnacked] = 0;
    ack = `"ack":${v1[kSeq]},`;
  }
  if (payload !== lastPayload) {
    lastPayload = payload;
    lastPayloadBase64 = payload.toString('base64');
  }
  socket.send(`{"type":0,${ack}"messageId":"${++messageId}","data":"${lastPayloadBase64}"}`, TEXT);
}

const DATA_HEAD = Buffer.from('{"type":0,"seq":');
const DATA_FIELD = Buffer.from(',"data":"');
const EMPTY = Buffer.alloc(0);
let payloadNeeded = true;

/** The seq of a gateway DATA written as the gateway writes it (docs/protocol.md §3.5), or -1. */
function fastDataSeq(data: Buffer): number {
  if (data.length <= DATA_HEAD.length || data.compare(DATA_HEAD, 0, DATA_HEAD.length, 0, DATA_HEAD.length) !== 0) return -1;
  let seq = 0;
  let i = DATA_HEAD.length;
  for (; i < data.length && data[i]! >= 0x30 && data[i]! <= 0x39; i++) seq = seq * 10 + data[i]! - 0x30;
  return i > DATA_HEAD.length && data[i] === 0x2c ? seq : -1;
}

function onV1Message(this: V1Socket, data: Buffer): void {
  const fast = fastDataSeq(data);
  let seq: number | undefined = fast;
  let type = 0;
  let payload: Buffer | undefined;
  if (fast >= 0) {
    if (payloadNeeded) {
      const start = data.indexOf(DATA_FIELD) + DATA_FIELD.length;
      payload = Buffer.from(data.toString('latin1', start, data.indexOf(0x22, start)), 'base64');
    }
  } else {
    const e = JSON.parse(data.toString()) as { type: number; seq?: number; data?: string };
    seq = e.seq;
    type = e.type;
    if (type === 0) payload = Buffer.from(e.data!, 'base64');
  }
  if (seq !== undefined) {
    this[kSeq] = seq;
    const n = (this[kUnacked] ?? 0) + 1;
    this[kUnacked] = n;
    if (n === 1) {
      const now = performance.now();
      this[kFirstUnackedAt] = now;
      ackDue.push(this);
      ackDueAt.push(now);
    }
    if (n >= ACK_EVERY) ackNow(this);
  }
  if (type === 0) phaseHandler.call(this, payload ?? EMPTY);
}

function ackNow(socket: V1Socket): void {
  socket[kUnacked] = 0;
  if (socket.readyState === WebSocket.OPEN) socket.send(`{"type":1,"seq":${socket[kSeq]}}`, TEXT);
}

/** ACKs every socket whose first unacknowledged message is ACK_MS old. */
function ackPending(): void {
  const deadline = performance.now() - ACK_MS;
  while (ackDueHead < ackDue.length) {
    const socket = ackDue[ackDueHead]!;
    const at = ackDueAt[ackDueHead]!;
    if (at > deadline) break;
    // A stale entry: the socket was acked (its 100th message) and has a newer first one, queued later.
    if ((socket[kUnacked] ?? 0) > 0 && socket[kFirstUnackedAt] === at) ackNow(socket);
    ackDueHead++;
  }
  if (ackDueHead > 4096) {
    ackDue = ackDue.slice(ackDueHead);
    ackDueAt = ackDueAt.slice(ackDueHead);
    ackDueHead = 0;
  }
}

function ignore(): void {}

function onSessionClose(): void {
  closedDuringPhase++;
}

/** A text payload of `bytes` ASCII bytes that looks like a small JSON frame. */
function textPayload(bytes: number): Buffer {
  const head = '{"type":"req","method":"bench","pad":"';
  const tail = '"}';
  const padding = Math.max(0, bytes - head.length - tail.length);
  return Buffer.from(head + 'x'.repeat(padding) + tail);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function waitUntil(done: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!done() && performance.now() < deadline) await sleep(20);
}

// ---- connect ---------------------------------------------------------------

/** Refusals (503, 429) a session is retried after, as a client honouring Retry-After does. */
const MAX_REFUSALS = 3;
/** ClientIds of sessions whose first message was lost, kept per connect request. */
const LOST_IDS_KEPT = 20;
/** The longest Retry-After waited for; a longer one fails the session. */
const MAX_RETRY_AFTER_S = 30;

/**
 * Opens one probed session; a refusal that carries a Retry-After (an admission bound:
 * docs/protocol.md) is retried after it, up to MAX_REFUSALS times and within the
 * request's deadline. `refusals` counts the refusals waited out.
 */
async function openHonouringRetryAfter(url: string, request: ConnectRequest, source: string, deadline: number): Promise<{ session: ProbedSession; refusals: number }> {
  for (let refusals = 0; ; refusals++) {
    const session = await openProbedSession(url, request.sessionTimeoutMs, source, request.protocol);
    const waitMs = (session.retryAfterS ?? Infinity) * 1000 + Math.random() * 1000;
    const refused = session.failure === 'HTTP 503' || session.failure === 'HTTP 429';
    const retry = refused && refusals < MAX_REFUSALS && waitMs <= MAX_RETRY_AFTER_S * 1000 + 1000 && performance.now() + waitMs + request.sessionTimeoutMs < deadline;
    if (!retry) return { session, refusals };
    await delay(waitMs);
  }
}

async function connect(request: ConnectRequest): Promise<ConnectResult> {
  const started = performance.now();
  protocol = request.protocol;
  clearInterval(ackTimer);
  ackTimer = protocol === undefined ? undefined : setInterval(ackPending, ACK_SWEEP_MS);
  const deadline = started + request.deadlineMs;
  const failures: Record<string, number> = {};
  let next = 0;
  let opened = 0;
  let failed = 0;
  let reprobed = 0;
  let firstLost = 0;
  const lostClientIds: string[] = [];
  const foreignEchoes: string[] = [];
  let retried = 0;
  const separator = request.url.includes('?') ? '&' : '?';
  const worker = async (): Promise<void> => {
    while (next < request.count && performance.now() < deadline) {
      const index = request.firstIndex + next++;
      const url = `${request.url}${separator}clientId=${request.clientIdPrefix}${index}`;
      const source = request.sourceAddresses[index % request.sourceAddresses.length]!;
      const { session: { socket, failure, reprobed: late, firstLost: lost, foreign }, refusals } = await openHonouringRetryAfter(url, request, source, deadline);
      if (foreign !== undefined && foreignEchoes.length < LOST_IDS_KEPT) foreignEchoes.push(`${request.clientIdPrefix}${index} got ${foreign}`);
      if (socket !== undefined && refusals > 0) retried++;
      if (socket !== undefined) {
        socket.on('close', onSessionClose);
        (socket as SourcedSocket)[kSource] = source;
        sessions.push(socket);
        opened++;
        if (late) reprobed++;
        if (lost && ++firstLost <= LOST_IDS_KEPT) lostClientIds.push(`${request.clientIdPrefix}${index}`);
      } else {
        failed++;
        failures[failure!] = (failures[failure!] ?? 0) + 1;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, request.concurrency) }, worker));
  failed += request.count - next; // never attempted: deadline passed
  if (request.count > next) failures['deadline'] = request.count - next;
  return { opened, failed, reprobed, firstLost, lostClientIds, foreignEchoes, retried, failures, elapsedMs: performance.now() - started };
}

// ---- closed loop (throughput) ---------------------------------------------
// Each session starts with `inFlight` messages and sends one more per echo, so it
// keeps exactly that many in flight; `outstanding` counts sends minus echoes over
// all sessions, and whatever is left after the drain wait is reported as lost.

let loopPayload: Buffer = PROBE;
let loopRunning = false;
let inWindow = false;
let windowRoundTrips = 0;
let outstanding = 0;

function onClosedLoopEcho(this: WebSocket): void {
  outstanding--;
  if (inWindow) windowRoundTrips++;
  if (loopRunning && this.readyState === WebSocket.OPEN) {
    outstanding++;
    sendMessage(this, loopPayload);
  }
}

/** `needsPayload`: the handler reads the echoed payload (else a reliable session's DATA is not decoded for it). */
function setMessageHandler(handler: (this: WebSocket, data: Buffer) => void, needsPayload = true): void {
  phaseHandler = handler;
  payloadNeeded = needsPayload;
  const listener = protocol === undefined ? handler : onV1Message;
  for (const socket of sessions) socket.removeAllListeners('message').on('message', listener);
}

async function closedLoop(request: ClosedLoopRequest): Promise<ClosedLoopResult> {
  loopPayload = textPayload(request.payloadBytes);
  closedDuringPhase = 0;
  windowRoundTrips = 0;
  outstanding = 0;
  loopRunning = true;
  setMessageHandler(onClosedLoopEcho, false);
  const inFlight = Math.max(1, Math.floor(request.inFlight));
  for (const socket of sessions) {
    if (socket.readyState !== WebSocket.OPEN) continue;
    for (let i = 0; i < inFlight; i++) {
      outstanding++;
      sendMessage(socket, loopPayload);
    }
  }
  await sleep(request.warmupMs);
  inWindow = true;
  const windowStart = performance.now();
  await sleep(request.durationMs);
  inWindow = false;
  const windowMs = performance.now() - windowStart;
  loopRunning = false;
  await waitUntil(() => outstanding <= 0, DRAIN_WAIT_MS);
  setMessageHandler(ignore);
  return { roundTrips: windowRoundTrips, windowMs, lost: Math.max(0, outstanding), closedDuringPhase };
}

// ---- open loop (latency at a fixed offered rate) ---------------------------

let sentAt = new Float64Array(0);
let latencies = new Float64Array(0);
let latencyCount = 0;
let windowFrom = 0;
let windowTo = 0;
let inWindowSent = 0;
let sendLag = new Float64Array(0);

function onTimedEcho(this: WebSocket, data: Buffer): void {
  let seq = 0;
  for (let i = 0; i < SEQ_DIGITS; i++) seq = seq * 10 + (data[i]! - 48);
  const at = sentAt[seq]!;
  if (at >= windowFrom && at < windowTo) latencies[latencyCount++] = performance.now() - at;
}

function timedMessage(seq: number, template: Buffer): Buffer {
  const message = Buffer.from(template);
  message.write(String(seq).padStart(SEQ_DIGITS, '0'), 0, 'latin1');
  return message;
}

async function openLoop(request: OpenLoopRequest): Promise<OpenLoopResult> {
  const totalMs = request.warmupMs + request.durationMs;
  const capacity = Math.ceil((request.ratePerSecond * totalMs) / 1000) + 1;
  const template = textPayload(Math.max(request.payloadBytes, SEQ_DIGITS + 8));
  const scheduled = request.fromScheduledTime === true;
  sentAt = new Float64Array(capacity);
  latencies = new Float64Array(capacity);
  sendLag = new Float64Array(scheduled ? capacity : 0);
  latencyCount = 0;
  inWindowSent = 0;
  closedDuringPhase = 0;
  setMessageHandler(onTimedEcho);
  const start = performance.now();
  windowFrom = start + request.warmupMs;
  windowTo = windowFrom + request.durationMs;
  let sent = 0;
  let cursor = 0;
  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      const now = performance.now();
      const due = Math.min(capacity, Math.floor(((Math.min(now, start + totalMs) - start) * request.ratePerSecond) / 1000));
      let skipped = 0;
      while (sent < due && skipped < sessions.length) {
        const socket = sessions[cursor++ % sessions.length]!;
        if (socket.readyState !== WebSocket.OPEN) {
          skipped++;
          continue;
        }
        const message = timedMessage(sent, template);
        const written = performance.now();
        // Message k is due at start + (k + 1) / rate (see `due`); timing from then counts the sender's own lateness.
        const at = scheduled ? start + ((sent + 1) * 1000) / request.ratePerSecond : written;
        sentAt[sent++] = at;
        if (at >= windowFrom && at < windowTo) {
          if (scheduled) sendLag[inWindowSent] = written - at;
          inWindowSent++;
        }
        sendMessage(socket, message);
        skipped = 0;
      }
      if (now >= start + totalMs || sessions.length === 0) {
        clearInterval(tick);
        resolve();
      }
    }, 1);
  });
  await waitUntil(() => latencyCount >= inWindowSent, DRAIN_WAIT_MS);
  setMessageHandler(ignore);
  return {
    latenciesMs: latencies.slice(0, latencyCount),
    ...(scheduled ? { sendLagMs: sendLag.slice(0, inWindowSent) } : {}),
    sent,
    lost: inWindowSent - latencyCount,
    closedDuringPhase,
  };
}

// ---- round trip on every session -------------------------------------------

const kEchoed = Symbol('echoed');
type ProbedSocket = WebSocket & { [kEchoed]?: boolean };
let echoedCount = 0;

function onRoundTripEcho(this: ProbedSocket): void {
  if (this[kEchoed] === true) return;
  this[kEchoed] = true;
  echoedCount++;
}

async function roundTripAll(request: RoundTripRequest): Promise<RoundTripResult> {
  echoedCount = 0;
  let notOpen = 0;
  let sent = 0;
  setMessageHandler(onRoundTripEcho);
  for (const socket of sessions as ProbedSocket[]) {
    socket[kEchoed] = false;
    if (socket.readyState !== WebSocket.OPEN) {
      notOpen++;
      continue;
    }
    sent++;
    sendMessage(socket, PROBE);
  }
  await waitUntil(() => echoedCount >= sent, request.timeoutMs);
  setMessageHandler(ignore);
  return { echoed: echoedCount, notOpen, noEcho: sent - echoedCount };
}

// ---- follow: reconnect every closed session elsewhere --------------------------

async function follow(request: FollowRequest): Promise<FollowResult> {
  const deadline = performance.now() + request.deadlineMs;
  const held = sessions.slice() as SourcedSocket[];
  const separator = request.url.includes('?') ? '&' : '?';
  const result: FollowResult = {
    sessions: held.length, closed: 0, back: 0, failures: {}, firstCloseAt: 0, lastBackAt: 0,
    closeToBackMs: new Float64Array(held.length), closeCodes: {},
  };
  let finish = (): void => {};
  const finished = new Promise<void>((resolve) => (finish = resolve));
  let over = false;
  const reconnect = async (index: number, clientId: string, source: string | undefined, closedAt: number): Promise<void> => {
    while (!over && performance.now() < deadline) {
      const timeoutMs = Math.max(1, Math.min(request.sessionTimeoutMs, deadline - performance.now()));
      const url = `${request.url}${separator}clientId=${clientId}`;
      const { socket, failure } = await openProbedSession(url, timeoutMs, source, protocol);
      if (socket !== undefined) {
        socket.on('close', onSessionClose);
        (socket as SourcedSocket)[kSource] = source;
        sessions[index] = socket;
        if (over) return; // back, but after the deadline: not counted
        result.closeToBackMs[result.back++] = performance.now() - closedAt;
        result.lastBackAt = Date.now();
        if (result.back === held.length) finish();
        return;
      }
      result.failures[failure!] = (result.failures[failure!] ?? 0) + 1;
      await sleep(request.retryDelayMs * (1 + Math.random()));
    }
  };
  const listeners = held.map((socket, index) => {
    const clientId = new URL(socket.url).searchParams.get('clientId') ?? '';
    const onClose = (code: number): void => {
      result.closed++;
      result.closeCodes[code] = (result.closeCodes[code] ?? 0) + 1;
      if (result.firstCloseAt === 0) result.firstCloseAt = Date.now();
      void reconnect(index, clientId, socket[kSource], performance.now());
    };
    if (socket.readyState === WebSocket.CLOSED) onClose(1006);
    else socket.once('close', onClose);
    return onClose;
  });
  if (held.length === 0) finish();
  const timer = setTimeout(finish, request.deadlineMs);
  await finished;
  over = true;
  clearTimeout(timer);
  held.forEach((socket, i) => socket.removeListener('close', listeners[i]!));
  result.closeToBackMs = result.closeToBackMs.slice(0, result.back);
  return result;
}

// ---- close -------------------------------------------------------------------

async function closeAll(request: CloseRequest): Promise<CloseResult> {
  let open = 0;
  for (const socket of sessions) {
    if (socket.readyState === WebSocket.OPEN || socket.readyState === WebSocket.CONNECTING) {
      open++;
      socket.close(1000); // for a reliable session, 1000 also ends the session
    }
  }
  await waitUntil(() => sessions.every((s) => s.readyState === WebSocket.CLOSED), request.timeoutMs);
  let terminated = 0;
  for (const socket of sessions) {
    if (socket.readyState !== WebSocket.CLOSED) {
      terminated++;
      socket.terminate();
    }
  }
  sessions.length = 0;
  return { closed: open - terminated, terminated };
}

// ---- IPC -----------------------------------------------------------------------

function handle(request: GeneratorRequest): Promise<unknown> {
  switch (request.kind) {
    case 'connect':
      return connect(request);
    case 'closed-loop':
      return closedLoop(request);
    case 'open-loop':
      return openLoop(request);
    case 'close':
      return closeAll(request);
    case 'round-trip':
      return roundTripAll(request);
    case 'follow':
      return follow(request);
  }
}

process.on('message', (envelope: Envelope) => {
  handle(envelope.request).then(
    (result) => process.send!({ id: envelope.id, ok: true, result } as GeneratorReply),
    (error: unknown) => process.send!({ id: envelope.id, ok: false, error: String(error) } as GeneratorReply),
  );
});
process.on('disconnect', () => process.exit(0));
