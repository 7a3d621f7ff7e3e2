/**
 * The windows of a full read (key-windows.ts), driven against a model of etcd's Range
 * over a sorted key list (count = the keys in [key, range_end), the first `limit` of them
 * sent): whatever the keys (any bytes, 0x00 and 0xff included, the prefix itself as a
 * key, long shared prefixes past the bytes a position reads, dense and sparse runs),
 * the page size, and the order in which answers come back, every key is received exactly
 * once and no window leaves the prefix. And the count etcd walks stays near the keys read
 * (the reason for windows), where paging to the end of the prefix walks N²/(2·page).
 * The real etcd read is tested in etcd-route-store.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { KeyWindows, type KeyWindow } from '../../src/sources/key-windows.js';
import { prefixRangeEnd } from '../../src/sources/route-key.js';

const PREFIX = Buffer.from('/stratix/routes/');

function lowerBound(keys: readonly Buffer[], k: Buffer): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const m = (lo + hi) >> 1;
    if (Buffer.compare(keys[m]!, k) < 0) lo = m + 1;
    else hi = m;
  }
  return lo;
}

interface Read {
  got: Buffer[];
  /** Keys etcd walked to count them: the sum of every answer's count. */
  walked: number;
  requests: number;
}

/** A full read as EtcdRouteStore.readAllKvs makes it, `inFlight` windows asked at once, answered in the order `pick` chooses. */
function readAll(sorted: readonly Buffer[], pageSize: number, pick: (n: number) => number, inFlight = 3): Read {
  const rangeEnd = prefixRangeEnd(PREFIX);
  const windows = new KeyWindows({ prefix: PREFIX, rangeEnd, target: Math.ceil(pageSize / 2), limit: pageSize });
  const got: Buffer[] = [];
  let walked = 0;
  let requests = 0;
  const ask = (start: Buffer, end: Buffer, limit: number) => {
    assert.ok(Buffer.compare(start, end) < 0, `window [${start.toString('hex')}, ${end.toString('hex')}) is empty or reversed`);
    assert.ok(Buffer.compare(start, PREFIX) >= 0 && Buffer.compare(end, rangeEnd) <= 0, 'a window leaves the prefix');
    requests++;
    const a = lowerBound(sorted, start);
    const count = lowerBound(sorted, end) - a;
    walked += count;
    return { count, keys: sorted.slice(a, a + Math.min(limit, count)) };
  };
  const first = ask(PREFIX, rangeEnd, pageSize);
  got.push(...first.keys);
  if (first.count > first.keys.length) windows.begin(first.keys[0]!, first.keys.at(-1)!, first.keys.length, first.count);
  const due: KeyWindow[] = [];
  for (;;) {
    while (due.length < inFlight) {
      const w = windows.next();
      if (w === undefined) break;
      due.push(w);
    }
    if (due.length === 0) break;
    const [w] = due.splice(pick(due.length), 1);
    const r = ask(w!.start, w!.end, w!.limit);
    windows.settle(w!, r.count, r.keys.length, r.keys.at(-1));
    got.push(...r.keys);
  }
  return { got, walked, requests };
}

function assertExactlyOnce(sorted: readonly Buffer[], got: readonly Buffer[]): void {
  const seen = [...got].sort(Buffer.compare);
  assert.equal(seen.length, sorted.length, `received ${seen.length} keys of ${sorted.length}`);
  seen.forEach((k, i) => assert.ok(k.equals(sorted[i]!), `key ${i} differs`));
}

const suffix = fc.oneof(
  fc.uint8Array({ maxLength: 12 }).map((a) => Buffer.from(a)),
  fc.constantFrom('prefix/', 'exact/', 'default').chain((kind) => fc.stringMatching(/^[0-9a-f-]{0,40}$/).map((s) => Buffer.from(kind + s))),
  fc.nat({ max: 99_999 }).map((i) => Buffer.from(`prefix/client-${i}-`)),
  // Past the 64 bytes a position reads: these keys all share one position.
  fc.nat({ max: 9_999 }).map((i) => Buffer.from(`exact/${'x'.repeat(70)}-${i}`)),
  fc.constantFrom(Buffer.alloc(0), Buffer.from([0]), Buffer.from([0xff, 0xff]), Buffer.alloc(70, 0xff)),
);
const keySet = fc.uniqueArray(suffix, { maxLength: 1500, selector: (b) => b.toString('hex') }).map((s) => s.map((b) => Buffer.concat([PREFIX, b])).sort(Buffer.compare));

describe('key windows of a full read', () => {
  it('every key is received exactly once, whatever the keys, the page size and the order of answers', () => {
    fc.assert(
      fc.property(keySet, fc.integer({ min: 1, max: 200 }), fc.infiniteStream(fc.nat()), fc.integer({ min: 1, max: 4 }), (sorted, pageSize, choices, inFlight) => {
        const pickFrom = choices[Symbol.iterator]();
        const { got } = readAll(sorted, pageSize, (n) => (pickFrom.next().value as number) % n, inFlight);
        assertExactlyOnce(sorted, got);
      }),
      { numRuns: 300 },
    );
  });

  it('etcd walks about the keys read, not N²/(2·page), in about N/(page/2) requests: 100k keys, 2k a page', () => {
    const shapes: Record<string, (i: number) => string> = {
      'seed prefixes (client-<i>-)': (i) => `prefix/client-${i}-`,
      'uuid-like exact ids': (i) => `exact/${(BigInt(i) * 0x9e3779b97f4a7c15n % 2n ** 64n).toString(16).padStart(16, '0')}-${i}`,
      'two dense clusters': (i) => `prefix/${i < 90_000 ? 'a' : 'z'}${String(i).padStart(7, '0')}`,
    };
    for (const [shape, key] of Object.entries(shapes)) {
      const n = 100_000;
      const sorted = Array.from({ length: n }, (_, i) => Buffer.concat([PREFIX, Buffer.from(key(i))])).sort(Buffer.compare);
      const { got, walked, requests } = readAll(sorted, 2_000, () => 0);
      assertExactlyOnce(sorted, got);
      // Paged to the end of the prefix it was ~N²/(2·2000) = 2.5 M; windows: the first count (N), the keys (N), and overshoots.
      assert.ok(walked <= 4 * n, `${shape}: etcd walked ${walked} keys for ${n} (${requests} requests)`);
      // About one request per window of 1000 keys, plus the empty ones a sparse stretch costs.
      assert.ok(requests <= 2 * (n / 1_000), `${shape}: ${requests} requests`);
    }
  });

  it('a small prefix takes a handful of requests: nothing is asked once every key the first answer counted is in', () => {
    const sorted = Array.from({ length: 3_000 }, (_, i) => Buffer.concat([PREFIX, Buffer.from(`prefix/slow-${i}-`)])).sort(Buffer.compare);
    const { got, requests } = readAll(sorted, 1_000, () => 0);
    assertExactlyOnce(sorted, got);
    assert.ok(requests <= 8, `${requests} requests`);
  });

  it('an answer too large for the receive limit: smaller windows and limits from then on, still exact', () => {
    const sorted = Array.from({ length: 5_000 }, (_, i) => Buffer.concat([PREFIX, Buffer.from(`exact/u-${i}`)])).sort(Buffer.compare);
    const rangeEnd = prefixRangeEnd(PREFIX);
    const windows = new KeyWindows({ prefix: PREFIX, rangeEnd, target: 500, limit: 1_000 });
    const got: Buffer[] = sorted.slice(0, 1_000);
    windows.begin(sorted[0]!, sorted[999]!, 1_000, 5_000);
    windows.shrink(250);
    assert.equal(windows.limit, 250);
    windows.shrink(500);
    assert.equal(windows.limit, 250, 'never grows back');
    for (let w = windows.next(); w !== undefined; w = windows.next()) {
      assert.ok(w.limit <= 250);
      const a = lowerBound(sorted, w.start);
      const count = lowerBound(sorted, w.end) - a;
      const keys = sorted.slice(a, a + Math.min(w.limit, count));
      windows.settle(w, count, keys.length, keys.at(-1));
      got.push(...keys);
    }
    assertExactlyOnce(sorted, got);
  });
});
