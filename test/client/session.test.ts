/**
 * The SDK against the real gateway (standalone, in process) and a real `ws`
 * upstream, through a TCP proxy the tests cut: a session opens, messages go both
 * ways with their ACKs, and it survives cuts with nothing lost, nothing repeated,
 * nothing sent twice upstream.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { StratixClient, NackError } from '@stratix/client';
import { startGateway, until } from '../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import type { Gateway } from '../../src/server/gateway.js';
import { counter, reach, record, track } from './fixtures.js';

const FAST = { initialDelayMs: 50, maxDelayMs: 200, immediateMaxDelayMs: 50 };

describe('StratixClient: a session through the gateway', () => {
  let upstream: TestUpstream;
  let gw: Gateway;
  let proxy: TcpProxy;
  before(async () => {
    upstream = await startUpstream();
    gw = await startGateway({ defaultRoute: { openclawGateway: upstream.url }, reliable: { resumeWindowMs: 20_000, heartbeatMs: 1_000 } });
    proxy = await TcpProxy.start(gw.port);
  });
  after(async () => {
    await proxy.close();
    await gw.close();
    await upstream.close();
  });

  const client = (clientId: string, extra: Partial<ConstructorParameters<typeof StratixClient>[0]> = {}) =>
    new StratixClient({ url: `ws://127.0.0.1:${proxy.port}/ws`, clientId, WebSocket, reconnect: FAST, ...extra });

  test('connecting → open; send resolves on the ACK; the echo arrives as a message with its seq', async () => {
    const c = client('sdk-basic-1');
    const r = record(c);
    await reach(c, 'open');
    await c.send('hello ✓');
    await until(() => r.messages.length === 1, 'the echo');
    assert.deepEqual(r.messages[0], { data: 'hello ✓', seq: 2, binary: false });
    assert.deepEqual(r.opens, [1]);
    await c.send(new Uint8Array([0, 255, 7]));
    await until(() => r.messages.length === 2, 'the binary echo');
    assert.deepEqual(r.messages[1], { data: new Uint8Array([0, 255, 7]), seq: 3, binary: true });
    assert.equal(upstream.received.at(-1)!.isBinary, true);
    await c.close();
    assert.deepEqual(r.states, ['connecting', 'open', 'closed']);
    assert.deepEqual(r.errors, []);
  });

  test('a TCP cut: the client resumes, every upstream message once and in order, every send resolved once, the upstream saw one connection', async () => {
    const conn = upstream.nextConnection();
    const c = client('sdk-cut-1');
    const r = record(c);
    await reach(c, 'open');
    const server = await conn;
    const connections = upstream.upgradeHeaders.length;
    const stream = counter(server, 'n', 5);
    const sends = Array.from({ length: 20 }, (_, i) => track(i, c.send(`s${i}`)));
    await until(() => stream.sent.length >= 30, 'some of the stream');
    await proxy.cut();
    await reach(c, 'offline', 'the client to notice the cut');
    const offline = Array.from({ length: 20 }, (_, i) => track(20 + i, c.send(`s${20 + i}`)));
    await new Promise((resolve) => setTimeout(resolve, 300));
    await proxy.restore();
    await reach(c, 'open', 'the resume');
    await until(() => [...sends, ...offline].every((o) => o.settled === 1), 'every send to settle');
    const sent = stream.stop();
    await until(() => r.texts().filter((t) => t.startsWith('n')).length === sent, 'the whole stream');
    assert.deepEqual(r.texts().filter((t) => t.startsWith('n')), stream.sent);
    assert.deepEqual([...sends, ...offline].map((o) => o.ok), Array(40).fill(true));
    // The upstream got each message once, in order, and echoed it once.
    const got = upstream.received.map((m) => m.data.toString()).filter((t) => /^s\d+$/.test(t) && Number(t.slice(1)) < 40);
    assert.deepEqual(got.slice(-40), Array.from({ length: 40 }, (_, i) => `s${i}`));
    assert.equal(got.filter((t) => t === 's0').length, 1);
    assert.deepEqual(r.texts().filter((t) => t.startsWith('s')), Array.from({ length: 40 }, (_, i) => `s${i}`));
    const seqs = r.messages.map((m) => m.seq);
    assert.deepEqual(seqs, Array.from({ length: seqs.length }, (_, i) => i + 2), 'seqs 2, 3, … once each');
    assert.equal(upstream.upgradeHeaders.length, connections, 'no new upstream connection');
    assert.ok(r.states.includes('resuming'));
    assert.equal(c.stats.resumes, 1);
    assert.deepEqual(r.gaps, []);
    await c.close();
  });

  test('a NACK rejects send() with a NackError carrying the gateway code', async () => {
    const c = client('sdk-nack-1', { maxPayloadBytes: 64 * 1024 * 1024 });
    await reach(c, 'open');
    const big = 'x'.repeat(26_214_401);
    await assert.rejects(c.send(big), (e: unknown) => e instanceof NackError && e.code === 'STRATIX_NACK_TOO_LARGE' && e.messageId.length > 0);
    await c.send('still fine');
    await c.close();
  });
});
