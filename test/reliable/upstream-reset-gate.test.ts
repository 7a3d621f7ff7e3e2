/**
 * After `upstream_reset` the new upstream is a fresh OpenClaw connection that accepts
 * nothing but its connect handshake. A client cannot know the new upstream is open
 * until it has read `upstream_reset`, so a DATA it sent before that (written for the
 * old upstream) must not reach the new one: the gateway NACKs DATA with
 * STRATIX_NACK_UPSTREAM_NOT_OPEN until the client's ACK covers the upstream_reset's
 * seq (docs/protocol.md §3.4). And upstream_reset names the old upstream's close
 * (code and reason), also when reconnect attempts failed before one succeeded.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { WebSocketServer, type WebSocket } from 'ws';
import { startGateway, until } from '../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { V1Client } from '../helpers/v1-client.js';
import type { Gateway } from '../../src/server/gateway.js';

describe('reliable sessions: DATA after an upstream reset waits for the client to see it', () => {
  let upstream: TestUpstream;
  let gw: Gateway;
  before(async () => {
    upstream = await startUpstream();
    gw = await startGateway({
      defaultRoute: { openclawGateway: upstream.url },
      reliable: { upstreamReconnect: { initialDelayMs: 10, maxDelayMs: 20 } },
    });
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  test('DATA sent before the client acknowledged upstream_reset is NACKed UPSTREAM_NOT_OPEN and never reaches the new upstream', async () => {
    const first = upstream.nextConnection();
    const c = await V1Client.open(gw.port, 'reset-gate-1');
    const w = await c.hello();
    const old = (await first) as WebSocket;
    await c.until(() => c.sequenced.length === 1, 'upstream_open');
    c.ack(1);
    const second = upstream.nextConnection();
    old.close(1012, 'service restart');
    const fresh = (await second) as WebSocket;
    const session = gw.reliable!.sessions.get(w.sessionId!)!;
    await until(() => session.lastSeq === 2, 'upstream_reset to be appended');
    const receivedBefore = upstream.received.length;
    // Written for the old upstream: the client has not read upstream_reset yet.
    c.data('stale-1', 'meant for the old upstream');
    await c.until(() => c.answers('stale-1').length === 1, 'the answer to stale-1');
    assert.deepEqual(c.answers('stale-1').map((e) => [e.type, e.code]), [[3, 'STRATIX_NACK_UPSTREAM_NOT_OPEN']]);
    await c.until(() => c.sequenced.some((e) => e.event === 'upstream_reset'), 'upstream_reset');
    assert.deepEqual(c.sequenced[1], { type: 4, seq: 2, event: 'upstream_reset', code: 1012, reason: 'service restart' });
    // Once the client acknowledges upstream_reset, DATA goes to the new upstream.
    c.ack(2);
    c.data('fresh-1', 'connect');
    await c.until(() => c.answers('fresh-1').length === 1, 'the answer to fresh-1');
    assert.deepEqual(c.answers('fresh-1'), [{ type: 1, messageId: 'fresh-1' }]);
    assert.deepEqual(upstream.received.slice(receivedBefore).map((r) => r.data.toString()), ['connect']);
    assert.equal(fresh.readyState, 1);
    c.ws.close(1000);
    await c.closed;
  });

  test('upstream_reset carries the old upstream\'s close code and reason, not those of the reconnect attempts that failed before', async () => {
    let wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
    await once(wss, 'listening');
    const port = (wss.address() as { port: number }).port;
    const g = await startGateway({
      defaultRoute: { openclawGateway: `ws://127.0.0.1:${port}/ws` },
      routing: { health: { downCooldownMs: 20 } },
      reliable: { upstreamReconnect: { initialDelayMs: 10, maxDelayMs: 20 } },
    });
    try {
      const c = await V1Client.open(g.port, 'reset-code-1');
      const w = await c.hello();
      await c.until(() => c.sequenced.length === 1, 'upstream_open');
      for (const ws of wss.clients) ws.close(1012, 'service restart');
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await new Promise((resolve) => setTimeout(resolve, 300)); // reconnect attempts are refused meanwhile
      const failures = await g.metrics.registry.getSingleMetricAsString('stratix_upstream_connect_failures_total');
      assert.match(failures, /code="STRATIX_ERR_UPSTREAM_REFUSED"\} [1-9]/, 'attempts failed before the upstream came back');
      wss = new WebSocketServer({ host: '127.0.0.1', port, perMessageDeflate: false });
      await once(wss, 'listening');
      await c.until(() => c.sequenced.some((e) => e.event === 'upstream_reset'), 'upstream_reset');
      assert.deepEqual(c.sequenced[1], { type: 4, seq: 2, event: 'upstream_reset', code: 1012, reason: 'service restart' });
      assert.equal(g.reliable!.sessions.get(w.sessionId!)!.lastSeq, 2);
      c.ws.close(1000);
      await c.closed;
    } finally {
      await g.close();
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    }
  });
});
