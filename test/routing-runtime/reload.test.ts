/**
 * Hot reload of the config file on a standalone Gateway (real sockets, real files):
 * POST /admin/reload and the file watcher, an invalid file that keeps the old table,
 * and live sessions under `keep` (nobody dropped, echoes flow throughout) and
 * `migrate` (only the clients whose route changed get 4307, paced).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { buildRouteTable } from '../../src/routing/build-route-table.js';
import type { Gateway } from '../../src/server/gateway.js';
import { scrapeSample } from '../helpers/raw-http.js';
import type { TestClient } from '../helpers/gateway.js';
import {
  admin,
  ConfigFile,
  gatewayConfig,
  keepTalking,
  openNamed,
  readyz,
  routedTo,
  startFromFile,
  startNamedUpstream,
  TOKEN,
  until,
  untilRoutedTo,
  useStandalone,
  within,
  type NamedUpstream,
} from './fixtures.js';

describe('reload: POST /admin/reload and invalid files', () => {
  const config = (routes: unknown[], extra: Record<string, unknown> = {}) =>
    gatewayConfig({ routes, defaultRoute: { openclawGateway: env.a.url }, admin: { token: TOKEN }, routing: { watchConfigFile: false }, ...extra });
  const env = useStandalone(({ a }) => config([{ clientIdPrefix: 'team-', openclawGateway: a.url }]));

  it('swaps in the new table: the answer, /readyz and /metrics carry its version; new handshakes follow it', async () => {
    const before = (await readyz(env.gw.port)).routeTable.version as string;
    assert.equal(await routedTo(env.gw.port, 'team-1'), 'A');

    const rules = [{ clientIdPrefix: 'team-', openclawGateway: env.b.url }];
    env.file.write(config(rules));
    const res = await admin(env.gw.port, 'POST', '/admin/reload');
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const expected = buildRouteTable(rules, { openclawGateway: env.a.url }).version;
    assert.equal(res.body['version'], expected);
    assert.equal(res.body['previousVersion'], before);
    assert.equal(res.body['changed'], true);
    assert.equal(res.body['rules'], 1);
    assert.equal(res.body['trigger'], 'admin');

    const ready = await readyz(env.gw.port);
    assert.equal(ready.ready, true);
    assert.equal(ready.routeTable.version, expected);
    assert.equal(ready.routeTable.converged, true);
    assert.deepEqual(ready.routeSource.type, 'file');
    assert.equal(await scrapeSample(env.gw.port, 'stratix_route_table_info', { version: expected }), 1);
    assert.equal(await routedTo(env.gw.port, 'team-1'), 'B');

    // The same rules again: nothing to send anywhere.
    const again = await admin(env.gw.port, 'POST', '/admin/reload');
    assert.equal(again.status, 200);
    assert.equal(again.body['changed'], false);
    assert.equal(again.body['version'], expected);
  });

  it('an invalid file keeps the old table: 422 naming the bad settings, reload_failures counted, version unchanged', async () => {
    const version = (await readyz(env.gw.port)).routeTable.version as string;
    const failures = await scrapeSample(env.gw.port, 'stratix_reload_failures_total');
    env.file.write(config([{ clientIdPrefix: 'team-', openclawGateway: env.a.url }, { clientIdPrefix: 'x-', openclawGateway: 'http://not-ws/' }], { routing: { onRouteChange: 'sometimes' } }));

    const res = await admin(env.gw.port, 'POST', '/admin/reload');
    assert.equal(res.status, 422);
    assert.equal(res.headers.get('x-stratix-error'), 'STRATIX_ERR_RELOAD_INVALID');
    const error = res.body['error'] as { code: string; issues: string[]; version: string };
    assert.equal(error.code, 'STRATIX_ERR_RELOAD_INVALID');
    assert.equal(error.version, version);
    assert.ok(error.issues.some((i) => i.startsWith('routes[1].openclawGateway: ')), error.issues.join('\n'));
    assert.ok(error.issues.some((i) => i.startsWith('routing.onRouteChange: ')), error.issues.join('\n'));

    assert.equal(await scrapeSample(env.gw.port, 'stratix_reload_failures_total'), failures + 1);
    assert.equal((await readyz(env.gw.port)).routeTable.version, version);
    assert.equal(await routedTo(env.gw.port, 'team-1'), 'B', 'still the old table');

    // Not JSON at all: the same, with the file named.
    env.file.writeInPlace('{"routes": [');
    const broken = await admin(env.gw.port, 'POST', '/admin/reload');
    assert.equal(broken.status, 422);
    assert.match(String((broken.body['error'] as { message: string }).message), /not valid JSON/);
    assert.equal(await scrapeSample(env.gw.port, 'stratix_reload_failures_total'), failures + 2);
    assert.equal((await readyz(env.gw.port)).routeTable.version, version);
  });

  it('settings that need a restart are reported, not applied', async () => {
    env.file.write(config([{ clientIdPrefix: 'team-', openclawGateway: env.b.url }], { limits: { maxMessageBytes: 2 * 1024 * 1024 } }));
    const res = await admin(env.gw.port, 'POST', '/admin/reload');
    assert.equal(res.status, 200);
    assert.deepEqual(res.body['restartRequired'], ['limits.maxMessageBytes']);
  });
});

describe('reload under live traffic', () => {
  let a: NamedUpstream;
  let b: NamedUpstream;
  const started: Array<{ gw: Gateway; file: ConfigFile }> = [];
  const clients: TestClient[] = [];

  before(async () => {
    a = await startNamedUpstream('A');
    b = await startNamedUpstream('B');
  });
  after(async () => {
    for (const c of clients) c.ws.terminate();
    for (const s of started) {
      await s.gw.close();
      s.file.cleanup();
    }
    await a?.close();
    await b?.close();
  });

  async function start(onRouteChange: 'keep' | 'migrate', migrateRatePerSecond = 100): Promise<{ gw: Gateway; file: ConfigFile; config(target: string): Record<string, unknown> }> {
    const config = (moved: string) =>
      gatewayConfig({
        routes: [
          { clientIdPrefix: 'move-', openclawGateway: moved },
          { clientIdPrefix: 'stay-', openclawGateway: a.url },
        ],
        admin: { token: TOKEN },
        routing: { onRouteChange, migrateRatePerSecond, watchConfigFile: false },
      });
    const file = new ConfigFile(config(a.url));
    const gw = await startFromFile(file);
    started.push({ gw, file });
    return { gw, file, config };
  }

  async function openAll(port: number, prefix: string, n: number): Promise<TestClient[]> {
    const opened = await Promise.all(Array.from({ length: n }, (_, i) => openNamed(port, `${prefix}${i}`)));
    for (const o of opened) assert.equal(o.upstream, 'A');
    const cs = opened.map((o) => o.client);
    clients.push(...cs);
    return cs;
  }

  it('keep: no client is dropped; echoes flow during and after; only new handshakes follow the new table', async () => {
    const { gw, file, config } = await start('keep');
    const moving = await openAll(gw.port, 'move-', 20);
    const staying = await openAll(gw.port, 'stay-', 20);
    const all = [...moving, ...staying];
    const talk = keepTalking(all);
    await until(() => talk.rounds.every((r) => r >= 3), 'traffic before the reload');

    file.write(config(b.url));
    const res = await admin(gw.port, 'POST', '/admin/reload');
    assert.equal(res.status, 200);
    const atReload = [...talk.rounds];
    await until(() => talk.rounds.every((r, i) => r >= atReload[i]! + 5), 'traffic after the reload');
    const rounds = await talk.stop();

    for (const c of all) assert.equal(c.ws.readyState, c.ws.OPEN, 'nobody was closed');
    assert.ok(rounds.every((r) => r >= 8));
    // Old sessions stay on A; a new handshake for a moved id reaches B.
    assert.equal(await routedTo(gw.port, 'move-new'), 'B');
    assert.equal(await routedTo(gw.port, 'stay-new'), 'A');
    assert.equal(await scrapeSample(gw.port, 'stratix_route_migrations_total'), 0);
  });

  it('migrate: only the clients whose route changed get 4307, spread out; the others keep flowing', async () => {
    const RATE = 20;
    const { gw, file, config } = await start('migrate', RATE);
    const moving = await openAll(gw.port, 'move-', 12);
    const staying = await openAll(gw.port, 'stay-', 12);
    const talk = keepTalking(staying);
    const closes: Array<{ i: number; code: number; reason: string; openAtThatMoment: number }> = [];
    moving.forEach((c, i) =>
      void c.closed.then(({ code, reason }) => closes.push({ i, code, reason, openAtThatMoment: moving.filter((m) => m.ws.readyState === m.ws.OPEN).length })),
    );

    file.write(config(b.url));
    const res = await admin(gw.port, 'POST', '/admin/reload');
    assert.equal(res.status, 200);
    await within(Promise.all(moving.map((c) => c.closed)), 20_000, 'every moved client to be closed');
    const atEnd = [...talk.rounds];
    await until(() => talk.rounds.every((r, i) => r >= atEnd[i]! + 3), 'traffic of the others after the migration');
    await talk.stop();

    assert.equal(closes.length, 12);
    for (const c of closes) {
      assert.equal(c.code, 4307);
      assert.equal(c.reason, 'route changed, reconnect now');
    }
    for (const c of staying) assert.equal(c.ws.readyState, c.ws.OPEN, 'unaffected clients stay');
    // Paced, not all at once: when the first one closed, most of the others were still open.
    const first = closes[0]!;
    assert.ok(first.openAtThatMoment >= 6, `only ${first.openAtThatMoment} still open at the first close`);
    assert.equal(await scrapeSample(gw.port, 'stratix_route_migrations_total'), 12);

    // They reconnect to the new upstream.
    const back = await openNamed(gw.port, 'move-0');
    clients.push(back.client);
    assert.equal(back.upstream, 'B');
  });
});

describe('reload triggers: the file watcher', () => {
  const config = (target: string) => gatewayConfig({ routes: [{ clientIdPrefix: 'w-', openclawGateway: target }], routing: { watchDebounceMs: 50 } });
  const env = useStandalone(({ a }) => config(a.url));

  it('a file replaced by rename is reloaded', async () => {
    assert.equal(await routedTo(env.gw.port, 'w-1'), 'A');
    env.file.write(config(env.b.url));
    await untilRoutedTo(env.gw.port, 'w-1', 'B');
  });

  it('a file rewritten in place is reloaded; a broken save is refused and counted, the next good one applies', async () => {
    const failures = await scrapeSample(env.gw.port, 'stratix_reload_failures_total');
    env.file.writeInPlace('{"gateway": {"listen": "127.0.0.1:0"}, "routes": [{"clientIdPrefix": "w-"');
    await untilFailures(env.gw.port, failures + 1);
    assert.equal(await routedTo(env.gw.port, 'w-1'), 'B', 'old table kept');
    env.file.writeInPlace(JSON.stringify(config(env.a.url)));
    await untilRoutedTo(env.gw.port, 'w-1', 'A');
  });
});

async function untilFailures(port: number, n: number): Promise<void> {
  const end = Date.now() + 10_000;
  while ((await scrapeSample(port, 'stratix_reload_failures_total')) < n) {
    if (Date.now() > end) assert.fail(`stratix_reload_failures_total did not reach ${n}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
