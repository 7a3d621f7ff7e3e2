/**
 * What the SDK makes of each outcome the gateway can give, against the real
 * gateway and real upstreams: a gap when the window passed or the position is out
 * of range, a take-over (4410: stop, no reconnect), an upstream reset (pending
 * messages rejected, upstreamReset), an upstream closed for good (the session
 * ends), a NACK, and the send queue's bounds and local refusals.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import WebSocket, { WebSocketServer } from 'ws';
import { StratixClient, NackError, SessionEndedError, ClosedByGatewayError, type StratixClientOptions } from '@stratix/client';
import { startGateway, until } from '../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import type { Gateway } from '../../src/server/gateway.js';
import { MemoryStorage, reach, record, track } from './fixtures.js';

const FAST = { initialDelayMs: 50, maxDelayMs: 200, immediateMaxDelayMs: 50 };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** An echo upstream that can be stopped (its connections closed with a code) and started again on the same port. */
async function restartableUpstream(): Promise<{ url: string; received: string[]; connections: number; start(): Promise<void>; stop(code: number, reason: string): Promise<void> }> {
  let wss: WebSocketServer | undefined;
  let port = 0;
  const u = {
    received: [] as string[],
    connections: 0,
    get url() {
      return `ws://127.0.0.1:${port}/ws`;
    },
    async start() {
      const s = new WebSocketServer({ host: '127.0.0.1', port, perMessageDeflate: false });
      await once(s, 'listening');
      port = (s.address() as { port: number }).port;
      s.on('connection', (ws) => {
        u.connections++;
        ws.on('message', (d: Buffer, binary: boolean) => {
          u.received.push(d.toString());
          ws.send(d, { binary });
        });
      });
      wss = s;
    },
    async stop(code: number, reason: string) {
      const s = wss!;
      wss = undefined;
      for (const ws of s.clients) ws.close(code, reason);
      await new Promise<void>((resolve) => s.close(() => resolve()));
    },
  };
  await u.start();
  return u;
}

describe('StratixClient: outcomes', () => {
  let upstream: TestUpstream;
  let gw: Gateway;
  let proxy: TcpProxy;
  const clients: StratixClient[] = [];
  before(async () => {
    upstream = await startUpstream();
    gw = await startGateway({
      defaultRoute: { openclawGateway: upstream.url },
      limits: { maxMessageBytes: 1024, preOpenMaxMessageBytes: 1024 },
      reliable: { resumeWindowMs: 1_000, heartbeatMs: 1_000 },
    });
    proxy = await TcpProxy.start(gw.port);
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.close();
  });
  after(async () => {
    await proxy.close();
    await gw.close();
    await upstream.close();
  });

  const client = (clientId: string, extra: Partial<StratixClientOptions> = {}, port = proxy.port) => {
    const c = new StratixClient({ url: `ws://127.0.0.1:${port}/ws`, clientId, WebSocket, reconnect: FAST, ...extra });
    clients.push(c);
    return c;
  };

  test('the resume window passed: a gap (recovered:false, resume "expired") with the numbers; what waited is rejected; a new session and upstream follow', async () => {
    const c = client('out-gap-1');
    const r = record(c);
    await reach(c, 'open');
    await c.send('one');
    await until(() => r.messages.length === 1, 'the echo');
    const old = c.sessionId!;
    const position = c.lastSeq;
    await proxy.cut();
    await until(() => r.states.includes('offline'), 'the client to notice the cut');
    const pending = track(0, c.send('meant for the old session'));
    await until(() => !gw.reliable!.sessions.has(old), 'the window to pass');
    await proxy.restore();
    await until(() => r.gaps.length === 1, 'the gap');
    assert.deepEqual(r.gaps[0], { recovered: false, resume: 'expired', sessionId: c.sessionId, previousSessionId: old, firstSeq: 1, lastSeq: 0, lastProcessedSeq: position });
    assert.notEqual(c.sessionId, old);
    await until(() => pending.settled === 1, 'the pending message to be rejected');
    assert.equal((pending.error as { code: string }).code, 'STRATIX_CLIENT_ERR_SESSION_LOST');
    await until(() => r.opens.length === 2, 'the new upstream');
    assert.deepEqual(r.opens, [1, 1]);
    await c.send('two');
    await until(() => r.messages.length === 2, 'the echo');
    assert.deepEqual(r.messages[1], { data: 'two', seq: 2, binary: false });
    assert.ok(!upstream.received.some((m) => m.data.toString() === 'meant for the old session'));
    assert.equal(c.stats.gaps, 1);
  });

  test('a stored position beyond the gateway\'s: a gap (resume "out_of_range") in the same session; delivery goes on from firstSeq', async () => {
    const storage = new MemoryStorage();
    const a = client('out-range-1', { storage });
    const ra = record(a);
    await reach(a, 'open');
    await a.send('x');
    await until(() => ra.messages.length === 1, 'the echo');
    const sid = a.sessionId!;
    await until(() => gw.reliable!.sessions.get(sid)?.ackedSeq === 2, 'the ACK of seq 2');
    await a.close({ keepSession: true });
    storage.setItem('stratix:out-range-1', JSON.stringify({ v: 1, sessionId: sid, lastSeq: 99 }));
    const b = client('out-range-1', { storage });
    const rb = record(b);
    await until(() => rb.gaps.length === 1, 'the gap');
    assert.deepEqual(rb.gaps[0], { recovered: false, resume: 'out_of_range', sessionId: sid, previousSessionId: sid, firstSeq: 3, lastSeq: 2, lastProcessedSeq: 99 });
    assert.equal(b.lastSeq, 2);
    await b.send('y');
    await until(() => rb.messages.length === 1, 'the echo');
    assert.deepEqual(rb.messages[0], { data: 'y', seq: 3, binary: false });
  });

  test('taken over (4410) by a window with the same storage: the first stops with STRATIX_CLIENT_ERR_TAKEN_OVER and never reconnects', async () => {
    const storage = new MemoryStorage();
    const a = client('out-take-1', { storage });
    const ra = record(a);
    await reach(a, 'open');
    const lines = proxy.requestLines.length;
    const b = client('out-take-1', { storage });
    const rb = record(b);
    await reach(a, 'closed', 'the first client to stop');
    assert.equal(ra.errors.length, 1);
    const e = ra.errors[0] as ClosedByGatewayError;
    assert.ok(e instanceof ClosedByGatewayError);
    assert.deepEqual([e.code, e.closeCode], ['STRATIX_CLIENT_ERR_TAKEN_OVER', 4410]);
    await reach(b, 'open');
    assert.equal(b.sessionId, a.sessionId);
    await b.send('mine now');
    await assert.rejects(a.send('late'), (err: unknown) => (err as { code?: string }).code === 'STRATIX_CLIENT_ERR_CLOSED');
    await sleep(600); // three times the largest backoff: a reconnect would have happened
    assert.equal(proxy.requestLines.length, lines + 1, 'only the second client connected');
    assert.deepEqual(rb.errors, []);
  });

  test('the upstream resets: a message sent meanwhile is NACKed, what waited is rejected at upstream_reset, upstreamReset fires with the old code, then sends reach the new upstream', async () => {
    const up = await restartableUpstream();
    const g = await startGateway({
      defaultRoute: { openclawGateway: up.url },
      routing: { health: { downCooldownMs: 50 } },
      reliable: { upstreamReconnect: { initialDelayMs: 10, maxDelayMs: 50 } },
    });
    try {
      const c = client('out-reset-1', {}, g.port);
      const r = record(c);
      await reach(c, 'open');
      await c.send('before');
      await up.stop(1012, 'service restart');
      await until(() => g.reliable!.sessions.get(c.sessionId!)!.upstream === null, 'the gateway to lose its upstream');
      await assert.rejects(c.send('a'), (e: unknown) => e instanceof NackError && e.code === 'STRATIX_NACK_UPSTREAM_NOT_OPEN');
      const held = track(1, c.send('b'));
      await sleep(400); // the gateway's reconnect attempts are refused meanwhile
      assert.equal(held.settled, 0, 'held until the upstream is back');
      await up.start();
      await until(() => r.resets.length === 1, 'upstreamReset');
      assert.deepEqual(r.resets[0], { seq: 3, code: 1012, reason: 'service restart' });
      await until(() => held.settled === 1, 'the held message to be rejected');
      assert.equal((held.error as { code: string }).code, 'STRATIX_CLIENT_ERR_UPSTREAM_RESET');
      await c.send('c');
      assert.deepEqual(up.received, ['before', 'c'], 'neither a nor b reached any upstream');
      assert.equal(up.connections, 2);
      assert.equal(c.stats.upstreamResets, 1);
      await c.close();
    } finally {
      await g.close();
      await up.stop(1001, 'test over');
    }
  });

  test('the upstream closes for good (1008): upstreamClosed, a SessionEndedError, the client closes, the stored state is removed', async () => {
    const storage = new MemoryStorage();
    const conn = upstream.nextConnection();
    const c = client('out-end-1', { storage });
    const r = record(c);
    await reach(c, 'open');
    const server = await conn;
    assert.notEqual(storage.getItem('stratix:out-end-1'), null);
    const lines = proxy.requestLines.length;
    server.close(1008, 'go away for good');
    await reach(c, 'closed');
    assert.deepEqual(r.closes, [{ seq: 2, code: 1008, reason: 'go away for good' }]);
    assert.equal(r.errors.length, 1);
    const e = r.errors[0] as SessionEndedError;
    assert.ok(e instanceof SessionEndedError);
    assert.deepEqual([e.code, e.upstreamCode, e.upstreamReason, e.closeCode], ['STRATIX_CLIENT_ERR_SESSION_ENDED', 1008, 'go away for good', 1000]);
    assert.equal(storage.getItem('stratix:out-end-1'), null);
    await sleep(600);
    assert.equal(proxy.requestLines.length, lines, 'no reconnect');
  });

  test('a NACK rejects send() with a NackError carrying the gateway\'s code; the session goes on', async () => {
    const c = client('out-nack-1');
    await reach(c, 'open');
    await assert.rejects(c.send('x'.repeat(1_100)), (e: unknown) => e instanceof NackError && e.code === 'STRATIX_NACK_TOO_LARGE' && /payload over 1024 bytes/.test(e.reason));
    await c.send('fits');
    assert.equal(c.stats.nacked, 1);
  });

  test('the send queue is bounded in messages and bytes (STRATIX_CLIENT_ERR_QUEUE_FULL); too large, bad payloads and bad ids are refused at once; close() rejects what waits', async () => {
    const c = client('out-queue-1', { queue: { maxMessages: 3, maxBytes: 100 }, maxPayloadBytes: 50 });
    const r = record(c);
    await reach(c, 'open');
    await proxy.cut();
    await until(() => r.states.includes('offline'), 'offline');
    const queued = [track(0, c.send('a'.repeat(40))), track(1, c.send('b'.repeat(40)))];
    await assert.rejects(c.send('c'.repeat(30)), (e: unknown) => (e as { code?: string }).code === 'STRATIX_CLIENT_ERR_QUEUE_FULL' && /queue\.maxBytes 100/.test(String(e)));
    queued.push(track(2, c.send('d'.repeat(20))));
    await assert.rejects(c.send('e'), (e: unknown) => (e as { code?: string }).code === 'STRATIX_CLIENT_ERR_QUEUE_FULL' && /queue\.maxMessages 3/.test(String(e)));
    await assert.rejects(c.send(new Uint8Array(51)), (e: unknown) => (e as { code?: string }).code === 'STRATIX_CLIENT_ERR_TOO_LARGE');
    await assert.rejects(c.send(42 as never), (e: unknown) => (e as { code?: string }).code === 'STRATIX_CLIENT_ERR_BAD_PAYLOAD');
    await assert.rejects(c.send('x', { messageId: 'bad"id' }), (e: unknown) => (e as { code?: string }).code === 'STRATIX_CLIENT_ERR_BAD_MESSAGE_ID');
    assert.deepEqual([c.stats.queuedMessages, c.stats.queuedBytes, c.stats.queueFullRejections], [3, 100, 2]);
    await proxy.restore();
    await until(() => queued.every((o) => o.settled === 1), 'the queued messages');
    assert.deepEqual(queued.map((o) => o.ok), [true, true, true]);
    const own = track(3, c.send('mine', { messageId: 'app-1' }));
    await assert.rejects(c.send('again', { messageId: 'app-1' }), (e: unknown) => (e as { code?: string }).code === 'STRATIX_CLIENT_ERR_BAD_MESSAGE_ID');
    await until(() => own.settled === 1, 'app-1');
    assert.equal(own.ok, true);
    await proxy.cut();
    await until(() => c.state === 'offline' || c.state === 'resuming', 'offline again');
    const waiting = track(4, c.send('never'));
    await c.close();
    await until(() => waiting.settled === 1, 'rejected');
    assert.equal((waiting.error as { code: string }).code, 'STRATIX_CLIENT_ERR_CLOSED');
    await assert.rejects(c.send('after'), (e: unknown) => (e as { code?: string }).code === 'STRATIX_CLIENT_ERR_CLOSED');
    await proxy.restore();
  });
});
