/**
 * The client handshake on a standalone Gateway: every refusal answers with its
 * HTTP status and JSON error code (and is counted in
 * stratix_handshake_rejections_total); abusive requests (slowloris, garbage,
 * oversized heads) are answered and closed; routing picks the longest prefix.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import type { Gateway } from '../../src/server/gateway.js';
import { connectClient, openClient, startGateway, until } from '../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { expectRefusal, httpGet, scrapeSample, upgradeRequest, type RawOptions } from '../helpers/raw-http.js';

const REJECTIONS = 'stratix_handshake_rejections_total';

describe('handshake refusals (standalone gateway)', { timeout: 60_000 }, () => {
  let upstream: TestUpstream;
  let gw: Gateway;

  before(async () => {
    upstream = await startUpstream();
    gw = await startGateway({
      gateway: { maxConnections: 2, handshakeTimeoutMs: 500, maxHeaderBytes: 1024 },
      routes: [{ clientIdPrefix: 'client-', openclawGateway: upstream.url }],
    });
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  /** Sends `bytes`, expects the refusal, and checks that exactly one rejection was counted under `code`. */
  async function refused(bytes: string | Buffer, status: number, code: string, opts?: RawOptions) {
    const before = await scrapeSample(gw.port, REJECTIONS, { code });
    const res = await expectRefusal(gw.port, bytes, status, code, opts);
    assert.equal(await scrapeSample(gw.port, REJECTIONS, { code }), before + 1, `${REJECTIONS}{code="${code}"}`);
    return res;
  }

  it('missing clientId → 400 STRATIX_ERR_CLIENT_ID_MISSING', async () => {
    await refused(upgradeRequest('/ws'), 400, 'STRATIX_ERR_CLIENT_ID_MISSING');
    await refused(upgradeRequest('/ws?other=1'), 400, 'STRATIX_ERR_CLIENT_ID_MISSING');
  });

  it('empty clientId → 400 STRATIX_ERR_CLIENT_ID_MISSING', async () => {
    await refused(upgradeRequest('/ws?clientId='), 400, 'STRATIX_ERR_CLIENT_ID_MISSING');
  });

  it('clientId given twice → 400 STRATIX_ERR_CLIENT_ID_MISSING', async () => {
    await refused(upgradeRequest('/ws?clientId=client-1&clientId=client-2'), 400, 'STRATIX_ERR_CLIENT_ID_MISSING');
  });

  it('clientId with characters outside [A-Za-z0-9._:@-] → 400 STRATIX_ERR_CLIENT_ID_INVALID', async () => {
    for (const id of ['client-a%20b', 'client-a/b', 'client-%E2%82%AC', 'client-%00', 'client-a+b', 'client-<x>']) {
      await refused(upgradeRequest(`/ws?clientId=${id}`), 400, 'STRATIX_ERR_CLIENT_ID_INVALID');
    }
  });

  it('clientId over 128 characters → 400 STRATIX_ERR_CLIENT_ID_INVALID; exactly 128 is accepted', async () => {
    const id128 = `client-${'a'.repeat(121)}`;
    assert.equal(id128.length, 128);
    await refused(upgradeRequest(`/ws?clientId=${id128}b`), 400, 'STRATIX_ERR_CLIENT_ID_INVALID');
    const c = await openClient(gw.port, id128);
    c.ws.close();
    await c.closed;
    await until(() => gw.sessions.size === 0, 'the session to end');
  });

  it('another path → 404 STRATIX_ERR_NOT_FOUND (upgrade or plain GET)', async () => {
    await refused(upgradeRequest('/socket?clientId=client-1'), 404, 'STRATIX_ERR_NOT_FOUND');
    await refused(upgradeRequest('/ws/?clientId=client-1'), 404, 'STRATIX_ERR_NOT_FOUND');
    await refused('GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 404, 'STRATIX_ERR_NOT_FOUND');
  });

  it('no matching route and no defaultRoute → 404 STRATIX_ERR_NO_ROUTE', async () => {
    await refused(upgradeRequest('/ws?clientId=other-1'), 404, 'STRATIX_ERR_NO_ROUTE');
    await refused(upgradeRequest('/ws?clientId=client'), 404, 'STRATIX_ERR_NO_ROUTE');
  });

  it('a non-GET upgrade on /ws → 405 STRATIX_ERR_METHOD_NOT_ALLOWED', async () => {
    const res = await refused(upgradeRequest('/ws?clientId=client-1', [], 'POST'), 405, 'STRATIX_ERR_METHOD_NOT_ALLOWED');
    assert.equal(res.headers.allow, 'GET');
  });

  it('a plain GET /ws without Upgrade → 426 STRATIX_ERR_UPGRADE_REQUIRED', async () => {
    const res = await refused('GET /ws?clientId=client-1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 426, 'STRATIX_ERR_UPGRADE_REQUIRED');
    assert.equal(res.headers.upgrade, 'websocket');
  });

  it('over gateway.maxConnections → 503 STRATIX_ERR_OVER_CAPACITY with Retry-After', async () => {
    const a = await openClient(gw.port, 'client-cap-1');
    const b = await openClient(gw.port, 'client-cap-2');
    try {
      const res = await refused(upgradeRequest('/ws?clientId=client-cap-3'), 503, 'STRATIX_ERR_OVER_CAPACITY');
      assert.match(res.headers['retry-after'] ?? '', /^\d+$/);
      // The open sessions are untouched.
      a.ws.send('still here');
      await a.waitFor(1);
      assert.equal(a.messages[0]!.data.toString(), 'still here');
    } finally {
      a.ws.close();
      b.ws.close();
      await Promise.all([a.closed, b.closed]);
    }
    await until(() => gw.sessions.size === 0, 'sessions to end');
    const c = await openClient(gw.port, 'client-cap-3');
    c.ws.close();
    await c.closed;
    await until(() => gw.sessions.size === 0, 'sessions to end');
  });

  it('slowloris: half a request head, then silence → 408 STRATIX_ERR_HANDSHAKE_TIMEOUT and closed', async () => {
    await refused('GET /ws?clientId=client-1 HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n', 408, 'STRATIX_ERR_HANDSHAKE_TIMEOUT');
  });

  it('slowloris: a head dribbled one byte at a time → 408, the deadline is not reset by each byte', async () => {
    const head = upgradeRequest('/ws?clientId=client-1', [`X-Slow: ${'s'.repeat(200)}`]);
    await refused(head, 408, 'STRATIX_ERR_HANDSHAKE_TIMEOUT', { dribbleMs: 20, deadlineMs: 15_000 });
  });

  it('slowloris: a connection that sends nothing gets 408 STRATIX_ERR_HANDSHAKE_TIMEOUT and is closed', async () => {
    // Node's HTTP server (20 and 24) answers an idle connection at headersTimeout like a slow one;
    // rawExchange rejects if the connection stays open past its deadline.
    await refused('', 408, 'STRATIX_ERR_HANDSHAKE_TIMEOUT', { deadlineMs: 5_000 });
  });

  it('garbage request bytes → 400 STRATIX_ERR_BAD_REQUEST', async () => {
    await refused('\x00\x01\x02garbage\xff\r\n\r\n', 400, 'STRATIX_ERR_BAD_REQUEST');
    await refused('GET /ws?clientId=client-1 HTTP/1.1\r\nHost: x\r\nthis is not a header\r\n\r\n', 400, 'STRATIX_ERR_BAD_REQUEST');
  });

  it('a request head over gateway.maxHeaderBytes → 431 STRATIX_ERR_HEADERS_TOO_LARGE', async () => {
    await refused(upgradeRequest('/ws?clientId=client-1', [`X-Padding: ${'p'.repeat(2048)}`]), 431, 'STRATIX_ERR_HEADERS_TOO_LARGE');
  });

  it('a refused socket is closed, not kept alive', async () => {
    const socket = connect({ host: '127.0.0.1', port: gw.port });
    socket.on('error', () => {});
    await once(socket, 'connect');
    socket.write(upgradeRequest('/ws'));
    socket.resume();
    await once(socket, 'close');
  });

  it('none of the refusals left a session behind', async () => {
    assert.equal(gw.sessions.size, 0);
    const res = await httpGet(gw.port, '/metrics');
    assert.equal((JSON.parse(res.body) as { connectionsActive: number }).connectionsActive, 0);
  });
});

describe('longest-prefix routing (standalone gateway)', { timeout: 60_000 }, () => {
  const upstreams: Record<'prefixShort' | 'prefixLong' | 'fallback', TestUpstream> = {} as never;
  let gw: Gateway;

  before(async () => {
    upstreams.prefixShort = await startUpstream();
    upstreams.prefixLong = await startUpstream();
    upstreams.fallback = await startUpstream();
    gw = await startGateway({
      routes: [
        { clientIdPrefix: 'client-', openclawGateway: upstreams.prefixShort.url },
        { clientIdPrefix: 'client-1', openclawGateway: upstreams.prefixLong.url },
      ],
      defaultRoute: { openclawGateway: upstreams.fallback.url },
    });
  });
  after(async () => {
    await gw.close();
    for (const u of Object.values(upstreams)) await u.close();
  });

  /** Which upstream a clientId reaches: it sends a unique message and we look for it. */
  async function reached(clientId: string): Promise<string> {
    const c = await openClient(gw.port, clientId);
    try {
      const marker = `hello from ${clientId}`;
      c.ws.send(marker);
      await c.waitFor(1);
      assert.equal(c.messages[0]!.data.toString(), marker);
      const hits = Object.entries(upstreams).filter(([, u]) => u.received.some((r) => r.data.toString() === marker));
      assert.equal(hits.length, 1, `${clientId} reached ${hits.length} upstreams`);
      return hits[0]![0];
    } finally {
      c.ws.close();
      await c.closed;
    }
  }

  it('the longest matching prefix wins, then the default route', async () => {
    const expected: Array<[string, string]> = [
      ['client-1', 'prefixLong'],
      ['client-123', 'prefixLong'],
      ['client-1-1000', 'prefixLong'],
      ['client-2', 'prefixShort'],
      ['client-', 'prefixShort'],
      ['client-x1', 'prefixShort'],
      ['client', 'fallback'],
      ['other-1', 'fallback'],
      ['Client-1', 'fallback'],
    ];
    for (const [id, where] of expected) assert.equal(await reached(id), where, id);
  });

  it('a client whose upgrade is refused never reaches an upstream', async () => {
    const before = Object.values(upstreams).reduce((n, u) => n + u.upgradeHeaders.length, 0);
    const c = connectClient(gw.port, 'bad id');
    const [, res] = (await once(c.ws, 'unexpected-response')) as [unknown, { statusCode: number }];
    assert.equal(res.statusCode, 400);
    c.ws.terminate();
    assert.equal(Object.values(upstreams).reduce((n, u) => n + u.upgradeHeaders.length, 0), before);
  });
});
