/**
 * Relay correctness through a standalone gateway to a real echo upstream:
 * text stays text, binary stays binary, fragmented, empty and 25 MiB messages,
 * both directions; the pre-open queue; what headers go upstream; the shared read
 * buffer under slow readers.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { WebSocketServer } from 'ws';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { openClient, connectClient, startGateway, until } from '../helpers/gateway.js';
import type { Gateway } from '../../src/server/gateway.js';
import { seedMetrics } from '../../src/metrics/metrics-format.js';

const MiB = 1024 * 1024;

describe('relay', () => {
  let upstream: TestUpstream;
  let gw: Gateway;
  before(async () => {
    upstream = await startUpstream();
    gw = await startGateway({ defaultRoute: { openclawGateway: upstream.url } });
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  test('the seed example message is answered', async () => {
    const c = await openClient(gw.port, 'client-123');
    const msg = '{"type": 0, "messageId": "msg-001", "data": "Hello World"}';
    c.ws.send(msg);
    await c.waitFor(1);
    assert.equal(c.messages[0]!.data.toString(), msg);
    assert.equal(c.messages[0]!.isBinary, false);
    c.ws.close();
    await c.closed;
  });

  test('text stays text and binary stays binary, both directions, byte for byte', async () => {
    const c = await openClient(gw.port, 'types-1');
    const before = upstream.received.length;
    const text = 'héllo ✓ {"a":1}';
    const bin = Buffer.from([0, 1, 2, 255, 254, 0x80]);
    c.ws.send(text);
    c.ws.send(bin);
    await c.waitFor(2);
    const got = upstream.received.slice(before);
    assert.equal(got[0]!.isBinary, false);
    assert.equal(got[0]!.data.toString('utf8'), text);
    assert.equal(got[1]!.isBinary, true);
    assert.deepEqual(got[1]!.data, bin);
    assert.equal(c.messages[0]!.isBinary, false);
    assert.equal(c.messages[0]!.data.toString('utf8'), text);
    assert.equal(c.messages[1]!.isBinary, true);
    assert.deepEqual(c.messages[1]!.data, bin);
    c.ws.close();
    await c.closed;
  });

  test('empty text and empty binary messages', async () => {
    const c = await openClient(gw.port, 'empty-1');
    c.ws.send('');
    c.ws.send(Buffer.alloc(0));
    await c.waitFor(2);
    assert.deepEqual(c.messages.map((m) => [m.isBinary, m.data.length]), [[false, 0], [true, 0]]);
    c.ws.close();
    await c.closed;
  });

  test('fragmented messages are delivered whole, in order, both directions', async () => {
    const c = await openClient(gw.port, 'frag-1');
    const before = upstream.received.length;
    // Client → upstream: one text message in three frames, then one binary in two.
    c.ws.send('abc', { fin: false });
    c.ws.send('def', { fin: false });
    c.ws.send('ghi', { fin: true });
    c.ws.send(Buffer.from([1, 2]), { binary: true, fin: false });
    c.ws.send(Buffer.from([3]), { binary: true, fin: true });
    await c.waitFor(2);
    const got = upstream.received.slice(before);
    assert.deepEqual(got.map((m) => [m.isBinary, m.data.toString('hex')]), [
      [false, Buffer.from('abcdefghi').toString('hex')],
      [true, '010203'],
    ]);
    assert.equal(c.messages[0]!.data.toString(), 'abcdefghi');
    // Upstream → client: the upstream sends a fragmented message itself.
    const server = [...upstream.connections].at(-1)!;
    server.send('xy', { fin: false });
    server.send('z', { fin: true });
    await c.waitFor(3);
    assert.equal(c.messages[2]!.data.toString(), 'xyz');
    assert.equal(c.messages[2]!.isBinary, false);
    c.ws.close();
    await c.closed;
  });

  test('25 MiB messages pass in both directions', async () => {
    const c = await openClient(gw.port, 'big-1');
    // Messages over 64 KiB are refused until the upstream is open (limits.preOpenMaxMessageBytes,
    // as OpenClaw refuses them before its handshake): one round trip first.
    c.ws.send('hello');
    await c.waitFor(1);
    c.messages.length = 0;
    const big = Buffer.alloc(25 * MiB);
    for (let i = 0; i < big.length; i += 4096) big[i] = i & 0xff;
    c.ws.send(big);
    await c.waitFor(1);
    assert.equal(c.messages[0]!.data.length, big.length);
    assert.ok(c.messages[0]!.data.equals(big));
    c.ws.close();
    await c.closed;
  });

  test('messages sent before the upstream opens are queued and delivered in order', async () => {
    // An upstream that takes a while to accept the upgrade.
    const slow = new WebSocketServer({
      host: '127.0.0.1',
      port: 0,
      verifyClient: (_info, cb) => setTimeout(() => cb(true), 300),
    });
    await once(slow, 'listening');
    const got: string[] = [];
    slow.on('connection', (ws) => ws.on('message', (d: Buffer) => got.push(d.toString())));
    const g = await startGateway({ defaultRoute: { openclawGateway: `ws://127.0.0.1:${(slow.address() as { port: number }).port}/` } });
    const c = await openClient(g.port, 'early-1');
    for (let i = 0; i < 10; i++) c.ws.send(`m${i}`);
    await until(() => got.length === 10, 'queued messages');
    assert.deepEqual(got, Array.from({ length: 10 }, (_, i) => `m${i}`));
    c.ws.close();
    await c.closed;
    await g.close();
    slow.close();
  });

  test('no forwarding headers and no Origin go upstream by default', async () => {
    const c = connectClient(gw.port, 'hdr-1', { headers: { Origin: 'http://evil.example', 'X-Forwarded-For': '203.0.113.7', 'X-Real-IP': '1.2.3.4', Forwarded: 'for=1.2.3.4' } });
    await once(c.ws, 'open');
    c.ws.send('x');
    await c.waitFor(1);
    const h = upstream.upgradeHeaders.at(-1)!;
    for (const name of ['origin', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-real-ip', 'forwarded']) {
      assert.equal(h[name], undefined, `${name} must not go upstream`);
    }
    c.ws.close();
    await c.closed;
  });

  test('forwarding headers and Origin are sent when configured', async () => {
    const g = await startGateway({
      defaultRoute: { openclawGateway: upstream.url },
      upstream: { forwardedHeaders: 'x-forwarded-for', forwardOrigin: true, headers: { 'X-Tenant': 't1' } },
    });
    const c = connectClient(g.port, 'hdr-2', { headers: { Origin: 'http://app.example' } });
    await once(c.ws, 'open');
    c.ws.send('x');
    await c.waitFor(1);
    const h = upstream.upgradeHeaders.at(-1)!;
    assert.equal(h['x-forwarded-for'], '127.0.0.1');
    assert.equal(h.origin, 'http://app.example');
    assert.equal(h['x-tenant'], 't1');
    c.ws.close();
    await c.closed;
    await g.close();
  });

  test('every accepted message is delivered or counted as failed', async () => {
    const c = await openClient(gw.port, 'count-1');
    for (let i = 0; i < 100; i++) c.ws.send(`n${i}`);
    await c.waitFor(100);
    c.ws.close();
    await c.closed;
    await until(() => gw.sessions.size === 0, 'sessions closed');
    const m = seedMetrics([await gw.metrics.registry.getMetricsAsJSON()], 0);
    assert.ok(m.messagesReceived >= 200);
    assert.equal(m.messagesReceived, m.messagesSent + m.messagesFailed);
    assert.equal(m.bytesReceived, m.bytesSent);
  });

  // Every leg reads into one buffer shared by the process (src/relay/shared-reads.ts): a write
  // that does not complete at once (a slow reader) keeps pointing at its bytes while other
  // sockets read on, so the relay must write copies. Many sessions relay distinct random data at
  // once through clients that stop reading for a while: every byte must come back in order.
  test('concurrent sessions through paused readers get every byte back, in order', async () => {
    const SESSIONS = 8;
    const MESSAGES = 8;
    const clients = await Promise.all(Array.from({ length: SESSIONS }, (_, i) => openClient(gw.port, `shared-${i}`)));
    // One round trip each first: the upstream legs are open (no pre-open size limit).
    for (const c of clients) c.ws.send('hello');
    await Promise.all(clients.map((c) => c.waitFor(1)));
    const sent = clients.map(() => Array.from({ length: MESSAGES }, () => randomBytes(MiB + Math.floor(Math.random() * 4096))));
    clients.forEach((c, i) => {
      c.messages.length = 0;
      // Stop reading: the echoes pile up in the kernel, the gateway's writes to this client go
      // asynchronous while the other sessions keep reading into the shared buffer.
      c.ws.pause();
      for (const m of sent[i]!) c.ws.send(m);
    });
    // 8 MiB per session: more than the kernel buffers of a loopback connection hold.
    await new Promise((r) => setTimeout(r, 500));
    for (const c of clients) c.ws.resume();
    // A corrupted stream shows as a bad frame (the client closes) or an echo that never comes.
    let closedEarly = false;
    for (const c of clients) void c.closed.then(() => (closedEarly = true));
    await until(() => closedEarly || clients.every((c) => c.messages.length >= MESSAGES), 'every echo', 30_000);
    assert.equal(closedEarly, false, 'a session was closed: its byte stream broke');
    clients.forEach((c, i) => {
      assert.equal(c.messages.length, MESSAGES);
      c.messages.forEach((m, k) => assert.ok(m.data.equals(sent[i]![k]!), `session ${i}, message ${k}: bytes differ`));
    });
    await Promise.all(clients.map((c) => { c.ws.close(); return c.closed; }));
  });
});
