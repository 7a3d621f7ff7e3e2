/**
 * etcd's Range call on the wire (etcdserverpb.RangeRequest / RangeResponse, rpc.proto
 * of etcd 3.4–3.6), encoded and decoded here rather than by etcd3's protobufjs path.
 *
 * Why by hand: a full load of a million keys spent 5.3 s of the primary's CPU in
 * protobufjs (an object per key/value, four int64 fields each turned into a decimal
 * string, `defaults: true`), more than etcd took to serve them (docs/benchmarks.md,
 * 2026-12-02). The loader needs none of that: it checks each value where it lies. So a
 * response is decoded into one Int32Array of offsets into the message's own bytes (key
 * start/end, value start/end per pair), no object and no copy per pair: ~0.1 µs a pair.
 *
 * Only what the loader reads is decoded (header cluster_id and revision; kvs' key and
 * value; more; count); every other field, known or not, is skipped by its wire type,
 * so a newer etcd that adds fields still decodes. A message that is not a well-formed
 * RangeResponse throws. (gRPC frames each message with its length, so a message is never
 * cut short on the way; and a page with fewer pairs than its count says is asked for
 * again from its last key, key-windows.ts.)
 */

/** One RangeRequest: `[key, rangeEnd)`, at most `limit` pairs, at `revision` (0: the latest). */
export interface RangeRequestFields {
  readonly key: Buffer;
  readonly rangeEnd: Buffer;
  readonly limit: number;
  readonly revision: number;
}

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_BYTES = 2;
const WIRE_FIXED32 = 5;

/** RangeRequest fields (rpc.proto). */
const REQ_KEY = 1;
const REQ_RANGE_END = 2;
const REQ_LIMIT = 3;
const REQ_REVISION = 4;

export function encodeRangeRequest(req: RangeRequestFields): Buffer {
  const out = Buffer.allocUnsafe(req.key.length + req.rangeEnd.length + 40);
  let n = 0;
  const varint = (v: number): void => {
    while (v >= 0x80) {
      out[n++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    out[n++] = v;
  };
  const bytes = (field: number, b: Buffer): void => {
    out[n++] = (field << 3) | WIRE_BYTES;
    varint(b.length);
    n += b.copy(out, n);
  };
  bytes(REQ_KEY, req.key);
  bytes(REQ_RANGE_END, req.rangeEnd);
  if (req.limit > 0) {
    out[n++] = (REQ_LIMIT << 3) | WIRE_VARINT;
    varint(req.limit);
  }
  if (req.revision > 0) {
    out[n++] = (REQ_REVISION << 3) | WIRE_VARINT;
    varint(req.revision);
  }
  return out.subarray(0, n);
}

/** Pairs of one RangeResponse, as offsets into its bytes. */
export class RangePage {
  /** The message's bytes: every key and value lies in it. */
  readonly buf: Buffer;
  /** Per pair i: key start, key end, value start, value end at [4i … 4i+3]. */
  readonly offsets: Int32Array;
  /** How many pairs. */
  readonly size: number;
  /** The store's revision when etcd answered (header.revision). */
  readonly revision: number;
  /** header.cluster_id, in decimal (as etcd3 gives it). */
  readonly clusterId: string;
  /** Whether the range holds more pairs than this page (the limit cut it). */
  readonly more: boolean;
  /** How many keys the whole requested range holds at that revision. */
  readonly count: number;

  constructor(buf: Buffer, offsets: Int32Array, size: number, revision: number, clusterId: string, more: boolean, count: number) {
    this.buf = buf;
    this.offsets = offsets;
    this.size = size;
    this.revision = revision;
    this.clusterId = clusterId;
    this.more = more;
    this.count = count;
  }

  /** Pair i's key (a view of `buf`, not a copy). */
  key(i: number): Buffer {
    return this.buf.subarray(this.offsets[4 * i]!, this.offsets[4 * i + 1]!);
  }

  /** Pair i's value (a view of `buf`, not a copy). */
  value(i: number): Buffer {
    return this.buf.subarray(this.offsets[4 * i + 2]!, this.offsets[4 * i + 3]!);
  }
}

/** RangeResponse fields (rpc.proto). */
const RES_HEADER = 1;
const RES_KVS = 2;
const RES_MORE = 3;
const RES_COUNT = 4;
/** Tags (field number and wire type) of the fields read inside a header and a key/value. */
const TAG_CLUSTER_ID = (1 << 3) | WIRE_VARINT;
const TAG_REVISION = (3 << 3) | WIRE_VARINT;
const TAG_KV_KEY = (1 << 3) | WIRE_BYTES;
const TAG_KV_VALUE = (5 << 3) | WIRE_BYTES;

/** A reading position in a message; `fail` names what is wrong. */
class Reader {
  pos: number;
  readonly buf: Buffer;

  constructor(buf: Buffer, pos: number) {
    this.buf = buf;
    this.pos = pos;
  }

  /** A varint as a Number (exact up to 2^53, which revisions and counts stay below). */
  varint(): number {
    const b = this.buf;
    let v = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= b.length) fail('a varint runs past the end');
      const c = b[this.pos++]!;
      v += (c & 0x7f) * scale;
      if (c < 0x80) return v;
      scale *= 0x80;
    }
    return fail('a varint is longer than 10 bytes');
  }

  /** A varint as a decimal string, exact over the whole uint64 range. */
  varintText(): string {
    const b = this.buf;
    let v = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= b.length) fail('a varint runs past the end');
      const c = b[this.pos++]!;
      v |= BigInt(c & 0x7f) << shift;
      if (c < 0x80) return BigInt.asUintN(64, v).toString();
      shift += 7n;
    }
    return fail('a varint is longer than 10 bytes');
  }

  /** A length-delimited field's end; the reader stands at its start. */
  lengthEnd(limit: number): number {
    const len = this.varint();
    const end = this.pos + len;
    if (end > limit) fail('a field runs past the end of its message');
    return end;
  }

  skip(wire: number, limit: number): void {
    if (wire === WIRE_VARINT) this.varint();
    else if (wire === WIRE_BYTES) this.pos = this.lengthEnd(limit);
    else if (wire === WIRE_FIXED64) this.pos += 8;
    else if (wire === WIRE_FIXED32) this.pos += 4;
    else fail(`wire type ${wire} is not one etcd sends`);
    if (this.pos > limit) fail('a field runs past the end of its message');
  }
}

function fail(why: string): never {
  throw new Error(`etcd range response: ${why}`);
}

export function decodeRangeResponse(buf: Buffer): RangePage {
  const r = new Reader(buf, 0);
  let offsets = new Int32Array(256);
  let size = 0;
  let revision = 0;
  let clusterId = '0';
  let more = false;
  let count = 0;
  while (r.pos < buf.length) {
    const tag = r.varint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (field === RES_KVS && wire === WIRE_BYTES) {
      const end = r.lengthEnd(buf.length);
      if (4 * size + 4 > offsets.length) {
        const grown = new Int32Array(offsets.length * 2);
        grown.set(offsets);
        offsets = grown;
      }
      readKeyValue(r, end, offsets, 4 * size);
      size++;
    } else if (field === RES_HEADER && wire === WIRE_BYTES) {
      const end = r.lengthEnd(buf.length);
      while (r.pos < end) {
        const t = r.varint();
        if (t === TAG_CLUSTER_ID) clusterId = r.varintText();
        else if (t === TAG_REVISION) revision = r.varint();
        else r.skip(t & 7, end);
      }
      if (r.pos !== end) fail('the header overruns its length');
    } else if (field === RES_MORE && wire === WIRE_VARINT) {
      more = r.varint() !== 0;
    } else if (field === RES_COUNT && wire === WIRE_VARINT) {
      count = r.varint();
    } else {
      r.skip(wire, buf.length);
    }
  }
  return new RangePage(buf, offsets, size, revision, clusterId, more, count);
}

/** One KeyValue message in [r.pos, end): its key's and value's offsets into `at`…`at+3`. */
function readKeyValue(r: Reader, end: number, offsets: Int32Array, at: number): void {
  let ks = -1;
  let ke = -1;
  let vs = r.pos;
  let ve = r.pos; // an empty value is not sent at all
  while (r.pos < end) {
    const t = r.varint();
    if (t === TAG_KV_KEY) {
      ke = r.lengthEnd(end);
      ks = r.pos;
      r.pos = ke;
    } else if (t === TAG_KV_VALUE) {
      ve = r.lengthEnd(end);
      vs = r.pos;
      r.pos = ve;
    } else {
      r.skip(t & 7, end);
    }
  }
  if (r.pos !== end) fail('a key/value overruns its length');
  if (ks < 0) fail('a key/value without a key');
  offsets[at] = ks;
  offsets[at + 1] = ke;
  offsets[at + 2] = vs;
  offsets[at + 3] = ve;
}
