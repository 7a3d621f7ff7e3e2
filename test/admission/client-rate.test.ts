/**
 * Per-connection message rates (admission.client), each way, verbatim and reliable:
 * over the rate the gateway stops reading that side. The read in progress still goes
 * through; the pause that follows pays for it exactly (the bucket goes into debt), so
 * what comes next waits: 150 messages at 50/s with a burst of 50 leave 2 s of debt,
 * and a message sent right after them is not relayed before that. Nothing is dropped,
 * order is kept, pauses are counted in stratix_rate_limit_pauses_total; a connection
 * kept over its rate for pausedTimeoutMs is closed with 4429 (a reliable session stays
 * for a resume).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { WebSocket } from 'ws';
import { openClient, startGateway, until } from '../helpers/gateway.js';
import { startUpstream } from '../helpers/upstream.js';
import { promSample } from '../helpers/raw-http.js';
import { V1Client } from '../helpers/v1-client.js';
import type { Gateway } from '../../src/server/gateway.js';

const RATE = 50;

async function pauses(gw: Gateway, direction: string): Promise<number> {
  return promSample(await gw.metrics.registry.metrics(), 'stratix_rate_limit_pauses_total', { direction }) ?? 0;
}

/** The debt 150 messages leave at RATE/s with a burst of RATE, in ms (minus the tick's granularity). */
const DEBT_MS = ((150 - RATE) / RATE) * 1000 - 300;

test('verbatim, client → upstream: after 150 messages at 50/s, the next one waits for the 2 s of debt; all arrive in order', async () => {
  const upstream = await startUpstream({ echo: false });
  const gw = await startGateway({ defaultRoute: { openclawGateway: upstream.url }, admission: { client: { messagesPerSecond: RATE } } });
  try {
    const conn = upstream.nextConnection();
    const c = await openClient(gw.port, 'rate-v1');
    await conn;
    const before = upstream.received.length;
    const t0 = Date.now();
    for (let i = 0; i < 150; i++) c.ws.send(`m${i}`);
    await until(() => upstream.received.length - before === 150, 'the first 150 upstream', 20_000);
    c.ws.send('next');
    await until(() => upstream.received.length - before === 151, 'the next one', 20_000);
    const elapsed = Date.now() - t0;
    assert.ok(elapsed >= DEBT_MS, `the next message came after ${elapsed} ms: before the debt was paid`);
    assert.deepEqual(upstream.received.slice(before).map((r) => r.data.toString()), [...Array.from({ length: 150 }, (_, i) => `m${i}`), 'next']);
    assert.ok((await pauses(gw, 'client_to_upstream')) > 0);
    c.ws.close();
    await c.closed;
  } finally {
    await gw.close();
    await upstream.close();
  }
});

test('verbatim, upstream → client: the upstream is read at the client\'s rate', async () => {
  const upstream = await startUpstream();
  const gw = await startGateway({ defaultRoute: { openclawGateway: upstream.url }, admission: { client: { messagesPerSecond: RATE } } });
  try {
    const conn = upstream.nextConnection();
    const c = await openClient(gw.port, 'rate-v2');
    const server = (await conn) as WebSocket;
    const t0 = Date.now();
    for (let i = 0; i < 150; i++) server.send(`d${i}`);
    await c.waitFor(150);
    server.send('next');
    await c.waitFor(151);
    const elapsed = Date.now() - t0;
    assert.ok(elapsed >= DEBT_MS, `the next message came after ${elapsed} ms`);
    assert.deepEqual(c.messages.map((m) => m.data.toString()), [...Array.from({ length: 150 }, (_, i) => `d${i}`), 'next']);
    assert.ok((await pauses(gw, 'upstream_to_client')) > 0);
    c.ws.close();
    await c.closed;
  } finally {
    await gw.close();
    await upstream.close();
  }
});

test('a verbatim client kept over its rate for pausedTimeoutMs is closed with 4429', async () => {
  const upstream = await startUpstream({ echo: false });
  const gw = await startGateway({ defaultRoute: { openclawGateway: upstream.url }, admission: { client: { messagesPerSecond: 10, pausedTimeoutMs: 1_000 } } });
  try {
    const conn = upstream.nextConnection();
    const c = await openClient(gw.port, 'rate-v3');
    const server = (await conn) as WebSocket;
    const upClosed = once(server, 'close');
    const flood = setInterval(() => {
      for (let i = 0; i < 20; i++) if (c.ws.readyState === c.ws.OPEN) c.ws.send('x');
    }, 50);
    try {
      assert.equal((await c.closed).code, 4429);
    } finally {
      clearInterval(flood);
    }
    assert.equal(((await upClosed) as [number])[0], 1001);
  } finally {
    await gw.close();
    await upstream.close();
  }
});

test('reliable: DATA over the rate is taken at the rate (every message ACKed, in order); kept over it, the connection gets 4429 and the session resumes', async () => {
  const upstream = await startUpstream({ echo: false });
  const gw = await startGateway({ defaultRoute: { openclawGateway: upstream.url }, admission: { client: { messagesPerSecond: RATE, pausedTimeoutMs: 3_000 } } });
  try {
    const c = await V1Client.session(gw.port, 'rate-r1');
    const w = c.envelopes.find((e) => e.type === 2)!;
    const t0 = Date.now();
    for (let i = 0; i < 150; i++) c.data(`r-${i}`, `r${i}`);
    await c.until(() => c.envelopes.filter((e) => e.type === 1).length === 150, 'every ACK', 20_000);
    c.data('next', 'next');
    await c.until(() => c.answers('next').length === 1, 'the next ACK', 20_000);
    const elapsed = Date.now() - t0;
    assert.ok(elapsed >= DEBT_MS, `the next message was taken after ${elapsed} ms`);
    await until(() => upstream.received.length === 151, 'all upstream');
    assert.deepEqual(upstream.received.map((r) => r.data.toString()), [...Array.from({ length: 150 }, (_, i) => `r${i}`), 'next']);
    // Kept over the rate: 4429, and the session stays for a resume.
    const flood = setInterval(() => {
      for (let i = 0; i < 20; i++) if (c.ws.readyState === c.ws.OPEN) c.data(`f-${Math.random()}`, 'f');
    }, 50);
    try {
      assert.equal((await c.closed).code, 4429);
    } finally {
      clearInterval(flood);
    }
    const again = await V1Client.open(gw.port, 'rate-r1');
    assert.equal((await again.hello(w.sessionId!, 1)).recovered, true);
    again.ws.close(1000);
    await again.closed;
  } finally {
    await gw.close();
    await upstream.close();
  }
});
