/**
 * Integration: etcd as the route source, with the REAL etcd (test/helpers/etcd-server.ts)
 * and the real CLI with two workers. Rules load at start; a put or a delete reaches new
 * handshakes on every worker (the latency is printed as a diagnostic, never asserted);
 * etcd killed: the gateway serves on with the last table and /readyz shows the source
 * degraded; etcd back: it catches up, including revisions made while it was cut off;
 * start with etcd down: the local snapshot, or, without one, a clear error and exit 1.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EtcdRouteStore } from '../../src/sources/etcd-route-store.js';
import { runCli, startCli, writeTempConfig, type RunningCli } from '../helpers/cli.js';
import { EtcdServer } from '../helpers/etcd-server.js';
import { scrapeSample } from '../helpers/raw-http.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { freePort } from '../helpers/upstream.js';
import { admin, idsPerShard, readyz, routedTo, startNamedUpstream, TOKEN, type NamedUpstream } from './fixtures.js';

const PREFIX = '/gw-test/';
const exact = (id: string, url: string) => [`exact/${id}`, JSON.stringify({ clientId: id, openclawGateway: url })] as const;
const prefixRule = (p: string, url: string) => [`prefix/${p}`, JSON.stringify({ clientIdPrefix: p, openclawGateway: url })] as const;

/** Polls new handshakes until `clientId` reaches `upstream`; resolves how long it took (ms). */
async function untilRouted(port: number, clientId: string, upstream: string, deadlineMs = 15_000): Promise<number> {
  const started = Date.now();
  let last = '';
  for (;;) {
    last = await routedTo(port, clientId).catch((err: Error) => `(failed: ${err.message})`);
    if (last === upstream) return Date.now() - started;
    if (Date.now() - started > deadlineMs) assert.fail(`${clientId} still routed to ${last}, expected ${upstream}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** The revision in a route snapshot's header line (0 when there is none yet). */
function snapshotRevision(file: string): number {
  try {
    return (JSON.parse(readFileSync(file, 'utf8').split('\n', 1)[0]!) as { revision: number }).revision;
  } catch {
    return 0;
  }
}

async function untilReady(port: number, pred: (r: Record<string, any>) => boolean, what: string): Promise<Record<string, any>> {
  const end = Date.now() + 20_000;
  for (;;) {
    const r = await readyz(port);
    if (pred(r)) return r;
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}: ${JSON.stringify(r)}`);
    await new Promise((res) => setTimeout(res, 20));
  }
}

describe('etcd route source in the cluster', { timeout: 120_000 }, () => {
  let etcd: EtcdServer;
  let proxy: TcpProxy;
  let store: EtcdRouteStore;
  let tmp: string;
  let a: NamedUpstream;
  let b: NamedUpstream;
  let cli: RunningCli | undefined;
  const snapshotPath = () => path.join(tmp, 'routes.snapshot');
  const config = (endpoint: string, snapshot: string | null = snapshotPath()) => ({
    gateway: { listen: '127.0.0.1:0', workers: 2 },
    routeSource: {
      type: 'etcd',
      etcd: { endpoints: [endpoint], prefix: PREFIX, snapshotPath: snapshot, dialTimeoutMs: 1_000, reconnectInitialMs: 50, reconnectMaxMs: 300, snapshotDebounceMs: 20, keepaliveMs: 1_000 },
    },
    admin: { token: TOKEN },
  });

  before(async () => {
    etcd = await EtcdServer.start();
    proxy = await TcpProxy.start(etcd.clientPort);
    store = new EtcdRouteStore({ endpoints: [etcd.endpoint], prefix: PREFIX, requestTimeoutMs: 5_000 });
    tmp = await mkdtemp(path.join(os.tmpdir(), 'stratix-etcd-gw-'));
    a = await startNamedUpstream('A');
    b = await startNamedUpstream('B');
    await store.write([prefixRule('e-', a.url), exact('e-vip', b.url), ['default', JSON.stringify({ openclawGateway: a.url })]], []);
  });
  after(async () => {
    await cli?.stop();
    store?.close();
    await proxy?.close();
    await etcd?.close();
    await a?.close();
    await b?.close();
    await rm(tmp, { recursive: true, force: true });
  });

  it('loads the rules from etcd at start; /readyz shows the source and its revision', async () => {
    cli = await startCli(config(`http://127.0.0.1:${proxy.port}`));
    const ready = await untilReady(cli.port, (r) => r.routeTable?.converged === true && r.workersReady === 2, 'converged');
    assert.equal(ready.ready, true);
    assert.equal(ready.routeTable.rules, 2);
    assert.equal(ready.routeSource.type, 'etcd');
    assert.equal(ready.routeSource.state, 'ok');
    assert.ok(ready.routeSource.revision > 0);
    assert.equal(await routedTo(cli.port, 'e-1'), 'A');
    assert.equal(await routedTo(cli.port, 'e-vip'), 'B');
    assert.equal(await routedTo(cli.port, 'zzz'), 'A', 'the default key');
    assert.equal(await scrapeSample(cli.port, 'stratix_route_source_degraded'), 0);
  });

  it('a put and a delete reach new handshakes on every worker (latency printed)', async (t) => {
    const ids = idsPerShard('e-w', 1).flat();
    const puts = ids.map((id) => exact(id, b.url));
    await store.write(puts, []);
    for (const [worker, id] of ids.entries()) t.diagnostic(`put seen by worker ${worker} after ≤ ${await untilRouted(cli!.port, id, 'B')} ms`);
    await store.write([], ids.map((id) => `exact/${id}`));
    for (const [worker, id] of ids.entries()) t.diagnostic(`delete seen by worker ${worker} after ≤ ${await untilRouted(cli!.port, id, 'A')} ms`);
    const ready = await untilReady(cli!.port, (r) => r.routeTable?.converged === true, 'converged');
    assert.equal(ready.routeTable.rules, 2);
    const explained = await admin(cli!.port, 'GET', '/admin/routes/explain?clientId=e-vip');
    assert.equal(explained.body['revision'], ready.routeTable.revision);
  });

  it('etcd killed: serves on with the last table, /readyz ready but degraded; back: catches up, missed revisions included', async (t) => {
    const port = cli!.port;
    await etcd.kill();
    const degraded = await untilReady(port, (r) => r.routeSource?.state === 'degraded', 'degraded');
    assert.equal(degraded.ready, true, 'degraded is still ready');
    assert.equal(typeof degraded.routeSource.reason, 'string');
    assert.equal(await scrapeSample(port, 'stratix_route_source_degraded'), 1);
    for (const id of idsPerShard('e-k', 1).flat()) assert.equal(await routedTo(port, id), 'A', 'serving with the last table');
    assert.equal(await routedTo(port, 'e-vip'), 'B');

    const down = Date.now();
    await etcd.restart();
    await untilReady(port, (r) => r.routeSource?.state === 'ok', 'ok again');
    t.diagnostic(`source ok ${Date.now() - down} ms after etcd was restarted`);
    assert.equal(await scrapeSample(port, 'stratix_route_source_degraded'), 0);

    // A put after the restart is applied...
    const [x0, x1] = idsPerShard('e-after', 1).flat() as [string, string];
    await store.write([exact(x0, b.url), exact(x1, b.url)], []);
    await untilRouted(port, x0, 'B');
    await untilRouted(port, x1, 'B');

    // ...and so are revisions made while the gateway could not see etcd.
    await proxy.cut();
    await untilReady(port, (r) => r.routeSource?.state === 'degraded', 'degraded (cut)');
    await store.write([exact('e-missed', b.url)], ['exact/e-vip']);
    await store.write([prefixRule('e-m', b.url)], []);
    await proxy.restore();
    await untilRouted(port, 'e-missed', 'B');
    await untilRouted(port, 'e-vip', 'A');
    await untilRouted(port, 'e-m1', 'B');
    await untilReady(port, (r) => r.routeSource?.state === 'ok' && r.routeTable?.converged === true, 'caught up');
  });

  it('etcd down at start with a snapshot: serves from it, degraded; catches up when etcd returns', async () => {
    // The snapshot follows the table within snapshotDebounceMs; the stop below is a SIGKILL.
    const revision = Number((await readyz(cli!.port)).routeTable.revision);
    const end = Date.now() + 10_000;
    while (snapshotRevision(snapshotPath()) < revision) {
      if (Date.now() > end) assert.fail(`the snapshot did not reach revision ${revision}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    await cli!.stop();
    cli = undefined;
    await etcd.kill();
    cli = await startCli(config(etcd.endpoint));
    const ready = await untilReady(cli.port, (r) => r.workersReady === 2, 'workers up');
    assert.equal(ready.ready, true);
    assert.equal(ready.routeSource.state, 'degraded');
    assert.match(ready.routeSource.reason, /serving the local snapshot/);
    assert.equal(await routedTo(cli.port, 'e-missed'), 'B', 'the snapshot has the latest rules');
    assert.equal(await routedTo(cli.port, 'e-vip'), 'A');

    await etcd.restart();
    await untilReady(cli.port, (r) => r.routeSource?.state === 'ok', 'ok');
    await store.write([exact('e-late', b.url)], []);
    await untilRouted(cli.port, 'e-late', 'B');
  });

  it('etcd down at start and no snapshot: exits 1 with a clear error', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const tmpConfig = writeTempConfig(config(dead, null));
    try {
      const res = await runCli(['--config', tmpConfig.path]);
      assert.equal(res.code, 1);
      assert.match(res.stderr, /cannot start: cannot load routes: etcd at http:\/\/127\.0\.0\.1:\d+ could not be read within 1000 ms/);
      assert.match(res.stderr, /no snapshotPath is configured \(STRATIX_ERR_ROUTE_SOURCE_UNAVAILABLE\)/);
    } finally {
      tmpConfig.cleanup();
    }
  });
});
