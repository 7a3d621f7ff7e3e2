/**
 * The snapshot lines written from a packed set's bytes (snapshot-lines.ts) are, byte for
 * byte, the lines `JSON.stringify([key, rule])` gives for its rules (what the snapshot
 * was written as before), for any mix of exact and prefix rules, URLs JSON must escape
 * (quotes, backslashes, control characters) or need not (non-ASCII), pools, deleted
 * records and a default route; and a snapshot written that way reads back as the set.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { PackedRules } from '../../src/routing/packed-rules.js';
import type { RouteRule } from '../../src/routing/route-table.js';
import { DEFAULT_KEY, ruleKey } from '../../src/sources/route-key.js';
import { defaultRouteSchema, routeRuleSchema } from '../../src/config/route-schema.js';
import { readRouteSnapshot, readRouteSnapshotRules, writeRouteSnapshotLines } from '../../src/sources/route-snapshot.js';
import { packedSnapshotChunks } from '../../src/sources/snapshot-lines.js';

const keyChar = fc.constantFrom(...'abcXYZ019._:@-');
const key = fc.array(keyChar, { minLength: 0, maxLength: 12 }).map((c) => c.join(''));
const urlText = fc.oneof(
  fc.constantFrom('ws://oc-1.tenants.internal:18789/ws', 'wss://a/ws?x="q"', 'ws://b/\\path', 'ws://c/\u0001\t', 'ws://ü.example/ws', 'ws://d/{clientId}', 'ws://e/\u2028'),
  fc.string({ maxLength: 20 }).map((s) => `ws://h/${s}`),
);
const rule: fc.Arbitrary<RouteRule> = fc.oneof(
  fc.record({ clientIdPrefix: key, openclawGateway: urlText }),
  fc.record({ clientId: key.filter((k) => k.length > 0), openclawGateway: urlText }),
  fc.record({ clientIdPrefix: key, openclawGateways: fc.array(urlText, { minLength: 1, maxLength: 3 }) }),
);

function expected(rules: PackedRules): string {
  let out = '';
  for (const r of rules.rules()) out += JSON.stringify([ruleKey(r), r]) + '\n';
  if (rules.defaultRoute !== undefined) out += JSON.stringify([DEFAULT_KEY, rules.defaultRoute]) + '\n';
  return out;
}

function written(rules: PackedRules): { text: string; entries: number } {
  const parts: Buffer[] = [];
  let entries = 0;
  for (const c of packedSnapshotChunks(rules)) {
    parts.push(Buffer.from(c.text));
    entries += c.entries;
  }
  return { text: Buffer.concat(parts).toString('utf8'), entries };
}

describe('snapshot lines from packed bytes', () => {
  it('are the JSON.stringify lines of the rules, for any set', () => {
    fc.assert(
      fc.property(fc.array(rule, { maxLength: 40 }), fc.array(fc.nat(), { maxLength: 10 }), fc.option(urlText, { nil: undefined }), (rs, deletes, def) => {
        const pack = PackedRules.from(rs, def === undefined ? undefined : { openclawGateway: def });
        for (const d of deletes) if (rs.length > 0) pack.delete(rs[d % rs.length]!);
        const got = written(pack);
        assert.equal(got.text, expected(pack));
        assert.equal(got.entries, pack.size + (pack.defaultRoute === undefined ? 0 : 1));
      }),
      { numRuns: 1_000 },
    );
  });

  it('chunks a large set and reads back as the same set', async (t) => {
    const pack = new PackedRules();
    for (let i = 0; i < 20_000; i++) pack.add({ clientIdPrefix: `client-${i}-`, openclawGateway: `ws://oc-${i}.tenants.internal:18789/ws` });
    pack.add({ clientId: 'quoted', openclawGateway: 'ws://q/"x"' });
    pack.setDefault({ openclawGateway: 'ws://fallback/ws' });
    const chunks = [...packedSnapshotChunks(pack)];
    assert.ok(chunks.length > 1, `chunks: ${chunks.length}`);
    assert.equal(chunks.map((c) => Buffer.from(c.text).toString('utf8')).join(''), expected(pack));
    const dir = await mkdtemp(path.join(os.tmpdir(), 'stratix-snapshot-lines-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'routes.snapshot');
    await writeRouteSnapshotLines(file, { prefix: '/p/', revision: 7, clusterId: 'c' }, packedSnapshotChunks(pack), pack.size + 1);
    const back = await readRouteSnapshot(file, '/p/');
    assert.equal(back?.revision, 7);
    assert.equal(back?.entries.length, 20_002);
    const again = PackedRules.from(back!.entries.flatMap((e) => (e.kind === 'rule' ? [e.rule as RouteRule] : [])), pack.defaultRoute);
    assert.equal(again.version, pack.version);
    // Read straight into a packed set (seed-style lines in their bytes, the others parsed): the same set.
    const packed = await readRouteSnapshotRules(file, '/p/');
    assert.equal(packed?.snapshot.revision, 7);
    assert.equal(packed?.rules.version, pack.version);
    assert.equal(packed?.rules.size, 20_001);
  });

  it('read into a packed set: the set of its lines, for any set; a key twice is refused', async (t) => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'stratix-snapshot-packed-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'routes.snapshot');
    await fc.assert(
      // Rules the schema takes (a snapshot holds no other: its reader validates what it parses).
      fc.asyncProperty(fc.array(rule.filter((r) => routeRuleSchema.safeParse(r).success), { maxLength: 30 }), fc.option(urlText.filter((u) => defaultRouteSchema.safeParse({ openclawGateway: u }).success), { nil: undefined }), async (rs, def) => {
        const pack = PackedRules.from(rs, def === undefined ? undefined : { openclawGateway: def });
        const count = pack.size + (pack.defaultRoute === undefined ? 0 : 1);
        await writeRouteSnapshotLines(file, { prefix: '/p/', revision: 3, clusterId: '1', keys: count, invalidKeys: ['exact/x'] }, packedSnapshotChunks(pack), count);
        const back = await readRouteSnapshotRules(file, '/p/');
        assert.equal(back?.rules.version, pack.version);
        assert.equal(back?.snapshot.keys, count);
        assert.deepEqual(back?.snapshot.invalidKeys, ['exact/x']);
      }),
      { numRuns: 200 },
    );
    const line = '["prefix/a-",{"clientIdPrefix":"a-","openclawGateway":"ws://a/ws"}]\n';
    await writeFile(file, JSON.stringify({ format: 'stratix-route-snapshot', version: 1, prefix: '/p/', revision: 1, clusterId: '', count: 2 }) + '\n' + line + line);
    await assert.rejects(readRouteSnapshotRules(file, '/p/'), { code: 'STRATIX_ERR_ROUTE_SNAPSHOT_INVALID', message: /line 3: a second line for one key/ });
  });
});
