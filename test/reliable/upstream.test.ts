/**
 * The reliable session and its upstream: a retryable close (1012, a vanished
 * upstream) is survived with upstream_reset and nothing replayed into the new
 * upstream; a final one (1008) ends the session with upstream_closed and a 1000 close;
 * the circuit breaker keeps many sessions from hammering a dead upstream and lets them
 * back when it returns.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { WebSocketServer, type WebSocket } from 'ws';
import { startGateway, until } from '../helpers/gateway.js';
import { freePort, startUpstream } from '../helpers/upstream.js';
import { promSample } from '../helpers/raw-http.js';
import { V1Client } from '../helpers/v1-client.js';
import { NackCodes } from '../../src/errors.js';
import type { Gateway } from '../../src/server/gateway.js';

async function sample(gw: Gateway, name: string, labels: Record<string, string> = {}): Promise<number> {
  return promSample(await gw.metrics.registry.metrics(), name, labels) ?? 0;
}

const opened = (gw: Gateway, clientId: string): Promise<V1Client> => V1Client.session(gw.port, clientId);

test('the upstream restarts (1012): the session survives with upstream_reset; nothing is replayed into the new upstream', async () => {
  const upstream = await startUpstream();
  const gw = await startGateway({ defaultRoute: { openclawGateway: upstream.url }, reliable: { upstreamReconnect: { initialDelayMs: 300, maxDelayMs: 300 } } });
  try {
    const first = upstream.nextConnection();
    const c = await opened(gw, 'reset-1');
    const server = (await first) as WebSocket;
    c.data('m-1', 'to the first upstream');
    await c.until(() => c.payloads.length === 1, 'echo');
    const second = upstream.nextConnection();
    server.close(1012, 'service restart');
    await until(() => gw.reliable!.sessions.values().next().value!.upstream === null, 'the upstream to go');
    c.data('m-2', 'while reconnecting');
    await c.until(() => c.answers('m-2').length === 1, 'a NACK');
    assert.equal(c.answers('m-2')[0]!.code, NackCodes.UPSTREAM_NOT_OPEN.code);
    const fresh = (await second) as WebSocket;
    const got: string[] = [];
    fresh.on('message', (d: Buffer) => got.push(d.toString()));
    await c.until(() => c.sequenced.some((e) => e.event === 'upstream_reset'), 'upstream_reset');
    const reset = c.sequenced.find((e) => e.event === 'upstream_reset')!;
    assert.deepEqual([reset.seq, reset.code, reset.reason], [3, 1012, 'service restart']);
    c.ack(reset.seq!); // DATA waits for the client to have seen upstream_reset (protocol.md §3.4)
    c.data('m-3', 'to the new upstream');
    await c.until(() => c.payloads.length === 2, 'echo from the new upstream');
    assert.deepEqual(got, ['to the new upstream'], 'nothing replayed into the new upstream');
    assert.deepEqual(c.sequenced.map((e) => e.seq), [1, 2, 3, 4]);
    c.ws.close(1000);
    await c.closed;
  } finally {
    await gw.close();
    await upstream.close();
  }
});

test('an upstream that vanishes (no close frame) is a reset with 4520; a 1008 close ends the session', async () => {
  const upstream = await startUpstream();
  const gw = await startGateway({ defaultRoute: { openclawGateway: upstream.url }, reliable: { upstreamReconnect: { initialDelayMs: 100, maxDelayMs: 100 } } });
  try {
    const first = upstream.nextConnection();
    const c = await opened(gw, 'lost-1');
    const second = upstream.nextConnection();
    ((await first) as WebSocket).terminate();
    await c.until(() => c.sequenced.some((e) => e.event === 'upstream_reset'), 'upstream_reset');
    assert.equal(c.sequenced.find((e) => e.event === 'upstream_reset')!.code, 4520);
    const server = (await second) as WebSocket;
    server.close(1008, 'policy');
    await c.until(() => c.sequenced.some((e) => e.event === 'upstream_closed'), 'upstream_closed');
    const closed = c.sequenced.find((e) => e.event === 'upstream_closed')!;
    assert.deepEqual([closed.code, closed.reason], [1008, 'policy']);
    assert.deepEqual(await c.closed, { code: 1000, reason: 'session ended' });
    assert.equal(gw.reliable!.sessions.size, 0, 'the session is over');
    assert.equal(await sample(gw, 'stratix_reliable_sessions_ended_total', { reason: 'upstream_closed' }), 1);
  } finally {
    await gw.close();
    await upstream.close();
  }
});

test('the circuit breaker: sessions on a dead upstream do not hammer it, and come back when it returns', async () => {
  const port = await freePort();
  const listen = async (): Promise<WebSocketServer> => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port, perMessageDeflate: false });
    await once(wss, 'listening');
    wss.on('connection', (ws) => ws.on('message', (d: Buffer) => ws.send(d)));
    return wss;
  };
  let wss = await listen();
  const gw = await startGateway({
    defaultRoute: { openclawGateway: `ws://127.0.0.1:${port}/` },
    routing: { health: { failuresToMarkDown: 2, downCooldownMs: 400 } },
    reliable: { upstreamReconnect: { initialDelayMs: 50, maxDelayMs: 100 }, breakerReleaseSpreadMs: 200 },
  });
  try {
    const clients = await Promise.all(Array.from({ length: 20 }, (_, i) => opened(gw, `breaker-${i}`)));
    const failuresBefore = await sample(gw, 'stratix_upstream_connect_failures_total', { code: 'STRATIX_ERR_UPSTREAM_REFUSED' });
    for (const ws of wss.clients) ws.terminate();
    await new Promise<void>((r) => wss.close(() => r()));
    await until(() => [...gw.reliable!.sessions.values()].every((s) => s.upstream === null), 'every upstream to go');
    await new Promise((r) => setTimeout(r, 3_000));
    const failures = (await sample(gw, 'stratix_upstream_connect_failures_total', { code: 'STRATIX_ERR_UPSTREAM_REFUSED' })) - failuresBefore;
    // Without the breaker: 20 sessions × one attempt per ≤100 ms over 3 s ≈ 600 attempts.
    assert.ok(failures >= 2 && failures <= 20, `connect attempts to the dead upstream in 3 s: ${failures}`);
    assert.equal(await sample(gw, 'stratix_upstream_breakers', { state: 'open' }) + (await sample(gw, 'stratix_upstream_breakers', { state: 'half_open' })), 1);
    assert.ok((await sample(gw, 'stratix_upstream_breakers', { state: 'waiting' })) > 0, 'sessions wait for the breaker');
    wss = await listen();
    await Promise.all(clients.map((c) => c.until(() => c.sequenced.some((e) => e.event === 'upstream_reset'), 'upstream_reset', 10_000)));
    assert.equal(await sample(gw, 'stratix_upstream_breakers', { state: 'open' }), 0);
    for (const c of clients) {
      c.ws.close(1000);
      await c.closed;
    }
  } finally {
    await gw.close();
    for (const ws of wss.clients) ws.terminate();
    wss.close();
  }
});

test('reliable sessions\' upstream connects are paced per upstream (admission.upstream): one at a time here, all opened', async () => {
  const { startRawUpstream } = await import('../helpers/raw-upstream.js');
  const slow = await startRawUpstream({ answerAfterMs: 60 });
  const gw = await startGateway({ defaultRoute: { openclawGateway: slow.url }, admission: { upstream: { maxConcurrentConnects: 1 } } });
  try {
    const clients = await Promise.all(Array.from({ length: 10 }, async (_, i) => {
      const c = await V1Client.open(gw.port, `paced-${i}`);
      await c.hello();
      return c;
    }));
    await Promise.all(clients.map((c) => c.upstreamOpen()));
    assert.equal(slow.maxPending(), 1, 'never more than one upgrade waiting at the upstream');
    assert.equal(slow.connections.length, 10);
    for (const c of clients) c.ws.terminate();
  } finally {
    await gw.close();
    await slow.close();
  }
});
