/**
 * etcd-range-codec.ts against the reference: protobufjs with etcd's rpc.proto, loaded
 * the way etcd3 loads it (the path full reads took before). A request we encode is the
 * message protobufjs reads; a response protobufjs encodes (any keys, values, empty
 * values, a cluster id above 2^53, unknown fields) decodes to the same pairs, header and
 * flags; bytes cut short or mangled throw, never a short page.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { decodeRangeResponse, encodeRangeRequest } from '../../src/sources/etcd-range-codec.js';

// etcd3's own protobuf loader (a dependency of etcd3), as etcd3 configures it.
const requireFromEtcd3 = createRequire(createRequire(import.meta.url).resolve('etcd3'));
const { loadSync } = requireFromEtcd3('@grpc/proto-loader') as typeof import('@grpc/proto-loader');
const protoPath = requireFromEtcd3.resolve('../proto/rpc.proto');
const definition = loadSync(protoPath, { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
const range = (definition['etcdserverpb.KV'] as unknown as Record<string, { requestDeserialize: (b: Buffer) => Record<string, unknown>; responseSerialize: (v: unknown) => Buffer }>)['Range']!;

const bytes = (max: number) => fc.uint8Array({ minLength: 0, maxLength: max }).map((a) => Buffer.from(a));
const uint64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
const revision = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });

describe('etcd range codec', () => {
  it('a request is the RangeRequest protobufjs reads', () => {
    fc.assert(
      fc.property(bytes(300), bytes(300), fc.nat({ max: 2_000_000_000 }), revision, (key, rangeEnd, limit, rev) => {
        const decoded = range.requestDeserialize(encodeRangeRequest({ key, rangeEnd, limit, revision: rev }));
        assert.deepEqual(Buffer.from(decoded['key'] as Uint8Array), key);
        assert.deepEqual(Buffer.from(decoded['range_end'] as Uint8Array), rangeEnd);
        assert.equal(decoded['limit'], String(limit));
        assert.equal(decoded['revision'], String(rev));
        assert.equal(decoded['count_only'], false);
        assert.equal(decoded['keys_only'], false);
      }),
    );
  });

  it('a response decodes to the pairs, header and flags protobufjs encoded', () => {
    const kv = fc.record({ key: bytes(80).filter((k) => k.length > 0), value: bytes(200), create_revision: revision, mod_revision: revision, version: revision, lease: revision });
    fc.assert(
      fc.property(fc.array(kv, { maxLength: 40 }), uint64, uint64, revision, fc.boolean(), revision, (kvs, clusterId, memberId, rev, more, count) => {
        const buf = range.responseSerialize({
          header: { cluster_id: clusterId.toString(), member_id: memberId.toString(), revision: String(rev), raft_term: '7' },
          kvs: kvs.map((p) => ({ ...p, create_revision: String(p.create_revision), mod_revision: String(p.mod_revision), version: String(p.version), lease: String(p.lease) })),
          more,
          count: String(count),
        });
        const page = decodeRangeResponse(buf);
        assert.equal(page.size, kvs.length);
        assert.equal(page.clusterId, clusterId.toString());
        assert.equal(page.revision, rev);
        assert.equal(page.more, more);
        assert.equal(page.count, count);
        kvs.forEach((p, i) => {
          assert.deepEqual(page.key(i), p.key);
          assert.deepEqual(page.value(i), p.value);
        });
      }),
    );
  });

  it('fields it does not know, in the response and in a pair, are skipped by their wire type', () => {
    const known = range.responseSerialize({ header: { cluster_id: '5', revision: '9' }, kvs: [{ key: Buffer.from('k'), value: Buffer.from('v') }], count: '1' });
    // Field 15 varint, field 16 length-delimited, field 17 fixed64, field 18 fixed32, after the known ones;
    // and a pair with a field 9 (bytes) before its key.
    const unknown = Buffer.from([0x78, 0x96, 0x01, 0x82, 0x01, 0x03, 0x61, 0x62, 0x63, 0x89, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, 0x95, 0x01, 1, 2, 3, 4]);
    const pair = Buffer.from([0x4a, 0x02, 0x78, 0x79, 0x0a, 0x02, 0x6b, 0x32, 0x2a, 0x02, 0x76, 0x32]);
    const page = decodeRangeResponse(Buffer.concat([known, unknown, Buffer.from([0x12, pair.length]), pair]));
    assert.equal(page.size, 2);
    assert.equal(page.revision, 9);
    assert.equal(page.clusterId, '5');
    assert.equal(page.count, 1);
    assert.equal(page.key(1).toString(), 'k2');
    assert.equal(page.value(1).toString(), 'v2');
  });

  it('bytes cut short or mangled throw, or lose whole fields at the end (gRPC frames never cut a message)', () => {
    const full = range.responseSerialize({
      header: { cluster_id: '1', revision: '3' },
      kvs: Array.from({ length: 5 }, (_, i) => ({ key: Buffer.from(`/p/key-${i}`), value: Buffer.from(`{"v":${i}}`) })),
      count: '5',
    });
    assert.equal(decodeRangeResponse(full).size, 5);
    let threw = 0;
    for (let cut = 1; cut < full.length; cut++) {
      let page;
      try {
        page = decodeRangeResponse(full.subarray(0, cut));
      } catch (err) {
        assert.match((err as Error).message, /^etcd range response: /);
        threw++;
        continue;
      }
      // A cut that falls between two whole fields is a well-formed shorter message: it has
      // lost whole fields at the end (pairs, the count), never made a pair up or cut one.
      assert.ok(page.size < 5 || page.count !== 5, `cut at ${cut}: ${page.size} pairs, count ${page.count}`);
      for (let i = 0; i < page.size; i++) assert.equal(page.key(i).toString(), `/p/key-${i}`);
    }
    assert.ok(threw > full.length / 2, `${threw} of ${full.length - 1} cuts threw`);
    assert.throws(() => decodeRangeResponse(Buffer.from([0x12, 0x02, 0x2a, 0x00])), /a key\/value without a key/);
    assert.throws(() => decodeRangeResponse(Buffer.from([0x0b])), /wire type 3/);
    assert.throws(() => decodeRangeResponse(Buffer.from([0x20, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])), /longer than 10 bytes/);
  });
});
