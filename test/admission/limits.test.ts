/**
 * Limits on a standalone gateway, each answering as documented: per source address
 * (handshake rate, open connections), the instance's handshake rate (503 with a
 * spread Retry-After), per clientId (429), per upstream (connects in flight, the
 * bounded queue → 503 STRATIX_ERR_UPSTREAM_BUSY, a wait past connectTimeoutMs →
 * 4522); and the duplicate-clientId policies (takeover → 4410, reject → 409 / 4409,
 * allow).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { connectClient, connectUrl, openClient, openRelayed, refusedStatus, startGateway, until, untilAsync, type TestClient } from '../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { scrapeSample, upgradeRequest } from '../helpers/raw-http.js';

const url = (port: number, id: string) => `ws://127.0.0.1:${port}/ws?clientId=${id}`;

async function closeAll(cs: TestClient[]): Promise<void> {
  for (const c of cs) c.ws.close();
  await Promise.all(cs.map((c) => c.closed));
}

describe('per-source and instance handshake limits', { timeout: 60_000 }, () => {
  let upstream: TestUpstream;
  before(async () => {
    upstream = await startUpstream();
  });
  after(() => upstream.close());

  it('handshakes per source: over the burst → 429 STRATIX_ERR_SOURCE_RATE_LIMITED with Retry-After; another source is not affected', async () => {
    const gw = await startGateway({ defaultRoute: { openclawGateway: upstream.url }, admission: { source: { handshakesPerSecond: 0.5, handshakeBurst: 2 }, clientId: { handshakesPerSecond: 0 } } });
    try {
      const a = await openRelayed(url(gw.port, 's-1'));
      const b = await openRelayed(url(gw.port, 's-2'));
      const r = await refusedStatus(url(gw.port, 's-3'));
      assert.equal(r.status, 429);
      assert.equal(r.code, 'STRATIX_ERR_SOURCE_RATE_LIMITED');
      assert.ok(Number(r.headers['retry-after']) >= 1);
      const other = await openRelayed(url(gw.port, 's-4'), { localAddress: '127.0.0.2' });
      await closeAll([a, b, other]);
    } finally {
      await gw.close();
    }
  });

  it('open connections per source: at the cap → 429 STRATIX_ERR_SOURCE_CONNECTIONS; a closed one frees its place', async () => {
    const gw = await startGateway({ defaultRoute: { openclawGateway: upstream.url }, admission: { source: { maxConnections: 2 }, clientId: { handshakesPerSecond: 0 } } });
    try {
      const a = await openRelayed(url(gw.port, 'm-1'));
      const b = await openRelayed(url(gw.port, 'm-2'));
      const r = await refusedStatus(url(gw.port, 'm-3'));
      assert.equal(r.status, 429);
      assert.equal(r.code, 'STRATIX_ERR_SOURCE_CONNECTIONS');
      assert.equal(await scrapeSample(gw.port, 'stratix_source_connections'), 2);
      a.ws.close();
      await a.closed;
      await until(() => gw.sessions.size === 1, 'the session to end');
      const c = await openRelayed(url(gw.port, 'm-3'));
      await closeAll([b, c]);
    } finally {
      await gw.close();
    }
  });

  it('the instance rate: over it → 503 STRATIX_ERR_ADMISSION_LIMITED, Retry-After within [1, retryAfterMaxSeconds]', async () => {
    const gw = await startGateway({
      defaultRoute: { openclawGateway: upstream.url },
      admission: { instance: { handshakesPerSecond: 0.1, handshakeBurst: 1, retryAfterMaxSeconds: 7 }, clientId: { handshakesPerSecond: 0 } },
    });
    try {
      const a = await openRelayed(url(gw.port, 'i-1'));
      const seen = new Set<number>();
      for (let i = 0; i < 30; i++) {
        const r = await refusedStatus(url(gw.port, `i-x${i}`), { localAddress: `127.0.0.${2 + (i % 5)}` });
        assert.equal(r.status, 503);
        assert.equal(r.code, 'STRATIX_ERR_ADMISSION_LIMITED');
        const s = Number(r.headers['retry-after']);
        assert.ok(Number.isInteger(s) && s >= 1 && s <= 7, `Retry-After ${s}`);
        seen.add(s);
      }
      assert.ok(seen.size > 1, `Retry-After is spread (saw ${[...seen].join(',')})`);
      await closeAll([a]);
    } finally {
      await gw.close();
    }
  });
});

describe('per-clientId handshake rate', { timeout: 30_000 }, () => {
  it('a reconnect loop is slowed: 429 STRATIX_ERR_CLIENT_RATE_LIMITED; stratix.v1 gets 4429 after a retry_after EVENT', async () => {
    const upstream = await startUpstream();
    const gw = await startGateway({ defaultRoute: { openclawGateway: upstream.url }, admission: { clientId: { handshakesPerSecond: 0.2, handshakeBurst: 3 }, duplicateClientId: 'allow' } });
    try {
      const cs: TestClient[] = [];
      for (let i = 0; i < 3; i++) cs.push(await openRelayed(url(gw.port, 'loop-1')));
      const r = await refusedStatus(url(gw.port, 'loop-1'));
      assert.equal(r.status, 429);
      assert.equal(r.code, 'STRATIX_ERR_CLIENT_RATE_LIMITED');
      assert.ok(Number(r.headers['retry-after']) >= 1);
      const ws = new WebSocket(url(gw.port, 'loop-1'), ['stratix.v1']);
      const frames: string[] = [];
      ws.on('message', (d: Buffer) => frames.push(d.toString()));
      const [code, reason] = (await once(ws, 'close')) as [number, Buffer];
      assert.equal(code, 4429);
      assert.equal(reason.toString(), 'STRATIX_ERR_CLIENT_RATE_LIMITED');
      assert.equal((JSON.parse(frames[0]!) as { event: string }).event, 'retry_after');
      const other = await openRelayed(url(gw.port, 'loop-2'));
      await closeAll([...cs, other]);
    } finally {
      await gw.close();
      await upstream.close();
    }
  });
});

/** An upstream whose upgrades wait until released: counts connects in flight. */
async function startHeldUpstream(): Promise<{ url: string; held: number; release(): void; close(): Promise<void>; wss: WebSocketServer }> {
  let releaseAll: Array<(ok: boolean) => void> = [];
  let releasing = false;
  const wss = new WebSocketServer({
    host: '127.0.0.1',
    port: 0,
    verifyClient: (info, cb) => {
      if (releasing) {
        cb(true);
        return;
      }
      const f = (ok: boolean) => (ok ? cb(true) : cb(false, 503));
      releaseAll.push(f);
      // A connect the gateway gave up on no longer counts as in flight.
      info.req.socket.once('close', () => (releaseAll = releaseAll.filter((g) => g !== f)));
    },
  });
  await once(wss, 'listening');
  wss.on('connection', (ws) => ws.on('message', (d, bin) => ws.send(d, { binary: bin })));
  return {
    url: `ws://127.0.0.1:${(wss.address() as { port: number }).port}/ws`,
    wss,
    get held() {
      return releaseAll.length;
    },
    release() {
      releasing = true;
      const r = releaseAll;
      releaseAll = [];
      for (const f of r) f(true);
    },
    async close() {
      for (const f of releaseAll) f(false);
      releaseAll = [];
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

describe('per-upstream connect pacing', { timeout: 60_000 }, () => {
  it('at most maxConcurrentConnects in flight; the rest wait; a full queue → 503 STRATIX_ERR_UPSTREAM_BUSY; all relay once released', async () => {
    const up = await startHeldUpstream();
    const gw = await startGateway({ defaultRoute: { openclawGateway: up.url }, admission: { upstream: { maxConcurrentConnects: 2, maxWaiting: 2, connectsPerSecond: 0 }, clientId: { handshakesPerSecond: 0 } } });
    try {
      const cs = await Promise.all([1, 2, 3, 4].map((i) => openClient(gw.port, `u-${i}`)));
      await until(() => up.held === 2, 'two connects in flight');
      assert.equal(await scrapeSample(gw.port, 'stratix_upstream_connects_waiting'), 2);
      const r = await refusedStatus(url(gw.port, 'u-5'));
      assert.equal(r.status, 503);
      assert.equal(r.code, 'STRATIX_ERR_UPSTREAM_BUSY');
      assert.equal(up.held, 2, 'still only two in flight');
      cs.forEach((c, i) => c.ws.send(`m${i}`));
      up.release();
      await Promise.all(cs.map((c) => c.waitFor(1)));
      cs.forEach((c, i) => assert.equal(c.messages[0]!.data.toString(), `m${i}`, 'queued messages were delivered'));
      assert.equal(await scrapeSample(gw.port, 'stratix_upstream_connects_waiting'), 0);
      await closeAll(cs);
    } finally {
      await gw.close();
      await up.close();
    }
  });

  it('connects per second: the next connect waits for a token; one that waits past upstream.connectTimeoutMs is closed with 4522', async () => {
    const up = await startUpstream();
    const gw = await startGateway({ defaultRoute: { openclawGateway: up.url }, upstream: { connectTimeoutMs: 600 }, admission: { upstream: { connectsPerSecond: 0.001, connectBurst: 1 }, clientId: { handshakesPerSecond: 0 } } });
    try {
      const a = await openRelayed(url(gw.port, 'w-1'));
      const b = await openClient(gw.port, 'w-2');
      b.ws.send('queued');
      assert.equal(await scrapeSample(gw.port, 'stratix_upstream_connects_waiting'), 1);
      const closed = await b.closed;
      assert.equal(closed.code, 4522);
      assert.match(closed.reason, /queue: no turn within 600 ms/);
      assert.equal(up.upgradeHeaders.length, 1, 'the second never reached the upstream');
      assert.ok(!up.received.some((r) => r.data.toString() === 'queued'));
      await until(() => gw.sessions.size === 1, 'the waiting session to end');
      assert.equal(await scrapeSample(gw.port, 'stratix_upstream_connects_waiting'), 0);
      await closeAll([a]);
    } finally {
      await gw.close();
      await up.close();
    }
  });
});

/** The status and code a subprotocol-offering upgrade is refused with (negotiated end to end). */
function negotiatedRefusal(c: TestClient): Promise<{ status: number; code: string | undefined }> {
  return new Promise((resolve, reject) => {
    c.ws.once('open', () => reject(new Error('expected a refusal, but it opened')));
    c.ws.once('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode ?? 0, code: res.headers['x-stratix-error'] as string | undefined });
      res.resume();
    });
  });
}

describe('per-upstream connect pacing of negotiated upgrades (a client offering its own subprotocol)', { timeout: 60_000 }, () => {
  it('waits for its turn like any connect: one in flight, one waiting, the next 503 UPSTREAM_BUSY; both open with the upstream\'s choice once released', async () => {
    const up = await startHeldUpstream();
    const gw = await startGateway({ defaultRoute: { openclawGateway: up.url }, admission: { upstream: { maxConcurrentConnects: 1, maxWaiting: 1, connectsPerSecond: 0 }, clientId: { handshakesPerSecond: 0 } } });
    try {
      const a = connectUrl(url(gw.port, 'n-1'), {}, ['chat.v2']);
      await until(() => up.held === 1, 'the first connect in flight');
      const b = connectUrl(url(gw.port, 'n-2'), {}, ['chat.v2']);
      await untilAsync(async () => (await scrapeSample(gw.port, 'stratix_upstream_connects_waiting')) === 1, 'the second waiting for its turn');
      const c = negotiatedRefusal(connectUrl(url(gw.port, 'n-3'), {}, ['chat.v2']));
      assert.deepEqual(await c, { status: 503, code: 'STRATIX_ERR_UPSTREAM_BUSY' });
      assert.equal(up.held, 1, 'still only one connect reached the upstream');
      up.release();
      await Promise.all([once(a.ws, 'open'), once(b.ws, 'open')]);
      assert.deepEqual([a.ws.protocol, b.ws.protocol], ['chat.v2', 'chat.v2']);
      b.ws.send('paced');
      await b.waitFor(1);
      assert.equal(b.messages[0]!.data.toString(), 'paced');
      assert.equal(await scrapeSample(gw.port, 'stratix_upstream_connects_waiting'), 0);
      await closeAll([a, b]);
    } finally {
      await gw.close();
      await up.close();
    }
  });

  it('one that waits past upstream.connectTimeoutMs for its turn gets 504 UPSTREAM_TIMEOUT and never reaches the upstream', async () => {
    const up = await startUpstream();
    const gw = await startGateway({ defaultRoute: { openclawGateway: up.url }, upstream: { connectTimeoutMs: 600 }, admission: { upstream: { connectsPerSecond: 0.001, connectBurst: 1 }, clientId: { handshakesPerSecond: 0 } } });
    try {
      const a = await openRelayed(url(gw.port, 'nw-1'));
      const b = negotiatedRefusal(connectUrl(url(gw.port, 'nw-2'), {}, ['chat.v2']));
      assert.deepEqual(await b, { status: 504, code: 'STRATIX_ERR_UPSTREAM_TIMEOUT' });
      assert.equal(up.upgradeHeaders.length, 1, 'the second never reached the upstream');
      assert.equal(await scrapeSample(gw.port, 'stratix_upstream_connects_waiting'), 0);
      await closeAll([a]);
    } finally {
      await gw.close();
      await up.close();
    }
  });
});

describe('duplicate clientId policy', { timeout: 60_000 }, () => {
  let upstream: TestUpstream;
  before(async () => {
    upstream = await startUpstream();
  });
  after(() => upstream.close());

  const start = (policy: string) => startGateway({ defaultRoute: { openclawGateway: upstream.url }, admission: { duplicateClientId: policy, clientId: { handshakesPerSecond: 0 } } });

  it('takeover (the default): the old connection gets 4410 TAKEN_OVER, the new one relays', async () => {
    const gw = await startGateway({ defaultRoute: { openclawGateway: upstream.url } });
    try {
      const old = await openRelayed(url(gw.port, 'dup-1'));
      const neu = await openRelayed(url(gw.port, 'dup-1'));
      const closed = await old.closed;
      assert.equal(closed.code, 4410);
      neu.ws.send('after');
      await neu.waitFor(2);
      assert.equal(neu.messages[1]!.data.toString(), 'after');
      assert.equal(await scrapeSample(gw.port, 'stratix_duplicate_client_ids_total', { outcome: 'taken_over' }), 1);
      await closeAll([neu]);
    } finally {
      await gw.close();
    }
  });

  for (const ending of ['FIN', 'RST'] as const) {
    it(`takeover: a handshake whose client is already gone (${ending} behind the request, as a client that gave up waiting for its 101) takes nothing over`, async () => {
      const gw = await startGateway({ defaultRoute: { openclawGateway: upstream.url } });
      try {
        const old = await openRelayed(url(gw.port, 'dup-ghost'));
        const ghost = net.connect(gw.port, '127.0.0.1');
        ghost.on('error', () => {});
        await once(ghost, 'connect');
        // The request and the end in one write burst: both are in the gateway's receive queue when it reads.
        ghost.cork();
        ghost.write(upgradeRequest('/ws?clientId=dup-ghost'));
        if (ending === 'FIN') ghost.end();
        ghost.uncork();
        if (ending === 'RST') ghost.resetAndDestroy();
        await until(() => gw.metrics.connectionsTotal === 2, 'the gateway to take the ghost handshake');
        await until(() => gw.sessions.size <= 1, 'the ghost session to end');
        assert.equal(old.ws.readyState, WebSocket.OPEN, 'the live session was taken over by a client that is gone');
        old.ws.send('still mine');
        await old.waitFor(2);
        assert.equal(old.messages[1]!.data.toString(), 'still mine');
        assert.equal(old.ws.readyState, WebSocket.OPEN);
        assert.equal(await scrapeSample(gw.port, 'stratix_duplicate_client_ids_total', { outcome: 'taken_over' }), 0);
        // A live newcomer still takes over.
        const neu = await openRelayed(url(gw.port, 'dup-ghost'));
        assert.equal((await old.closed).code, 4410);
        await closeAll([neu]);
      } finally {
        await gw.close();
      }
    });
  }

  it('reject: the new one gets 409 STRATIX_ERR_CLIENT_ID_IN_USE; accepted once the old one is gone (stratix.v1 clients: the policy applies after HELLO, in the reliable layer)', async () => {
    const gw = await start('reject');
    try {
      const old = await openRelayed(url(gw.port, 'dup-2'));
      const r = await refusedStatus(url(gw.port, 'dup-2'));
      assert.equal(r.status, 409);
      assert.equal(r.code, 'STRATIX_ERR_CLIENT_ID_IN_USE');
      old.ws.send('still');
      await old.waitFor(2);
      await closeAll([old]);
      await until(() => gw.sessions.size === 0, 'the session to end');
      const again = await openRelayed(url(gw.port, 'dup-2'));
      await closeAll([again]);
    } finally {
      await gw.close();
    }
  });

  it('allow: both live', async () => {
    const gw = await start('allow');
    try {
      const a = await openRelayed(url(gw.port, 'dup-3'));
      const b = await openRelayed(url(gw.port, 'dup-3'));
      a.ws.send('a2');
      b.ws.send('b2');
      await Promise.all([a.waitFor(2), b.waitFor(2)]);
      assert.equal(gw.sessions.size, 2);
      await closeAll([a, b]);
    } finally {
      await gw.close();
    }
  });

  it('a handshake refused for its credentials never takes a session over', async () => {
    const gw = await startGateway({ defaultRoute: { openclawGateway: upstream.url }, auth: { allowedOrigins: ['https://app.example'] } });
    try {
      const old = await openRelayed(url(gw.port, 'dup-4'), { headers: { Origin: 'https://app.example' } });
      const r = await refusedStatus(url(gw.port, 'dup-4'), { headers: { Origin: 'https://evil.example' } });
      assert.equal(r.status, 403);
      old.ws.send('still mine');
      await old.waitFor(2);
      await closeAll([old]);
    } finally {
      await gw.close();
    }
  });
});

void connectClient;
