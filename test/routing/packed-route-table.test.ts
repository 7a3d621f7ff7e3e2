/**
 * The table a worker holds (PackedRouteTable: rules looked up in place in their packed
 * bytes) against HashRouteTable, for any rule set and any sequence of changes: the same
 * resolve, explain, version and size; a bad change throws the same error in both and
 * changes neither. Built both ways a worker can get it: from a pack, and from the bytes
 * of a pack (PackedRules.adopt, what a worker does with the primary's file).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { buildRouteTable, UpstreamHealth, type DefaultRoute, type RouteKey, type RouteRule } from '../../src/routing/index.js';
import { PackedRouteTable } from '../../src/routing/packed-route-table.js';
import { PackedRules } from '../../src/routing/packed-rules.js';

const keyChar = fc.constantFrom('a', 'b', '-', '.', '1');
const key = fc.string({ unit: keyChar, maxLength: 5 });
const spec = fc.constantFrom(
  'ws://a.internal/ws',
  'wss://b.internal:8443/x',
  'ws://oc-{clientId}.t/ws',
  'ws://oc-{suffix}.t/ws',
  'ws://caf\u00e9.example/ws',
  'http://not-ws/',
  'ws://bad {x}/',
);
const pool = fc.constantFrom(['ws://p1/ws', 'ws://p2/ws'], ['ws://p1/ws', 'ws://q/{clientId}'], ['ws://r/{suffix}'], ['ws://p1/ws', 'ws://p1/ws']);
const target = fc.oneof(spec.map((s) => ({ openclawGateway: s })), pool.map((p) => ({ openclawGateways: p })));
const rule: fc.Arbitrary<RouteRule> = fc.oneof(
  fc.tuple(key, target).map(([k, t]) => ({ clientIdPrefix: k, ...t })),
  fc.tuple(key, target).map(([k, t]) => ({ clientId: k, ...t })),
);
const change = fc.oneof(
  rule.map((r) => ({ type: 'put' as const, rule: r })),
  fc.oneof(key.map((k) => ({ clientId: k })), key.map((k) => ({ clientIdPrefix: k }))).map((k: RouteKey) => ({ type: 'delete' as const, key: k })),
  fc.option(target, { nil: undefined }).map((d: DefaultRoute | undefined) => ({ type: 'default' as const, route: d })),
);
const clientIds = fc.array(fc.oneof(fc.string({ unit: keyChar, maxLength: 8 }), fc.constantFrom('', 'a'.repeat(129), 'ab!')), { maxLength: 12 });

/** Rules that pass the table (the valid ones: a pack holds only validated rules). */
function valid(rules: readonly RouteRule[]): RouteRule[] {
  const probe = buildRouteTable([]);
  return rules.filter((r) => {
    try {
      probe.put(r);
      return true;
    } catch {
      return false;
    }
  });
}

function outcome(f: () => unknown): unknown {
  try {
    return { ok: f() };
  } catch (err) {
    return { error: (err as Error).constructor.name, message: (err as Error).message };
  }
}

test('PackedRouteTable decides, explains and versions exactly as HashRouteTable, through any changes', () => {
  fc.assert(
    fc.property(fc.array(rule, { maxLength: 20 }), fc.option(target, { nil: undefined }), fc.array(change, { maxLength: 15 }), clientIds, fc.boolean(), fc.boolean(), (rules, dflt, changes, ids, adopted, down) => {
      const health = new UpstreamHealth();
      if (down) health.markDown('ws://p1/ws');
      const good = valid(rules);
      const goodDefault = dflt !== undefined && valid([{ clientIdPrefix: '', ...dflt }]).length === 1 ? dflt : undefined;
      const reference = buildRouteTable(good, goodDefault, { health });
      let pack = PackedRules.from(good, goodDefault);
      if (adopted) pack = PackedRules.adopt(pack.copyRecords(), pack.defaultRoute);
      const packed = new PackedRouteTable(pack, { health });
      const compare = (): void => {
        assert.equal(packed.version, reference.version);
        assert.equal(packed.size, reference.size);
        assert.equal(packed.prefixLengths, reference.prefixLengths);
        for (const id of [...ids, ...good.map((r) => (r.clientId ?? r.clientIdPrefix!) + 'x')]) {
          assert.deepEqual(packed.resolve(id), reference.resolve(id), `resolve(${JSON.stringify(id)})`);
          assert.deepEqual(packed.explain(id), reference.explain(id), `explain(${JSON.stringify(id)})`);
        }
      };
      compare();
      for (const c of changes) {
        const opts = { revision: 7 };
        const apply = (t: typeof reference | typeof packed): unknown =>
          c.type === 'put' ? t.put(c.rule, opts) : c.type === 'delete' ? t.delete(c.key, opts) : t.setDefault(c.route, opts);
        assert.deepEqual(outcome(() => apply(packed)), outcome(() => apply(reference)), JSON.stringify(c));
        compare();
      }
    }),
    { numRuns: 300 },
  );
});

test('a pack adopted from its bytes equals the pack: rules, version, counts; bytes that are not whole records are refused', async () => {
  const rules: RouteRule[] = [];
  for (let i = 0; i < 5000; i++) rules.push(i % 3 === 0 ? { clientId: `c-${i}`, openclawGateway: `ws://oc-${i}.t/ws` } : { clientIdPrefix: `p-${i}-`, openclawGateway: 'ws://oc-{suffix}.t/ws' });
  rules.push({ clientIdPrefix: 'u-', openclawGateway: 'ws://caf\u00e9.example/ws' });
  const pack = PackedRules.from(rules, { openclawGateway: 'ws://d/ws' });
  pack.delete({ clientId: 'c-0' });
  for (const adopted of [PackedRules.adopt(pack.copyRecords(), pack.defaultRoute), await PackedRules.adoptSliced(pack.copyRecords(), pack.defaultRoute, 0)]) {
    assert.equal(adopted.version, pack.version);
    assert.equal(adopted.size, pack.size);
    assert.equal(adopted.exactCount, pack.exactCount);
    assert.deepEqual([...adopted.rules()], [...pack.rules()]);
    assert.deepEqual(adopted.get({ clientIdPrefix: 'p-1-' }), pack.get({ clientIdPrefix: 'p-1-' }));
    assert.equal(adopted.get({ clientId: 'c-0' }), undefined);
  }
  const bytes = pack.copyRecords();
  assert.throws(() => PackedRules.adopt(bytes.subarray(0, bytes.length - 1)), { name: 'TypeError', message: /malformed record|ends inside/ });
  const flagged = Buffer.from(bytes);
  flagged[0] = 0x80;
  assert.throws(() => PackedRules.adopt(flagged), { name: 'TypeError', message: 'a packed rule chunk holds a malformed record' });
});
