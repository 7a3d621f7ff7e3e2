/**
 * Subprotocols are negotiated end to end: a client that offers some (not
 * stratix.v1) gets the upstream's choice in its 101, or the HTTP status the
 * upstream failure maps to (502, 504, the upstream's own refusal). A client that
 * offers none keeps the accept-first path, where an upstream 101 with a wrong
 * Accept, an extension or a subprotocol nobody offered closes the client with 4502.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import { randomBytes } from 'node:crypto';
import WebSocket, { WebSocketServer } from 'ws';
import { startGateway, until } from '../helpers/gateway.js';
import { freePort, startBlackhole } from '../helpers/upstream.js';
import { startRawUpstream } from '../helpers/raw-upstream.js';
import { rawConnect } from '../helpers/raw-ws.js';
import { parseResponse } from '../helpers/raw-http.js';
import type { Gateway } from '../../src/server/gateway.js';

/** Sends an upgrade offering `protocols` and resolves with the response head (status and headers). */
async function upgradeWith(port: number, protocols: string): Promise<{ status: number; headers: Record<string, string> }> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.write(
    `GET /ws?clientId=sub-raw HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n` +
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Protocol: ${protocols}\r\n\r\n`,
  );
  let buf = Buffer.alloc(0);
  for await (const d of socket) {
    buf = Buffer.concat([buf, d as Buffer]);
    const end = buf.indexOf('\r\n\r\n');
    if (end === -1) continue;
    const res = parseResponse(Buffer.concat([buf.subarray(0, end + 4)]))!;
    socket.destroy();
    return { status: res.status, headers: res.headers };
  }
  throw new Error('no response');
}

async function refusal(port: number, protocols: string[]): Promise<{ status: number; code: string | undefined }> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws?clientId=sub-1`, protocols);
  ws.on('error', () => {});
  const [, res] = (await once(ws, 'unexpected-response')) as [unknown, { statusCode: number; headers: Record<string, string> }];
  ws.terminate();
  return { status: res.statusCode, code: res.headers['x-stratix-error'] };
}

describe('subprotocols negotiated end to end', () => {
  let wss: WebSocketServer;
  let upstreamHeaders: Array<string | undefined>;
  let gw: Gateway;
  before(async () => {
    upstreamHeaders = [];
    wss = new WebSocketServer({
      host: '127.0.0.1',
      port: 0,
      perMessageDeflate: false,
      handleProtocols: (offered) => (offered.has('chat.v1') ? 'chat.v1' : false),
    });
    await once(wss, 'listening');
    wss.on('connection', (ws, req) => {
      upstreamHeaders.push(req.headers['sec-websocket-protocol']);
      ws.on('message', (d: Buffer, bin: boolean) => ws.send(d, { binary: bin }));
    });
    gw = await startGateway({ defaultRoute: { openclawGateway: `ws://127.0.0.1:${(wss.address() as { port: number }).port}/` } });
  });
  after(async () => {
    await gw.close();
    for (const c of wss.clients) c.terminate();
    wss.close();
  });

  test("the client's offer goes upstream and the upstream's choice comes back in the 101; messages flow", async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${gw.port}/ws?clientId=sub-ok`, ['chat.v2', 'chat.v1']);
    await once(ws, 'open');
    assert.equal(ws.protocol, 'chat.v1');
    assert.equal(upstreamHeaders.at(-1), 'chat.v2, chat.v1');
    ws.send('hello');
    const [data] = (await once(ws, 'message')) as [Buffer];
    assert.equal(data.toString(), 'hello');
    ws.close();
    await once(ws, 'close');
  });

  test('an upstream that selects none: the 101 carries none (as RFC 6455 allows)', async () => {
    const res = await upgradeWith(gw.port, 'chat.v9');
    assert.equal(res.status, 101);
    assert.equal(res.headers['sec-websocket-protocol'], undefined);
    await until(() => gw.sessions.size === 0, 'the session to end');
  });
});

describe('subprotocol negotiation failures', () => {
  test('upstream HTTP refusal → its status (401), STRATIX_ERR_UPSTREAM_REJECTED', async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, verifyClient: (_i: unknown, cb: (ok: boolean, s?: number) => void) => cb(false, 401) });
    await once(wss, 'listening');
    const gw = await startGateway({ defaultRoute: { openclawGateway: `ws://127.0.0.1:${(wss.address() as { port: number }).port}/` } });
    try {
      assert.deepEqual(await refusal(gw.port, ['chat.v1']), { status: 401, code: 'STRATIX_ERR_UPSTREAM_REJECTED' });
    } finally {
      await gw.close();
      wss.close();
    }
  });

  test('nothing listening → 502 STRATIX_ERR_UPSTREAM_FAILED', async () => {
    const gw = await startGateway({ defaultRoute: { openclawGateway: `ws://127.0.0.1:${await freePort()}/` } });
    try {
      assert.deepEqual(await refusal(gw.port, ['chat.v1']), { status: 502, code: 'STRATIX_ERR_UPSTREAM_FAILED' });
    } finally {
      await gw.close();
    }
  });

  test('no answer within upstream.connectTimeoutMs → 504 STRATIX_ERR_UPSTREAM_TIMEOUT', async () => {
    const hole = await startBlackhole();
    const gw = await startGateway({ upstream: { connectTimeoutMs: 300 }, defaultRoute: { openclawGateway: `ws://127.0.0.1:${hole.port}/` } });
    try {
      assert.deepEqual(await refusal(gw.port, ['chat.v1']), { status: 504, code: 'STRATIX_ERR_UPSTREAM_TIMEOUT' });
    } finally {
      await gw.close();
      await hole.close();
    }
  });

  test('an upstream choosing a subprotocol that was not offered → 502', async () => {
    const up = await startRawUpstream({ extraHeaders: ['Sec-WebSocket-Protocol: evil.v1'] });
    const gw = await startGateway({ defaultRoute: { openclawGateway: up.url } });
    try {
      assert.deepEqual(await refusal(gw.port, ['chat.v1']), { status: 502, code: 'STRATIX_ERR_UPSTREAM_FAILED' });
    } finally {
      await gw.close();
      await up.close();
    }
  });

  test('a client that leaves while the upstream is still answering: the upstream attempt is abandoned', async () => {
    const hole = await startBlackhole();
    const gw = await startGateway({ gateway: { maxConnections: 1 }, upstream: { connectTimeoutMs: 60_000 }, defaultRoute: { openclawGateway: `ws://127.0.0.1:${hole.port}/` } });
    try {
      const ws = new WebSocket(`ws://127.0.0.1:${gw.port}/ws?clientId=sub-leaver`, ['chat.v1']);
      ws.on('error', () => {});
      await until(() => hole.sockets.size === 1, 'the upstream attempt');
      ws.terminate();
      await until(() => hole.sockets.size === 0, 'the upstream attempt to be dropped');
      assert.equal(gw.connecting.size, 0);
      // Its place counts against maxConnections no more: a client that offers nothing gets in and relays.
      const ok = new WebSocket(`ws://127.0.0.1:${gw.port}/ws?clientId=sub-after`);
      ok.on('error', () => {});
      await once(ok, 'open');
      ok.terminate();
    } finally {
      await gw.close();
      await hole.close();
    }
  });
});

describe('an upstream 101 the gateway must refuse (accept-first path)', () => {
  for (const [what, opts] of [
    ['a wrong Sec-WebSocket-Accept', { accept: 'AAAAAAAAAAAAAAAAAAAAAAAAAAA=' }],
    ['an extension nobody offered', { extraHeaders: ['Sec-WebSocket-Extensions: permessage-deflate'] }],
    ['a subprotocol nobody offered', { extraHeaders: ['Sec-WebSocket-Protocol: chat.v1'] }],
  ] as const) {
    test(`${what} → the client is closed with 4502`, async () => {
      const up = await startRawUpstream(opts);
      const gw = await startGateway({ defaultRoute: { openclawGateway: up.url } });
      try {
        const raw = await rawConnect(gw.port, 'bad-101');
        assert.equal(await raw.closeCode, 4502);
      } finally {
        await gw.close();
        await up.close();
      }
    });
  }
});
