/**
 * The pieces of the etcd route source that need no etcd: the key layout
 * (route-key.ts), the local snapshot (route-snapshot.ts), the import file reader
 * (route-file.ts), the backoff.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Backoff } from '../../src/time/backoff.js';
import { parseRouteFile } from '../../src/sources/route-file.js';
import { candidateKeys, parseRouteEntry, prefixRangeEnd, ruleKey, type RouteValue } from '../../src/sources/route-key.js';
import { readRouteSnapshot, writeRouteSnapshot } from '../../src/sources/route-snapshot.js';

describe('route keys', () => {
  test('layout: exact/<clientId>, prefix/<clientIdPrefix>, default', () => {
    assert.equal(ruleKey({ clientId: 'c-1' }), 'exact/c-1');
    assert.equal(ruleKey({ clientIdPrefix: 'tenant-' }), 'prefix/tenant-');
    assert.equal(ruleKey({ clientIdPrefix: '' }), 'prefix/');
    const rule = parseRouteEntry('prefix/t-', '{"clientIdPrefix":"t-","openclawGateway":"ws://h:1/"}');
    assert.deepEqual(rule, { kind: 'rule', key: 'prefix/t-', rule: { clientIdPrefix: 't-', openclawGateway: 'ws://h:1/' } });
    const def = parseRouteEntry('default', '{"openclawGateway":"ws://h:1/"}');
    assert.equal(def.kind, 'default');
  });

  test('invalid entries say why, never throw', () => {
    const cases: Array<[string, string, RegExp]> = [
      ['exact/a', '{', /not JSON/],
      ['exact/a', '{"clientId":"b","openclawGateway":"ws://h/"}', /rule for key "exact\/b"/],
      ['exact/a', '{"clientId":"a","openclawGateway":"http://h/"}', /openclawGateway/],
      ['other/a', '{"clientId":"a","openclawGateway":"ws://h/"}', /key must be/],
      ['default', '{"clientId":"a","openclawGateway":"ws://h/"}', /clientId: unknown setting|unrecognized/i],
      ['exact/a', 'null', /.+/],
    ];
    for (const [key, value, why] of cases) {
      const e = parseRouteEntry(key, value);
      assert.equal(e.kind, 'invalid', `${key} ${value}`);
      assert.match(e.kind === 'invalid' ? e.reason : '', why);
    }
  });

  test('candidate keys: exact, every prefix longest first, default', () => {
    assert.deepEqual(candidateKeys('ab'), ['exact/ab', 'prefix/ab', 'prefix/a', 'prefix/', 'default']);
  });

  test('prefix range end', () => {
    assert.deepEqual(prefixRangeEnd(Buffer.from('/a/')), Buffer.from('/a0'));
    assert.deepEqual(prefixRangeEnd(Buffer.from([0x61, 0xff])), Buffer.from([0x62]));
    assert.deepEqual(prefixRangeEnd(Buffer.from([0xff])), Buffer.from([0]));
  });
});

describe('route snapshot', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'stratix-snapshot-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const entries: Array<[string, RouteValue]> = [
    ['exact/a', { clientId: 'a', openclawGateway: 'ws://h:1/' }],
    ['prefix/b', { clientIdPrefix: 'b', openclawGateways: ['ws://h:2/', 'ws://h:3/'] }],
    ['default', { openclawGateway: 'ws://h:4/' }],
  ];

  test('round trip, atomic replace, nothing left behind', async () => {
    const p = path.join(dir, 'sub', 'routes.snapshot');
    await writeRouteSnapshot(p, { prefix: '/p/', revision: 42, clusterId: '7' }, entries);
    await writeRouteSnapshot(p, { prefix: '/p/', revision: 43, clusterId: '7' }, entries);
    const s = await readRouteSnapshot(p, '/p/');
    assert.equal(s?.revision, 43);
    assert.equal(s?.clusterId, '7');
    assert.deepEqual(
      s?.entries.map((e) => e.key),
      entries.map(([k]) => k),
    );
    assert.deepEqual(await readdir(path.dirname(p)), ['routes.snapshot']);
  });

  test('written from an iterable with its count; read entry by entry into a callback', async () => {
    const p = path.join(dir, 'iter', 'routes.snapshot');
    await writeRouteSnapshot(p, { prefix: '/p/', revision: 9, clusterId: '7' }, entries.values(), entries.length);
    const seen: string[] = [];
    const s = await readRouteSnapshot(p, '/p/', (e) => seen.push(e.key));
    assert.deepEqual(seen, entries.map(([k]) => k));
    assert.deepEqual(s?.entries, [], 'nothing is collected when a callback takes the entries');
    await assert.rejects(writeRouteSnapshot(path.join(dir, 'iter', 'short'), { prefix: '/p/', revision: 9, clusterId: '7' }, entries.values(), 4), /3 entries, not the 4 announced/);
  });

  test('absent: undefined; unusable: STRATIX_ERR_ROUTE_SNAPSHOT_INVALID', async () => {
    assert.equal(await readRouteSnapshot(path.join(dir, 'none'), '/p/'), undefined);
    const p = path.join(dir, 'bad.snapshot');
    await writeRouteSnapshot(p, { prefix: '/p/', revision: 1, clusterId: '' }, entries);
    const good = await readFile(p, 'utf8');
    const lines = good.split('\n');
    const variants: Array<[string, RegExp]> = [
      [lines.slice(0, 3).join('\n') + '\n', /header says 3 entries, file has 2/],
      [good.slice(0, -5), /cut short/],
      [good.replace('ws://h:1/', 'http://h:1/'), /line 2: /],
      ['', /no header/],
      ['{"format":"other"}\n', /not a stratix-route-snapshot/],
    ];
    for (const [text, why] of variants) {
      await writeFile(p, text);
      await assert.rejects(readRouteSnapshot(p, '/p/'), { code: 'STRATIX_ERR_ROUTE_SNAPSHOT_INVALID', message: why });
    }
    await writeFile(p, good);
    await assert.rejects(readRouteSnapshot(p, '/q/'), { code: 'STRATIX_ERR_ROUTE_SNAPSHOT_INVALID', message: /written for prefix "\/p\/"/ });
  });
});

describe('route files', () => {
  const a = { clientIdPrefix: 'a', openclawGateway: 'ws://h:1/' };
  const b = { clientId: 'b', openclawGateway: 'ws://h:2/' };
  const d = { openclawGateway: 'ws://h:9/' };

  test('config file, routes file, array and JSON lines', () => {
    const config = parseRouteFile(JSON.stringify({ gateway: { listen: ':1' }, routes: [a, b], defaultRoute: d }), 'x');
    assert.deepEqual([config.rules, config.defaultRoute, config.format], [[a, b], d, 'json']);
    assert.deepEqual(parseRouteFile(JSON.stringify([a, b]), 'x').rules, [a, b]);
    const lines = parseRouteFile(`${JSON.stringify(a)}\n\n${JSON.stringify(b)}\n${JSON.stringify({ defaultRoute: d })}\n`, 'x');
    assert.deepEqual([lines.rules, lines.defaultRoute, lines.format], [[a, b], d, 'jsonl']);
    assert.deepEqual(parseRouteFile(JSON.stringify(a), 'x').rules, [a]);
  });

  test('the first rule for a key wins; duplicates are counted', () => {
    const r = parseRouteFile(JSON.stringify([a, { ...a, openclawGateway: 'ws://other/' }]), 'x');
    assert.deepEqual([r.rules, r.duplicates], [[a], 1]);
  });

  test('every problem is listed with where it is', () => {
    assert.throws(
      () => parseRouteFile(`${JSON.stringify(a)}\n{bad\n${JSON.stringify({ clientId: 'x' })}\n`, 'f.jsonl'),
      (err: Error & { code: string }) => {
        assert.equal(err.code, 'STRATIX_ERR_ROUTE_IMPORT_INVALID');
        assert.match(err.message, /line 2: not JSON/);
        assert.match(err.message, /line 3: a route needs exactly one of "openclawGateway" or "openclawGateways"/);
        return true;
      },
    );
    assert.throws(() => parseRouteFile('{"routes":{}}', 'f'), /routes: expected an array of rules/);
    assert.throws(() => parseRouteFile('\n\n', 'f'), /no rules/);
  });
});

describe('backoff', () => {
  test('full jitter under a doubling ceiling, capped; reset', () => {
    const b = new Backoff({ initialMs: 100, maxMs: 1000, random: () => 0.999999 });
    assert.deepEqual([b.next(), b.next(), b.next(), b.next(), b.next()], [100, 200, 400, 800, 1000]);
    b.reset();
    assert.equal(b.next(), 100);
    assert.equal(new Backoff({ initialMs: 100, maxMs: 1000, random: () => 0 }).next(), 0);
  });

  test('wait() resolves false when aborted', async () => {
    const ac = new AbortController();
    const b = new Backoff({ initialMs: 60_000, maxMs: 60_000, random: () => 1 });
    const waiting = b.wait(ac.signal);
    ac.abort();
    assert.equal(await waiting, false);
  });
});
