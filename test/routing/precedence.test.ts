/**
 * Which rule decides: exact, then the longest prefix, then the default, then a miss.
 * The table below is the documented precedence (src/routing/route-table.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildRouteTable, type RouteRule } from '../../src/routing/index.js';

const rules: RouteRule[] = [
  { clientIdPrefix: '', openclawGateway: 'ws://empty-prefix/' },
  { clientIdPrefix: 'client-', openclawGateway: 'ws://client/' },
  { clientIdPrefix: 'client-1', openclawGateway: 'ws://client-1/' },
  { clientIdPrefix: 'client-1-1000', openclawGateway: 'ws://seed/' },
  { clientId: 'client-1', openclawGateway: 'ws://exact-client-1/' },
  { clientId: 'client-1-1000-x', openclawGateway: 'ws://exact-x/' },
  // Duplicates: the first rule for a key wins when building from a list.
  { clientIdPrefix: 'client-', openclawGateway: 'ws://client-duplicate/' },
  { clientId: 'client-1', openclawGateway: 'ws://exact-duplicate/' },
];

const cases: Array<[clientId: string, kind: string, key: string, target: string]> = [
  ['client-1', 'exact', 'client-1', 'ws://exact-client-1/'], // exact beats the equal prefix
  ['client-1-1000-x', 'exact', 'client-1-1000-x', 'ws://exact-x/'], // exact beats longer prefixes
  ['client-1-1000-y', 'prefix', 'client-1-1000', 'ws://seed/'], // longest prefix
  ['client-1-1000', 'prefix', 'client-1-1000', 'ws://seed/'], // a prefix matches itself
  ['client-12', 'prefix', 'client-1', 'ws://client-1/'],
  ['client-2', 'prefix', 'client-', 'ws://client/'], // the first of two duplicates
  ['client', 'prefix', '', 'ws://empty-prefix/'], // shorter than every other prefix
  ['other', 'prefix', '', 'ws://empty-prefix/'], // "" matches everything, before the default
];

test('precedence: exact, then the longest prefix, then "" ; first duplicate wins', () => {
  const t = buildRouteTable(rules, { openclawGateway: 'ws://default/' });
  assert.equal(t.size, 6);
  assert.equal(t.duplicates, 2);
  for (const [id, kind, key, target] of cases) {
    const m = t.resolve(id);
    assert.deepEqual(m && { kind: m.kind, key: m.key, target: m.target }, { kind, key, target }, id);
  }
});

test('the default route catches misses; without it a miss is undefined', () => {
  const withDefault = buildRouteTable(rules.slice(1), { openclawGateway: 'ws://default/' });
  assert.deepEqual(withDefault.resolve('other'), { target: 'ws://default/', kind: 'default', key: '', member: -1, allDown: false });
  const without = buildRouteTable(rules.slice(1));
  assert.equal(without.resolve('other'), undefined);
  assert.equal(without.resolve('clien'), undefined);
  assert.equal(buildRouteTable([]).resolve('anything'), undefined);
});

test('put replaces (last write wins); an exact and a prefix rule with one string coexist', () => {
  const t = buildRouteTable(rules);
  assert.equal(t.put({ clientIdPrefix: 'client-', openclawGateway: 'ws://client-v2/' }), 'replaced');
  assert.equal(t.resolve('client-2')?.target, 'ws://client-v2/');
  assert.equal(t.put({ clientIdPrefix: 'client-1-1000-x', openclawGateway: 'ws://prefix-x/' }), 'added');
  assert.equal(t.resolve('client-1-1000-x')?.kind, 'exact');
  assert.equal(t.resolve('client-1-1000-xy')?.target, 'ws://prefix-x/');
});

test('ids longer than 128 chars or outside the charset are still answered safely', () => {
  const t = buildRouteTable(rules);
  const long = `client-1-1000${'z'.repeat(300)}`;
  assert.equal(t.resolve(long)?.key, 'client-1-1000');
  assert.equal(t.resolve('')?.key, '');
  assert.equal(t.resolve('ümlaut')?.key, '');
});

test('many prefix lengths: every length is probed, longest first', () => {
  const chain: RouteRule[] = [];
  const id = 'abcdefghijklmnopqrstuvwxyz0123456789'.repeat(3).slice(0, 100);
  for (let len = 1; len <= 100; len += 3) chain.push({ clientIdPrefix: id.slice(0, len), openclawGateway: `ws://len-${len}/` });
  const t = buildRouteTable(chain);
  assert.equal(t.prefixLengths, 34);
  for (let len = 1; len <= 100; len++) {
    const best = len - ((len - 1) % 3);
    assert.equal(t.resolve(id.slice(0, len))?.target, `ws://len-${best}/`, `length ${len}`);
  }
  assert.equal(t.resolve('xyz'), undefined);
});
