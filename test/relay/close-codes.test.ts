/**
 * Close-code mapping: what a client gets when the upstream closes, drops,
 * refuses, times out, cannot be reached, rejects the upgrade or breaks the
 * protocol; and what the upstream gets when the client leaves.
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Socket } from 'node:net';
import { createHash } from 'node:crypto';
import { startUpstream, startBlackhole, freePort, type TestUpstream } from '../helpers/upstream.js';
import { openClient, startGateway, until } from '../helpers/gateway.js';
import type { Gateway } from '../../src/server/gateway.js';
import { seedMetrics } from '../../src/metrics/metrics-format.js';

const cleanups: Array<() => Promise<unknown> | void> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function gatewayTo(url: string, extra: Record<string, unknown> = {}): Promise<Gateway> {
  const gw = await startGateway({ defaultRoute: { openclawGateway: url }, ...extra });
  cleanups.push(() => gw.close());
  return gw;
}

async function upstreamFixture(): Promise<TestUpstream> {
  const u = await startUpstream();
  cleanups.push(() => u.close());
  return u;
}

describe('upstream closes are relayed to the client', () => {
  for (const [code, reason] of [
    [1000, 'bye'],
    [1001, 'going away'],
    [1008, 'policy'],
    [1011, 'oops'],
    [1012, 'service restart'],
    [1013, 'later'],
    [4000, 'custom 4000'],
    [4999, 'custom 4999'],
  ] as const) {
    test(`${code} "${reason}" reaches the client unchanged`, async () => {
      const u = await upstreamFixture();
      const gw = await gatewayTo(u.url);
      const conn = u.nextConnection();
      const c = await openClient(gw.port, `relay-${code}`);
      (await conn).close(code, reason);
      assert.deepEqual(await c.closed, { code, reason });
    });
  }

  test('a close without a code reaches the client as one without a code (1005)', async () => {
    const u = await upstreamFixture();
    const gw = await gatewayTo(u.url);
    const conn = u.nextConnection();
    const c = await openClient(gw.port, 'relay-1005');
    (await conn).close();
    assert.equal((await c.closed).code, 1005);
  });

  test('an upstream that drops the connection gives 4520', async () => {
    const u = await upstreamFixture();
    const gw = await gatewayTo(u.url);
    const conn = u.nextConnection();
    const c = await openClient(gw.port, 'drop-1');
    (await conn).terminate();
    assert.equal((await c.closed).code, 4520);
  });
});

describe('upstream connect failures each have their own code', () => {
  test('refused (nothing listening) gives 4521, and queued messages count as failed', async () => {
    const gw = await gatewayTo(`ws://127.0.0.1:${await freePort()}/ws`);
    const c = await openClient(gw.port, 'refused-1');
    c.ws.send('lost-1');
    c.ws.send('lost-2');
    const closed = await c.closed;
    assert.equal(closed.code, 4521);
    assert.match(closed.reason, /ECONNREFUSED/);
    await until(() => gw.sessions.size === 0, 'session gone');
    const m = seedMetrics([await gw.metrics.registry.getMetricsAsJSON()], 0);
    assert.equal(m.messagesReceived, m.messagesSent + m.messagesFailed);
    assert.ok(m.messagesFailed >= 1, 'queued messages are reported as failed');
    const failures = (await gw.metrics.upstreamConnectFailures.get()).values;
    assert.equal(failures.find((v) => v.labels.code === 'STRATIX_ERR_UPSTREAM_REFUSED')?.value, 1);
  });

  test('timed out (accepts TCP, never answers) gives 4522', async () => {
    const hole = await startBlackhole();
    cleanups.push(() => hole.close());
    const gw = await gatewayTo(`ws://127.0.0.1:${hole.port}/ws`, { upstream: { connectTimeoutMs: 300 } });
    const c = await openClient(gw.port, 'timeout-1');
    assert.equal((await c.closed).code, 4522);
  });

  test('unreachable (the host name cannot be resolved) gives 4523', async () => {
    // A 64-character label is rejected by the resolver itself: no query leaves the machine.
    const gw = await gatewayTo(`ws://${'a'.repeat(64)}.invalid:80/ws`);
    const c = await openClient(gw.port, 'unreach-1');
    const closed = await c.closed;
    assert.equal(closed.code, 4523);
    assert.match(closed.reason, /ENOTFOUND|EAI/);
  });

  test('an HTTP error answer to the upgrade gives 4502 naming the status', async () => {
    const u = await startUpstream({ rejectStatus: 403 });
    cleanups.push(() => u.close());
    const gw = await gatewayTo(u.url);
    const c = await openClient(gw.port, 'rejected-1');
    const closed = await c.closed;
    assert.equal(closed.code, 4502);
    assert.match(closed.reason, /403/);
  });
});

/** An upstream that completes the upgrade by hand, then writes `afterOpen` raw bytes. */
async function rawUpstream(afterOpen: Buffer): Promise<number> {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    let head = '';
    s.on('data', (d: Buffer) => {
      if (head.includes('\r\n\r\n')) return;
      head += d.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      const key = /sec-websocket-key: *(.+)\r\n/i.exec(head)![1]!.trim();
      const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
      s.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
      setTimeout(() => s.write(afterOpen), 50);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return (server.address() as { port: number }).port;
}

describe('an upstream that breaks the protocol gives the client 1014', () => {
  test('invalid UTF-8 in a text frame', async () => {
    const port = await rawUpstream(Buffer.from([0x81, 0x02, 0xff, 0xfe]));
    const gw = await gatewayTo(`ws://127.0.0.1:${port}/`);
    const c = await openClient(gw.port, 'bad-utf8-up');
    assert.equal((await c.closed).code, 1014);
  });

  test('a message over limits.maxMessageBytes', async () => {
    const header = Buffer.from([0x82, 0x7f, 0, 0, 0, 0, 0, 0x02, 0, 0]); // claims 128 KiB
    const port = await rawUpstream(header);
    const gw = await gatewayTo(`ws://127.0.0.1:${port}/`, { limits: { maxMessageBytes: 65536 } });
    const c = await openClient(gw.port, 'big-up');
    assert.equal((await c.closed).code, 1014);
  });

  test('a masked frame from the upstream (servers must not mask)', async () => {
    const port = await rawUpstream(Buffer.from([0x81, 0x81, 1, 2, 3, 4, 0x61 ^ 1]));
    const gw = await gatewayTo(`ws://127.0.0.1:${port}/`);
    const c = await openClient(gw.port, 'masked-up');
    assert.equal((await c.closed).code, 1014);
  });
});

describe('client closes are relayed to the upstream', () => {
  test('a client close code and reason reach the upstream', async () => {
    const u = await upstreamFixture();
    const gw = await gatewayTo(u.url);
    const conn = u.nextConnection();
    const c = await openClient(gw.port, 'client-close-1');
    const server = await conn;
    const upClosed = once(server, 'close');
    c.ws.close(4001, 'client says bye');
    const [code, reason] = (await upClosed) as [number, Buffer];
    assert.equal(code, 4001);
    assert.equal(reason.toString(), 'client says bye');
  });

  test('a client that vanishes gives the upstream 1001', async () => {
    const u = await upstreamFixture();
    const gw = await gatewayTo(u.url);
    const conn = u.nextConnection();
    const c = await openClient(gw.port, 'client-vanish-1');
    const server = await conn;
    const upClosed = once(server, 'close');
    c.ws.terminate();
    const [code] = (await upClosed) as [number];
    assert.equal(code, 1001);
    await until(() => gw.sessions.size === 0, 'session gone');
  });
});
