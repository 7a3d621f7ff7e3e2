/** One etcd event = one put/delete on the table: O(1), no rebuild, version moves. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildRouteTable, HashRouteTable, type RouteRule } from '../../src/routing/index.js';
import { KeyIndex } from '../../src/routing/key-index.js';
import { fnv1a } from '../../src/routing/string-hash.js';

function rulesFor(n: number): RouteRule[] {
  const out: RouteRule[] = [];
  for (let i = 0; i < n; i++) {
    out.push(i % 2 === 0 ? { clientId: `t-${i}`, openclawGateway: `ws://oc-${i}.internal/ws` } : { clientIdPrefix: `org-${i}.`, openclawGateway: 'ws://oc-{suffix}.orgs.internal/ws' });
  }
  return out;
}

test('put and delete change one rule and the version; the version equals a fresh build of the same rules', () => {
  const rules = rulesFor(1000);
  const t = buildRouteTable(rules, { openclawGateway: 'ws://default/' });
  const v0 = t.version;
  assert.match(v0, /^[0-9a-f]{16}$/);

  assert.equal(t.put({ clientId: 'new-1', openclawGateway: 'ws://new/' }, { revision: 42 }), 'added');
  assert.equal(t.resolve('new-1')?.target, 'ws://new/');
  assert.equal(t.size, 1001);
  assert.equal(t.revision, '42');
  const v1 = t.version;
  assert.notEqual(v1, v0);

  assert.equal(t.delete({ clientId: 'new-1' }, { revision: 43 }), true);
  assert.equal(t.resolve('new-1')?.kind, 'default');
  assert.equal(t.version, v0, 'back to the same rules, back to the same version');
  assert.equal(t.delete({ clientId: 'new-1' }), false);

  // Delete by the rule as it was (what the etcd source hands over).
  assert.equal(t.delete(rules[1]!), true);
  assert.equal(t.resolve('org-1.abc')?.kind, 'default');
  const fresh = buildRouteTable([...rules].reverse().filter((r) => r !== rules[1]), { openclawGateway: 'ws://default/' });
  assert.equal(t.version, fresh.version, 'the version does not depend on the order of rules');

  t.setDefault(undefined);
  assert.equal(t.resolve('nothing'), undefined);
  assert.notEqual(t.version, fresh.version);
});

test('shared templates are reference-counted', () => {
  const t = buildRouteTable(rulesFor(10));
  assert.equal(t.sharedTargets, 1);
  for (let i = 1; i < 10; i += 2) t.delete({ clientIdPrefix: `org-${i}.` });
  assert.equal(t.sharedTargets, 0);
  t.put({ clientIdPrefix: 'x-', openclawGateways: ['ws://a/', 'ws://b/'] });
  t.put({ clientIdPrefix: 'y-', openclawGateways: ['ws://a/', 'ws://b/'] });
  assert.equal(t.sharedTargets, 1);
  t.put({ clientIdPrefix: 'x-', openclawGateway: 'ws://c/' });
  assert.equal(t.sharedTargets, 1);
  t.delete({ clientIdPrefix: 'y-' });
  assert.equal(t.sharedTargets, 0);
});

test('a bad put changes nothing', () => {
  const t = buildRouteTable(rulesFor(4));
  const v = t.version;
  assert.throws(() => t.put({ clientId: 'a', openclawGateway: 'http://nope/' }), { name: 'TemplateError' });
  assert.throws(() => t.put({ clientId: 'a', openclawGateway: 'ws://{suffix}.x/' }), /suffix/);
  assert.throws(() => t.put({ clientId: 'a', clientIdPrefix: 'a', openclawGateway: 'ws://x/' }), TypeError);
  assert.throws(() => t.put({ clientId: 'a' }), TypeError);
  assert.throws(() => t.put({ clientId: 'x'.repeat(129), openclawGateway: 'ws://x/' }), TypeError);
  assert.equal(t.version, v);
  assert.equal(t.size, 4);
});

test('rules() and get() give the rules back as written', () => {
  const rules: RouteRule[] = [
    { clientId: 'a', openclawGateway: 'ws://a/' },
    { clientIdPrefix: 'b', openclawGateway: 'ws://{suffix}.b.internal/' },
    { clientIdPrefix: 'c', openclawGateways: ['ws://c1/', 'ws://c2/'] },
  ];
  const t = buildRouteTable(rules, { openclawGateways: ['ws://d1/', 'ws://d2/'] });
  const byKey = (r: RouteRule) => r.clientId ?? r.clientIdPrefix!;
  assert.deepEqual([...t.rules()].sort((a, b) => byKey(a).localeCompare(byKey(b))), rules);
  assert.deepEqual(t.get({ clientIdPrefix: 'b' }), rules[1]);
  assert.equal(t.get({ clientIdPrefix: 'a' }), undefined);
  assert.deepEqual(t.defaultRoute, { openclawGateways: ['ws://d1/', 'ws://d2/'] });
});

test('KeyIndex agrees with a Map under random inserts, replaces and deletes, also while it grows', () => {
  let seed = 12345;
  const rand = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed % n;
  };
  const index = new KeyIndex<number>(0);
  const model = new Map<string, number>();
  let growingSteps = 0;
  // A small key space forces long probe runs and wrap-around; the key space widens
  // in phases so that the index grows (incrementally) several times under churn.
  for (let step = 0; step < 200_000; step++) {
    const key = `k${rand(1000 + Math.floor(step / 20_000) * 2000)}`;
    if (index.growing) growingSteps++;
    const h = fnv1a(key);
    const op = rand(3);
    if (op < 2) {
      assert.equal(index.set(h, key, step), model.get(key));
      model.set(key, step);
    } else {
      assert.equal(index.delete(h, key), model.get(key));
      model.delete(key);
    }
    if (step % 5_000 === 0 || (index.growing && step % 97 === 0)) {
      assert.equal(index.size, model.size);
      for (const [k, v] of model) assert.equal(index.get(fnv1a(k), k), v);
    }
  }
  assert.ok(growingSteps > 30, `the index was growing during only ${growingSteps} steps`);
  assert.deepEqual(new Map(index.entries()), model);
  for (let i = 0; i < 20_000; i++) {
    const k = `k${i}`;
    assert.equal(index.get(fnv1a(k), k), model.get(k));
  }
});

test('a table grows past its size hint', () => {
  const t = new HashRouteTable({ expectedExact: 1, expectedPrefix: 1 });
  for (let i = 0; i < 5000; i++) t.put({ clientId: `c${i}`, openclawGateway: 'ws://x/' });
  for (let i = 0; i < 5000; i++) t.put({ clientIdPrefix: `p${i}-`, openclawGateway: 'ws://y/' });
  assert.equal(t.size, 10_000);
  assert.equal(t.resolve('c4999')?.target, 'ws://x/');
  assert.equal(t.resolve('p4999-z')?.key, 'p4999-');
});
