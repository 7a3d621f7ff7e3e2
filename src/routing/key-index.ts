/**
 * An open-addressing hash index from string keys to values, built for a million
 * keys, for lookups that are mostly cache misses, and for changes that never pause:
 *
 * - the caller supplies the key's 32-bit hash (the route table hashes a clientId
 *   once for the exact probe and every prefix probe);
 * - slot i is the triple [hash tag, key, value] in blocked JS arrays, so a probe
 *   reads one cache line and then the key string (hash or length mismatches never
 *   read the key); no object per entry. Linear probing, backward-shift deletion (no
 *   tombstones in the live generation, so probes stay short under churn);
 * - a one-hash Bloom filter (8 bits per slot) answers "certainly absent" from cache
 *   for most probes that would miss: a lookup does that for every prefix length
 *   that has no rule for the clientId;
 * - growing is incremental (as in Redis): a new generation twice the size takes all
 *   inserts, and every change moves up to MIGRATE_STEP slots of the old one, so no
 *   single change rehashes a million keys; the new generation's memory is allocated
 *   a block per insert ahead of time (PREPARE_LOAD). Lookups consult the new
 *   generation, then the old one, until it is empty.
 *
 * Memory per entry at load L (0.35-0.7): (24 + 1) / L bytes, plus the key string.
 */
import { fmix32 } from './string-hash.js';

const MAX_LOAD = 0.7;
const MIN_SLOTS = 16;
/** Slots per block (a block holds 3 x this many elements). */
const BLOCK_BITS = 13;
const BLOCK_MASK = (1 << BLOCK_BITS) - 1;
/** Bloom filter bits per slot. */
const FILTER_BITS_PER_SLOT = 8;
/**
 * Above this load the next generation is created and one of its key/value blocks is
 * allocated per insert, so that growing never allocates tens of MB at once.
 */
const PREPARE_LOAD = 0.69;
/** Old-generation slots moved per change while growing. */
const MIGRATE_STEP = 256;

/**
 * Marks a slot of the old generation whose entry moved or was deleted: a value no
 * key can be (keys are strings), so probe runs stay intact.
 */
const TOMBSTONE = null;

/** Slot cells: [tag, key, value]. */
type Cell = number | string | null | undefined | unknown;

/**
 * One hash table; the index holds one, or two while growing. Slot i is the triple
 * [tag, key, value] at (i mod 8192) * 3 of block i / 8192: one cache line holds a
 * probe's hash tag, key pointer and value, then the key string itself is read.
 * The tag is the mixed hash's low 30 bits (always a small integer in V8), which is
 * also what the slot position and the Bloom filter derive from.
 */
class Generation<V> {
  readonly mask: number;
  /** Blocks of [tag, key, value, tag, key, value, …], allocated on first use; a missing block is empty. */
  readonly blocks: Array<Cell[] | undefined>;
  filter: Int32Array;
  readonly filterShift: number;
  /** Live entries. */
  count = 0;
  /** Deletions since the filter was built. */
  staleBits = 0;
  /** Next block `prepareBlock` looks at. */
  #prepared = 0;

  constructor(slots: number) {
    this.mask = slots - 1;
    this.blocks = new Array<undefined>(Math.ceil(slots / (BLOCK_MASK + 1))).fill(undefined);
    this.filter = new Int32Array((slots * FILTER_BITS_PER_SLOT) >>> 5);
    this.filterShift = 32 - Math.log2(slots * FILTER_BITS_PER_SLOT);
  }

  mayHold(tag: number): boolean {
    const bit = Math.imul(tag, 0x9e3779b1) >>> this.filterShift;
    return (this.filter[bit >>> 5]! & (1 << (bit & 31))) !== 0;
  }

  addToFilter(tag: number): void {
    const bit = Math.imul(tag, 0x9e3779b1) >>> this.filterShift;
    this.filter[bit >>> 5]! |= 1 << (bit & 31);
  }

  /** The slot of the key with this tag and exactly `length` chars that `text` starts with (or equals), or -1. */
  find(tag: number, text: string, length: number, whole: boolean): number {
    if (!this.mayHold(tag)) return -1;
    const mask = this.mask;
    for (let i = tag & mask; ; i = (i + 1) & mask) {
      const block = this.blocks[i >>> BLOCK_BITS];
      if (block === undefined) return -1;
      const o = (i & BLOCK_MASK) * 3;
      const k = block[o + 1];
      if (k === undefined) return -1;
      if (block[o] === tag && typeof k === 'string' && k.length === length && (whole ? k === text : text.startsWith(k))) return i;
    }
  }

  /** Whether slot i holds a live entry. */
  live(i: number): boolean {
    return typeof this.blocks[i >>> BLOCK_BITS]?.[(i & BLOCK_MASK) * 3 + 1] === 'string';
  }

  tag(i: number): number {
    return this.blocks[i >>> BLOCK_BITS]![(i & BLOCK_MASK) * 3] as number;
  }

  key(i: number): string {
    return this.blocks[i >>> BLOCK_BITS]![(i & BLOCK_MASK) * 3 + 1] as string;
  }

  value(i: number): V {
    return this.blocks[i >>> BLOCK_BITS]![(i & BLOCK_MASK) * 3 + 2] as V;
  }

  setValue(i: number, value: V): void {
    this.blocks[i >>> BLOCK_BITS]![(i & BLOCK_MASK) * 3 + 2] = value;
  }

  /** Puts a key that is not present into a free slot (the caller keeps the load below MAX_LOAD). */
  insertNew(tag: number, key: string, value: V): void {
    const mask = this.mask;
    let i = tag & mask;
    while (this.#cell(i, 1) !== undefined) i = (i + 1) & mask;
    this.#write(i, tag, key, value);
    this.addToFilter(tag);
    this.count++;
  }

  /** Empties slot i and closes the gap (backward shift). */
  remove(i: number): void {
    const mask = this.mask;
    this.count--;
    this.staleBits++;
    for (let j = (i + 1) & mask; ; j = (j + 1) & mask) {
      if (this.#cell(j, 1) === undefined) break;
      const home = this.tag(j) & mask;
      // j may move into the hole i unless its home lies cyclically in (i, j].
      const stays = i <= j ? home > i && home <= j : home > i || home <= j;
      if (stays) continue;
      this.#write(i, this.tag(j), this.key(j), this.value(j));
      i = j;
    }
    this.#write(i, undefined, undefined, undefined);
    if (this.staleBits > 1024 && this.staleBits > this.count) this.rebuildFilter();
  }

  /** Marks slot i gone without moving anything (old generation: keeps its probe runs intact). */
  tombstone(i: number): void {
    this.blocks[i >>> BLOCK_BITS]![(i & BLOCK_MASK) * 3 + 1] = TOMBSTONE;
    this.blocks[i >>> BLOCK_BITS]![(i & BLOCK_MASK) * 3 + 2] = undefined;
    this.count--;
  }

  /** Allocates one block not allocated yet; false when all are. */
  prepareBlock(): boolean {
    while (this.#prepared < this.blocks.length) {
      const b = this.#prepared++;
      if (this.blocks[b] === undefined) {
        this.blocks[b] = newBlock();
        return true;
      }
    }
    return false;
  }

  rebuildFilter(): void {
    this.filter = new Int32Array(this.filter.length);
    for (let i = 0; i <= this.mask; i++) if (this.live(i)) this.addToFilter(this.tag(i));
    this.staleBits = 0;
  }

  #cell(i: number, field: number): Cell {
    return this.blocks[i >>> BLOCK_BITS]?.[(i & BLOCK_MASK) * 3 + field];
  }

  #write(i: number, tag: number | undefined, key: string | undefined, value: V | undefined): void {
    const block = (this.blocks[i >>> BLOCK_BITS] ??= newBlock());
    const o = (i & BLOCK_MASK) * 3;
    block[o] = tag;
    block[o + 1] = key;
    block[o + 2] = value;
  }
}

function newBlock(): Cell[] {
  return new Array<undefined>(3 << BLOCK_BITS).fill(undefined);
}

/** The mixed hash's low 30 bits. */
function tagOf(hash: number): number {
  return fmix32(hash) & 0x3fffffff;
}

export class KeyIndex<V> {
  #cur: Generation<V>;
  /** The generation being emptied into #cur while growing. */
  #old: Generation<V> | undefined = undefined;
  /** Next slot of #old to move. */
  #migrated = 0;
  /** The generation that #cur grows into, prepared ahead (see PREPARE_LOAD). */
  #next: Generation<V> | undefined = undefined;
  /** The generation of the slot `#locate` found. */
  #located: Generation<V>;
  /** The key of the last hit of `getPrefix`. */
  foundKey = '';

  /** `expected` sizes the index so that inserting that many keys never grows it. */
  constructor(expected = 0) {
    let slots = MIN_SLOTS;
    while (slots * MAX_LOAD < expected) slots *= 2;
    this.#cur = new Generation(slots);
    this.#located = this.#cur;
  }

  get size(): number {
    return this.#cur.count + (this.#old?.count ?? 0);
  }

  /**
   * Allocates one key/value block that inserts would otherwise allocate on the fly
   * (time-sliced builders call it until it returns false).
   */
  prepareStep(): boolean {
    return this.#cur.prepareBlock();
  }

  /** True while an old generation is still being moved. */
  get growing(): boolean {
    return this.#old !== undefined;
  }

  /** The value stored for `key`, whose FNV hash is `hash`. */
  get(hash: number, key: string): V | undefined {
    const i = this.#locate(tagOf(hash), key);
    return i < 0 ? undefined : this.#located.value(i);
  }

  /**
   * The value stored for the key equal to `text.slice(0, length)` (FNV hash `hash`),
   * without slicing `text`; on a hit the key is in `foundKey`.
   */
  getPrefix(hash: number, text: string, length: number): V | undefined {
    const h = tagOf(hash);
    const cur = this.#cur;
    const i = cur.find(h, text, length, false);
    if (i >= 0) {
      this.foundKey = cur.key(i);
      return cur.value(i);
    }
    const old = this.#old;
    if (old === undefined) return undefined;
    const j = old.find(h, text, length, false);
    if (j < 0) return undefined;
    this.foundKey = old.key(j);
    return old.value(j);
  }

  /** Inserts or replaces; returns the previous value. */
  set(hash: number, key: string, value: V): V | undefined {
    return this.#insert(hash, key, value, true);
  }

  /** Inserts unless `key` is present; returns the present value (then nothing changed) or undefined. */
  setIfAbsent(hash: number, key: string, value: V): V | undefined {
    return this.#insert(hash, key, value, false);
  }

  /** Removes `key`; returns the value it had. */
  delete(hash: number, key: string): V | undefined {
    this.#migrateStep();
    const i = this.#locate(tagOf(hash), key);
    if (i < 0) return undefined;
    const g = this.#located;
    const previous = g.value(i);
    if (g === this.#cur) g.remove(i);
    else g.tombstone(i);
    return previous;
  }

  /** Every [key, value], in no particular order. */
  *entries(): IterableIterator<[string, V]> {
    for (const g of this.#old === undefined ? [this.#cur] : [this.#cur, this.#old]) {
      for (let i = 0; i <= g.mask; i++) if (g.live(i)) yield [g.key(i), g.value(i)];
    }
  }

  #insert(hash: number, key: string, value: V, replace: boolean): V | undefined {
    const h = tagOf(hash);
    this.#migrateStep();
    const cur = this.#cur;
    const i = this.#locate(h, key);
    let previous: V | undefined;
    if (i >= 0) {
      const g = this.#located;
      previous = g.value(i);
      if (!replace) return previous;
      if (g === cur) {
        cur.setValue(i, value);
        return previous;
      }
      g.tombstone(i); // in the old generation: the key moves to the current one
    }
    const slots = cur.mask + 1;
    if (cur.count + 1 > slots * PREPARE_LOAD) {
      if (cur.count + 1 > slots * MAX_LOAD) this.#grow();
      else (this.#next ??= new Generation(slots * 2)).prepareBlock();
    }
    this.#cur.insertNew(h, key, value);
    return previous;
  }

  /** The slot holding `key` (tag h) in the current, then the old generation, or -1; the generation is left in #located. */
  #locate(h: number, key: string): number {
    const cur = this.#cur;
    this.#located = cur;
    const i = cur.find(h, key, key.length, true);
    const old = this.#old;
    if (i >= 0 || old === undefined) return i;
    this.#located = old;
    return old.find(h, key, key.length, true);
  }

  #grow(): void {
    // Growth needs MAX_LOAD x N inserts, migration N / MIGRATE_STEP changes: the old
    // generation is always gone before the next growth; finish it if not.
    while (this.#old !== undefined) this.#migrateStep();
    this.#old = this.#cur;
    this.#migrated = 0;
    this.#cur = this.#next ?? new Generation((this.#old.mask + 1) * 2);
    this.#next = undefined;
  }

  #migrateStep(): void {
    const old = this.#old;
    if (old === undefined) return;
    const end = Math.min(old.mask + 1, this.#migrated + MIGRATE_STEP);
    for (let i = this.#migrated; i < end; i++) {
      if (!old.live(i)) continue;
      this.#cur.insertNew(old.tag(i), old.key(i), old.value(i));
      old.tombstone(i);
    }
    this.#migrated = end;
    if (end > old.mask) this.#old = undefined;
  }
}
