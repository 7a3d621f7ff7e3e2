/**
 * The outcomes of a session's recent client messages, by messageId, so that a
 * message sent again (after a resume, or twice by mistake) is answered with the
 * first outcome and never sent upstream twice. Bounded in count (the oldest is
 * forgotten; `remember` says how many, for stratix_reliable_duplicate_evictions_total)
 * and in time (an entry lives for the duplicate window from when the message was
 * taken).
 *
 * Two forms. A session that took few messages in the window (most are idle) keeps
 * them in a Map (insertion order: the oldest first), a few hundred bytes. Past
 * `SMALL_MAX` entries they move, in order, to a `DuplicateRing` (duplicate-ring.ts),
 * which holds no JavaScript object per message, so a busy session's two minutes of
 * messages do not weigh on the garbage collector. An emptied cache is dropped by its
 * session.
 *
 * A Map value packs the expiry (wall-clock ms) and the outcome into one number:
 * `expiresAt * 16 + outcome + 1`, outcome -1 (in flight), 0 (ACK) or a NACK index.
 */
import { DuplicateRing } from './duplicate-ring.js';
import { IN_FLIGHT } from './duplicate-outcomes.js';

export { ACKED, IN_FLIGHT } from './duplicate-outcomes.js';

/** Entries kept in the Map form; one more moves them to the ring. */
const SMALL_MAX = 64;

export class DuplicateCache {
  readonly #limit: number;
  readonly #windowMs: number;
  #map: Map<string, number> | null = new Map();
  #ring: DuplicateRing | null = null;
  /** Duplicates waiting for an in-flight first: messageId → the connection generation to answer on. */
  #waiting: Map<string, number> | null = null;

  constructor(limit: number, windowMs: number) {
    this.#limit = limit;
    this.#windowMs = windowMs;
  }

  get size(): number {
    return this.#map?.size ?? this.#ring!.size;
  }

  /** The outcome remembered for `messageId` (IN_FLIGHT, ACKED or a NACK index), or undefined. */
  lookup(messageId: string): number | undefined {
    if (this.#map === null) return this.#ring!.lookup(messageId);
    const v = this.#map.get(messageId);
    return v === undefined ? undefined : (v % 16) - 1;
  }

  /** The expiry of `messageId`'s entry (wall-clock ms). */
  expiresAt(messageId: string): number | undefined {
    if (this.#map === null) return this.#ring!.expiresAt(messageId);
    const v = this.#map.get(messageId);
    return v === undefined ? undefined : Math.floor(v / 16);
  }

  /**
   * A new message was taken at `nowMs` (or recovered with its time and outcome); an
   * entry for the same id is replaced. Returns how many of the oldest were forgotten.
   */
  remember(messageId: string, nowMs: number, outcome = IN_FLIGHT): number {
    const map = this.#map;
    if (map === null) return this.#ring!.remember(messageId, nowMs, outcome, this.#waiting);
    map.delete(messageId);
    map.set(messageId, pack(nowMs + this.#windowMs, outcome));
    let evicted = 0;
    while (map.size > this.#limit) {
      const oldest = map.keys().next().value as string;
      map.delete(oldest);
      this.#waiting?.delete(oldest);
      evicted++;
    }
    if (map.size > SMALL_MAX) this.#toRing(map);
    return evicted;
  }

  /** Records the outcome; returns the generation a waiting duplicate must be answered on, or -1. */
  settle(messageId: string, outcome: number): number {
    const map = this.#map;
    if (map === null) this.#ring!.settle(messageId, outcome);
    else {
      const v = map.get(messageId);
      if (v !== undefined) map.set(messageId, pack(Math.floor(v / 16), outcome));
    }
    const w = this.#waiting?.get(messageId);
    if (w === undefined) return -1;
    this.#waiting!.delete(messageId);
    return w;
  }

  /** A duplicate of an in-flight message arrived on connection `generation`: answer it when the first settles. */
  wait(messageId: string, generation: number): void {
    (this.#waiting ??= new Map()).set(messageId, generation);
  }

  /** Forgets entries whose window has passed (up to the oldest one still in flight). Returns how many are left. */
  expire(nowMs: number): number {
    const map = this.#map;
    if (map === null) return this.#ring!.expire(nowMs, this.#waiting);
    for (const [id, v] of map) {
      if (Math.floor(v / 16) > nowMs || (v % 16) - 1 === IN_FLIGHT) break;
      map.delete(id);
    }
    return map.size;
  }

  /** Every entry, the oldest first (for a checkpoint after recovery): id, taken-at ms, outcome. */
  *entries(): IterableIterator<[string, number, number]> {
    if (this.#map === null) {
      yield* this.#ring!.entries();
      return;
    }
    for (const [id, v] of this.#map) yield [id, Math.floor(v / 16) - this.#windowMs, (v % 16) - 1];
  }

  #toRing(map: Map<string, number>): void {
    const ring = new DuplicateRing(this.#limit, this.#windowMs);
    for (const [id, v] of map) ring.remember(id, Math.floor(v / 16) - this.#windowMs, (v % 16) - 1, null);
    this.#ring = ring;
    this.#map = null;
  }
}

function pack(expiresAt: number, outcome: number): number {
  return expiresAt * 16 + outcome + 1;
}
