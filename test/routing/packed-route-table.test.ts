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
import { IMAGE_HEADER_BYTES, PackedRules } from '../../src/routing/packed-rules.js';
import { readRouteSetFile, RouteSetFiles } from '../../src/cluster/route-set-files.js';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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

/** The pack another process makes of this one's image (what a worker does with the primary's file). */
function fromImage(pack: PackedRules): PackedRules {
  const { header, index, filter, records } = pack.image();
  return PackedRules.fromImage(Buffer.from(header), Int32Array.from(index), Int32Array.from(filter), Buffer.from(records), pack.defaultRoute);
}

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
    fc.property(fc.array(rule, { maxLength: 20 }), fc.option(target, { nil: undefined }), fc.array(change, { maxLength: 15 }), clientIds, fc.constantFrom('pack', 'adopt', 'image'), fc.boolean(), (rules, dflt, changes, ids, via, down) => {
      const health = new UpstreamHealth();
      if (down) health.markDown('ws://p1/ws');
      const good = valid(rules);
      const goodDefault = dflt !== undefined && valid([{ clientIdPrefix: '', ...dflt }]).length === 1 ? dflt : undefined;
      const reference = buildRouteTable(good, goodDefault, { health });
      let pack = PackedRules.from(good, goodDefault);
      if (via === 'adopt') pack = PackedRules.adopt(pack.copyRecords(), pack.defaultRoute);
      if (via === 'image') pack = fromImage(pack);
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

test('a route set file: what the primary writes, a worker reads into the same rules; a file that is not one is refused; it is gone once loaded', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'stratix-route-set-files-'));
  const files = new RouteSetFiles(dir);
  try {
    const rules: RouteRule[] = [];
    for (let i = 0; i < 3000; i++) rules.push({ clientIdPrefix: `p-${i}-`, openclawGateway: `ws://oc-${i}.t/ws` });
    const pack = PackedRules.from(rules, { openclawGateway: 'ws://d/ws' });
    pack.delete({ clientIdPrefix: 'p-1-' }); // garbage: imaged from a clean copy
    const { path, bytes } = await files.acquire(pack);
    assert.equal((await files.acquire(pack)).path, path, 'loaders of one set share its file');
    assert.equal(statSync(path).mode & 0o777, 0o600);
    const read = await readRouteSetFile(path, bytes, pack.defaultRoute);
    assert.equal(read.version, pack.version);
    assert.deepEqual([...read.rules()], [...pack.rules()]);
    const table = new PackedRouteTable(read);
    const reference = buildRouteTable([...pack.rules()], pack.defaultRoute);
    for (let i = 0; i < 500; i++) table.put({ clientId: `new-${i}`, openclawGateway: 'ws://n/ws' }), reference.put({ clientId: `new-${i}`, openclawGateway: 'ws://n/ws' });
    assert.equal(table.version, reference.version);
    assert.deepEqual(table.resolve('p-7-x'), reference.resolve('p-7-x'));
    assert.deepEqual(table.resolve('new-9'), reference.resolve('new-9'));

    const bad = join(dir, 'bad.bin');
    writeFileSync(bad, readFileSync(path).subarray(0, bytes - 1));
    await assert.rejects(readRouteSetFile(bad, bytes, undefined), { name: 'TypeError', message: /is not the \d+ bytes it should be/ });
    writeFileSync(bad, Buffer.alloc(2048));
    await assert.rejects(readRouteSetFile(bad, 2048, undefined), { name: 'TypeError', message: 'not a packed rule image (bad header)' });
    const corrupt = readFileSync(path);
    corrupt[IMAGE_HEADER_BYTES + corrupt.readInt32LE(12) * 5] = 0x7f; // the first record's flags (after the index and its filter)
    writeFileSync(bad, corrupt);
    await assert.rejects(readRouteSetFile(bad, bytes, undefined), { name: 'TypeError' });

    files.release(pack);
    assert.ok(existsSync(path), 'still loading elsewhere');
    files.release(pack);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(existsSync(path), false, 'deleted when the last loader is done');
  } finally {
    files.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
