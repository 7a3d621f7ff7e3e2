/** explain(clientId): the same decision as resolve, with the reasons. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildRouteTable, UpstreamHealth } from '../../src/routing/index.js';

const POOL = ['ws://a.internal/', 'ws://b.internal/', 'ws://c.internal/'];

function table(health = new UpstreamHealth()) {
  return buildRouteTable(
    [
      { clientIdPrefix: 'acme', openclawGateway: 'ws://acme/' },
      { clientIdPrefix: 'acme-', openclawGateway: 'ws://oc-{suffix}.acme.internal/ws' },
      { clientId: 'acme-vip', openclawGateway: 'ws://vip/' },
      { clientIdPrefix: 'pool-', openclawGateways: POOL },
    ],
    { openclawGateway: 'ws://default/' },
    { health, revision: 7 },
  );
}

test('exact match: lists every candidate, the deciding rule first', () => {
  const t = table();
  const e = t.explain('acme-vip');
  assert.equal(e.matched, true);
  assert.deepEqual(e.rule, { kind: 'exact', key: 'acme-vip', openclawGateway: 'ws://vip/' });
  assert.deepEqual(e.candidates, [
    { kind: 'exact', key: 'acme-vip' },
    { kind: 'prefix', key: 'acme-' },
    { kind: 'prefix', key: 'acme' },
    { kind: 'default', key: '' },
  ]);
  assert.equal(e.target, 'ws://vip/');
  assert.equal(e.version, t.version);
  assert.equal(e.revision, '7');
  assert.match(e.reason, /exact/);
});

test('template match: names the template and the rendered target', () => {
  const e = table().explain('acme-east');
  assert.deepEqual(e.rule, { kind: 'prefix', key: 'acme-', openclawGateway: 'ws://oc-{suffix}.acme.internal/ws' });
  assert.equal(e.template, 'ws://oc-{suffix}.acme.internal/ws');
  assert.equal(e.target, 'ws://oc-east.acme.internal/ws');
  assert.match(e.reason, /longest matching prefix/);
});

test('pool: ranks the members by score, shows the down ones and which was chosen', () => {
  const health = new UpstreamHealth();
  const t = table(health);
  const first = t.explain('pool-42');
  assert.ok(first.pool);
  const scores = first.pool.members.map((m) => m.score);
  assert.deepEqual(scores, [...scores].sort((a, b) => b - a), 'best first');
  assert.equal(first.pool.chosen, first.pool.members[0]!.index);
  assert.equal(first.target, t.resolve('pool-42')!.target);

  health.markDown(first.target!);
  const second = t.explain('pool-42');
  assert.equal(second.pool!.members[0]!.down, true);
  assert.equal(second.pool!.members[0]!.downReason, 'operator');
  assert.equal(second.pool!.chosen, second.pool!.members[1]!.index);
  assert.equal(second.target, t.resolve('pool-42')!.target);
  assert.match(second.reason, /1 better scored member\(s\) down, skipped/);

  for (const m of POOL) health.markDown(m);
  const third = t.explain('pool-42');
  assert.equal(third.pool!.allDown, true);
  assert.match(third.reason, /every pool member is down/);
});

test('default, miss, and an invalid clientId', () => {
  const t = table();
  assert.equal(t.explain('zzz').rule?.kind, 'default');
  const bare = buildRouteTable([{ clientIdPrefix: 'x', openclawGateway: 'ws://x/' }]);
  const miss = bare.explain('zzz');
  assert.equal(miss.matched, false);
  assert.equal(miss.rule, undefined);
  assert.match(miss.reason, /STRATIX_ERR_NO_ROUTE/);
  const invalid = t.explain('a/b');
  assert.equal(invalid.matched, false);
  assert.match(invalid.reason, /STRATIX_ERR_CLIENT_ID_INVALID/);
});

test('explain and resolve agree on every clientId', () => {
  const health = new UpstreamHealth();
  const t = table(health);
  health.markDown(POOL[0]!);
  for (const id of ['acme', 'acme-', 'acme-x', 'acme-X', 'acme-vip', 'pool-1', 'pool-2', 'pool-3', 'zz', 'acmeacme']) {
    const m = t.resolve(id);
    const e = t.explain(id);
    assert.equal(e.matched, m !== undefined, id);
    assert.equal(e.target, m?.target, id);
    if (m) assert.deepEqual([e.rule?.kind, e.rule?.key], [m.kind, m.key], id);
  }
});
