/**
 * The duplicate cache's large form (duplicate-cache.ts): a session's messageIds and
 * their outcomes with no JavaScript object per message. Every message a busy session
 * takes lives in its duplicate cache for the whole window (two minutes by default); a
 * Map of strings would make each message's id and entry survive into V8's old
 * generation, which the garbage collector then copies and marks (it was the largest
 * part of a reliable worker's GC time). Here the entries are a ring of typed arrays in
 * the order they were taken (the oldest first: eviction and expiry walk from the
 * front), each with its expiry, outcome, hash and the id's bytes inline (messageIds
 * are printable ASCII; the rare one longer than `INLINE_ID_BYTES` is kept as a string
 * beside), and an open-addressing index from the id's hash to its slot: linear probing,
 * at most half full, with deletion by backward shift (Knuth's algorithm R), so no
 * tombstones lengthen the probe of a new id (every message's first lookup is a miss).
 * The ring doubles as the session takes more.
 */
import { IN_FLIGHT } from './duplicate-outcomes.js';

/** An id's bytes kept in its slot; longer ids are kept as strings in `#long`. */
const INLINE_ID_BYTES = 32;
const LONG_ID = 255;
const INITIAL_SLOTS = 128; // made when a session passes 64 entries (duplicate-cache.ts)
/** `#outcome` of a slot whose entry was replaced or forgotten. */
const DEAD = -2;
const EMPTY = 0;

/**
 * FNV-1a over the id's characters, then MurmurHash3's finalizer. The index probes from
 * the low bits, and FNV's low bits depend only on the characters' low bits; mixed,
 * ids that differ in a counter (msg-100000…msg-101023 in 2,048 positions) take 2.5
 * probes for a miss instead of 2.8.
 */
export function hashOf(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) | 0;
}

export class DuplicateRing {
  readonly #limit: number;
  readonly #windowMs: number;
  /** Ring capacity (a power of two); entry number `n` lives in slot `n & (#slots - 1)`. */
  #slots = INITIAL_SLOTS;
  /** Entry numbers: the oldest slot still in the ring (maybe dead), and the next to fill. */
  #first = 0;
  #next = 0;
  #live = 0;
  #expires = new Float64Array(INITIAL_SLOTS);
  #outcome = new Int8Array(INITIAL_SLOTS);
  #hash = new Int32Array(INITIAL_SLOTS);
  #length = new Uint8Array(INITIAL_SLOTS);
  #ids = new Uint8Array(INITIAL_SLOTS * INLINE_ID_BYTES);
  #long: Map<number, string> | null = null;
  /** Slot + 1 by hash position, or EMPTY. Twice the ring's size. */
  #index = new Int32Array(INITIAL_SLOTS * 2);
  /** The id of the last lookup that found nothing, and its hash: `remember` of that id (the usual next call) need not probe again. */
  #missId: string | null = null;
  #missHash = 0;
  /** The entry number last settled (a guess for the next settle; checked before use). */
  #settled = -1;

  constructor(limit: number, windowMs: number) {
    this.#limit = limit;
    this.#windowMs = windowMs;
  }

  get size(): number {
    return this.#live;
  }

  /** The outcome remembered for `messageId` (IN_FLIGHT, ACKED or a NACK index), or undefined. */
  lookup(messageId: string): number | undefined {
    const h = hashOf(messageId);
    const slot = this.#find(messageId, h);
    if (slot >= 0) return this.#outcome[slot];
    this.#missId = messageId;
    this.#missHash = h;
    return undefined;
  }

  /** The expiry of `messageId`'s entry (wall-clock ms). */
  expiresAt(messageId: string): number | undefined {
    const slot = this.#find(messageId, hashOf(messageId));
    return slot < 0 ? undefined : this.#expires[slot];
  }

  /**
   * A new message was taken at `nowMs` (or recovered with its time and outcome); an
   * entry for the same id is replaced. Returns how many of the oldest were forgotten
   * (their ids are deleted from `waiting` too).
   */
  remember(messageId: string, nowMs: number, outcome: number, waiting: Map<string, number> | null): number {
    const missed = messageId === this.#missId;
    const h = missed ? this.#missHash : hashOf(messageId);
    this.#missId = null;
    const old = missed ? -1 : this.#find(messageId, h);
    if (old >= 0) this.#kill(old);
    let evicted = 0;
    while (this.#live >= this.#limit) {
      this.#dropOldest(waiting);
      evicted++;
    }
    if (this.#next - this.#first === this.#slots) this.#resize(this.#live * 2 <= this.#slots ? this.#slots : this.#slots * 2);
    const slot = this.#next++ & (this.#slots - 1);
    this.#expires[slot] = nowMs + this.#windowMs;
    this.#outcome[slot] = outcome;
    this.#hash[slot] = h;
    this.#storeId(slot, messageId);
    this.#indexInsert(slot, h);
    this.#live++;
    return evicted;
  }

  /**
   * Records the outcome of `messageId`'s entry, if it has one. Messages settle in the
   * order they were taken (one upstream socket writes them in that order), so the entry
   * after the last one settled is tried first, without hashing or probing.
   */
  settle(messageId: string, outcome: number): void {
    const n = this.#settled + 1;
    if (n >= this.#first && n < this.#next) {
      const guess = n & (this.#slots - 1);
      if (this.#outcome[guess] === IN_FLIGHT && this.#idIs(guess, messageId)) {
        this.#outcome[guess] = outcome;
        this.#settled = n;
        return;
      }
    }
    const slot = this.#find(messageId, hashOf(messageId));
    if (slot < 0) return;
    this.#outcome[slot] = outcome;
    this.#settled = this.#entryOf(slot);
  }

  /** The entry number living in `slot` (between #first and #next). */
  #entryOf(slot: number): number {
    return this.#first + ((slot - this.#first) & (this.#slots - 1));
  }

  /** Forgets entries whose window has passed (up to the oldest one still in flight). Returns how many are left. */
  expire(nowMs: number, waiting: Map<string, number> | null): number {
    while (this.#first < this.#next) {
      const slot = this.#first & (this.#slots - 1);
      const o = this.#outcome[slot]!;
      if (o !== DEAD && (this.#expires[slot]! > nowMs || o === IN_FLIGHT)) break;
      if (o === DEAD) this.#first++;
      else this.#dropOldest(waiting);
    }
    return this.#live;
  }

  /** Every entry, the oldest first (for a checkpoint after recovery): id, taken-at ms, outcome. */
  *entries(): IterableIterator<[string, number, number]> {
    for (let n = this.#first; n < this.#next; n++) {
      const slot = n & (this.#slots - 1);
      const o = this.#outcome[slot]!;
      if (o !== DEAD) yield [this.#idAt(slot), this.#expires[slot]! - this.#windowMs, o];
    }
  }

  // --- Slots ------------------------------------------------------------------------

  #storeId(slot: number, id: string): void {
    if (id.length > INLINE_ID_BYTES) {
      this.#length[slot] = LONG_ID;
      (this.#long ??= new Map()).set(slot, id);
      return;
    }
    this.#length[slot] = id.length;
    const at = slot * INLINE_ID_BYTES;
    for (let i = 0; i < id.length; i++) this.#ids[at + i] = id.charCodeAt(i);
  }

  #idAt(slot: number): string {
    const n = this.#length[slot]!;
    if (n === LONG_ID) return this.#long!.get(slot)!;
    const at = slot * INLINE_ID_BYTES;
    return String.fromCharCode(...this.#ids.subarray(at, at + n));
  }

  #idIs(slot: number, id: string): boolean {
    const n = this.#length[slot]!;
    if (n === LONG_ID) return this.#long!.get(slot) === id;
    if (n !== id.length) return false;
    const ids = this.#ids;
    const at = slot * INLINE_ID_BYTES;
    for (let i = 0; i < n; i++) if (ids[at + i] !== id.charCodeAt(i)) return false;
    return true;
  }

  /** Forgets the oldest live entry (and any dead ones before it). */
  #dropOldest(waiting: Map<string, number> | null): void {
    for (;;) {
      const slot = this.#first++ & (this.#slots - 1);
      if (this.#outcome[slot] === DEAD) continue;
      waiting?.delete(this.#idAt(slot));
      this.#kill(slot);
      return;
    }
  }

  /** The entry in `slot` is gone: out of the index, marked dead (its ring place is skipped later). */
  #kill(slot: number): void {
    this.#outcome[slot] = DEAD; // first: an index rebuild below must not take it back
    this.#indexRemove(slot);
    if (this.#length[slot] === LONG_ID) this.#long!.delete(slot);
    this.#live--;
  }

  /** A ring of `slots` slots holding the live entries, the oldest first. */
  #resize(slots: number): void {
    const old = { slots: this.#slots, expires: this.#expires, outcome: this.#outcome, hash: this.#hash, length: this.#length, ids: this.#ids, long: this.#long };
    this.#slots = slots;
    this.#expires = new Float64Array(slots);
    this.#outcome = new Int8Array(slots);
    this.#hash = new Int32Array(slots);
    this.#length = new Uint8Array(slots);
    this.#ids = new Uint8Array(slots * INLINE_ID_BYTES);
    this.#long = null;
    let to = 0;
    for (let n = this.#first; n < this.#next; n++) {
      const from = n & (old.slots - 1);
      if (old.outcome[from] === DEAD) continue;
      this.#expires[to] = old.expires[from]!;
      this.#outcome[to] = old.outcome[from]!;
      this.#hash[to] = old.hash[from]!;
      this.#length[to] = old.length[from]!;
      if (old.length[from] === LONG_ID) (this.#long ??= new Map()).set(to, old.long!.get(from)!);
      else this.#ids.set(old.ids.subarray(from * INLINE_ID_BYTES, (from + 1) * INLINE_ID_BYTES), to * INLINE_ID_BYTES);
      to++;
    }
    this.#first = 0;
    this.#next = to;
    this.#settled = -1; // entries are renumbered
    this.#rebuildIndex();
  }

  // --- The index --------------------------------------------------------------------

  /** The slot holding `id` (whose hash is `h`), or -1. */
  #find(id: string, h: number): number {
    const index = this.#index;
    const mask = index.length - 1;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const v = index[i]!;
      if (v === EMPTY) return -1;
      if (this.#hash[v - 1] === h && this.#idIs(v - 1, id)) return v - 1;
    }
  }

  #indexInsert(slot: number, h: number): void {
    const index = this.#index;
    const mask = index.length - 1;
    let i = h & mask;
    while (index[i] !== EMPTY) i = (i + 1) & mask;
    index[i] = slot + 1;
  }

  /** Takes `slot` out of the index, moving back each later entry of its run that may fill the hole (no tombstone). */
  #indexRemove(slot: number): void {
    const index = this.#index;
    const mask = index.length - 1;
    let hole = this.#hash[slot]! & mask;
    while (index[hole] !== slot + 1) {
      if (index[hole] === EMPTY) return; // not indexed
      hole = (hole + 1) & mask;
    }
    for (let j = (hole + 1) & mask; index[j] !== EMPTY; j = (j + 1) & mask) {
      const home = this.#hash[index[j]! - 1]! & mask;
      // Entry j may move to the hole unless its home lies cyclically in (hole, j].
      const stays = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (stays) continue;
      index[hole] = index[j]!;
      hole = j;
    }
    index[hole] = EMPTY;
  }

  #rebuildIndex(): void {
    this.#index = new Int32Array(this.#slots * 2);
    for (let n = this.#first; n < this.#next; n++) {
      const slot = n & (this.#slots - 1);
      if (this.#outcome[slot] !== DEAD) this.#indexInsert(slot, this.#hash[slot]!);
    }
  }
}
