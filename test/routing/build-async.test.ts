/** The time-sliced builder: the same table as the synchronous one, and it yields. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildRouteTable, buildRouteTableAsync, RouteTableHolder, type RouteRule } from '../../src/routing/index.js';

const rules: RouteRule[] = Array.from({ length: 50_000 }, (_, i) =>
  i % 3 === 0
    ? { clientId: `t-${i}`, openclawGateway: `ws://oc-${i % 97}.internal/ws` }
    : { clientIdPrefix: `org-${i}.`, openclawGateway: 'ws://oc-{suffix}.orgs.internal/ws' },
);

test('the async build equals the sync build, yields to the event loop, and swaps in', async () => {
  const sync = buildRouteTable(rules, { openclawGateway: 'ws://d/' });
  let ticks = 0;
  const timer = setInterval(() => ticks++, 0);
  const built = await buildRouteTableAsync(rules, { openclawGateway: 'ws://d/' }, { sliceMs: 1 });
  clearInterval(timer);
  assert.ok(ticks > 0, 'timers ran during the build');
  assert.equal(built.version, sync.version);
  assert.equal(built.size, sync.size);
  assert.equal(built.resolve('org-5.abc')?.target, 'ws://oc-abc.orgs.internal/ws');

  const holder = new RouteTableHolder(sync);
  assert.equal(holder.swap(built), sync);
  assert.equal(holder.current, built);
});

test('an aborted build rejects', async () => {
  const ac = new AbortController();
  const p = buildRouteTableAsync(rules, undefined, { sliceMs: 1, signal: ac.signal });
  ac.abort(new Error('superseded'));
  await assert.rejects(p, /superseded/);
});
