/** Down members are skipped until they recover; the clock is injected. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildRouteTable, UpstreamHealth } from '../../src/routing/index.js';

const POOL = ['ws://oc-0.internal/', 'ws://oc-1.internal/', 'ws://oc-2.internal/', 'ws://oc-3.internal/'];
const IDS = Array.from({ length: 2000 }, (_, i) => `c-${i}`);

function setup() {
  let now = 1_000_000;
  const clock = { advance: (ms: number) => (now += ms) };
  const health = new UpstreamHealth({ failureThreshold: 3, cooldownMs: 10_000, now: () => now });
  const table = buildRouteTable([{ clientIdPrefix: 'c-', openclawGateways: POOL }], undefined, { health });
  return { clock, health, table };
}

test('an operator mark skips the member; clients of other members stay; markUp brings them back', () => {
  const { health, table } = setup();
  const before = new Map(IDS.map((id) => [id, table.resolve(id)!.target]));
  health.markDown(POOL[1]!);
  for (const id of IDS) {
    const now = table.resolve(id)!;
    assert.notEqual(now.target, POOL[1]);
    if (before.get(id) !== POOL[1]) assert.equal(now.target, before.get(id), id);
  }
  // A success does not lift an operator mark.
  health.recordSuccess(POOL[1]!);
  assert.equal(health.isDown(POOL[1]!), true);
  health.markUp(POOL[1]!);
  for (const id of IDS) assert.equal(table.resolve(id)!.target, before.get(id));
});

test('N consecutive failures take a member down for the cooldown; then one failure or one success decides', () => {
  const { clock, health } = setup();
  const url = POOL[0]!;
  assert.equal(health.recordFailure(url), false);
  assert.equal(health.recordFailure(url), false);
  assert.equal(health.isDown(url), false);
  assert.equal(health.recordFailure(url), true, 'the third failure takes it down');
  assert.equal(health.isDown(url), true);
  assert.equal(health.status(url)?.reason, 'failures');
  clock.advance(9_999);
  assert.equal(health.isDown(url), true);
  clock.advance(1);
  assert.equal(health.isDown(url), false, 'after the cooldown it is tried again');
  assert.equal(health.recordFailure(url), true, 'half-open: one more failure takes it down again');
  clock.advance(10_000);
  health.recordSuccess(url);
  assert.equal(health.status(url), undefined, 'a success forgets the failures');
  assert.equal(health.anyTracked(), false);
  health.recordFailure(url);
  health.recordSuccess(url);
  health.recordFailure(url);
  health.recordFailure(url);
  assert.equal(health.isDown(url), false, 'failures must be consecutive');
});

test('when every member is down, the best scored member is taken anyway and flagged', () => {
  const { health, table } = setup();
  const healthy = table.resolve('c-7')!;
  for (const m of POOL) health.markDown(m);
  const m = table.resolve('c-7')!;
  assert.equal(m.allDown, true);
  assert.equal(m.target, healthy.target);
  assert.equal(m.member, healthy.member);
});

test('tracking is bounded', () => {
  const health = new UpstreamHealth({ maxTracked: 3 });
  health.markDown('ws://op/');
  for (let i = 0; i < 10; i++) health.recordFailure(`ws://u${i}/`);
  assert.equal(health.tracked, 3);
  assert.equal(health.evicted, 8);
  assert.equal(health.isDown('ws://op/'), true, 'operator marks are evicted last');
  assert.deepEqual(health.list().map((s) => s.target), ['ws://op/', 'ws://u8/', 'ws://u9/']);
});
