/**
 * Integration: admission in the real CLI with two worker processes. The primary
 * enforces the per-source connection cap before the hand-off and learns over IPC
 * when a worker's session ends (also when the worker dies); signed handshakes are
 * checked in the workers, whose keys SIGHUP reloads; signatures and tokens never
 * reach the logs; the trust-topology warning; the admin token from a file or an
 * environment variable.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { shardOf } from '../../src/cluster/shard.js';
import { sign } from '../../src/security/handshake-signature.js';
import { startCli, type RunningCli } from '../helpers/cli.js';
import { openRelayed, refusedStatus, until, untilAsync, type TestClient } from '../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { httpGet, scrapeSample } from '../helpers/raw-http.js';

const url = (port: number, id: string) => `ws://127.0.0.1:${port}/ws?clientId=${id}`;

/** clientIds with the given prefix, one on each of the two workers. */
function onEachWorker(prefix: string): [string, string] {
  const out: string[] = [];
  for (let i = 0; out.length < 2; i++) if (shardOf(`${prefix}${i}`, 2) === out.length) out.push(`${prefix}${i}`);
  return out as [string, string];
}

async function closeAll(cs: TestClient[]): Promise<void> {
  for (const c of cs) c.ws.close();
  await Promise.all(cs.map((c) => c.closed));
}

describe('per-source connections enforced by the primary', { timeout: 90_000 }, () => {
  let upstream: TestUpstream;
  let cli: RunningCli;
  before(async () => {
    upstream = await startUpstream();
    cli = await startCli({
      gateway: { listen: '127.0.0.1:0', workers: 2 },
      defaultRoute: { openclawGateway: upstream.url },
      admission: { source: { maxConnections: 2 }, clientId: { handshakesPerSecond: 0 } },
    });
  });
  after(async () => {
    await cli?.stop();
    await upstream.close();
  });

  it('the third connection from one address gets 429; another address is not affected; an ended session frees its place', async () => {
    const [w0, w1] = onEachWorker('src-a-');
    const a = await openRelayed(url(cli.port, w0));
    const b = await openRelayed(url(cli.port, w1));
    assert.equal(await scrapeSample(cli.port, 'stratix_source_connections'), 2);
    const r = await refusedStatus(url(cli.port, 'src-a-x'));
    assert.equal(r.status, 429);
    assert.equal(r.code, 'STRATIX_ERR_SOURCE_CONNECTIONS');
    const other = await openRelayed(url(cli.port, 'src-b-1'), { localAddress: '127.0.0.3' });
    b.ws.close();
    await b.closed;
    // The worker tells the primary (batched IPC); then the address has room again.
    await untilAsync(async () => (await scrapeSample(cli.port, 'stratix_source_connections')) === 2, 'the release to reach the primary');
    const c = await openRelayed(url(cli.port, 'src-a-y'));
    await closeAll([a, c, other]);
    await untilAsync(async () => (await scrapeSample(cli.port, 'stratix_source_connections')) === 0, 'every release');
  });

  it('a socket the worker refuses (no valid upgrade) also releases its place', async () => {
    for (let i = 0; i < 4; i++) {
      const res = await httpGet(cli.port, `/ws?clientId=plain-${i}`);
      assert.equal(res.status, 426);
      await untilAsync(async () => (await scrapeSample(cli.port, 'stratix_source_connections')) === 0, 'the release');
    }
  });

  it('a worker that dies releases every connection it held', async () => {
    const [w0] = onEachWorker('die-');
    const a = await openRelayed(url(cli.port, w0));
    assert.equal(await scrapeSample(cli.port, 'stratix_source_connections'), 1);
    const pid = cli.logs.find((l) => l.msg === 'listening' && l.role === 'primary')!.pids as number[];
    process.kill(pid[0]!, 'SIGKILL');
    await a.closed;
    await untilAsync(async () => (await scrapeSample(cli.port, 'stratix_source_connections')) === 0, 'the dead worker\'s connections to be released');
  });
});

describe('signed handshakes in the cluster', { timeout: 90_000 }, () => {
  const SECRET_1 = 'cluster-secret-1-0123456789-0123456789';
  const SECRET_2 = 'cluster-secret-2-0123456789-0123456789';
  let upstream: TestUpstream;
  let cli: RunningCli;
  let keysDir: string;
  let adminFile: string;
  before(async () => {
    upstream = await startUpstream();
    keysDir = mkdtempSync(join(tmpdir(), 'stratix-ckeys-'));
    writeFileSync(join(keysDir, 'k1'), SECRET_1);
    adminFile = join(keysDir, '..', `${keysDir.split('/').pop()}-admin-token`);
    writeFileSync(adminFile, 'admin-token-from-a-file-0123456789\n');
    cli = await startCli({
      gateway: { listen: '127.0.0.1:0', workers: 2 },
      defaultRoute: { openclawGateway: upstream.url },
      auth: { mode: 'hmac', hmac: { keysDir, watch: false } },
      admin: { tokenFile: adminFile },
      log: { level: 'debug' },
    });
  });
  after(async () => {
    await cli.stop();
    await upstream.close();
    rmSync(keysDir, { recursive: true, force: true });
    rmSync(adminFile, { force: true });
  });

  const signed = (id: string, kid: string, secret: string, nonce: string) => {
    const ts = String(Date.now());
    return `${url(cli.port, id)}&kid=${kid}&ts=${ts}&nonce=${nonce}&sig=${sign(Buffer.from(secret), kid, id, ts, nonce)}`;
  };

  it('signed clients on both workers are relayed; a replay is refused by the worker that owns the clientId', async () => {
    const [w0, w1] = onEachWorker('h-');
    const u0 = signed(w0, 'k1', SECRET_1, 'nonce-cluster-000001');
    const cs = [await openRelayed(u0), await openRelayed(signed(w1, 'k1', SECRET_1, 'nonce-cluster-000002'))];
    const r = await refusedStatus(u0);
    assert.equal(r.code, 'STRATIX_ERR_AUTH_REPLAYED');
    await closeAll(cs);
  });

  it('SIGHUP reloads the keys in every worker', async () => {
    const [w0, w1] = onEachWorker('hup-');
    assert.equal((await refusedStatus(signed(w0, 'k2', SECRET_2, 'nonce-cluster-000003'))).code, 'STRATIX_ERR_AUTH_INVALID');
    writeFileSync(join(keysDir, 'k2'), SECRET_2);
    cli.proc.kill('SIGHUP');
    await until(() => cli.logs.filter((l) => l.msg === 'HMAC keys loaded').length >= 2, 'both workers to reload');
    const cs = [await openRelayed(signed(w0, 'k2', SECRET_2, 'nonce-cluster-000004')), await openRelayed(signed(w1, 'k2', SECRET_2, 'nonce-cluster-000005'))];
    await closeAll(cs);
  });

  it('no signature, nonce or token appears in the logs (debug level)', async () => {
    const sig = sign(Buffer.from(SECRET_2), 'k1', 'log-1', String(Date.now()), 'nonce-cluster-secret9'); // the wrong key: refused
    await refusedStatus(`${url(cli.port, 'log-1')}&kid=k1&ts=${Date.now()}&nonce=nonce-cluster-secret9&sig=${sig}`);
    await refusedStatus(`${url(cli.port, 'log-2')}&token=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2VjcmV0LXRva2VuLXNpZw`);
    await until(() => cli.logs.some((l) => l.msg === 'handshake refused: credentials' && String(l.url).includes('log-2')), 'the refusals to be logged');
    const all = JSON.stringify(cli.logs);
    assert.ok(all.includes('[redacted]'), 'the refusal is logged, redacted');
    for (const secret of [sig, 'nonce-cluster-secret9', 'c2VjcmV0LXRva2VuLXNpZw', SECRET_1]) assert.ok(!all.includes(secret), `logs contain ${secret}`);
  });

  it('the admin token comes from admin.tokenFile', async () => {
    assert.equal((await httpGet(cli.port, '/admin/upstreams', { Authorization: 'Bearer admin-token-from-a-file-0123456789' })).status, 200);
    assert.equal((await httpGet(cli.port, '/admin/upstreams', { Authorization: 'Bearer wrong-token-0123456789' })).status, 401);
  });

  it('auth on: no loopback warning', () => {
    assert.ok(!cli.logs.some((l) => String(l.msg).includes('loopback upstream')));
  });
});

describe('start-time checks', { timeout: 60_000 }, () => {
  it('warns when auth is off and a route targets a loopback upstream; admin.tokenEnv is read', async () => {
    const upstream = await startUpstream();
    process.env.STRATIX_TEST_ADMIN_TOKEN = 'admin-token-from-env-0123456789';
    const cli = await startCli({
      gateway: { listen: '127.0.0.1:0', workers: 1 },
      defaultRoute: { openclawGateway: upstream.url },
      admin: { tokenEnv: 'STRATIX_TEST_ADMIN_TOKEN' },
    });
    try {
      const warning = cli.logs.find((l) => l.level === 'warn' && String(l.msg).includes('loopback upstream'));
      assert.ok(warning, 'the trust topology warning');
      assert.deepEqual(warning.upstreams, [upstream.url]);
      assert.equal((await httpGet(cli.port, '/admin/upstreams', { Authorization: 'Bearer admin-token-from-env-0123456789' })).status, 200);
    } finally {
      delete process.env.STRATIX_TEST_ADMIN_TOKEN;
      await cli.stop();
      await upstream.close();
    }
  });
});

describe('gateway.maxConnections is the instance\'s, however the clientIds fall on the workers', { timeout: 90_000 }, () => {
  let upstream: TestUpstream;
  let cli: RunningCli;
  before(async () => {
    upstream = await startUpstream();
    cli = await startCli({
      gateway: { listen: '127.0.0.1:0', workers: 2, maxConnections: 3 },
      defaultRoute: { openclawGateway: upstream.url },
      admission: { clientId: { handshakesPerSecond: 0 } },
    });
  });
  after(async () => {
    await cli?.stop();
    await upstream.close();
  });

  it('three sessions on one worker are let in; the fourth, on either worker, gets 503 STRATIX_ERR_OVER_CAPACITY; an ended one frees its place', async () => {
    const onWorker0: string[] = [];
    for (let i = 0; onWorker0.length < 4; i++) if (shardOf(`cap-${i}`, 2) === 0) onWorker0.push(`cap-${i}`);
    const [w0, w1] = onEachWorker('cap-other-');
    const open = [];
    for (const id of onWorker0.slice(0, 3)) open.push(await openRelayed(url(cli.port, id)));
    for (const id of [onWorker0[3]!, w1]) {
      const r = await refusedStatus(url(cli.port, id));
      assert.equal(r.status, 503, id);
      assert.equal(r.code, 'STRATIX_ERR_OVER_CAPACITY', id);
    }
    open[0]!.ws.close();
    await open[0]!.closed;
    await untilAsync(async () => (await scrapeSample(cli.port, 'stratix_source_connections')) === 2, 'the release to reach the primary');
    open[0] = await openRelayed(url(cli.port, w0));
    await closeAll(open);
  });
});
