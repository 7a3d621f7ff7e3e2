/**
 * The config sections of the routing runtime (routeSource, routing, admin): defaults,
 * strictness, cross-checks named by path; and the sliced loader used by reloads
 * (`loadConfigFileAsync`) giving the same config and the same messages as the sync one.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfigFile, loadConfigFileAsync, parseConfig, parseConfigAsync } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';
import { ConfigFile } from './fixtures.js';

function issuesOf(fn: () => unknown): readonly string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.issues;
  }
  assert.fail('expected a ConfigError');
}

const ETCD = { type: 'etcd', etcd: { endpoints: ['http://127.0.0.1:2379'] } };

describe('routeSource, routing and admin settings', () => {
  it('default to a file source, keep, no admin token; the seed config still loads', () => {
    const c = parseConfig({ gateway: { listen: ':8080', maxConnections: 100000 }, routes: [{ clientIdPrefix: 'client-1-1000', openclawGateway: 'ws://gateway1.example.com:8080/ws' }] });
    assert.deepEqual(c.routeSource, { type: 'file' });
    assert.deepEqual(c.routing, {
      onRouteChange: 'keep',
      migrateRatePerSecond: 100,
      watchConfigFile: true,
      watchDebounceMs: 250,
      convergeTimeoutMs: 60_000,
      health: { failuresToMarkDown: 3, downCooldownMs: 30_000, maxTracked: 100_000 },
    });
    assert.deepEqual(c.admin, {});
    assert.ok(Object.isFrozen(c.routing.health));
  });

  it('fills the etcd defaults', () => {
    const c = parseConfig({ routeSource: ETCD });
    assert.deepEqual(c.routeSource, {
      type: 'etcd',
      etcd: {
        endpoints: ['http://127.0.0.1:2379'],
        prefix: '/stratix/routes/',
        snapshotPath: 'data/routes.snapshot',
        warmStart: true,
        dialTimeoutMs: 5_000,
        requestTimeoutMs: 10_000,
        pageSize: 50_000,
        progressEveryKeys: 100_000,
        snapshotDebounceMs: 2_000,
        reconnectInitialMs: 100,
        reconnectMaxMs: 5_000,
        keepaliveMs: 10_000,
      },
    });
    assert.equal(parseConfig({ routeSource: { ...ETCD, etcd: { ...ETCD.etcd, snapshotPath: null } } }).routeSource.type, 'etcd');
  });

  it('refuses unknown keys and bad values, naming the path', () => {
    const issues = issuesOf(() =>
      parseConfig({
        routeSource: { type: 'etcd', etcd: { endpoints: ['127.0.0.1:2379'], bogus: 1, warmStart: 'yes' } },
        routing: { onRouteChange: 'sometimes', migrateRatePerSecond: 0, health: { failuresToMarkDown: 0, extra: true } },
        admin: { token: 'short', other: 1 },
      }),
    );
    for (const path of [
      'routeSource.etcd.endpoints[0]',
      'routeSource.etcd.bogus',
      'routeSource.etcd.warmStart',
      'routing.onRouteChange',
      'routing.migrateRatePerSecond',
      'routing.health.failuresToMarkDown',
      'routing.health.extra',
      'admin.token',
      'admin.other',
    ]) {
      assert.ok(issues.some((i) => i.startsWith(`${path}: `)), `${path} in:\n  ${issues.join('\n  ')}`);
    }
    assert.ok(issuesOf(() => parseConfig({ routeSource: { type: 'consul' } })).some((i) => i.startsWith('routeSource.type: ')));
    assert.ok(issuesOf(() => parseConfig({ routeSource: { type: 'file', etcd: {} } })).includes('routeSource.etcd: unknown setting'));
  });

  it('cross-checks: rules and defaultRoute with etcd, admin.listen without a token', () => {
    const issues = issuesOf(() =>
      parseConfig({ routeSource: ETCD, routes: [{ clientIdPrefix: 'a', openclawGateway: 'ws://x/' }], defaultRoute: { openclawGateway: 'ws://x/' } }),
    );
    assert.ok(issues.some((i) => i.startsWith('routes: must be empty when routeSource.type is "etcd"')), issues.join('\n'));
    assert.ok(issues.some((i) => i.startsWith('defaultRoute: must be absent when routeSource.type is "etcd"')), issues.join('\n'));
    assert.deepEqual(issuesOf(() => parseConfig({ admin: { listen: '127.0.0.1:9091' } })), ['admin.listen: needs admin.token, admin.tokenFile or admin.tokenEnv (the admin endpoints are disabled without one)']);
  });
});

describe('the sliced loader used by reloads', () => {
  it('gives the same frozen config as the sync loader', async () => {
    const routes = Array.from({ length: 3000 }, (_, i) => ({ clientId: `c-${i}`, openclawGateway: `ws://127.0.0.1:9/${i % 7}` }));
    const file = new ConfigFile({ routes, defaultRoute: { openclawGateways: ['ws://a/', 'ws://b/'] }, routing: { onRouteChange: 'migrate' } });
    try {
      const sync = loadConfigFile(file.path);
      const sliced = await loadConfigFileAsync(file.path, 1);
      assert.deepEqual(sliced, sync);
      assert.ok(Object.isFrozen(sliced) && Object.isFrozen(sliced.routes) && Object.isFrozen(sliced.routes[0]) && Object.isFrozen(sliced.routing));
    } finally {
      file.cleanup();
    }
  });

  it('reports the same bad settings by path', async () => {
    const inputs: unknown[] = [
      { routes: [{ clientIdPrefix: 'a', openclawGateway: 'ws://x/' }, { clientIdPrefix: 'b b', openclawGateway: 'http://x/', bogus: 1 }], gateway: { listen: 'nope' } },
      { routeSource: ETCD, routes: [{ clientIdPrefix: 'a', openclawGateway: 'ws://x/' }] },
      { routes: 'not a list' },
      [],
    ];
    for (const input of inputs) {
      const want = [...issuesOf(() => parseConfig(input))].sort();
      let got: readonly string[] = [];
      await assert.rejects(parseConfigAsync(input), (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        got = err.issues;
        return true;
      });
      assert.deepEqual([...got].sort(), want, JSON.stringify(input));
    }
  });
});
