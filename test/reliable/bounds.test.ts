/**
 * Bounds, and nothing dropped: a session at reliable.maxUnackedMessages stops reading
 * its upstream (TCP backpressure) while other sessions carry on, and gets everything
 * once its client acknowledges; the instance bound (reliable.maxBufferedMessages)
 * pauses every session the same way; a connected client that never acknowledges is
 * closed with 4408 after backpressure.slowClientTimeoutMs and resumes without loss.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { WebSocketServer } from 'ws';
import { startGateway, until } from '../helpers/gateway.js';
import { promSample } from '../helpers/raw-http.js';
import { V1Client } from '../helpers/v1-client.js';
import type { Gateway } from '../../src/server/gateway.js';

const FLOOD = 600;

/** Sends FLOOD numbered 1 KiB messages to `flood-*` clients at once; echoes everyone else. */
async function floodUpstream(): Promise<{ url: string; close(): void }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  await once(wss, 'listening');
  wss.on('connection', (ws) => {
    ws.once('message', (d: Buffer) => {
      if (d.toString() !== 'flood') {
        ws.send(d);
        ws.on('message', (x: Buffer) => ws.send(x));
        return;
      }
      const pad = 'x'.repeat(1024);
      for (let i = 0; i < FLOOD; i++) ws.send(`${i}:${pad}`);
    });
  });
  return { url: `ws://127.0.0.1:${(wss.address() as { port: number }).port}/`, close: () => { for (const c of wss.clients) c.terminate(); wss.close(); } };
}

async function sample(gw: Gateway, name: string, labels: Record<string, string>): Promise<number> {
  return promSample(await gw.metrics.registry.metrics(), name, labels) ?? 0;
}

async function flooded(gw: Gateway, id: string): Promise<V1Client> {
  const c = await V1Client.session(gw.port, id);
  c.data('go', 'flood');
  return c;
}

/** Acks as it goes until every flood message has arrived; returns their numbers in arrival order. */
async function drain(c: V1Client): Promise<number[]> {
  for (;;) {
    const last = c.sequenced.at(-1)!.seq!;
    c.ack(last);
    if (c.payloads.length >= FLOOD) break;
    await c.until(() => c.sequenced.at(-1)!.seq! > last, 'more messages');
  }
  return c.payloads.map((p) => Number(p.split(':')[0]));
}

test('a session at its bound stops reading its upstream; other sessions are not affected; nothing is dropped', async () => {
  const up = await floodUpstream();
  const gw = await startGateway({ defaultRoute: { openclawGateway: up.url }, reliable: { maxUnackedMessages: 100 } });
  try {
    const c = await flooded(gw, 'flood-1');
    await c.until(() => c.sequenced.length >= 100, 'the bound');
    await until(() => [...gw.reliable!.sessions.values()].some((s) => s.pausedBySession), 'the upstream to be paused');
    assert.equal(await sample(gw, 'stratix_reliable_upstreams_paused', { bound: 'session' }), 1);
    await new Promise((r) => setTimeout(r, 200));
    // The bound stops the next read; the messages of the read in progress (64 KiB: at most 63 of these) still go in.
    assert.ok(c.sequenced.length >= 100 && c.sequenced.length <= 100 + 63, `held ${c.sequenced.length} at a bound of 100`);
    const held = c.sequenced.length;
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(c.sequenced.length, held, 'nothing more while paused');
    // Another session is unaffected.
    const other = await V1Client.open(gw.port, 'other-1');
    await other.hello();
    await other.until(() => other.sequenced.some((e) => e.event === 'upstream_open'), 'upstream_open');
    other.data('o-1', 'hello');
    await other.until(() => other.payloads.length === 1, 'its echo');
    // Acknowledging lets the rest through: every message once, in order.
    const order = await drain(c);
    assert.deepEqual(order, Array.from({ length: FLOOD }, (_, i) => i));
    assert.equal(gw.metrics.messagesFailedTotal, 0);
    for (const x of [c, other]) {
      x.ws.close(1000);
      await x.closed;
    }
  } finally {
    await gw.close();
    up.close();
  }
});

test('the instance bound stops the session that reaches it; acknowledging resumes it', async () => {
  const up = await floodUpstream();
  const gw = await startGateway({ defaultRoute: { openclawGateway: up.url }, reliable: { maxBufferedMessages: 1_000 } });
  try {
    const a = await flooded(gw, 'flood-a');
    await a.until(() => a.payloads.length === FLOOD, 'the first flood, under the bound');
    const b = await flooded(gw, 'flood-b');
    await until(() => gw.reliable!.sessions.size === 2 && [...gw.reliable!.sessions.values()].some((s) => s.clientId === 'flood-b' && s.pausedByInstance), 'the second paused by the instance bound', 10_000);
    assert.equal(await sample(gw, 'stratix_reliable_upstreams_paused', { bound: 'instance' }), 1);
    await new Promise((r) => setTimeout(r, 200));
    const held = a.sequenced.length + b.sequenced.length;
    assert.ok(held >= 1_000 && held <= 1_000 + 63, `held ${held} envelopes at a bound of 1000`);
    const [oa, ob] = await Promise.all([drain(a), drain(b)]);
    assert.deepEqual(oa, Array.from({ length: FLOOD }, (_, i) => i));
    assert.deepEqual(ob, Array.from({ length: FLOOD }, (_, i) => i));
    for (const x of [a, b]) {
      x.ws.close(1000);
      await x.closed;
    }
  } finally {
    await gw.close();
    up.close();
  }
});

test('a connected client that never acknowledges is closed with 4408, then resumes and gets everything', async () => {
  const up = await floodUpstream();
  const gw = await startGateway({ defaultRoute: { openclawGateway: up.url }, reliable: { maxUnackedMessages: 50 }, backpressure: { slowClientTimeoutMs: 1_000 } });
  try {
    const c = await flooded(gw, 'flood-slow');
    const w = c.envelopes.find((e) => e.type === 2)!;
    assert.equal((await c.closed).code, 4408);
    const c2 = await V1Client.open(gw.port, 'flood-slow');
    const w2 = await c2.hello(w.sessionId!, 1);
    assert.equal(w2.recovered, true);
    const order = await drain(c2);
    assert.deepEqual(order, Array.from({ length: FLOOD }, (_, i) => i));
    c2.ws.close(1000);
    await c2.closed;
  } finally {
    await gw.close();
    up.close();
  }
});

test('client DATA to an upstream that does not read: the gateway stops reading the client at the high-water mark', async () => {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  await once(wss, 'listening');
  const upstreamSockets: import('node:net').Socket[] = [];
  wss.on('connection', (_ws, req) => {
    upstreamSockets.push(req.socket);
    req.socket.pause(); // never reads
  });
  const HWM = 64 * 1024;
  const gw = await startGateway({ defaultRoute: { openclawGateway: `ws://127.0.0.1:${(wss.address() as { port: number }).port}/` }, backpressure: { highWaterMarkBytes: HWM, lowWaterMarkBytes: 16 * 1024 } });
  try {
    const c = await V1Client.session(gw.port, 'pushy-1');
    const session = [...gw.reliable!.sessions.values()][0]!;
    const chunk = Buffer.alloc(16 * 1024, 0x61).toString('base64');
    let max = 0;
    for (let i = 0; i < 2000; i++) {
      c.send({ type: 0, messageId: `p-${i}`, data: chunk, binary: true });
      if (i % 50 === 0) {
        await new Promise((r) => setTimeout(r, 5));
        max = Math.max(max, session.upstream?.bufferedAmount ?? 0);
      }
    }
    await until(() => session.clientReadsPaused, 'the client reads to pause', 10_000);
    await new Promise((r) => setTimeout(r, 300));
    max = Math.max(max, session.upstream?.bufferedAmount ?? 0);
    // A turn's messages may go out before the pause: at most one 64 KiB read of client frames on top.
    assert.ok(max <= HWM + 128 * 1024, `the gateway buffered ${max} bytes for an upstream that does not read`);
    for (const s of upstreamSockets) s.resume();
    await c.until(() => c.envelopes.filter((e) => e.type === 1).length === 2000, 'every message ACKed once the upstream reads', 20_000);
    c.ws.close(1000);
    await c.closed;
  } finally {
    await gw.close();
    for (const x of wss.clients) x.terminate();
    wss.close();
  }
});

test('a burst over the high-water mark to an upstream that keeps up: paused for the turn, then everything flows (no drain needed)', async () => {
  const { startUpstream } = await import('../helpers/upstream.js');
  const upstream = await startUpstream();
  const gw = await startGateway({ defaultRoute: { openclawGateway: upstream.url }, backpressure: { highWaterMarkBytes: 64 * 1024, lowWaterMarkBytes: 16 * 1024 } });
  try {
    const c = await V1Client.session(gw.port, 'burst-1');
    const chunk = Buffer.alloc(16 * 1024, 0x62).toString('base64');
    for (let i = 0; i < 200; i++) c.send({ type: 0, messageId: `q-${i}`, data: chunk, binary: true });
    await c.until(() => c.envelopes.filter((e) => e.type === 1).length === 200, 'every message ACKed', 20_000);
    await c.until(() => c.payloads.length === 200, 'every echo', 20_000);
    c.ws.close(1000);
    await c.closed;
  } finally {
    await gw.close();
    await upstream.close();
  }
});
