/**
 * Refusals a browser can see: a client that offers the `stratix.v1` subprotocol is
 * refused with the documented close code right after the upgrade (and a retry_after
 * EVENT where the refusal has a Retry-After), on a standalone gateway (no route, over
 * capacity) and on the primary (bad clientId, draining). Clients that do not offer it
 * keep the HTTP answer. Bytes that cannot start a request line get a 400 at once.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import WebSocket from 'ws';
import type { Gateway } from '../../src/server/gateway.js';
import { openClient, startGateway, until } from '../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { expectRefusal, upgradeRequest } from '../helpers/raw-http.js';
import { startCli, type RunningCli } from '../helpers/cli.js';

interface Refused {
  protocol: string;
  frames: string[];
  code: number;
  reason: string;
}

/** Connects with `protocols` and collects the selected protocol, the text frames and the close. */
async function refusedWith(port: number, clientId: string, protocols: string[]): Promise<Refused> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws?clientId=${clientId}`, protocols);
  const frames: string[] = [];
  ws.on('message', (d: Buffer) => frames.push(d.toString()));
  let error: Error | undefined;
  ws.on('error', (e) => (error = e));
  const [code, reason] = (await once(ws, 'close')) as [number, Buffer];
  assert.equal(error, undefined, `no handshake error: ${error?.message}`);
  return { protocol: ws.protocol, frames, code, reason: reason.toString() };
}

describe('stratix.v1 refusals on a standalone gateway', { timeout: 30_000 }, () => {
  let upstream: TestUpstream;
  let gw: Gateway;
  before(async () => {
    upstream = await startUpstream();
    gw = await startGateway({ gateway: { maxConnections: 1 }, routes: [{ clientIdPrefix: 'ok-', openclawGateway: upstream.url }] });
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  it('no route: the upgrade completes with stratix.v1, then close 4404 STRATIX_ERR_NO_ROUTE', async () => {
    const r = await refusedWith(gw.port, 'nowhere-1', ['chat.v2', 'stratix.v1']);
    assert.deepEqual(r, { protocol: 'stratix.v1', frames: [], code: 4404, reason: 'STRATIX_ERR_NO_ROUTE' });
  });

  it('over capacity: a retry_after EVENT, then close 4503', async () => {
    const holder = await openClient(gw.port, 'ok-holder');
    try {
      const r = await refusedWith(gw.port, 'ok-second', ['stratix.v1']);
      assert.equal(r.code, 4503);
      assert.equal(r.reason, 'STRATIX_ERR_OVER_CAPACITY');
      assert.equal(r.frames.length, 1);
      assert.deepEqual(JSON.parse(r.frames[0]!), { type: 4, event: 'retry_after', retryAfterMs: 5000, code: 'STRATIX_ERR_OVER_CAPACITY' });
    } finally {
      holder.ws.close();
      await holder.closed;
    }
  });

  it('a client that does not offer stratix.v1 still gets the HTTP status', async () => {
    await expectRefusal(gw.port, upgradeRequest('/ws?clientId=nowhere-2', ['Sec-WebSocket-Protocol: chat.v2']), 404, 'STRATIX_ERR_NO_ROUTE');
    await expectRefusal(gw.port, upgradeRequest('/ws?clientId=nowhere-3'), 404, 'STRATIX_ERR_NO_ROUTE');
  });

  it('a malformed Sec-WebSocket-Protocol is a 400, whatever it names', async () => {
    await expectRefusal(gw.port, upgradeRequest('/ws?clientId=ok-1', ['Sec-WebSocket-Protocol: stratix.v1,,x']), 400, 'STRATIX_ERR_BAD_REQUEST');
    await expectRefusal(gw.port, upgradeRequest('/ws?clientId=ok-1', ['Sec-WebSocket-Protocol: stratix.v1, stratix.v1']), 400, 'STRATIX_ERR_BAD_REQUEST');
  });
});

describe('stratix.v1 refusals on the primary', { timeout: 60_000 }, () => {
  let upstream: TestUpstream;
  let cli: RunningCli;
  before(async () => {
    upstream = await startUpstream();
    cli = await startCli({
      gateway: { listen: '127.0.0.1:0', workers: 1, handshakeTimeoutMs: 60_000, drainPeriodMs: 6_000, drainGraceMs: 1_000 },
      defaultRoute: { openclawGateway: upstream.url },
    });
  });
  after(async () => {
    await cli.stop();
    await upstream.close();
  });

  it('an invalid clientId: close 4400 STRATIX_ERR_CLIENT_ID_INVALID', async () => {
    const r = await refusedWith(cli.port, 'a%2Fb', ['stratix.v1']);
    assert.deepEqual(r, { protocol: 'stratix.v1', frames: [], code: 4400, reason: 'STRATIX_ERR_CLIENT_ID_INVALID' });
  });

  it('a TLS ClientHello on the plain port gets a 400 at once, not the 408 of the 60 s handshake timeout', async () => {
    const hello = Buffer.from('16030100a5010000a10303', 'hex');
    await expectRefusal(cli.port, hello, 400, 'STRATIX_ERR_BAD_REQUEST', { deadlineMs: 10_000 });
  });

  it('draining: retry_after, then close 4503 STRATIX_ERR_DRAINING; plain clients get the 503', async () => {
    // Twenty sessions closed at random over 6 s keep the drain going while we knock.
    const held = await Promise.all(Array.from({ length: 20 }, (_, i) => openClient(cli.port, `held-${i}`)));
    cli.proc.kill('SIGTERM');
    await until(() => cli.logs.some((l) => l.msg === 'draining' && l.role === 'primary'), 'the primary to start draining');
    const r = await refusedWith(cli.port, 'late-1', ['stratix.v1']);
    assert.equal(r.code, 4503);
    assert.equal(r.reason, 'STRATIX_ERR_DRAINING');
    assert.deepEqual(JSON.parse(r.frames[0]!), { type: 4, event: 'retry_after', retryAfterMs: 1000, code: 'STRATIX_ERR_DRAINING' });
    await expectRefusal(cli.port, upgradeRequest('/ws?clientId=late-2'), 503, 'STRATIX_ERR_DRAINING');
    for (const h of held) assert.equal((await h.closed).code, 1012);
  });
});
