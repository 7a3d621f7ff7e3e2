/**
 * Fuzz: random and mutated client byte streams through the gateway to a real `ws`
 * echo upstream (fast-check). A scenario is a list of messages (split into
 * fragments anywhere, text cut inside code points), control frames and arbitrary
 * frames (any opcode, RSV bits, unmasked, non-minimal or lying lengths, the
 * 64-bit length's top bit), possibly repeated into a burst, then mutated (bytes
 * flipped, set, inserted, deleted, the stream cut short), written in random TCP
 * writes before or after the upstream opens, by a client that may not read for a
 * while, and ended with FIN. The oracle (test/helpers/ws-reference.ts, written
 * from RFC 6455) says how it must end; each run asserts:
 * - the ending: the documented close code of the first fault (1002, 1007, 1009),
 *   the upstream's answer to the client's close (same code and reason), or 1001
 *   for a FIN; the close frame is the last frame and the client's TCP connection
 *   ends within 5 s (closeTimeoutMs is 30 s), as does the upstream's;
 * - the echoes: all the complete messages, in order, when the stream ended cleanly;
 *   a prefix of them after a fault (echoes still on their way are dropped);
 * - the pongs: the pings' payloads in order, each one answered or counted dropped;
 * - every accepted message delivered or counted as failed; the session gone.
 * At the end, /metrics (scraped over HTTP) shows every buffer-bound metric within
 * its bound (docs/conformance.md) and no session left.
 *
 * FUZZ_RUNS sets the number of runs (CI: 120), FUZZ_SEED replays one
 * (`npm run fuzz`, docs/conformance.md).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MAX_MESSAGE, scenario, streamOf, writesOf, type Scenario } from './frame-scenarios.js';
import type { Gateway } from '../../src/server/gateway.js';
import { startGateway, until } from '../helpers/gateway.js';
import { startTappedUpstream, type TappedUpstream } from '../helpers/tapped-upstream.js';
import { wireConnect } from '../helpers/wire-client.js';
import { closeBody, OP } from '../helpers/ws-wire.js';
import { expectedOutcome, type Ending } from '../helpers/ws-reference.js';
import { checkBufferBounds, fuzzParameters, type BufferSettings } from './fuzz-settings.js';

const KiB = 1024;
const SETTINGS: BufferSettings = { highWaterMarkBytes: 16 * KiB, preOpenQueueBytes: 4 * KiB };
const DEADLINE_MS = 5_000;
const { runs, seed } = fuzzParameters(120);

// --- The run -----------------------------------------------------------------

function describeEnding(e: Ending): string {
  return e.kind === 'fault' ? `fault ${e.code}` : e.kind === 'close' ? `close ${e.code ?? 'without code'}` : e.kind;
}

/** Whether `sub` is `all` with some elements left out, order kept. */
function isSubsequence(sub: Buffer[], all: Buffer[]): boolean {
  let i = 0;
  for (const x of all) if (i < sub.length && sub[i]!.equals(x)) i++;
  return i === sub.length;
}

async function within<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${DEADLINE_MS} ms`)), DEADLINE_MS)))]);
  } finally {
    clearTimeout(timer);
  }
}

async function droppedPongs(gw: Gateway): Promise<number> {
  const v = (await gw.metrics.controlFramesDropped.get()).values;
  return v.filter((x) => x.labels.leg === 'client').reduce((n, x) => n + x.value, 0);
}

describe('fuzz: client frames through the gateway', () => {
  let upstream: TappedUpstream;
  let gw: Gateway;
  before(async () => {
    upstream = await startTappedUpstream({ answerAfterMs: 15 });
    gw = await startGateway({
      gateway: { closeTimeoutMs: 30_000 },
      defaultRoute: { openclawGateway: `${upstream.url}/{clientId}` },
      limits: { maxMessageBytes: MAX_MESSAGE, preOpenMaxMessageBytes: MAX_MESSAGE, preOpenQueueMessages: 16, preOpenQueueBytes: SETTINGS.preOpenQueueBytes },
      backpressure: { highWaterMarkBytes: SETTINGS.highWaterMarkBytes, lowWaterMarkBytes: 4 * KiB },
    });
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  let n = 0;
  async function run(s: Scenario): Promise<void> {
    const id = `fz${n++}`;
    const stream = streamOf(s);
    const expected = expectedOutcome(stream, MAX_MESSAGE);
    const m = gw.metrics;
    const before = { received: m.messagesReceived[0]! + m.messagesReceived[1]!, sent: m.messagesSent[0]! + m.messagesSent[1]!, failed: m.messagesFailedTotal, dropped: await droppedPongs(gw) };
    const conn = upstream.connectionFor(id);
    const client = await wireConnect(gw.port, id);
    if (s.readAfterMs > 0) client.socket.pause();
    if (s.waitOpen) await within(conn.then((c) => c.opened), 'the session to open');
    for (const w of writesOf(stream, s.writes)) {
      if (client.hasEnded()) break;
      await new Promise<void>((resolve) => client.socket.write(w, () => resolve()));
      await new Promise((r) => setImmediate(r));
    }
    client.socket.end();
    if (s.readAfterMs > 0) setTimeout(() => client.socket.resume(), s.readAfterMs);
    await within(client.ended, `the gateway ending the client TCP connection (${describeEnding(expected.ending)})`);
    await within(client.closed, 'the client socket to close');
    const attempt = upstream.attempt(id);
    if (attempt !== undefined) await within(attempt.closed, 'the upstream TCP connection to end');
    await until(() => gw.sessions.size === 0, 'the session to be gone', DEADLINE_MS);

    const frames = client.frames.filter((f) => !(f.opcode === OP.PING && f.payload.length === 0)); // the gateway's own heartbeat
    const closes = frames.filter((f) => f.opcode === OP.CLOSE);
    assert.equal(closes.length, 1, 'one close frame');
    assert.equal(frames.at(-1)!.opcode, OP.CLOSE, 'the close frame comes last');
    assert.equal(client.reader.pending, 0, 'no unfinished frame');
    const close = closes[0]!.payload;
    const e = expected.ending;
    if (e.kind === 'fault') assert.equal(close.length >= 2 ? close.readUInt16BE(0) : 1005, e.code, 'the close code of the fault');
    else if (e.kind === 'close') assert.deepEqual(close, e.code === undefined ? Buffer.alloc(0) : closeBody(e.code, e.reason), "the upstream's answer to the client's close");
    else assert.deepEqual(close, closeBody(1001, 'client went away'), 'the answer to a FIN');

    const echoes = frames.filter((f) => f.opcode === OP.TEXT || f.opcode === OP.BINARY || f.opcode === OP.CONT);
    assert.ok(echoes.every((f) => f.fin && f.opcode !== OP.CONT), 'the echo upstream sends whole messages');
    const got = echoes.map((f) => ({ binary: f.opcode === OP.BINARY, payload: f.payload }));
    const clean = e.kind === 'close' || e.kind === 'fin';
    if (clean) assert.deepEqual(got, expected.messages, 'every message echoed, in order');
    else assert.deepEqual(got, expected.messages.slice(0, got.length), 'the echoes are a prefix of the messages');

    const pongs = frames.filter((f) => f.opcode === OP.PONG).map((f) => f.payload);
    assert.ok(isSubsequence(pongs, expected.pings), 'pongs answer the pings, in order');
    assert.equal(pongs.length + (await droppedPongs(gw)) - before.dropped, expected.pings.length, 'each ping answered or counted dropped');

    const d = (m.messagesReceived[0]! + m.messagesReceived[1]! - before.received) - (m.messagesSent[0]! + m.messagesSent[1]! - before.sent) - (m.messagesFailedTotal - before.failed);
    assert.equal(d, 0, 'every accepted message delivered or counted as failed');
  }

  test(`${runs} scenarios: the documented ending, the echoes, the pongs, the accounting`, { timeout: 600_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async (s) => {
        try {
          await run(s);
        } catch (err) {
          // fast-check reports the counterexample; this says what was wrong with it.
          process.stderr.write(`# fuzz failure: ${(err as Error).message}\n`);
          throw err;
        }
      }),
      { numRuns: runs, ...(seed === undefined ? {} : { seed }), verbose: 1 },
    );
  });

  test('the buffer-bound metrics stayed within their bounds; no session is left', async () => {
    await checkBufferBounds(gw.port, SETTINGS);
  });
});
