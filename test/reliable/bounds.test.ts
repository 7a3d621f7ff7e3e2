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
