/** The rule schema: the seed's form still loads; pools and templates are checked. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultRouteSchema, routeRuleSchema } from '../../src/config/route-schema.js';
import { configSchema } from '../../src/config/schema.js';
import { buildRouteTable } from '../../src/routing/index.js';

/** The seed's config/route.json, verbatim. */
const SEED = {
  gateway: { listen: ':8080', maxConnections: 100000 },
  routes: [{ clientIdPrefix: 'client-1-1000', openclawGateway: 'ws://gateway1.example.com:8080/ws' }],
};

test('the seed config loads unchanged and routes as before', () => {
  const r = configSchema.safeParse(SEED);
  assert.ok(r.success, JSON.stringify(r.error?.issues));
  assert.deepEqual(r.data.routes, SEED.routes);
  const t = buildRouteTable(r.data.routes, r.data.defaultRoute);
  assert.equal(t.resolve('client-1-1000-abc')?.target, 'ws://gateway1.example.com:8080/ws');
  assert.equal(t.resolve('client-123'), undefined);
});

test('exact, template and pool rules are valid', () => {
  for (const rule of [
    { clientId: 'client-123', openclawGateway: 'ws://127.0.0.1:9000/' },
    { clientIdPrefix: '', openclawGateway: 'wss://oc-{clientId}.tenants.internal:18789/ws' },
    { clientIdPrefix: 'acme-', openclawGateway: 'ws://{suffix}.acme.internal/ws' },
    { clientIdPrefix: 'p-', openclawGateways: ['ws://a.internal/', 'ws://b.internal/t/{clientId}'] },
    { clientId: 'x', openclawGateways: ['ws://a.internal/'] },
  ]) {
    const r = routeRuleSchema.safeParse(rule);
    assert.ok(r.success, `${JSON.stringify(rule)}: ${JSON.stringify(r.error?.issues)}`);
  }
  assert.ok(defaultRouteSchema.safeParse({ openclawGateway: 'ws://127.0.0.1:9000/' }).success);
  assert.ok(defaultRouteSchema.safeParse({ openclawGateways: ['ws://a/', 'ws://b/'] }).success);
  assert.ok(defaultRouteSchema.safeParse({ openclawGateway: 'ws://oc-{suffix}.internal/' }).success);
});

test('bad rules are rejected with the path of the bad setting', () => {
  const bad: Array<[unknown, string, RegExp]> = [
    [{ openclawGateway: 'ws://x/' }, '', /exactly one of "clientIdPrefix" or "clientId"/],
    [{ clientId: 'a', clientIdPrefix: 'a', openclawGateway: 'ws://x/' }, '', /exactly one of "clientIdPrefix" or "clientId"/],
    [{ clientId: 'a' }, '', /exactly one of "openclawGateway" or "openclawGateways"/],
    [{ clientId: 'a', openclawGateway: 'ws://x/', openclawGateways: ['ws://y/'] }, '', /exactly one of/],
    [{ clientId: 'a', openclawGateway: 'http://x/' }, 'openclawGateway', /ws:\/\/ or wss:\/\//],
    [{ clientId: 'a', openclawGateway: 'ws://x/#frag' }, 'openclawGateway', /fragment/],
    [{ clientId: 'a', openclawGateway: 'ws://{clientId}:{clientId}/' }, 'openclawGateway', /port/],
    [{ clientId: 'a', openclawGateway: 'ws://{tenant}.x/' }, 'openclawGateway', /unknown placeholder/],
    [{ clientId: 'a', openclawGateway: 'ws://{suffix}.x/' }, 'openclawGateway', /\{suffix\} is not allowed on an exact rule/],
    [{ clientId: 'a', openclawGateways: ['ws://x/', 'ws://{suffix}.x/'] }, 'openclawGateways.1', /\{suffix\}/],
    [{ clientIdPrefix: 'a', openclawGateways: [] }, 'openclawGateways', /too_small|>=1/i],
    [{ clientIdPrefix: 'a', openclawGateways: ['ws://x/', 'ws://x/'] }, 'openclawGateways.1', /twice/],
    [{ clientIdPrefix: 'a', openclawGateways: Array.from({ length: 65 }, (_, i) => `ws://m${i}/`) }, 'openclawGateways', /64/],
    [{ clientIdPrefix: 'a b', openclawGateway: 'ws://x/' }, 'clientIdPrefix', /clientId characters/],
    [{ clientId: 'x'.repeat(129), openclawGateway: 'ws://x/' }, 'clientId', /128/],
    [{ clientId: 'a', openclawGateway: 'ws://x/', weight: 1 }, '', /weight/],
  ];
  for (const [rule, path, message] of bad) {
    const r = routeRuleSchema.safeParse(rule);
    assert.equal(r.success, false, JSON.stringify(rule));
    const issue = r.error!.issues.find((i) => i.path.join('.') === path && message.test(i.message + JSON.stringify(i)));
    assert.ok(issue, `${JSON.stringify(rule)}: wanted ${message} at "${path}", got ${JSON.stringify(r.error!.issues)}`);
  }
});
