/**
 * EtcdRouteStore's full read against the REAL etcd (test/helpers/etcd-server.ts): read in
 * windows (key-windows.ts), several at once, decoded by etcd-range-codec.ts, while other
 * clients write under the prefix and next to it, it hands out exactly what one unpaged
 * Range at its revision returns: every key once, every value as stored, nothing from
 * outside the prefix, nothing written after that revision. A compaction that overtakes
 * the read makes it reject (the source starts over), never hand out a mix of revisions.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { EtcdRouteStore } from '../../src/sources/etcd-route-store.js';
import { prefixRangeEnd } from '../../src/sources/route-key.js';
import { EtcdServer } from '../helpers/etcd-server.js';

const UP = (n: number | string) => `ws://127.0.0.1:9/u${n}`;
const exact = (id: string, n: number | string) => [`exact/${id}`, JSON.stringify({ clientId: id, openclawGateway: UP(n) })] as const;
const prefix = (p: string, n: number | string) => [`prefix/${p}`, JSON.stringify({ clientIdPrefix: p, openclawGateway: UP(n) })] as const;

/** Keys of several shapes: seed prefixes, hex ids, long shared heads (past the 64 bytes a window position reads), odd bytes. */
function mixedPairs(n: number): Array<readonly [string, string]> {
  const pairs: Array<readonly [string, string]> = [];
  for (let i = 0; i < n; i++) {
    const shape = i % 4;
    if (shape === 0) pairs.push(prefix(`client-${i}-`, i));
    else if (shape === 1) pairs.push(exact(((i * 2654435761) >>> 0).toString(16).padStart(8, '0') + `-${i}`, i));
    else if (shape === 2) pairs.push(exact(`${'t'.repeat(70)}-${i}`, i));
    else pairs.push([`weird/${i % 7 === 0 ? '' : String.fromCharCode(0x20 + (i % 90))}${i}`, `not a rule ${i}`]);
  }
  pairs.push(['default', JSON.stringify({ openclawGateway: UP('default') })]);
  return pairs;
}

describe('EtcdRouteStore full read with a real etcd', () => {
  let etcd: EtcdServer;
  const stores: EtcdRouteStore[] = [];
  const storeFor = (p: string) => {
    const s = new EtcdRouteStore({ endpoints: [etcd.endpoint], prefix: p, requestTimeoutMs: 10_000 });
    stores.push(s);
    return s;
  };

  before(async () => {
    etcd = await EtcdServer.start();
  });
  after(async () => {
    for (const s of stores) s.close();
    await etcd?.close();
  });

  /** What one unpaged Range of the prefix at `revision` holds: key → value. */
  async function prefixAt(store: EtcdRouteStore, revision: number): Promise<Map<string, string>> {
    const key = Buffer.from(store.prefix);
    const res = await store.client.kv.range({ key, range_end: prefixRangeEnd(key), revision });
    return new Map(res.kvs.map((kv) => [kv.key.toString('latin1'), kv.value.toString('latin1')]));
  }

  test('read in windows while others write: exactly the prefix at the read revision', async (t) => {
    const P = '/t-cons/';
    const store = storeFor(P);
    // Neighbours just outside the prefix, below and above it, and the prefix without its slash.
    const outside = storeFor('/t-cons');
    const below = storeFor('/t-cons.');
    const above = storeFor('/t-cons0');
    await store.write(mixedPairs(12_000), []);
    await outside.write([['', 'outside'], ['x', 'outside']], []);
    await below.write([['x', 'below']], []);
    await above.write([['', 'above'], ['x', 'above']], []);

    let writing = true;
    let writes = 0;
    let lastWrite = 0;
    const writer = (async () => {
      for (let i = 0; writing; i++) {
        const { revision } = await store.write([exact(`during-${i}`, i), prefix(`client-${i * 4}-`, `rewritten-${i}`)], [`exact/${'t'.repeat(70)}-${4 * i + 2}`]);
        await below.write([[`d${i}`, 'below']], []);
        await above.write([[`d${i}`, 'above']], []);
        writes++;
        lastWrite = revision;
      }
    })();

    const seen = new Map<string, string>();
    let pages = 0;
    let revisionSeen = 0;
    let totalSeen = 0;
    const res = await store.readAllKvs(300, async (page, revision, total) => {
      pages++;
      revisionSeen = revision;
      totalSeen = total;
      for (let i = 0; i < page.size; i++) {
        const k = page.key(i).toString('latin1');
        assert.ok(!seen.has(k), `${k} handed out twice`);
        seen.set(k, page.value(i).toString('latin1'));
      }
      // A slow consumer: the writers get ahead of the read revision.
      await new Promise((r) => setTimeout(r, 2));
    });
    writing = false;
    await writer;
    t.diagnostic(`${res.keys} keys in ${pages} pages at revision ${res.revision}; ${writes} writes meanwhile, the last at revision ${lastWrite}`);

    assert.equal(revisionSeen, res.revision);
    assert.ok(lastWrite > res.revision, 'writes landed after the read revision while it read');
    const want = await prefixAt(store, res.revision);
    assert.equal(totalSeen, want.size);
    assert.equal(res.keys, want.size);
    assert.equal(seen.size, want.size);
    for (const [k, v] of want) assert.equal(seen.get(k), v, `${k}`);
    assert.ok(pages > 40, `${pages} pages: the read was split`);
  });

  test('a compaction that overtakes the read rejects it, never a mix of revisions', async () => {
    const store = storeFor('/t-compact-read/');
    await store.write(mixedPairs(3_000), []);
    let compacted = false;
    let pagesAfter = 0;
    await assert.rejects(
      store.readAllKvs(100, async (_page, revision) => {
        if (compacted) {
          pagesAfter++;
          return;
        }
        compacted = true;
        const { revision: now } = await store.write([exact('after-read-started', 1)], []);
        assert.ok(now > revision);
        await store.client.kv.compact({ revision: now, physical: true });
      }),
      /required revision has been compacted/,
    );
    assert.ok(compacted);
    // Only the answers already on their way when etcd compacted (at most the ones in flight) are handed out.
    assert.ok(pagesAfter <= 3, `${pagesAfter} pages after the compaction`);
  });
});
