/**
 * A session's unacknowledged envelopes, in seq order, from `firstSeq` on: a
 * power-of-two circular buffer of parallel arrays (the frame when it is in memory,
 * else null, and where the envelope is in the log: segment, position, length), so
 * that 10,000 entries cost typed arrays, not 10,000 objects. It grows by doubling;
 * the session bounds how many it holds.
 */
export class EnvelopeRing {
  #frames: Array<Buffer | null>;
  #seg: Int32Array;
  #len: Int32Array;
  #pos: Float64Array;
  #mask: number;
  #head = 0;
  #count = 0;
  /** The seq of the oldest entry (the next one to be pushed when empty). */
  firstSeq: number;
  /** Envelope bytes held (in memory or only in the log). */
  bytes = 0;

  constructor(firstSeq: number, capacity = 8) {
    this.firstSeq = firstSeq;
    this.#frames = new Array<Buffer | null>(capacity).fill(null);
    this.#seg = new Int32Array(capacity);
    this.#len = new Int32Array(capacity);
    this.#pos = new Float64Array(capacity);
    this.#mask = capacity - 1;
  }

  get count(): number {
    return this.#count;
  }

  /** The seq after the newest entry. */
  get endSeq(): number {
    return this.firstSeq + this.#count;
  }

  /** Appends the next envelope (seq = endSeq). */
  push(frame: Buffer | null, seg: number, pos: number, len: number): void {
    if (this.#count > this.#mask) this.#grow();
    const i = (this.#head + this.#count) & this.#mask;
    this.#frames[i] = frame;
    this.#seg[i] = seg;
    this.#pos[i] = pos;
    this.#len[i] = len;
    this.#count++;
    this.bytes += len;
  }

  #index(seq: number): number {
    const k = seq - this.firstSeq;
    if (k < 0 || k >= this.#count) throw new RangeError(`seq ${seq} is not held (${this.firstSeq}..${this.endSeq - 1})`);
    return (this.#head + k) & this.#mask;
  }

  frame(seq: number): Buffer | null {
    return this.#frames[this.#index(seq)]!;
  }

  setFrame(seq: number, frame: Buffer | null): void {
    this.#frames[this.#index(seq)] = frame;
  }

  segment(seq: number): number {
    return this.#seg[this.#index(seq)]!;
  }

  position(seq: number): number {
    return this.#pos[this.#index(seq)]!;
  }

  length(seq: number): number {
    return this.#len[this.#index(seq)]!;
  }

  /** Removes the oldest entry. */
  shift(): void {
    if (this.#count === 0) return;
    const i = this.#head;
    this.bytes -= this.#len[i]!;
    this.#frames[i] = null;
    this.#head = (i + 1) & this.#mask;
    this.#count--;
    this.firstSeq++;
  }

  #grow(): void {
    const cap = (this.#mask + 1) * 2;
    const frames = new Array<Buffer | null>(cap).fill(null);
    const seg = new Int32Array(cap);
    const len = new Int32Array(cap);
    const pos = new Float64Array(cap);
    for (let k = 0; k < this.#count; k++) {
      const i = (this.#head + k) & this.#mask;
      frames[k] = this.#frames[i]!;
      seg[k] = this.#seg[i]!;
      len[k] = this.#len[i]!;
      pos[k] = this.#pos[i]!;
    }
    this.#frames = frames;
    this.#seg = seg;
    this.#len = len;
    this.#pos = pos;
    this.#mask = cap - 1;
    this.#head = 0;
  }
}
