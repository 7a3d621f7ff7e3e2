/**
 * A rule set packed into bytes: what every process keeps of a million rules (the
 * primary, the etcd source, and a worker's table, packed-route-table.ts, which looks
 * rules up in place), and what travels to the workers (`image`, route-set-files.ts).
 * No object and no string per rule: one byte arena of records and one Int32Array
 * hash index.
 *
 * Record (the codec): [flags u8][key length u8][spec length u32 LE][key][spec]
 *   flags: bit 0 = exact rule (`clientId`), else a prefix rule; bit 7 = deleted.
 *   key:   the clientId or prefix (≤ 128 chars of [A-Za-z0-9._:@-], so one byte each);
 *   spec:  the target as UTF-8: the `openclawGateway` URL or template, or the JSON
 *          member list of `openclawGateways` (it starts with '[', a URL never does).
 * A seed-style rule (`client-123-` → `ws://oc-123.tenants.internal:18789/ws`) is
 * ~53 bytes, plus 8 bytes of index at the index's lowest load.
 *
 * The index (open addressing, linear probing, backward-shift deletion, load ≤ 0.5)
 * holds offset+1 of each live record; it is built on first keyed use (or taken from
 * an image). A deleted
 * record stays in the arena, marked, until the garbage outweighs the live bytes; then
 * the arena is rewritten (O(live)).
 *
 * `version` is the same digest a HashRouteTable with these rules shows (route-digest.ts).
 * Only rules that passed `routeRuleSchema` belong here: keys are not checked again.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { DefaultRoute, RouteKey, RouteRule } from './route-table.js';
import { RouteDigest } from './route-digest.js';
import { fmix32, FNV_OFFSET, FNV_PRIME, hashBoth, hashBothBytes } from './string-hash.js';

const EXACT = 1;
const DELETED = 0x80;
const HEADER = 6;
const MIN_BYTES = 4096;
const MIN_SLOTS = 16;
/** Bloom filter bits per index slot (at load ≤ 0.5: ≥ 16 bits a key, ~6% false positives). */
const FILTER_BITS = 8;
/** Garbage below this is never worth a rewrite. */
const COMPACT_MIN_GARBAGE = 1 << 20;
/** Records handled between two looks at the clock while a pack adopts its bytes in slices. */
const ADOPT_STEP = 4096;
/** Longest key (MAX_CLIENT_ID_LENGTH). */
const MAX_KEY = 128;
/** An image (`image`, `fromImage`): the header's size, its first bytes, where its prefix-length counts start. */
export const IMAGE_HEADER_BYTES = 1024;
const IMAGE_MAGIC = 'STXRULE1';
const IMAGE_LENGTHS_AT = 64;
/** The salt of an exact key's index hash (a prefix key's is 0). */
const EXACT_SALT = 0x2545f491;

export interface PackedRulesOptions {
  /** Bytes to reserve for records (a good guess spares the arena's doubling copies). */
  readonly bytes?: number | undefined;
  /** Rules expected: the index is sized for them at once. */
  readonly rules?: number | undefined;
}

/** One rule's target as the spec string the pack stores. */
export function targetSpec(route: DefaultRoute): string {
  if (route.openclawGateway !== undefined) return route.openclawGateway;
  if (route.openclawGateways !== undefined) return JSON.stringify(route.openclawGateways);
  throw new TypeError('a route needs exactly one of "openclawGateway" or "openclawGateways"');
}

/** The target fields a spec string stands for. */
export function specTarget(spec: string): { openclawGateway: string } | { openclawGateways: string[] } {
  return spec.startsWith('[') ? { openclawGateways: JSON.parse(spec) as string[] } : { openclawGateway: spec };
}

function ruleOf(exact: boolean, key: string, spec: string): RouteRule {
  return exact ? { clientId: key, ...specTarget(spec) } : { clientIdPrefix: key, ...specTarget(spec) };
}

function identity(r: RouteKey): { exact: boolean; key: string } {
  if ((r.clientId === undefined) === (r.clientIdPrefix === undefined)) {
    throw new TypeError('a route needs exactly one of "clientId" or "clientIdPrefix"');
  }
  return r.clientId !== undefined ? { exact: true, key: r.clientId } : { exact: false, key: r.clientIdPrefix! };
}

function keyHash(exact: boolean, key: string): number {
  let h = FNV_OFFSET;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), FNV_PRIME);
  return fmix32(h ^ (exact ? EXACT_SALT : 0));
}

/** Whether bytes [start, end) are all ASCII (then a char per byte, as in a JS string). */
function ascii(b: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (b[i]! >= 0x80) return false;
  return true;
}

/** Throws TypeError unless `bytes` are whole live records; returns how many. */
function checkRecords(bytes: Buffer): number {
  let n = 0;
  for (let at = 0; at < bytes.length; n++) {
    if (at + HEADER > bytes.length) throw new TypeError('a packed rule chunk ends inside a record header');
    const len = HEADER + bytes[at + 1]! + bytes.readUInt32LE(at + 2);
    if ((bytes[at]! & ~EXACT) !== 0 || bytes[at + 1]! > MAX_KEY || at + len > bytes.length) throw new TypeError('a packed rule chunk holds a malformed record');
    at += len;
  }
  return n;
}

export class PackedRules {
  #buf: Buffer;
  /** Bytes of records written (live and deleted). */
  #end = 0;
  #garbage = 0;
  #live = 0;
  #exact = 0;
  /** Live prefix rules per prefix length. */
  #prefixLengths = new Int32Array(MAX_KEY + 1);
  #index: Int32Array | undefined;
  /** A one-hash Bloom filter over the index's keys (FILTER_BITS bits per slot), and its shift. */
  #filter: Int32Array = new Int32Array(0);
  #filterShift = 32;
  /** Keys deleted since the filter was built (their bits stay set). */
  #stale = 0;
  readonly #sum = new RouteDigest();
  readonly #lanes = new Int32Array(2);
  #default: string | undefined;
  /** Rules `add` skipped because an earlier rule had the same key. */
  duplicates = 0;

  constructor(opts: PackedRulesOptions = {}) {
    this.#buf = Buffer.allocUnsafeSlow(Math.max(MIN_BYTES, Math.ceil(opts.bytes ?? 0)));
    if (opts.rules !== undefined) this.#rebuildIndex(opts.rules);
  }

  /** A pack of `rules` (first wins per key) and the default route. */
  static from(rules: Iterable<RouteRule>, defaultRoute?: DefaultRoute): PackedRules {
    const pack = new PackedRules();
    for (const r of rules) pack.add(r);
    pack.setDefault(defaultRoute);
    return pack;
  }

  /**
   * A pack that takes `records` (whole live records in the wire form of `chunks`, e.g.
   * a file a primary wrote, keys unique) as its arena without copying them: counts,
   * version and index come from one pass over the bytes each, no string per rule for
   * ASCII records. Throws TypeError when the bytes are not whole records.
   */
  static adopt(records: Buffer, defaultRoute?: DefaultRoute): PackedRules {
    const pack = PackedRules.#adopting(records, defaultRoute);
    for (const _ of pack.#adoptSteps());
    return pack;
  }

  /** As `adopt`, yielding to the event loop every `sliceMs` (a worker that serves while it loads). */
  static async adoptSliced(records: Buffer, defaultRoute: DefaultRoute | undefined, sliceMs = 8): Promise<PackedRules> {
    const pack = PackedRules.#adopting(records, defaultRoute);
    let deadline = performance.now() + sliceMs;
    for (const _ of pack.#adoptSteps()) {
      if (performance.now() < deadline) continue;
      await nextTurn();
      deadline = performance.now() + sliceMs;
    }
    return pack;
  }

  static #adopting(records: Buffer, defaultRoute: DefaultRoute | undefined): PackedRules {
    checkRecords(records);
    const pack = new PackedRules({ bytes: 0 });
    pack.#buf = records;
    pack.#end = records.length;
    pack.setDefault(defaultRoute);
    return pack;
  }

  /** Counts and digests every record, then builds the index; yields every ADOPT_STEP records. */
  *#adoptSteps(): Generator<void> {
    let n = 0;
    for (let at = 0; at < this.#end; at += this.#recordLength(at)) {
      this.#countAt(at, 1);
      if (++n % ADOPT_STEP === 0) yield;
    }
    let slots = MIN_SLOTS;
    while (slots < this.#live * 2) slots *= 2;
    this.#newIndex(slots);
    n = 0;
    for (let at = 0; at < this.#end; at += this.#recordLength(at)) {
      this.#place(at);
      if (++n % ADOPT_STEP === 0) yield;
    }
  }

  /**
   * The offset of the live record whose key is `text`'s first `length` chars, of the
   * exact kind or not, given the FNV-1a state `fnv` of those chars (the route table
   * hashes a clientId once for all its prefixes); -1 when there is none.
   */
  find(exact: boolean, fnv: number, text: string, length: number): number {
    const index = this.#ensureIndex();
    const h = fmix32(fnv ^ (exact ? EXACT_SALT : 0));
    if (!this.#mayHold(h)) return -1;
    const buf = this.#buf;
    const flag = exact ? EXACT : 0;
    const mask = index.length - 1;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const v = index[i]!;
      if (v === 0) return -1;
      const at = v - 1;
      if (buf[at] !== flag || buf[at + 1] !== length) continue;
      const k = at + HEADER;
      let j = 0;
      while (j < length && buf[k + j] === text.charCodeAt(j)) j++;
      if (j === length) return at;
    }
  }

  /** The key of the record at `at` (an offset `find` returned). */
  keyAt(at: number): string {
    return this.#buf.toString('latin1', at + HEADER, at + HEADER + this.#buf[at + 1]!);
  }

  /** The target spec of the record at `at`. */
  specAt(at: number): string {
    return this.#spec(at);
  }

  /** Adds to counts[L] the live prefix rules whose prefix has L chars. */
  countPrefixLengths(counts: Int32Array): void {
    for (let l = 0; l <= MAX_KEY; l++) counts[l]! += this.#prefixLengths[l]!;
  }

  /**
   * The pack as another process takes it (`fromImage`): a header (IMAGE_HEADER_BYTES:
   * counts, the rules' digest, the prefix lengths), the index, its filter and the records, so that
   * the other process neither hashes nor indexes a rule. Little-endian, the host's order:
   * an image is written and read on one machine. A pack with deleted records is imaged
   * from a clean copy.
   */
  image(): { header: Buffer; index: Int32Array; filter: Int32Array; records: Buffer } {
    if (this.#garbage > 0) return this.clone().image();
    const index = this.#ensureIndex();
    const header = Buffer.alloc(IMAGE_HEADER_BYTES);
    header.write(IMAGE_MAGIC, 0, 'latin1');
    const rules = new RouteDigest();
    rules.a = this.#sum.a;
    rules.b = this.#sum.b;
    if (this.#default !== undefined) rules.applySpec('default', '', this.#default, -1);
    const fields = [this.#end, index.length, this.#live, this.#exact, rules.a, rules.b];
    fields.forEach((v, i) => header.writeInt32LE(v | 0, 8 + 4 * i));
    for (let l = 0; l <= MAX_KEY; l++) header.writeInt32LE(this.#prefixLengths[l]!, IMAGE_LENGTHS_AT + 4 * l);
    return { header, index, filter: this.#filter, records: this.#buf.subarray(0, this.#end) };
  }

  /** The sizes of the index (slots) and of the records (bytes) an image header announces; TypeError for a header that is not one. */
  static imageSizes(header: Buffer): { slots: number; filterBytes: number; recordBytes: number } {
    if (header.length < IMAGE_HEADER_BYTES || header.toString('latin1', 0, IMAGE_MAGIC.length) !== IMAGE_MAGIC) {
      throw new TypeError('not a packed rule image (bad header)');
    }
    const slots = header.readInt32LE(12);
    if (slots < MIN_SLOTS || (slots & (slots - 1)) !== 0) throw new TypeError('a packed rule image with a malformed index size');
    return { slots, filterBytes: (slots * FILTER_BITS) >>> 3, recordBytes: header.readInt32LE(8) };
  }

  /**
   * The pack an `image` stands for. `records` holds the image's records from offset 0,
   * and may be longer: the rest is room to grow (for puts) without a copy. Checks that
   * the records are whole and as many as the header says (TypeError if not); the index
   * and the digest are taken as written.
   */
  static fromImage(header: Buffer, index: Int32Array, filter: Int32Array, records: Buffer, defaultRoute?: DefaultRoute): PackedRules {
    const { slots, recordBytes } = PackedRules.imageSizes(header);
    if (index.length !== slots || filter.length !== (slots * FILTER_BITS) >>> 5 || records.length < recordBytes) throw new TypeError('a packed rule image shorter than its header says');
    const live = header.readInt32LE(16);
    if (checkRecords(records.subarray(0, recordBytes)) !== live || live * 2 > slots) throw new TypeError('a packed rule image whose records do not match its header');
    const pack = new PackedRules({ bytes: 0 });
    pack.#buf = records;
    pack.#end = recordBytes;
    // The image's own index and filter: no empty ones of that size made first (10 MB at a million rules).
    pack.#useIndex(index, filter);
    pack.#live = live;
    pack.#exact = header.readInt32LE(20);
    pack.#sum.a = header.readInt32LE(24);
    pack.#sum.b = header.readInt32LE(28);
    for (let l = 0; l <= MAX_KEY; l++) pack.#prefixLengths[l] = header.readInt32LE(IMAGE_LENGTHS_AT + 4 * l);
    pack.setDefault(defaultRoute);
    return pack;
  }

  /** Rules, the default route excluded. */
  get size(): number {
    return this.#live;
  }

  get exactCount(): number {
    return this.#exact;
  }

  /** Bytes the pack holds (arena and index), for logs and benchmarks. */
  get byteLength(): number {
    return this.#buf.length + (this.#index?.byteLength ?? 0) + this.#filter.byteLength;
  }

  /** The digest of the rules and the default route (equal to HashRouteTable's for the same rules). */
  get version(): string {
    return this.#sum.version;
  }

  get defaultRoute(): DefaultRoute | undefined {
    return this.#default === undefined ? undefined : specTarget(this.#default);
  }

  setDefault(route: DefaultRoute | undefined): void {
    if (this.#default !== undefined) this.#sum.applySpec('default', '', this.#default, -1);
    this.#default = route === undefined ? undefined : targetSpec(route);
    if (this.#default !== undefined) this.#sum.applySpec('default', '', this.#default, 1);
  }

  /** Adds a rule unless one with its key exists (first wins, as in a config file); false for such a duplicate. */
  add(rule: RouteRule): boolean {
    const { exact, key } = identity(rule);
    const h = keyHash(exact, key);
    if (this.#find(h, exact, key) >= 0) {
      this.duplicates++;
      return false;
    }
    this.#insert(h, exact, key, targetSpec(rule));
    return true;
  }

  /**
   * As `add`, for a rule whose key and target spec are the bytes [keyStart, keyEnd) and
   * [specStart, specEnd) of `src` (ASCII, validated by the caller): copied in, no string made.
   */
  addBytes(exact: boolean, src: Buffer, keyStart: number, keyEnd: number, specStart: number, specEnd: number): boolean {
    const keyLen = keyEnd - keyStart;
    let fnv = FNV_OFFSET;
    for (let i = keyStart; i < keyEnd; i++) fnv = Math.imul(fnv ^ src[i]!, FNV_PRIME);
    const h = fmix32(fnv ^ (exact ? EXACT_SALT : 0));
    this.#makeRoom();
    if (this.#findBytes(h, exact, src, keyStart, keyLen) >= 0) {
      this.duplicates++;
      return false;
    }
    const specLen = specEnd - specStart;
    this.#reserve(HEADER + keyLen + specLen);
    const buf = this.#buf;
    const at = this.#end;
    buf[at] = exact ? EXACT : 0;
    buf[at + 1] = keyLen;
    buf.writeUInt32LE(specLen, at + 2);
    // Short spans: a loop is cheaper than Buffer#copy's call.
    let o = at + HEADER;
    for (let i = keyStart; i < keyEnd; i++) buf[o++] = src[i]!;
    for (let i = specStart; i < specEnd; i++) buf[o++] = src[i]!;
    this.#end = at + HEADER + keyLen + specLen;
    this.#countAt(at, 1);
    this.#slot(h, at);
    return true;
  }

  /** Adds or replaces a rule (last write wins, as an etcd put); returns the rule it replaced. */
  put(rule: RouteRule): RouteRule | undefined {
    const { exact, key } = identity(rule);
    const h = keyHash(exact, key);
    const at = this.#find(h, exact, key);
    let previous: RouteRule | undefined;
    if (at >= 0) {
      const spec = this.#spec(this.#index![at]! - 1);
      const next = targetSpec(rule);
      if (spec === next) return ruleOf(exact, key, spec);
      previous = ruleOf(exact, key, spec);
      this.#remove(at, exact, key, spec);
    }
    this.#insert(h, exact, key, targetSpec(rule));
    this.#maybeCompact();
    return previous;
  }

  /** Removes the rule under a key; returns it (undefined when there was none). */
  delete(routeKey: RouteKey): RouteRule | undefined {
    const { exact, key } = identity(routeKey);
    const at = this.#find(keyHash(exact, key), exact, key);
    if (at < 0) return undefined;
    const spec = this.#spec(this.#index![at]! - 1);
    this.#remove(at, exact, key, spec);
    this.#maybeCompact();
    return ruleOf(exact, key, spec);
  }

  /** The rule stored under a key. */
  get(routeKey: RouteKey): RouteRule | undefined {
    const { exact, key } = identity(routeKey);
    const at = this.#find(keyHash(exact, key), exact, key);
    return at < 0 ? undefined : ruleOf(exact, key, this.#spec(this.#index![at]! - 1));
  }

  /** Every rule, in the order they were written (a replaced rule moves to the end). */
  *rules(): IterableIterator<RouteRule> {
    const buf = this.#buf;
    for (let at = 0; at < this.#end; ) {
      const flags = buf[at]!;
      const keyLen = buf[at + 1]!;
      const specLen = buf.readUInt32LE(at + 2);
      if ((flags & DELETED) === 0) {
        const k = at + HEADER;
        yield ruleOf((flags & EXACT) !== 0, buf.toString('latin1', k, k + keyLen), buf.toString('utf8', k + keyLen, k + keyLen + specLen));
      }
      at += HEADER + keyLen + specLen;
    }
  }

  /**
   * The target of every rule (no key decoded) whose spec's bytes [start, end) of `bytes`
   * pass `mayMatch` (default: every rule), e.g. to look for loopback upstreams: a cheap
   * test on the bytes spares a string and an object for each rule it turns down.
   */
  *targets(mayMatch?: (bytes: Buffer, start: number, end: number) => boolean): IterableIterator<DefaultRoute> {
    const buf = this.#buf;
    for (let at = 0; at < this.#end; ) {
      const keyLen = buf[at + 1]!;
      const specLen = buf.readUInt32LE(at + 2);
      const s = at + HEADER + keyLen;
      if ((buf[at]! & DELETED) === 0 && (mayMatch === undefined || mayMatch(buf, s, s + specLen))) yield specTarget(buf.toString('utf8', s, s + specLen));
      at = s + specLen;
    }
  }

  /**
   * Every live rule in place, for a caller that reads its bytes without a string (a
   * snapshot written straight from the records): yields the arena once per rule with
   * `spans` set to [exact (1) or prefix (0), key start, key end, target spec start, spec
   * end] in it. Read before the pack changes.
   */
  *spans(spans: Int32Array): IterableIterator<Buffer> {
    const buf = this.#buf;
    for (let at = 0; at < this.#end; ) {
      const flags = buf[at]!;
      const k = at + HEADER;
      const s = k + buf[at + 1]!;
      const e = s + buf.readUInt32LE(at + 2);
      if ((flags & DELETED) === 0) {
        spans[0] = flags & EXACT;
        spans[1] = k;
        spans[2] = s;
        spans[3] = s;
        spans[4] = e;
        yield buf;
      }
      at = e;
    }
  }

  /**
   * The live records in chunks of at most about `maxBytes` (a record is never split):
   * the wire form of a set (`adopt` takes them joined). Each chunk is a view
   * of the arena, not a copy (sending a million rules to 16 workers allocates nothing
   * per chunk); use it before the pack changes again.
   */
  *chunks(maxBytes: number): IterableIterator<Buffer> {
    const buf = this.#buf;
    const end = this.#end;
    let from = -1;
    for (let at = 0; at < end; ) {
      const len = HEADER + buf[at + 1]! + buf.readUInt32LE(at + 2);
      if ((buf[at]! & DELETED) !== 0) {
        if (from !== -1) yield buf.subarray(from, at);
        from = -1;
      } else if (from === -1) {
        from = at;
      } else if (at + len - from > maxBytes) {
        yield buf.subarray(from, at);
        from = at;
      }
      at += len;
    }
    if (from !== -1) yield buf.subarray(from, end);
  }

  /** A copy that changes independently (the arena without garbage, with its own index). */
  clone(): PackedRules {
    let copy: PackedRules;
    if (this.#garbage === 0) {
      // Offsets stay valid: copy the arena and the index as they are, hash nothing.
      const { header, index, filter, records } = this.image();
      copy = PackedRules.fromImage(header, Int32Array.from(index), Int32Array.from(filter), Buffer.from(records), this.defaultRoute);
    } else {
      copy = PackedRules.adopt(this.copyRecords(), this.defaultRoute);
    }
    copy.duplicates = this.duplicates;
    return copy;
  }

  /** The live records, copied into one buffer of their own (what `adopt` takes). */
  copyRecords(): Buffer {
    const records = Buffer.allocUnsafeSlow(this.#end - this.#garbage);
    let n = 0;
    for (const chunk of this.chunks(1 << 20)) n += chunk.copy(records, n);
    return records;
  }

  /** Bytes of live records (what `chunks` yields in all). */
  get recordBytes(): number {
    return this.#end - this.#garbage;
  }

  /** Gives back the arena's unused reserve (after a load whose size was guessed). */
  trim(): void {
    if (this.#buf.length - this.#end <= Math.max(MIN_BYTES, this.#end >>> 4)) return;
    const next = Buffer.allocUnsafeSlow(Math.max(MIN_BYTES, this.#end));
    this.#buf.copy(next, 0, 0, this.#end);
    this.#buf = next;
  }

  // --- records --------------------------------------------------------------------

  #insert(h: number, exact: boolean, key: string, spec: string): void {
    const specLen = Buffer.byteLength(spec, 'utf8');
    this.#makeRoom();
    this.#reserve(HEADER + key.length + specLen);
    const buf = this.#buf;
    const at = this.#end;
    buf[at] = exact ? EXACT : 0;
    buf[at + 1] = key.length;
    buf.writeUInt32LE(specLen, at + 2);
    buf.write(key, at + HEADER, 'latin1');
    buf.write(spec, at + HEADER + key.length, 'utf8');
    this.#end = at + HEADER + key.length + specLen;
    this.#count(exact, key, spec, 1);
    this.#slot(h, at);
  }

  #count(exact: boolean, key: string, spec: string, sign: 1 | -1): void {
    this.#live += sign;
    if (exact) this.#exact += sign;
    else this.#prefixLengths[key.length] += sign;
    this.#sum.applySpec(exact ? 'exact' : 'prefix', key, spec, sign);
  }

  /** As #count, for the record at `at`, hashing its bytes (no string unless the spec is not ASCII). */
  #countAt(at: number, sign: 1 | -1): void {
    const buf = this.#buf;
    const exact = (buf[at]! & EXACT) !== 0;
    const k = at + HEADER;
    const s = k + buf[at + 1]!;
    const e = s + buf.readUInt32LE(at + 2);
    const lanes = this.#lanes;
    hashBothBytes(buf, k, s, lanes);
    const ka = lanes[0]!;
    const kb = lanes[1]!;
    if (ascii(buf, s, e)) hashBothBytes(buf, s, e, lanes);
    else hashBoth(buf.toString('utf8', s, e), lanes);
    this.#live += sign;
    if (exact) this.#exact += sign;
    else this.#prefixLengths[buf[at + 1]!] += sign;
    this.#sum.apply(exact ? 'exact' : 'prefix', ka, kb, lanes[0]!, lanes[1]!, sign);
  }

  #spec(at: number): string {
    const k = at + HEADER + this.#buf[at + 1]!;
    return this.#buf.toString('utf8', k, k + this.#buf.readUInt32LE(at + 2));
  }

  #recordLength(at: number): number {
    return HEADER + this.#buf[at + 1]! + this.#buf.readUInt32LE(at + 2);
  }

  #reserve(n: number): void {
    if (this.#end + n <= this.#buf.length) return;
    const next = Buffer.allocUnsafeSlow(Math.max(this.#buf.length * 2, this.#end + n));
    this.#buf.copy(next, 0, 0, this.#end);
    this.#buf = next;
  }

  #remove(slot: number, exact: boolean, key: string, spec: string): void {
    const at = this.#index![slot]! - 1;
    this.#buf[at] = this.#buf[at]! | DELETED;
    this.#garbage += this.#recordLength(at);
    this.#count(exact, key, spec, -1);
    this.#unslot(slot);
    if (++this.#stale > 1024 && this.#stale > this.#live) this.#rebuildFilter();
  }

  #maybeCompact(): void {
    if (this.#garbage < COMPACT_MIN_GARBAGE || this.#garbage < this.#end - this.#garbage) return;
    const next = Buffer.allocUnsafeSlow(Math.max(MIN_BYTES, (this.#end - this.#garbage) * 2));
    let n = 0;
    for (let at = 0; at < this.#end; ) {
      const len = this.#recordLength(at);
      if ((this.#buf[at]! & DELETED) === 0) {
        this.#buf.copy(next, n, at, at + len);
        n += len;
      }
      at += len;
    }
    this.#buf = next;
    this.#end = n;
    this.#garbage = 0;
    this.#index = undefined; // rebuilt on the next keyed use
  }

  // --- index ----------------------------------------------------------------------

  #hashAt(at: number): number {
    const buf = this.#buf;
    const end = at + HEADER + buf[at + 1]!;
    let h = FNV_OFFSET;
    for (let i = at + HEADER; i < end; i++) h = Math.imul(h ^ buf[i]!, FNV_PRIME);
    return fmix32(h ^ ((buf[at]! & EXACT) !== 0 ? EXACT_SALT : 0));
  }

  #sameKey(at: number, exact: boolean, key: string): boolean {
    const buf = this.#buf;
    if ((buf[at]! & EXACT) !== (exact ? EXACT : 0) || buf[at + 1] !== key.length) return false;
    const k = at + HEADER;
    for (let i = 0; i < key.length; i++) if (buf[k + i] !== key.charCodeAt(i)) return false;
    return true;
  }

  /** The index slot holding this key, or -1. */
  #find(h: number, exact: boolean, key: string): number {
    const index = this.#ensureIndex();
    if (!this.#mayHold(h)) return -1;
    const mask = index.length - 1;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const v = index[i]!;
      if (v === 0) return -1;
      if (this.#sameKey(v - 1, exact, key)) return i;
    }
  }

  /** As #find, for a key given as the bytes [start, start + length) of `src`; the record's offset, or -1. */
  #findBytes(h: number, exact: boolean, src: Buffer, start: number, length: number): number {
    const index = this.#ensureIndex();
    if (!this.#mayHold(h)) return -1;
    const buf = this.#buf;
    const flag = exact ? EXACT : 0;
    const mask = index.length - 1;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const v = index[i]!;
      if (v === 0) return -1;
      const at = v - 1;
      if (buf[at] !== flag || buf[at + 1] !== length) continue;
      const k = at + HEADER - start;
      let j = start;
      while (j < start + length && buf[k + j] === src[j]) j++;
      if (j === start + length) return at;
    }
  }

  /** The first empty slot on h's probe run. */
  #probe(h: number): number {
    const index = this.#index!;
    const mask = index.length - 1;
    let i = h & mask;
    while (index[i] !== 0) i = (i + 1) & mask;
    return i;
  }

  #ensureIndex(): Int32Array {
    if (this.#index === undefined) this.#rebuildIndex(this.#live);
    return this.#index!;
  }

  /** Makes room in the index for one more entry (before its record is written). */
  #makeRoom(): void {
    this.#ensureIndex();
    if ((this.#live + 1) * 2 > this.#index!.length) this.#rebuildIndex(this.#live + 1);
  }

  #rebuildIndex(entries: number): void {
    let slots = MIN_SLOTS;
    while (slots < entries * 2) slots *= 2;
    this.#newIndex(slots);
    for (let at = 0; at < this.#end; at += this.#recordLength(at)) if ((this.#buf[at]! & DELETED) === 0) this.#place(at);
  }

  #place(at: number): void {
    this.#slot(this.#hashAt(at), at);
  }

  /** Puts record `at` (index hash h) into the index and the filter. */
  #slot(h: number, at: number): void {
    this.#index![this.#probe(h)] = at + 1;
    const bit = Math.imul(h, 0x9e3779b1) >>> this.#filterShift;
    this.#filter[bit >>> 5]! |= 1 << (bit & 31);
  }

  /** False when no live key has index hash h (most probes for a key that is not there end here, in cache). */
  #mayHold(h: number): boolean {
    const bit = Math.imul(h, 0x9e3779b1) >>> this.#filterShift;
    return (this.#filter[bit >>> 5]! & (1 << (bit & 31))) !== 0;
  }

  /** An empty index of `slots` slots and its filter (FILTER_BITS per slot). */
  #newIndex(slots: number): void {
    this.#useIndex(new Int32Array(slots), new Int32Array((slots * FILTER_BITS) >>> 5));
  }

  /** Takes `index` (a power of two of slots) and its filter (FILTER_BITS per slot) as they are. */
  #useIndex(index: Int32Array, filter: Int32Array): void {
    this.#index = index;
    this.#filter = filter;
    this.#filterShift = 32 - Math.log2(index.length * FILTER_BITS);
    this.#stale = 0;
  }

  /** Deleted keys leave their bits set: once they outnumber the live ones, the filter is built again. */
  #rebuildFilter(): void {
    const index = this.#index!;
    this.#filter.fill(0);
    this.#stale = 0;
    for (let i = 0; i < index.length; i++) {
      const v = index[i]!;
      if (v === 0) continue;
      const bit = Math.imul(this.#hashAt(v - 1), 0x9e3779b1) >>> this.#filterShift;
      this.#filter[bit >>> 5]! |= 1 << (bit & 31);
    }
  }

  /** Empties a slot and shifts back the entries after it that probed past it. */
  #unslot(slot: number): void {
    const index = this.#index!;
    const mask = index.length - 1;
    let hole = slot;
    index[hole] = 0;
    for (let i = (hole + 1) & mask; index[i] !== 0; i = (i + 1) & mask) {
      const home = this.#hashAt(index[i]! - 1) & mask;
      // Move i into the hole unless its home lies cyclically in (hole, i].
      const between = hole <= i ? home > hole && home <= i : home > hole || home <= i;
      if (!between) {
        index[hole] = index[i]!;
        index[i] = 0;
        hole = i;
      }
    }
  }
}
