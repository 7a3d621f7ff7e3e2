/**
 * TLS on both legs, with certificates this test makes with Debian's openssl:
 * - wss:// upstreams: the CA bundle (tls.upstream.caFile), the SNI name, and a
 *   client certificate the upstream requires; without the CA the connect fails (4502);
 * - wss:// on the listener of a standalone gateway: relays, refuses TLS 1.1, and a
 *   new certificate is served after the files change while an open session relays on;
 * - wss:// on the primary (CLI, two workers): the primary terminates TLS and pipes to
 *   the worker of the clientId, which sees the real peer address and `wss`.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { copyFileSync, readFileSync } from 'node:fs';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { IncomingMessage } from 'node:http';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { WebSocketServer } from 'ws';
import { shardOf } from '../../src/cluster/shard.js';
import type { Gateway } from '../../src/server/gateway.js';
import { makePki, type TestPki } from '../helpers/certs.js';
import { startCli, type RunningCli } from '../helpers/cli.js';
import { connectUrl, openClient, openRelayed, startGateway, type TestClient } from '../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

interface TlsUpstream {
  url: string;
  /** SNI names and client certificate CNs of the upgrades, in order. */
  seen: Array<{ servername: string | false; clientCn: string | undefined }>;
  close(): Promise<void>;
}

async function startTlsUpstream(pki: TestPki, requireClientCert: boolean): Promise<TlsUpstream> {
  const leaf = pki.issue('upstream', { cn: 'upstream.test', san: ['DNS:upstream.test', 'IP:127.0.0.1'] });
  const server: HttpsServer = createHttpsServer({ key: readFileSync(leaf.key), cert: readFileSync(leaf.cert), ca: readFileSync(pki.caCert), requestCert: requireClientCert, rejectUnauthorized: requireClientCert });
  const wss = new WebSocketServer({ server, perMessageDeflate: false });
  const seen: TlsUpstream['seen'] = [];
  wss.on('connection', (ws, req: IncomingMessage) => {
    const s = req.socket as TLSSocket;
    const cn = s.getPeerCertificate().subject?.CN;
    seen.push({ servername: (s as unknown as { servername: string | false }).servername, clientCn: typeof cn === 'string' ? cn : undefined });
    ws.on('message', (d, bin) => ws.send(d, { binary: bin }));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `wss://127.0.0.1:${(server.address() as { port: number }).port}/ws`,
    seen,
    async close() {
      for (const ws of wss.clients) ws.terminate();
      wss.close();
      server.closeAllConnections();
      server.close();
    },
  };
}

describe('wss:// upstreams', { timeout: 60_000 }, () => {
  let pki: TestPki;
  let up: TlsUpstream;
  before(async () => {
    pki = makePki();
    up = await startTlsUpstream(pki, true);
  });
  after(async () => {
    await up.close();
    pki.cleanup();
  });

  it('CA bundle, SNI and a client certificate: relayed, and the upstream saw our name and certificate', async () => {
    const client = pki.issue('gw-client', { cn: 'stratix-gateway', client: true });
    const gw = await startGateway({ defaultRoute: { openclawGateway: up.url }, tls: { upstream: { caFile: pki.caCert, certFile: client.cert, keyFile: client.key, servername: 'upstream.test' } } });
    try {
      const c = await openRelayed(`ws://127.0.0.1:${gw.port}/ws?clientId=tls-up-1`);
      assert.deepEqual(up.seen.at(-1), { servername: 'upstream.test', clientCn: 'stratix-gateway' });
      c.ws.close();
      await c.closed;
    } finally {
      await gw.close();
    }
  });

  it("without the CA bundle the upstream's certificate is not trusted: close 4502", async () => {
    const client = pki.issue('gw-client2', { cn: 'stratix-gateway', client: true });
    const gw = await startGateway({ defaultRoute: { openclawGateway: up.url }, tls: { upstream: { certFile: client.cert, keyFile: client.key } } });
    try {
      const c = await openClient(gw.port, 'tls-up-2');
      const closed = await c.closed;
      assert.equal(closed.code, 4502);
    } finally {
      await gw.close();
    }
  });

  it('without a client certificate an upstream that requires one refuses: the client gets a 45xx close', async () => {
    const gw = await startGateway({ defaultRoute: { openclawGateway: up.url }, tls: { upstream: { caFile: pki.caCert, servername: 'upstream.test' } } });
    try {
      const c = await openClient(gw.port, 'tls-up-3');
      const closed = await c.closed;
      assert.ok(closed.code >= 4502 && closed.code <= 4523, String(closed.code));
    } finally {
      await gw.close();
    }
  });
});

function wssClient(port: number, clientId: string, ca: string, extra: Record<string, unknown> = {}): TestClient {
  return connectUrl(`wss://127.0.0.1:${port}/ws?clientId=${clientId}`, { ca: readFileSync(ca), servername: 'gateway.test', ...extra } as never);
}

function serialOf(port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port, ca: readFileSync(ca), servername: 'gateway.test' }, () => {
      resolve(s.getPeerCertificate().serialNumber);
      s.destroy();
    });
    s.on('error', reject);
  });
}

describe('wss:// on a standalone gateway', { timeout: 60_000 }, () => {
  let pki: TestPki;
  let upstream: TestUpstream;
  let gw: Gateway;
  let certFile: string;
  let keyFile: string;
  before(async () => {
    pki = makePki();
    upstream = await startUpstream();
    const leaf = pki.issue('gw1', { cn: 'gateway.test', san: ['DNS:gateway.test', 'IP:127.0.0.1'] });
    certFile = `${pki.dir}/served.pem`;
    keyFile = `${pki.dir}/served.key`;
    copyFileSync(leaf.cert, certFile);
    copyFileSync(leaf.key, keyFile);
    gw = await startGateway({ defaultRoute: { openclawGateway: upstream.url }, tls: { server: { certFile, keyFile } }, upstream: { forwardedHeaders: 'x-forwarded-for' } });
  });
  after(async () => {
    await gw.close();
    await upstream.close();
    pki.cleanup();
  });

  it('relays over TLS; the upstream is told the client came over wss', async () => {
    const c = wssClient(gw.port, 'wss-1', pki.caCert);
    await once(c.ws, 'open');
    c.ws.send('over tls');
    await c.waitFor(1);
    assert.equal(c.messages[0]!.data.toString(), 'over tls');
    assert.equal(upstream.upgradeHeaders.at(-1)!['x-forwarded-proto'], 'wss');
    c.ws.close();
    await c.closed;
  });

  it('TLS 1.1 is refused (TLS 1.2+ only)', async () => {
    const err = await new Promise<Error>((resolve) => {
      const s = tlsConnect({ host: '127.0.0.1', port: gw.port, ca: readFileSync(pki.caCert), servername: 'gateway.test', maxVersion: 'TLSv1.1', minVersion: 'TLSv1' });
      s.on('secureConnect', () => resolve(new Error('connected')));
      s.on('error', resolve);
    });
    assert.notEqual(err.message, 'connected');
  });

  it('a new certificate is served once the files change; an open session keeps relaying', async () => {
    const c = wssClient(gw.port, 'wss-2', pki.caCert);
    await once(c.ws, 'open');
    const before = await serialOf(gw.port, pki.caCert);
    const next = pki.issue('gw2', { cn: 'gateway.test', san: ['DNS:gateway.test', 'IP:127.0.0.1'] });
    copyFileSync(next.key, keyFile);
    copyFileSync(next.cert, certFile);
    let after = before;
    const end = Date.now() + 10_000;
    while (after === before && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 100));
      after = await serialOf(gw.port, pki.caCert);
    }
    assert.notEqual(after, before, 'the new certificate is served');
    c.ws.send('still here');
    await c.waitFor(1);
    assert.equal(c.messages[0]!.data.toString(), 'still here');
    c.ws.close();
    await c.closed;
  });
});

describe('wss:// on the primary (two workers)', { timeout: 90_000 }, () => {
  let pki: TestPki;
  let upstream: TestUpstream;
  let cli: RunningCli;
  before(async () => {
    pki = makePki();
    upstream = await startUpstream();
    const leaf = pki.issue('gwp', { cn: 'gateway.test', san: ['DNS:gateway.test', 'IP:127.0.0.1'] });
    cli = await startCli({
      gateway: { listen: '127.0.0.1:0', workers: 2 },
      defaultRoute: { openclawGateway: upstream.url },
      upstream: { forwardedHeaders: 'x-forwarded-for' },
      tls: { server: { certFile: leaf.cert, keyFile: leaf.key } },
      admission: { clientId: { handshakesPerSecond: 0 } },
    });
  });
  after(async () => {
    await cli.stop();
    await upstream.close();
    pki.cleanup();
  });

  it('each clientId reaches its worker over the pipe; the worker sees the real peer and wss', async () => {
    for (const id of ['tp-1', 'tp-2', 'tp-3', 'tp-4']) {
      const c = wssClient(cli.port, id, pki.caCert, { localAddress: '127.0.0.9' });
      let worker: string | undefined;
      c.ws.once('upgrade', (res: IncomingMessage) => (worker = res.headers['x-stratix-worker'] as string));
      await once(c.ws, 'open');
      assert.equal(Number(worker), shardOf(id, 2));
      c.ws.send(`hello ${id}`);
      await c.waitFor(1);
      assert.equal(c.messages[0]!.data.toString(), `hello ${id}`);
      assert.equal(upstream.upgradeHeaders.at(-1)!['x-forwarded-for'], '127.0.0.9');
      assert.equal(upstream.upgradeHeaders.at(-1)!['x-forwarded-proto'], 'wss');
      c.ws.close(1000, 'bye');
      const closed = await c.closed;
      assert.deepEqual(closed, { code: 1000, reason: 'bye' }, 'the close handshake crosses the pipe and back');
    }
  });

  it('a large message both ways crosses the pipe intact', async () => {
    const c = wssClient(cli.port, 'tp-big', pki.caCert);
    await once(c.ws, 'open');
    const big = Buffer.alloc(3 * 1024 * 1024, 7);
    c.ws.send(big);
    await c.waitFor(1);
    assert.ok(c.messages[0]!.data.equals(big));
    c.ws.terminate();
    await c.closed;
  });

  it('a refusal by the primary is answered over TLS', async () => {
    const c = connectUrl(`wss://127.0.0.1:${cli.port}/ws?clientId=bad%20id`, { ca: readFileSync(pki.caCert), servername: 'gateway.test' } as never);
    const [, res] = (await once(c.ws, 'unexpected-response')) as [unknown, IncomingMessage];
    assert.equal(res.statusCode, 400);
    c.ws.terminate();
  });
});
