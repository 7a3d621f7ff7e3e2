/** Pools: rendezvous hashing moves only the share of the member added or removed. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildRouteTable, PoolTarget, type RouteTable } from '../../src/routing/index.js';

const CLIENTS = Array.from({ length: 10_000 }, (_, i) => `tenant-${i}:device-${(i * 7919) % 1000}`);
const members = (n: number) => Array.from({ length: n }, (_, i) => `ws://oc-${i}.pool.internal:18789/ws`);

function placement(pool: string[]): Map<string, string> {
  const t = buildRouteTable([{ clientIdPrefix: 'tenant-', openclawGateways: pool }]);
  return new Map(CLIENTS.map((id) => [id, t.resolve(id)!.target]));
}

test('members share the clients evenly', () => {
  const counts = new Map<string, number>();
  for (const target of placement(members(5)).values()) counts.set(target, (counts.get(target) ?? 0) + 1);
  assert.equal(counts.size, 5);
  for (const [target, n] of counts) assert.ok(n > 1700 && n < 2300, `${target}: ${n} of 10000`);
});

test('adding one member to N moves about 1/(N+1) of the clients, all of them to the new member', () => {
  const before = placement(members(5));
  const after = placement(members(6));
  const added = members(6)[5]!;
  let moved = 0;
  for (const id of CLIENTS) {
    if (before.get(id) === after.get(id)) continue;
    moved++;
    assert.equal(after.get(id), added, `${id} moved between two old members`);
  }
  const expected = CLIENTS.length / 6;
  assert.ok(moved > expected * 0.8 && moved < expected * 1.2, `moved ${moved}, expected about ${expected}`);
});

test('removing one member moves only its own clients, spread over the others', () => {
  const all = members(8);
  const before = placement(all);
  const removed = all[3]!;
  const after = placement(all.filter((m) => m !== removed));
  const landed = new Set<string>();
  let moved = 0;
  for (const id of CLIENTS) {
    if (before.get(id) === removed) {
      moved++;
      landed.add(after.get(id)!);
    } else {
      assert.equal(after.get(id), before.get(id), `${id} moved though its member stayed`);
    }
  }
  const expected = CLIENTS.length / 8;
  assert.ok(moved > expected * 0.8 && moved < expected * 1.2, `moved ${moved}, expected about ${expected}`);
  assert.equal(landed.size, 7, 'the removed member\'s clients spread over every other member');
});

test('the order of members does not matter', () => {
  const forward = placement(members(7));
  const backward = placement(members(7).reverse());
  assert.deepEqual(backward, forward);
});

test('a pool resolves to a member index and to a templated member', () => {
  const t: RouteTable = buildRouteTable([
    { clientIdPrefix: 'p-', openclawGateways: ['ws://a.internal/', 'ws://b.internal/t/{suffix}'] },
  ]);
  const seen = new Set<number>();
  for (let i = 0; i < 100; i++) {
    const m = t.resolve(`p-${i}`)!;
    seen.add(m.member);
    assert.equal(m.target, m.member === 0 ? 'ws://a.internal/' : `ws://b.internal/t/${i}`);
    assert.equal(m.allDown, false);
  }
  assert.deepEqual([...seen].sort(), [0, 1]);
});

test('a pool rejects duplicate members and more than 64 members', () => {
  assert.throws(() => new PoolTarget(['ws://a/', 'ws://a/']), /twice/);
  assert.throws(() => new PoolTarget(members(65)), /1 to 64/);
  assert.throws(() => new PoolTarget([]), /1 to 64/);
});
