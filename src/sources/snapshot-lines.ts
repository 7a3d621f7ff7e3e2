/**
 * The snapshot's entry lines of a packed rule set, written from the records' bytes:
 * `["prefix/<key>",{"clientIdPrefix":"<key>","openclawGateway":"<url>"}]` (or `exact/`,
 * `clientId`; a pool's member list as it is stored, which is its JSON) byte for byte what
 * `JSON.stringify([ruleKey(rule), rule])` gives, without an object or a string per rule.
 * A target whose bytes JSON would escape (a quote, a backslash, a control character) is
 * serialised by JSON.stringify instead; the default route goes last.
 */
import type { PackedRules } from '../routing/packed-rules.js';
import type { DefaultRouteConfig, RouteRuleConfig } from '../config/route-schema.js';
import { DEFAULT_KEY, ruleKey } from './route-key.js';
import type { SnapshotChunk } from './route-snapshot.js';

/** Bytes of lines per chunk (a chunk may run over by one line). */
const CHUNK_BYTES = 256 * 1024;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const POOL = 0x5b;

const EXACT_OPEN = Buffer.from('["exact/');
const PREFIX_OPEN = Buffer.from('["prefix/');
const EXACT_FIELD = Buffer.from('",{"clientId":"');
const PREFIX_FIELD = Buffer.from('",{"clientIdPrefix":"');
const URL_FIELD = Buffer.from('","openclawGateway":"');
const POOL_FIELD = Buffer.from('","openclawGateways":');
const URL_CLOSE = Buffer.from('"}]\n');
const POOL_CLOSE = Buffer.from('}]\n');

/** Whether JSON.stringify would write the bytes [start, end) of a URL as they are. */
function plainJson(b: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const c = b[i]!;
    if (c < 0x20 || c === QUOTE || c === BACKSLASH) return false;
  }
  return true;
}

export function* packedSnapshotChunks(rules: PackedRules): IterableIterator<SnapshotChunk> {
  const spans = new Int32Array(5);
  let out: Buffer = Buffer.allocUnsafe(CHUNK_BYTES * 2);
  let n = 0;
  let entries = 0;
  const put = (b: Buffer, start = 0, end = b.length): void => {
    n += b.copy(out, n, start, end);
  };
  for (const buf of rules.spans(spans)) {
    const exact = spans[0] === 1;
    const [, ks, ke, ss, se] = spans as unknown as [number, number, number, number, number];
    const pool = buf[ss] === POOL;
    const room = 64 + 2 * (ke - ks) + (se - ss);
    if (n + room > out.length) out = grow(out, n, room);
    if (!pool && !plainJson(buf, ss, se)) {
      const key = buf.toString('latin1', ks, ke);
      const url = buf.toString('utf8', ss, se);
      const rule = (exact ? { clientId: key, openclawGateway: url } : { clientIdPrefix: key, openclawGateway: url }) as RouteRuleConfig;
      const line = Buffer.from(JSON.stringify([ruleKey(rule), rule]) + '\n');
      if (n + line.length > out.length) out = grow(out, n, line.length);
      put(line);
    } else {
      put(exact ? EXACT_OPEN : PREFIX_OPEN);
      put(buf, ks, ke);
      put(exact ? EXACT_FIELD : PREFIX_FIELD);
      put(buf, ks, ke);
      put(pool ? POOL_FIELD : URL_FIELD);
      put(buf, ss, se);
      put(pool ? POOL_CLOSE : URL_CLOSE);
    }
    entries++;
    if (n >= CHUNK_BYTES) {
      yield { text: out.subarray(0, n), entries };
      // The write holds the chunk until it is done: the next one goes into a new buffer.
      out = Buffer.allocUnsafe(CHUNK_BYTES * 2);
      n = 0;
      entries = 0;
    }
  }
  const d = rules.defaultRoute;
  if (d !== undefined) {
    const line = Buffer.from(JSON.stringify([DEFAULT_KEY, d as DefaultRouteConfig]) + '\n');
    if (n + line.length > out.length) out = grow(out, n, line.length);
    put(line);
    entries++;
  }
  if (entries > 0) yield { text: out.subarray(0, n), entries };
}

function grow(out: Buffer, used: number, more: number): Buffer {
  const next = Buffer.allocUnsafe(Math.max(out.length * 2, used + more));
  out.copy(next, 0, 0, used);
  return next;
}
