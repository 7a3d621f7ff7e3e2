/**
 * Draining a standalone Gateway: open clients get 1012 spread over the period
 * (not all at once), their upstream legs get 1001, new clients get 503
 * STRATIX_ERR_DRAINING, /readyz turns 503, and drain() resolves once all are closed.
 *
 * The spread is checked with properties a slow machine cannot break (it can only
 * make closes later): the last close comes no earlier than the period, and no
 * tenth of the period holds most of the closes.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { WebSocket } from 'ws';
import type { Gateway } from '../../src/server/gateway.js';
import { openClient, startGateway, until, type TestClient } from '../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { expectRefusal, httpGet, upgradeRequest } from '../helpers/raw-http.js';

const CLIENTS = 40;
const PERIOD_MS = 2_000;

describe('Gateway.drain', { timeout: 60_000 }, () => {
  let upstream: TestUpstream;
  let gw: Gateway;
  const clients: TestClient[] = [];
  const closedAt: number[] = [];
  const upstreamCloses: number[] = [];

  before(async () => {
    upstream = await startUpstream();
    upstream.wss.on('connection', (ws: WebSocket) => ws.on('close', (code: number) => upstreamCloses.push(code)));
    gw = await startGateway({ defaultRoute: { openclawGateway: upstream.url }, gateway: { drainGraceMs: 10_000 } });
    for (let i = 0; i < CLIENTS; i++) {
      const c = await openClient(gw.port, `drain-${i}`);
      void c.closed.then(() => closedAt.push(performance.now()));
      clients.push(c);
    }
    // Every session relays (so every upstream leg is open) before the drain starts.
    for (const c of clients) c.ws.send('ping');
    await Promise.all(clients.map((c) => c.waitFor(1)));
    await until(() => upstream.connections.size === CLIENTS, 'every upstream leg to open');
  });
  after(async () => {
    for (const c of clients) c.ws.terminate();
    await gw.close();
    await upstream.close();
  });

  it('is ready before the drain', async () => {
    const res = await httpGet(gw.port, '/readyz');
    assert.equal(res.status, 200);
    assert.equal((JSON.parse(res.body) as { ready: boolean }).ready, true);
  });

  it('closes every client with 1012, spread over the period, refusing newcomers meanwhile', async () => {
    const startedAt = performance.now();
    const drained = gw.drain(PERIOD_MS);
    let sessionsWhenResolved: number | undefined;
    void drained.then(() => (sessionsWhenResolved = gw.sessions.size));

    // During the drain: not ready, and a newcomer is refused.
    const ready = await httpGet(gw.port, '/readyz');
    assert.equal(ready.status, 503);
    assert.equal((JSON.parse(ready.body) as { ready: boolean }).ready, false);
    const refusal = await expectRefusal(gw.port, upgradeRequest('/ws?clientId=newcomer'), 503, 'STRATIX_ERR_DRAINING');
    assert.match(refusal.headers['retry-after'] ?? '', /^\d+$/);

    await drained;
    assert.equal(sessionsWhenResolved, 0, 'drain() resolved with sessions left');
    const closes = await Promise.all(clients.map((c) => c.closed));

    // Every client got 1012 (service restart).
    assert.deepEqual(closes.map((c) => c.code), new Array<number>(CLIENTS).fill(1012));

    // Spread: the last close is no earlier than the period (the schedule closes the
    // last one only once the whole period has elapsed) …
    const offsets = closedAt.map((t) => t - startedAt).sort((a, b) => a - b);
    assert.equal(offsets.length, CLIENTS);
    assert.ok(offsets.at(-1)! >= PERIOD_MS, `last close at ${offsets.at(-1)} ms, period ${PERIOD_MS} ms`);
    // … first and last are at least half a period apart …
    assert.ok(offsets.at(-1)! - offsets[0]! >= PERIOD_MS / 2, `closes span ${offsets.at(-1)! - offsets[0]!} ms`);
    // … and no tenth of the period (any window of that size, aligned) holds more than 40% of them.
    const tenth = PERIOD_MS / 10;
    const bins = new Map<number, number>();
    for (const t of offsets) bins.set(Math.floor(t / tenth), (bins.get(Math.floor(t / tenth)) ?? 0) + 1);
    const fullest = Math.max(...bins.values());
    assert.ok(fullest <= CLIENTS * 0.4, `${fullest} of ${CLIENTS} closes in one tenth of the period: ${JSON.stringify([...bins])}`);
  });

  it('closed every upstream leg with 1001', async () => {
    await until(() => upstreamCloses.length === CLIENTS, 'every upstream leg to close');
    assert.deepEqual(upstreamCloses, new Array<number>(CLIENTS).fill(1001));
    assert.equal(upstream.connections.size, 0);
  });

  it('stays unready and refusing after the drain, and a second drain() is the same promise', async () => {
    const res = await httpGet(gw.port, '/readyz');
    assert.equal(res.status, 503);
    await expectRefusal(gw.port, upgradeRequest('/ws?clientId=late'), 503, 'STRATIX_ERR_DRAINING');
    assert.equal(gw.drain(), gw.drain());
    await gw.drain();
  });
});

describe('Gateway.drain with no sessions', () => {
  it('resolves', async () => {
    const upstream = await startUpstream();
    const gw = await startGateway({ defaultRoute: { openclawGateway: upstream.url } });
    try {
      await gw.drain(500);
      assert.equal(gw.draining, true);
    } finally {
      await gw.close();
      await upstream.close();
    }
  });
});
