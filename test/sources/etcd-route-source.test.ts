/**
 * EtcdRouteSource against the REAL etcd (test/helpers/etcd-server.ts): paged initial
 * load, watch deltas, invalid values, snapshot start, etcd killed and restarted,
 * connection cut while changes are made (catch-up from a revision), compaction.
 * Latencies are recorded as diagnostics, never asserted.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pino, type Logger } from 'pino';
import { EtcdRouteSource, type EtcdRouteSourceOptions } from '../../src/sources/etcd-route-source.js';
import { EtcdRouteStore } from '../../src/sources/etcd-route-store.js';
import { entryValue, parseRouteEntry, prefixRangeEnd } from '../../src/sources/route-key.js';
import type { RouteSet, RouteSourceChange, RouteSourceStatus } from '../../src/sources/route-source.js';
import { EtcdServer } from '../helpers/etcd-server.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { GrpcDelayProxy } from '../helpers/grpc-proxy.js';

const UP = (n: number | string) => `ws://127.0.0.1:9/u${n}`;

interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

function captureLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as LogLine) });
  return { logger, lines };
}

async function waitFor<T>(probe: () => T | undefined | false, what: string, deadlineMs = 15_000): Promise<T> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const v = probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Records every change and status event of a source. */
function record(source: EtcdRouteSource): { changes: RouteSourceChange[]; statuses: RouteSourceStatus[] } {
  const changes: RouteSourceChange[] = [];
  const statuses: RouteSourceStatus[] = [];
  source.on('change', (c) => changes.push(c));
  source.on('status', (s) => statuses.push(s));
  return { changes, statuses };
}

/** The rules of a set as key → upstream, for comparing with etcd. */
function asMap(set: RouteSet): Map<string, string> {
  const m = new Map<string, string>();
  for (const r of set.rules.rules()) m.set(r.clientId !== undefined ? `exact/${r.clientId}` : `prefix/${r.clientIdPrefix}`, r.openclawGateway!);
  if (set.rules.defaultRoute !== undefined) m.set('default', set.rules.defaultRoute.openclawGateway!);
  return m;
}

/** What etcd holds under the prefix (valid entries only), in the same shape. */
async function etcdMap(store: EtcdRouteStore): Promise<Map<string, string>> {
  const m = new Map<string, string>();
  await store.readAll(1000, (pairs) => {
    for (const [k, v] of pairs) {
      const e = parseRouteEntry(k, v);
      if (e.kind !== 'invalid') m.set(k, entryValue(e).openclawGateway!);
    }
  });
  return m;
}

/** The same at an earlier revision (one unpaged Range). */
async function etcdMapAt(store: EtcdRouteStore, revision: number): Promise<Map<string, string>> {
  const key = Buffer.from(store.prefix);
  const res = await store.client.kv.range({ key, range_end: prefixRangeEnd(key), revision });
  const m = new Map<string, string>();
  for (const kv of res.kvs) {
    const e = parseRouteEntry(kv.key.toString('utf8').slice(store.prefix.length), kv.value.toString('utf8'));
    if (e.kind !== 'invalid') m.set(e.key, entryValue(e).openclawGateway!);
  }
  return m;
}

const exact = (id: string, n: number | string) => [`exact/${id}`, JSON.stringify({ clientId: id, openclawGateway: UP(n) })] as const;
const prefix = (p: string, n: number | string) => [`prefix/${p}`, JSON.stringify({ clientIdPrefix: p, openclawGateway: UP(n) })] as const;

describe('EtcdRouteSource with a real etcd', () => {
  let etcd: EtcdServer;
  let tmp: string;
  const stores: EtcdRouteStore[] = [];
  const sources: EtcdRouteSource[] = [];

  /** A store (the "operator's" etcd client) for `prefix`, closed after the suite. */
  const storeFor = (prefix: string, endpoint = etcd.endpoint) => {
    const s = new EtcdRouteStore({ endpoints: [endpoint], prefix, requestTimeoutMs: 10_000 });
    stores.push(s);
    return s;
  };
  const sourceFor = (opts: Partial<EtcdRouteSourceOptions> & { prefix: string }) => {
    const s = new EtcdRouteSource({
      endpoints: [etcd.endpoint],
      logger: captureLogger().logger,
      dialTimeoutMs: 2_000,
      reconnectInitialMs: 50,
      reconnectMaxMs: 500,
      snapshotDebounceMs: 100,
      ...opts,
    });
    sources.push(s);
    return s;
  };

  before(async () => {
    etcd = await EtcdServer.start();
    tmp = await mkdtemp(path.join(os.tmpdir(), 'stratix-etcd-source-'));
  });
  after(async () => {
    for (const s of sources) await s.close();
    for (const s of stores) s.close();
    await etcd?.close();
    await rm(tmp, { recursive: true, force: true });
  });

  test('loads 20k keys in pages, logs progress, skips invalid values, writes the snapshot', async (t) => {
    const store = storeFor('/t-load/');
    const pairs: Array<readonly [string, string]> = Array.from({ length: 20_000 }, (_, i) => exact(`client-${i}`, i % 97));
    pairs.push(prefix('team-', 'team'), ['default', JSON.stringify({ openclawGateway: UP('default') })]);
    const invalid: Array<readonly [string, string]> = [
      ['exact/bad-json', '{not json'],
      ['exact/mismatch', JSON.stringify({ clientId: 'other', openclawGateway: UP(1) })],
      ['exact/bad-url', JSON.stringify({ clientId: 'bad-url', openclawGateway: 'http://nope' })],
      ['weird/shape', JSON.stringify({ clientId: 'x', openclawGateway: UP(1) })],
      // Seed-style values checked in place against their key: another kind, or one byte off.
      ['prefix/kind', JSON.stringify({ clientId: 'kind', openclawGateway: UP(1) })],
      ['exact/client-x', JSON.stringify({ clientId: 'client-y', openclawGateway: UP(1) })],
    ];
    await store.write([...pairs, ...invalid], []);

    const { logger, lines } = captureLogger();
    const snapshotPath = path.join(tmp, 'load', 'routes.snapshot');
    const source = sourceFor({ prefix: '/t-load/', logger, pageSize: 1000, progressEveryKeys: 5000, snapshotPath });
    const started = Date.now();
    const set = await source.start();
    t.diagnostic(`initial load of ${pairs.length + invalid.length} keys: ${Date.now() - started} ms`);

    assert.equal(set.origin, 'etcd');
    assert.equal(set.rules.size, 20_001);
    assert.equal(set.rules.defaultRoute?.openclawGateway, UP('default'));
    assert.equal(set.invalid, 6);
    assert.equal(source.status.state, 'ok');
    assert.equal(source.status.invalidKeys, 6);
    assert.equal(source.stats.invalidValuesTotal, 6);
    assert.deepEqual(asMap(set), await etcdMap(store));

    const progress = lines.filter((l) => l.msg === 'loading routes from etcd');
    assert.ok(progress.length >= 3, `progress lines: ${progress.length}`);
    assert.ok(progress.every((l) => typeof l['loaded'] === 'number' && l['total'] === 20_008));
    const skipped = lines.filter((l) => l.msg === 'skipping invalid route value').map((l) => l['key']);
    assert.deepEqual(skipped.sort(), ['/t-load/exact/bad-json', '/t-load/exact/bad-url', '/t-load/exact/client-x', '/t-load/exact/mismatch', '/t-load/prefix/kind', '/t-load/weird/shape']);

    await source.close();
    const snap = (await readFile(snapshotPath, 'utf8')).trimEnd().split('\n');
    const header = JSON.parse(snap[0]!) as { count: number; revision: number; prefix: string };
    assert.equal(header.count, 20_002);
    assert.equal(header.prefix, '/t-load/');
    assert.equal(header.revision, set.revision);
    assert.equal(snap.length, 20_003);
  });

  test('dialTimeoutMs bounds reaching etcd, not reading it: a first read slower than the dial window still starts the gateway', async (t) => {
    // At a million keys on a busy etcd every range takes seconds while a status request
    // stays quick. Here a proxy in front of the real etcd holds each range for 600 ms,
    // three times the 200 ms dial window: the gateway must still load (the code before
    // the fix read the prefix's count under the dial deadline and gave up).
    const RANGE = '/etcdserverpb.KV/Range';
    const proxy = await GrpcDelayProxy.start(etcd.clientPort, (p) => (p === RANGE ? 600 : 0));
    t.after(() => proxy.close());
    const store = storeFor('/t-slow/');
    await store.write(Array.from({ length: 3_000 }, (_, i) => prefix(`slow-${i}-`, i)), []);
    const { logger, lines } = captureLogger();
    const source = sourceFor({ prefix: '/t-slow/', endpoints: [proxy.endpoint], logger, dialTimeoutMs: 200, pageSize: 1_000, progressEveryKeys: 1_000 });
    const started = Date.now();
    const set = await source.start();
    const elapsed = Date.now() - started;
    t.diagnostic(`load of 3000 keys in 3 pages, each held 600 ms: ${elapsed} ms; calls: ${proxy.calls.slice(0, 6).join(' ')}`);
    assert.equal(set.origin, 'etcd');
    assert.equal(set.rules.size, 3_000);
    assert.equal(source.status.state, 'ok');
    assert.deepEqual(asMap(set), await etcdMap(store));
    // What the dial window covered: a status request, answered at once, then the ranges.
    assert.equal(proxy.calls[0], '/etcdserverpb.Maintenance/Status');
    assert.ok(proxy.calls.filter((c) => c === RANGE).length >= 3, `calls: ${proxy.calls.join(' ')}`);
    const progress = lines.filter((l) => l.msg === 'loading routes from etcd');
    assert.ok(progress.length >= 3 && progress.every((l) => l['total'] === 3_000), 'progress counts against the total of the first page');
  });

  test('a page larger than the receive limit is asked again, smaller', async () => {
    const writer = storeFor('/t-big/');
    await writer.write(Array.from({ length: 2000 }, (_, i) => exact(`big-${i}`, `${i}-${'x'.repeat(200)}`)), []);
    const small = new EtcdRouteStore({ endpoints: [etcd.endpoint], prefix: '/t-big/', requestTimeoutMs: 10_000, maxResponseBytes: 64 * 1024 });
    stores.push(small);
    const pages: number[] = [];
    const res = await small.readAll(2000, (pairs) => void pages.push(pairs.length));
    assert.equal(res.keys, 2000);
    assert.ok(pages.length > 1 && Math.max(...pages) <= 500, `pages: ${pages.join(',')}`);
  });

  test('a put or a delete arrives as a delta (latency recorded, not asserted)', async (t) => {
    const store = storeFor('/t-watch/');
    await store.write([exact('a', 1), exact('b', 2), prefix('p-', 3)], []);
    const source = sourceFor({ prefix: '/t-watch/' });
    const { changes } = record(source);
    await source.start();

    let sent = Date.now();
    await store.write([exact('c', 4)], []);
    const put = await waitFor(() => changes.find((c) => c.kind === 'delta' && c.changes.some((x) => x.key === 'exact/c')), 'the put');
    t.diagnostic(`put seen after ${Date.now() - sent} ms`);
    assert.equal(put.kind, 'delta');
    assert.deepEqual(put.kind === 'delta' && put.changes, [{ type: 'put', key: 'exact/c', rule: { clientId: 'c', openclawGateway: UP(4) } }]);

    sent = Date.now();
    await store.write([], ['exact/a']);
    const del = await waitFor(() => changes.find((c) => c.kind === 'delta' && c.changes.some((x) => x.key === 'exact/a')), 'the delete');
    t.diagnostic(`delete seen after ${Date.now() - sent} ms`);
    assert.deepEqual(del.kind === 'delta' && del.changes, [{ type: 'delete', key: 'exact/a', rule: { clientId: 'a', openclawGateway: UP(1) } }]);

    // A transaction's puts arrive together; rewriting an unchanged value is no change at all.
    changes.length = 0;
    await store.write([exact('b', 2), exact('d', 5), prefix('q-', 6), ['default', JSON.stringify({ openclawGateway: UP(7) })]], []);
    const batch = await waitFor(() => changes[0], 'the transaction');
    assert.equal(batch.kind, 'delta');
    assert.deepEqual(
      batch.kind === 'delta' && batch.changes.map((c) => `${c.type} ${c.key}`).sort(),
      ['default default', 'put exact/d', 'put prefix/q-'],
    );

    // An invalid value removes the rule (as a full load would) and is counted.
    changes.length = 0;
    await store.write([['exact/b', '{"clientId":"b","openclawGateway":"ftp://x"}']], []);
    const inv = await waitFor(() => changes[0], 'the invalid put');
    assert.deepEqual(inv.kind === 'delta' && inv.changes, [{ type: 'delete', key: 'exact/b', rule: { clientId: 'b', openclawGateway: UP(2) } }]);
    assert.equal(source.status.invalidKeys, 1);
    await store.write([exact('b', 8)], []);
    await waitFor(() => changes.length === 2, 'the repaired value');
    assert.equal(source.status.invalidKeys, 0);

    assert.deepEqual(asMap(source.current()), await etcdMap(store));
    assert.equal(source.status.state, 'ok');
  });

  test('start() hands out exactly the prefix at its revision, and the watch goes on from the next one, while writes go on throughout', async (t) => {
    const store = storeFor('/t-start-rev/');
    await store.write(Array.from({ length: 6_000 }, (_, i) => exact(`s-${i}`, i)), []);
    let writing = true;
    const written: number[] = [];
    const writer = (async () => {
      // Each write puts a key of its own and deletes one of the first ones: a revision missed leaves both wrong.
      for (let i = 0; writing; i++) written.push((await store.write([exact(`w-${i}`, i)], [`exact/s-${i}`])).revision);
    })();
    await waitFor(() => written.length >= 5 || undefined, 'writes before the start');
    const source = sourceFor({ prefix: '/t-start-rev/', pageSize: 200 });
    const { changes } = record(source);
    const set = await source.start();
    await waitFor(() => written.filter((r) => r > set.revision).length >= 20 || undefined, 'writes after the start revision');
    writing = false;
    await writer;
    const last = written.at(-1)!;
    t.diagnostic(`start revision ${set.revision}; ${written.filter((r) => r <= set.revision).length} writes before it, ${written.filter((r) => r > set.revision).length} after`);

    assert.deepEqual(asMap(set), await etcdMapAt(store, set.revision), 'the set is the prefix at its revision');
    await waitFor(() => source.status.revision >= last || undefined, 'the watch to reach the last write');
    assert.ok(changes.every((c) => c.kind === 'delta' && c.revision > set.revision), 'only revisions after the set\'s');
    const applied = asMap(set);
    for (const c of changes) {
      for (const x of c.kind === 'delta' ? c.changes : []) {
        if (x.type === 'put') applied.set(x.key, x.rule.openclawGateway!);
        else if (x.type === 'delete') applied.delete(x.key);
      }
    }
    assert.deepEqual(applied, await etcdMap(store), 'the set and the deltas after it make the prefix now');
  });

  /** A source that loads `prefix` from etcd, writes its snapshot at `snapshotPath` and closes: the snapshot's revision. */
  async function snapshotOf(prefixKey: string, snapshotPath: string): Promise<number> {
    const first = sourceFor({ prefix: prefixKey, snapshotPath, warmStart: false });
    const set = await first.start();
    await waitFor(() => first.stats.snapshotWritesTotal >= 1 || undefined, 'the first snapshot');
    await first.close();
    return set.revision;
  }

  test('a warm start: the snapshot at its revision, vouched for by etcd, then the watch from the next one', async () => {
    const store = storeFor('/t-warm/');
    await store.write([...Array.from({ length: 3_000 }, (_, i) => prefix(`w-${i}-`, i)), ['exact/broken', '{not json'], ['default', JSON.stringify({ openclawGateway: UP('d') })]], []);
    const snapshotPath = path.join(tmp, 'warm', 'routes.snapshot');
    const revision = await snapshotOf('/t-warm/', snapshotPath);
    // Changes the snapshot has not seen.
    await store.write([exact('after-1', 1), prefix('w-1-', 'changed')], ['prefix/w-2-']);
    await store.write([['exact/broken', JSON.stringify({ clientId: 'broken', openclawGateway: UP('fixed') })]], []);

    const { logger, lines } = captureLogger();
    const source = sourceFor({ prefix: '/t-warm/', snapshotPath, logger });
    const { changes } = record(source);
    const set = await source.start();
    assert.equal(set.origin, 'snapshot');
    assert.equal(set.revision, revision);
    assert.deepEqual(asMap(set), await etcdMapAt(store, revision), "the set is the prefix at the snapshot's revision");
    assert.equal(set.invalid, 1);
    assert.ok(lines.some((l) => l.msg === 'routes loaded from the snapshot; the watch catches up from its revision'));
    assert.ok(!lines.some((l) => l.msg === 'routes loaded from etcd'), 'no full read');

    const want = await etcdMap(store);
    await waitFor(() => sameMap(asMap(source.current()), want) || undefined, 'the catch-up');
    assert.ok(changes.length > 0 && changes.every((c) => c.kind === 'delta'), 'caught up by deltas');
    assert.equal(source.status.state, 'ok');
    assert.equal(source.status.invalidKeys, 0, 'the invalid key the snapshot listed was repaired');
    assert.equal(source.stats.fullReloadsTotal, 0);
  });

  test('a warm start reads etcd in full when etcd compacted past the snapshot, or does not hold what it says', async () => {
    const store = storeFor('/t-cold/');
    await store.write(Array.from({ length: 500 }, (_, i) => exact(`c-${i}`, i)), []);
    const snapshotPath = path.join(tmp, 'cold', 'routes.snapshot');
    const header = async () => JSON.parse((await readFile(snapshotPath, 'utf8')).split('\n', 1)[0]!) as Record<string, unknown>;
    const rewriteHeader = async (change: (h: Record<string, unknown>) => void) => {
      const [head, ...rest] = (await readFile(snapshotPath, 'utf8')).split('\n');
      const h = JSON.parse(head!) as Record<string, unknown>;
      change(h);
      await writeFile(snapshotPath, [JSON.stringify(h), ...rest].join('\n'));
    };
    const startFrom = async () => {
      const { logger, lines } = captureLogger();
      const source = sourceFor({ prefix: '/t-cold/', snapshotPath, logger });
      const set = await source.start();
      await source.close();
      return { set, lines };
    };

    // The snapshot's key count is not etcd's count at its revision (data replaced under the same cluster id).
    await snapshotOf('/t-cold/', snapshotPath);
    assert.equal((await header())['keys'], 500);
    await rewriteHeader((h) => (h['keys'] = 499));
    let r = await startFrom();
    assert.equal(r.set.origin, 'etcd');
    assert.match(String(r.lines.find((l) => l.msg === 'the route snapshot is not what etcd held at its revision: reading etcd in full')?.['mismatch']), /held 500 keys .* the snapshot 499/);
    assert.deepEqual(asMap(r.set), await etcdMap(store));

    // Another cluster's snapshot.
    await snapshotOf('/t-cold/', snapshotPath);
    await rewriteHeader((h) => (h['clusterId'] = '12345'));
    r = await startFrom();
    assert.equal(r.set.origin, 'etcd');
    assert.match(String(r.lines.find((l) => l['mismatch'] !== undefined)?.['mismatch']), /cluster id/);

    // etcd compacted past the snapshot's revision.
    await snapshotOf('/t-cold/', snapshotPath);
    await store.write([exact('c-new', 1)], ['exact/c-0']);
    const { revision } = await store.write([exact('c-1', 'changed')], []);
    await store.client.kv.compact({ revision, physical: true });
    r = await startFrom();
    assert.equal(r.set.origin, 'etcd');
    assert.ok(r.lines.some((l) => l.msg === "etcd compacted past the route snapshot's revision: reading etcd in full"));
    assert.equal(r.set.revision, revision);
    assert.deepEqual(asMap(r.set), await etcdMap(store));

    // A snapshot an older version wrote (no key count) serves only while etcd is down.
    await snapshotOf('/t-cold/', snapshotPath);
    await rewriteHeader((h) => delete h['keys']);
    r = await startFrom();
    assert.equal(r.set.origin, 'etcd');
  });

  test('etcd unreachable and no snapshot: start() fails with a stable code', async () => {
    const source = new EtcdRouteSource({ endpoints: ['http://127.0.0.1:1'], logger: captureLogger().logger, dialTimeoutMs: 300 });
    sources.push(source);
    await assert.rejects(source.start(), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'STRATIX_ERR_ROUTE_SOURCE_UNAVAILABLE');
      assert.match(err.message, /127\.0\.0\.1:1/);
      assert.match(err.message, /no snapshotPath is configured/);
      return true;
    });
    const withPath = new EtcdRouteSource({
      endpoints: ['http://127.0.0.1:1'],
      logger: captureLogger().logger,
      dialTimeoutMs: 300,
      snapshotPath: path.join(tmp, 'nothing-here.snapshot'),
    });
    sources.push(withPath);
    await assert.rejects(withPath.start(), { code: 'STRATIX_ERR_ROUTE_SOURCE_UNAVAILABLE', message: /no usable snapshot at .*nothing-here/ });
  });

  test('the watch connection is cut while rules change: degraded, then the missed revisions are replayed', async (t) => {
    const proxy = await TcpProxy.start(etcd.clientPort);
    t.after(() => proxy.close());
    const store = storeFor('/t-cut/');
    await store.write([exact('keep', 1), exact('gone', 2), prefix('x-', 3)], []);
    const source = sourceFor({ prefix: '/t-cut/', endpoints: [`http://127.0.0.1:${proxy.port}`] });
    const { changes, statuses } = record(source);
    const set = await source.start();

    await proxy.cut();
    await waitFor(() => source.status.state === 'degraded', 'degraded');
    assert.match(source.status.reason ?? '', /etcd watch lost/);
    assert.deepEqual(asMap(source.current()), asMap(set), 'the last table is kept while etcd is away');

    // Several revisions the source cannot see: puts, a delete, a rewrite of one key twice.
    await store.write([exact('new1', 4)], []);
    await store.write([], ['exact/gone']);
    await store.write([exact('keep', 5), prefix('y-', 6)], []);
    await store.write([exact('keep', 7)], []);

    const cutAt = Date.now();
    await proxy.restore();
    const want = await etcdMap(store);
    await waitFor(() => source.status.state === 'ok' && sameMap(asMap(source.current()), want) || undefined, 'catch-up');
    t.diagnostic(`caught up ${Date.now() - cutAt} ms after the connection came back`);
    assert.deepEqual(statuses.map((s) => s.state), ['ok', 'degraded', 'ok']);
    assert.ok(changes.every((c) => c.kind === 'delta'), 'caught up from a revision, no full reload');
    assert.equal(source.stats.fullReloadsTotal, 0);
    // The net effect on `keep` is one put with the last value.
    const keepChanges = changes.flatMap((c) => (c.kind === 'delta' ? c.changes : [])).filter((c) => c.key === 'exact/keep');
    assert.deepEqual(keepChanges.at(-1), { type: 'put', key: 'exact/keep', rule: { clientId: 'keep', openclawGateway: UP(7) } });
  });

  test('the revision to resume from was compacted: one full reload', async (t) => {
    const proxy = await TcpProxy.start(etcd.clientPort);
    t.after(() => proxy.close());
    const store = storeFor('/t-compact/');
    await store.write([exact('a', 1), exact('b', 2)], []);
    const source = sourceFor({ prefix: '/t-compact/', endpoints: [`http://127.0.0.1:${proxy.port}`] });
    const { changes } = record(source);
    await source.start();

    await proxy.cut();
    await waitFor(() => source.status.state === 'degraded', 'degraded');
    await store.write([exact('c', 3)], ['exact/a']);
    const { revision } = await store.write([exact('b', 4)], []);
    await store.client.kv.compact({ revision, physical: true });

    await proxy.restore();
    const full = await waitFor(() => changes.find((c) => c.kind === 'full'), 'the full reload');
    assert.equal(full.kind, 'full');
    assert.deepEqual(full.kind === 'full' && asMap(full.set), await etcdMap(store));
    await waitFor(() => source.status.state === 'ok', 'ok');
    assert.equal(source.stats.fullReloadsTotal, 1);

    // And the watch goes on after the reload.
    await store.write([exact('d', 5)], []);
    await waitFor(() => changes.some((c) => c.kind === 'delta' && c.changes.some((x) => x.key === 'exact/d')), 'a put after the reload');
  });
});

describe('EtcdRouteSource when etcd dies (SIGKILL) and comes back', () => {
  let etcd: EtcdServer;
  let tmp: string;

  before(async () => {
    etcd = await EtcdServer.start();
    tmp = await mkdtemp(path.join(os.tmpdir(), 'stratix-etcd-kill-'));
  });
  after(async () => {
    await etcd?.close();
    await rm(tmp, { recursive: true, force: true });
  });

  const options = (snapshotPath: string): EtcdRouteSourceOptions => ({
    endpoints: [etcd.endpoint],
    prefix: '/stratix/routes/',
    snapshotPath,
    logger: captureLogger().logger,
    dialTimeoutMs: 1_000,
    reconnectInitialMs: 50,
    reconnectMaxMs: 500,
    snapshotDebounceMs: 50,
  });

  test('killed mid-watch: degraded, serves the last table, recovers and sees new changes', async (t) => {
    const store = new EtcdRouteStore({ endpoints: [etcd.endpoint], prefix: '/stratix/routes/', requestTimeoutMs: 5_000 });
    t.after(() => store.close());
    await store.write([exact('k1', 1), exact('k2', 2), prefix('k', 3)], []);
    const source = new EtcdRouteSource(options(path.join(tmp, 'kill.snapshot')));
    t.after(() => source.close());
    const { changes, statuses } = record(source);
    const set = await source.start();

    await etcd.kill();
    await waitFor(() => source.status.state === 'degraded', 'degraded');
    assert.deepEqual(asMap(source.current()), asMap(set));

    const down = Date.now();
    await etcd.restart();
    await waitFor(() => source.status.state === 'ok', 'ok again');
    t.diagnostic(`status ok ${Date.now() - down} ms after etcd was restarted`);

    const sent = Date.now();
    await store.write([exact('k3', 4)], ['exact/k1']);
    await waitFor(() => changes.some((c) => c.kind === 'delta' && c.changes.some((x) => x.key === 'exact/k3')), 'changes after the restart');
    t.diagnostic(`put+delete seen ${Date.now() - sent} ms after the write`);
    assert.deepEqual(asMap(source.current()), await etcdMap(store));
    assert.deepEqual(statuses.map((s) => s.state), ['ok', 'degraded', 'ok']);
  });

  test('down at start with a snapshot: serves it, then catches up from its revision', async (t) => {
    const store = new EtcdRouteStore({ endpoints: [etcd.endpoint], prefix: '/stratix/routes/', requestTimeoutMs: 5_000 });
    t.after(() => store.close());
    const snapshotPath = path.join(tmp, 'start.snapshot');

    // A first gateway run leaves a snapshot.
    const first = new EtcdRouteSource(options(snapshotPath));
    const firstSet = await first.start();
    await first.close();

    // Changes while no gateway watches, then etcd goes down.
    await store.write([exact('later', 9)], ['exact/k2']);
    await store.write([prefix('zz', 10)], []);
    await etcd.kill();

    const second = new EtcdRouteSource(options(snapshotPath));
    t.after(() => second.close());
    const { changes } = record(second);
    const set = await second.start();
    assert.equal(set.origin, 'snapshot');
    assert.equal(set.revision, firstSet.revision);
    assert.deepEqual(asMap(set), asMap(firstSet));
    assert.equal(second.status.state, 'degraded');
    assert.match(second.status.reason ?? '', /serving the local snapshot/);

    await etcd.restart();
    const want = await etcdMap(store);
    await waitFor(() => second.status.state === 'ok' && sameMap(asMap(second.current()), want) || undefined, 'catch-up from the snapshot revision');
    assert.ok(changes.every((c) => c.kind === 'delta'), 'no full reload');
    const keys = changes.flatMap((c) => (c.kind === 'delta' ? c.changes.map((x) => `${x.type} ${x.key}`) : []));
    assert.deepEqual(keys.sort(), ['delete exact/k2', 'put exact/later', 'put prefix/zz']);
  });

  test('a snapshot of another prefix is not used', async () => {
    await etcd.kill();
    try {
      const source = new EtcdRouteSource({ ...options(path.join(tmp, 'start.snapshot')), prefix: '/other/' });
      await assert.rejects(source.start(), { code: 'STRATIX_ERR_ROUTE_SOURCE_UNAVAILABLE', message: /no usable snapshot/ });
      await source.close();
    } finally {
      await etcd.restart();
    }
  });
});

function sameMap(a: Map<string, string>, b: Map<string, string>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}
