/**
 * The outcomes of a session's recent client messages, by messageId, so that a
 * message sent again (after a resume, or twice by mistake) is answered with the
 * first outcome and never sent upstream twice. Bounded in count (the oldest is
 * forgotten, counted in `evicted`) and in time (an entry lives for the duplicate
 * window from when the message was taken). A Map keeps insertion order, so the
 * oldest entry is always the first: eviction and expiry walk from the front.
 *
 * Each value packs the expiry (wall-clock ms) and the outcome into one number:
 * `expiresAt * 16 + outcome + 1`, outcome -1 (in flight), 0 (ACK) or a NACK index.
 */
export const IN_FLIGHT = -1;
export const ACKED = 0;

export class DuplicateCache {
  readonly #limit: number;
  readonly #windowMs: number;
  readonly #map = new Map<string, number>();
  /** Duplicates waiting for an in-flight first: messageId → the connection generation to answer on. */
  #waiting: Map<string, number> | null = null;
  evicted = 0;

  constructor(limit: number, windowMs: number) {
    this.#limit = limit;
    this.#windowMs = windowMs;
  }

  get size(): number {
    return this.#map.size;
  }

  /** The outcome remembered for `messageId` (IN_FLIGHT, ACKED or a NACK index), or undefined. */
  lookup(messageId: string): number | undefined {
    const v = this.#map.get(messageId);
    return v === undefined ? undefined : (v % 16) - 1;
  }

  /** The expiry of `messageId`'s entry (wall-clock ms). */
  expiresAt(messageId: string): number | undefined {
    const v = this.#map.get(messageId);
    return v === undefined ? undefined : Math.floor(v / 16);
  }

  /** A new message was taken at `nowMs` (or recovered with its time and outcome). */
  remember(messageId: string, nowMs: number, outcome = IN_FLIGHT): void {
    this.#map.delete(messageId);
    this.#map.set(messageId, pack(nowMs + this.#windowMs, outcome));
    while (this.#map.size > this.#limit) {
      const oldest = this.#map.keys().next().value as string;
      this.#map.delete(oldest);
      this.#waiting?.delete(oldest);
      this.evicted++;
    }
  }

  /** Records the outcome; returns the generation a waiting duplicate must be answered on, or -1. */
  settle(messageId: string, outcome: number): number {
    const v = this.#map.get(messageId);
    if (v !== undefined) this.#map.set(messageId, pack(Math.floor(v / 16), outcome));
    const w = this.#waiting?.get(messageId);
    if (w === undefined) return -1;
    this.#waiting!.delete(messageId);
    return w;
  }

  /** A duplicate of an in-flight message arrived on connection `generation`: answer it when the first settles. */
  wait(messageId: string, generation: number): void {
    (this.#waiting ??= new Map()).set(messageId, generation);
  }

  /** Forgets entries whose window has passed. Returns how many are left. */
  expire(nowMs: number): number {
    for (const [id, v] of this.#map) {
      if (Math.floor(v / 16) > nowMs || (v % 16) - 1 === IN_FLIGHT) break;
      this.#map.delete(id);
    }
    return this.#map.size;
  }

  /** Every entry (for a checkpoint after recovery): id, taken-at ms, outcome. */
  *entries(): IterableIterator<[string, number, number]> {
    for (const [id, v] of this.#map) yield [id, Math.floor(v / 16) - this.#windowMs, (v % 16) - 1];
  }
}

function pack(expiresAt: number, outcome: number): number {
  return expiresAt * 16 + outcome + 1;
}
