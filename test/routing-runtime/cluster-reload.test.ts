/**
 * Integration: reloads in the real CLI with two worker processes. SIGHUP and
 * POST /admin/reload reach both workers, which converge on one version (/readyz,
 * metrics); `migrate` moves the affected clients on both workers; an invalid file
 * changes nothing anywhere; explain is answered by the worker that owns the
 * clientId; a restarted worker gets the current table before it takes clients.
 */
import assert from 'node:assert/strict';
import { renameSync, writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { buildRouteTable } from '../../src/routing/build-route-table.js';
import { startCli, type RunningCli } from '../helpers/cli.js';
import type { TestClient } from '../helpers/gateway.js';
import { scrapeSample } from '../helpers/raw-http.js';
import { admin, idsPerShard, openOn, readyz, routedTo, startNamedUpstream, TOKEN, until, within, type NamedUpstream } from './fixtures.js';

const WORKERS = 2;

/** Replaces the config file atomically. */
function rewrite(path: string, config: Record<string, unknown>): void {
  writeFileSync(`${path}.tmp`, JSON.stringify(config));
  renameSync(`${path}.tmp`, path);
}

/** Polls /readyz until every worker is up and holds `version`. */
async function untilConverged(port: number, version: string): Promise<Record<string, any>> {
  let last: Record<string, any> = {};
  const end = Date.now() + 20_000;
  for (;;) {
    last = await readyz(port);
    if (last.ready === true && last.workersReady === WORKERS && last.routeTable?.version === version && last.routeTable?.converged === true) return last;
    if (Date.now() > end) assert.fail(`not converged on ${version}: ${JSON.stringify(last.routeTable)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('cluster: reloads reach every worker', { timeout: 90_000 }, () => {
  let a: NamedUpstream;
  let b: NamedUpstream;
  let cli: RunningCli;
  const clients: TestClient[] = [];
  const config = (target: string, extra: Record<string, unknown> = {}) => ({
    gateway: { listen: '127.0.0.1:0', workers: WORKERS },
    routes: [
      { clientIdPrefix: 'move-', openclawGateway: target },
      { clientIdPrefix: 'stay-', openclawGateway: a.url },
    ],
    admin: { token: TOKEN },
    routing: { onRouteChange: 'migrate', migrateRatePerSecond: 40, watchConfigFile: false },
    ...extra,
  });
  const versionFor = (target: string) =>
    buildRouteTable([
      { clientIdPrefix: 'move-', openclawGateway: target },
      { clientIdPrefix: 'stay-', openclawGateway: a.url },
    ]).version;

  before(async () => {
    a = await startNamedUpstream('A');
    b = await startNamedUpstream('B');
    cli = await startCli(config(a.url));
  });
  after(async () => {
    for (const c of clients) c.ws.terminate();
    await cli?.stop();
    await a?.close();
    await b?.close();
  });

  it('starts with every worker on the config version', async () => {
    const ready = await untilConverged(cli.port, versionFor(a.url));
    assert.equal(ready.ready, true);
    assert.deepEqual(
      ready.routeTable.replicas.map((r: { version: string }) => r.version),
      [versionFor(a.url), versionFor(a.url)],
    );
    assert.equal(ready.routeSource.type, 'file');
    assert.equal(ready.routeSource.state, 'ok');
    assert.equal(await scrapeSample(cli.port, 'stratix_route_table_info', { version: versionFor(a.url) }), WORKERS);
  });

  it('SIGHUP: both workers converge on the new table; migrate moves exactly the affected clients on both', async () => {
    const moving = await Promise.all(idsPerShard('move-', 4).flat().map((id) => openOn(cli.port, id)));
    const staying = await Promise.all(idsPerShard('stay-', 4).flat().map((id) => openOn(cli.port, id)));
    clients.push(...moving.map((o) => o.client), ...staying.map((o) => o.client));
    assert.deepEqual(new Set(moving.map((o) => o.worker)), new Set([0, 1]));
    for (const o of [...moving, ...staying]) assert.equal(o.upstream, 'A');

    rewrite(cli.configPath, config(b.url));
    cli.proc.kill('SIGHUP');
    const v = versionFor(b.url);
    const ready = await untilConverged(cli.port, v);
    assert.deepEqual(ready.routeTable.replicas.map((r: { version: string }) => r.version), [v, v]);
    assert.equal(await scrapeSample(cli.port, 'stratix_route_table_info', { version: v }), WORKERS);

    const closes = await within(Promise.all(moving.map((o) => o.client.closed)), 20_000, 'the moved clients to be closed');
    assert.deepEqual(closes.map((c) => c.code), new Array<number>(moving.length).fill(4307));
    for (const o of staying) assert.equal(o.client.ws.readyState, o.client.ws.OPEN);
    for (const id of idsPerShard('move-', 1).flat()) assert.equal(await routedTo(cli.port, id), 'B');
    assert.equal(await scrapeSample(cli.port, 'stratix_route_migrations_total'), moving.length);
  });

  it('POST /admin/reload with an invalid file: 422, every worker keeps the old version, failures counted', async () => {
    const v = versionFor(b.url);
    rewrite(cli.configPath, { ...config(a.url), routes: [{ clientIdPrefix: 'move-' }] });
    const res = await admin(cli.port, 'POST', '/admin/reload');
    assert.equal(res.status, 422);
    const error = res.body['error'] as { issues: string[]; version: string };
    assert.equal(error.version, v);
    assert.ok(error.issues.some((i) => i.startsWith('routes[0]')), error.issues.join('\n'));
    assert.equal(await scrapeSample(cli.port, 'stratix_reload_failures_total'), 1);
    const ready = await untilConverged(cli.port, v);
    assert.deepEqual(ready.routeTable.replicas.map((r: { version: string }) => r.version), [v, v]);

    rewrite(cli.configPath, config(a.url));
    const ok = await admin(cli.port, 'POST', '/admin/reload');
    assert.equal(ok.status, 200);
    assert.equal(ok.body['version'], versionFor(a.url));
    assert.equal(ok.body['previousVersion'], v);
  });

  it('explain is answered by the worker that owns the clientId', async () => {
    for (const [worker, ids] of idsPerShard('move-', 1).entries()) {
      const res = await admin(cli.port, 'GET', `/admin/routes/explain?clientId=${ids[0]}`);
      assert.equal(res.status, 200);
      assert.equal(res.body['answeredBy'], `worker ${worker}`);
      assert.equal(res.body['target'], a.url);
      assert.equal(res.body['version'], versionFor(a.url));
    }
  });

  it('a restarted worker gets the current table (and operator marks) before it takes clients', async () => {
    const mark = await admin(cli.port, 'POST', `/admin/upstreams/down?url=${encodeURIComponent(b.url)}`);
    assert.equal(mark.status, 200);
    assert.equal(mark.body['replicas'], WORKERS);
    const [id0] = idsPerShard('move-', 1)[0]!;
    process.kill(cli.workerPids[0]!, 'SIGKILL');
    await until(() => cli.logs.some((l) => l['msg'] === 'worker exited; restarting'), 'the restart', 15_000);
    const ready = await untilConverged(cli.port, versionFor(a.url));
    assert.deepEqual(ready.routeTable.replicas.map((r: { up: boolean }) => r.up), [true, true]);
    const end = Date.now() + 15_000;
    for (;;) {
      const r = await routedTo(cli.port, id0!).catch(() => undefined);
      if (r === 'A') break;
      if (Date.now() > end) assert.fail(`worker 0 did not come back: ${r}`);
    }
    const listed = await admin(cli.port, 'GET', '/admin/upstreams');
    const replicas = listed.body['replicas'] as Array<{ replica: string; upstreams: Array<{ target: string; reason: string }> }>;
    for (const r of replicas) assert.deepEqual(r.upstreams.map((u) => [u.target, u.reason]), [[b.url, 'operator']], r.replica);
  });
});
