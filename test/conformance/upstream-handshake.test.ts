/**
 * Conformance group U: the upstream's opening handshake (RFC 6455 §4.1, the client
 * side, which the gateway plays towards the upstream). A 101 the gateway must not
 * accept — a wrong or missing Sec-WebSocket-Accept, no "Upgrade: websocket", an
 * extension or a subprotocol nobody offered — fails the session: the upstream's TCP
 * connection is dropped at once without a frame, the client (which offered no
 * subprotocol, so it already has its 101: the accept-first path) gets close 4502
 * naming the problem, its TCP connection ends as soon as it answers that close, and
 * the message it sent meanwhile is counted as failed. The first case, a correct 101
 * from the same hand-made upstream, shows that only the fault makes the difference.
 *
 * For a client that offers subprotocols (negotiated path, the upstream answered
 * before the client's 101) the same faults give an HTTP 502 instead: see
 * test/relay/subprotocols.test.ts.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { startGateway, until } from '../helpers/gateway.js';
import { startRawUpstream } from '../helpers/raw-upstream.js';
import { UPSTREAM_HANDSHAKE_CASES } from './cases/upstream-handshake.js';
import { wireConnect } from '../helpers/wire-client.js';
import { C, describeFrame, describeStream, S } from '../helpers/ws-wire.js';
import { Direction } from '../../src/metrics/gateway-metrics.js';

const DEADLINE_MS = 5_000;

async function within<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${DEADLINE_MS} ms`)), DEADLINE_MS)))]);
  } finally {
    clearTimeout(timer);
  }
}

describe('conformance U: the upstream handshake', () => {
  test('U.1 a correct 101 from the same hand-made upstream: the session opens and relays', async () => {
    const up = await startRawUpstream();
    const gw = await startGateway({ gateway: { closeTimeoutMs: 30_000 }, defaultRoute: { openclawGateway: up.url } });
    try {
      const conn = up.nextConnection();
      const client = await wireConnect(gw.port, 'u1');
      client.socket.write(Buffer.concat([C.text('hello'), C.close(1000, 'bye')]));
      const c = await within(conn, 'the upstream connection');
      const upstreamClosed = once(c.socket, 'close');
      await until(() => describeStream(c.received()).length === 2, 'the message and the close upstream', DEADLINE_MS);
      assert.deepEqual(describeStream(c.received()), [...describeStream(C.text('hello')), ...describeStream(C.close(1000, 'bye'))], 'the message and the close reached the upstream re-masked');
      c.socket.write(S.close(1000, 'bye'));
      await within(client.ended, 'the gateway ending the client TCP connection after the handshake');
      assert.deepEqual(client.frames.map(describeFrame), describeStream(S.close(1000, 'bye')), "the upstream's answer");
      client.socket.end();
      await within(upstreamClosed, 'the upstream connection to end');
    } finally {
      await gw.close();
      await up.close();
    }
  });

  for (const k of UPSTREAM_HANDSHAKE_CASES) {
    test(`${k.id} ${k.title}: the client gets 4502 "${k.problem}", both TCP connections end at once`, async () => {
      const up = await startRawUpstream(k.upstream);
      const gw = await startGateway({ gateway: { closeTimeoutMs: 30_000 }, defaultRoute: { openclawGateway: up.url } });
      try {
        const m = gw.metrics;
        const failedBefore = m.messagesFailedTotal;
        const receivedBefore = m.messagesReceived[Direction.ClientToUpstream]!;
        const conn = up.nextConnection();
        const client = await wireConnect(gw.port, k.id);
        client.socket.write(C.text('sent before the upstream answered'));
        const c = await within(conn, 'the upstream connection');
        const upstreamClosed: Promise<unknown> = c.socket.destroyed ? Promise.resolve() : once(c.socket, 'close');
        await within(upstreamClosed, 'the gateway dropping the upstream TCP connection');
        await within(client.frameCount(1), "the gateway's close");
        assert.deepEqual(client.frames.map(describeFrame), describeStream(S.close(4502, k.problem)), 'what the client received');
        client.socket.write(C.close(4502)); // the client's answer
        await within(client.ended, 'the gateway ending the client TCP connection after the handshake');
        client.socket.end();
        assert.equal(c.received().length, 0, 'not a byte for the upstream after its 101');
        await until(() => gw.sessions.size === 0, 'the session to be gone', DEADLINE_MS);
        assert.equal(m.messagesReceived[Direction.ClientToUpstream]! - receivedBefore, 1);
        assert.equal(m.messagesFailedTotal - failedBefore, 1, 'the queued message is counted as failed');
        const failures = (await m.upstreamConnectFailures.get()).values;
        assert.equal(failures.find((v) => v.labels.code === 'STRATIX_ERR_UPSTREAM_REJECTED')?.value, 1);
      } finally {
        await gw.close();
        await up.close();
      }
    });
  }
});
