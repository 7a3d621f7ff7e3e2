/**
 * The packed rule set: what it holds equals a plain map of key → rule after any mix of
 * adds, puts and deletes; its version equals the route table's for the same rules; and
 * its chunks (the wire form of a full set) read back to the same rules.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { PackedRules, specTarget, targetSpec } from '../../src/routing/packed-rules.js';
import { buildRouteTable, type RouteRule } from '../../src/routing/index.js';

const keyChars = fc.constantFrom(...'abcAZ09._:@-'.split(''));
const key = fc.array(keyChars, { minLength: 0, maxLength: 12 }).map((a) => a.join(''));
const url = fc.constantFrom('ws://a/ws', 'ws://oc-{suffix}.t.internal/ws', 'wss://b.internal:443/x', 'ws://é.example/ws');
const target = fc.oneof(
  url.map((u) => ({ openclawGateway: u })),
  fc.uniqueArray(fc.constantFrom('ws://p1/ws', 'ws://p2/ws', 'ws://p3/{clientId}'), { minLength: 1, maxLength: 3 }).map((m) => ({ openclawGateways: m })),
);
const rule: fc.Arbitrary<RouteRule> = fc
  .tuple(fc.boolean(), key, target)
  .filter(([exact, k, t]) => !(exact && (k === '' || JSON.stringify(t).includes('{suffix}'))))
  .map(([exact, k, t]) => (exact ? { clientId: k, ...t } : { clientIdPrefix: k, ...t }));
const op = fc.oneof(
  rule.map((r) => ({ op: 'add' as const, r })),
  rule.map((r) => ({ op: 'put' as const, r })),
  rule.map((r) => ({ op: 'delete' as const, r })),
);

const idOf = (r: RouteRule) => (r.clientId !== undefined ? `e:${r.clientId}` : `p:${r.clientIdPrefix}`);
const sorted = (rules: Iterable<RouteRule>) => [...rules].map((r) => JSON.stringify(r)).sort();

test('after any adds, puts and deletes the pack holds what a map holds, with the route table version', () => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 200 }), fc.option(target, { nil: undefined }), (ops, def) => {
      const pack = new PackedRules({ bytes: 0 });
      const model = new Map<string, RouteRule>();
      for (const { op: kind, r } of ops) {
        const had = model.get(idOf(r));
        if (kind === 'add') {
          assert.equal(pack.add(r), had === undefined);
          if (had === undefined) model.set(idOf(r), r);
        } else if (kind === 'put') {
          const prev = pack.put(r);
          assert.deepEqual(prev === undefined ? undefined : targetSpec(prev), had === undefined ? undefined : targetSpec(had));
          model.set(idOf(r), r);
        } else {
          const prev = pack.delete(r);
          assert.equal(prev === undefined, had === undefined);
          model.delete(idOf(r));
        }
      }
      pack.setDefault(def);
      assert.equal(pack.size, model.size);
      assert.equal(pack.exactCount, [...model.values()].filter((r) => r.clientId !== undefined).length);
      assert.deepEqual(sorted(pack.rules()), sorted(model.values()));
      for (const r of model.values()) assert.deepEqual(pack.get(r), r);
      assert.equal(pack.version, buildRouteTable([...model.values()], def).version);
      assert.deepEqual(pack.defaultRoute, def);
    }),
    { numRuns: 300 },
  );
});

test('chunks, adopted, read back into the same rules and version, whatever the chunk size; an image too', () => {
  fc.assert(
    fc.property(fc.array(rule, { maxLength: 150 }), fc.integer({ min: 1, max: 400 }), (rules, maxBytes) => {
      const pack = PackedRules.from(rules);
      for (const r of rules.slice(0, 10)) pack.delete(r); // garbage in the arena is skipped
      const copies = [PackedRules.adopt(Buffer.concat([...pack.chunks(maxBytes)]))];
      const { header, index, filter, records } = pack.image();
      copies.push(PackedRules.fromImage(Buffer.from(header), Int32Array.from(index), Int32Array.from(filter), Buffer.from(records)));
      for (const copy of copies) {
        assert.equal(copy.version, pack.version);
        assert.equal(copy.size, pack.size);
        assert.equal(copy.exactCount, pack.exactCount);
        assert.deepEqual(sorted(copy.rules()), sorted(pack.rules()));
        for (const r of pack.rules()) assert.deepEqual(copy.get(r), r);
      }
      const clone = pack.clone();
      assert.equal(clone.version, pack.version);
      clone.put({ clientIdPrefix: 'only-in-the-clone', openclawGateway: 'ws://x/ws' });
      assert.notEqual(clone.version, pack.version);
      assert.equal(pack.get({ clientIdPrefix: 'only-in-the-clone' }), undefined);
    }),
    { numRuns: 200 },
  );
});

test('bytes that are not whole records are refused', () => {
  const pack = PackedRules.from([{ clientIdPrefix: 'a-', openclawGateway: 'ws://a/ws' }]);
  const [chunk] = [...pack.chunks(1024)];
  assert.throws(() => PackedRules.adopt(chunk!.subarray(0, chunk!.length - 1)), /malformed record/);
  assert.throws(() => PackedRules.adopt(chunk!.subarray(0, 3)), /inside a record header/);
  const bad = Buffer.from(chunk!);
  bad[0] = 0x42;
  assert.throws(() => PackedRules.adopt(bad), /malformed record/);
  const { header, index, filter, records } = pack.image();
  const lying = Buffer.from(header);
  lying.writeInt32LE(2, 16); // two live rules, says the header
  assert.throws(() => PackedRules.fromImage(lying, index, filter, records), /do not match its header/);
  assert.throws(() => PackedRules.fromImage(header, index, filter, records.subarray(0, records.length - 1)), /shorter than its header says/);
  assert.throws(() => PackedRules.fromImage(header, new Int32Array(8), filter, records), /shorter than its header says|malformed index/);
});

test('many deletes rewrite the arena and keep every remaining rule reachable', () => {
  const pack = new PackedRules();
  const n = 60_000;
  for (let i = 0; i < n; i++) pack.add({ clientIdPrefix: `client-${i}-`, openclawGateway: `ws://oc-${i}.tenants.internal:18789/ws` });
  const full = pack.byteLength;
  for (let i = 0; i < n; i += 4) if (i % 3 !== 0) pack.delete({ clientIdPrefix: `client-${i}-` });
  for (let i = 0; i < n; i++) if (i % 4 !== 0) pack.delete({ clientIdPrefix: `client-${i}-` });
  assert.ok(pack.byteLength < full, `the arena shrank (${pack.byteLength} < ${full})`);
  const left = [...pack.rules()];
  assert.equal(left.length, pack.size);
  for (const r of left) assert.deepEqual(pack.get(r), r);
  assert.deepEqual(specTarget(targetSpec({ openclawGateways: ['ws://a/ws'] })), { openclawGateways: ['ws://a/ws'] });
});
