/**
 * The windows a full read of an etcd prefix asks for: disjoint key ranges that cover
 * the prefix exactly, each sized to hold about `target` keys, so that every request's
 * `range_end` is near its `key`.
 *
 * Why: etcd (3.4, 3.5, 3.6) answers a Range with the count of every key from `key` to
 * `range_end`, and walks them all to get it, whatever the `limit` (mvcc treeIndex
 * Revisions; 3.4 also allocates a revision per key walked). Paging through a million
 * keys with `range_end` at the end of the prefix made etcd walk N²/(2·page) keys:
 * 10.5 M at 50k a page, ~4 s of its CPU (docs/benchmarks.md, 2026-12-02). With windows
 * the walk is about the keys fetched, plus what a window that held more than `limit`
 * cost (its whole count), plus the first request's count of the prefix.
 *
 * How a window is sized without knowing the keys: a key's first DEPTH bytes after the
 * prefix are read as a number (its position); a segment of the key space holds a
 * current width, scaled after each answer by target/count (at most ×2 when a window
 * held few, ×4 when none, at least ÷64); the first page gives the first width (its keys over
 * its positions). A window that held more than `limit` keys leaves a hole after its
 * last key whose size etcd told (count − received): a segment of its own, sized by the
 * density just seen. Every segment knows at most how many keys it still holds (the
 * first answer's total, less the counts answered since): once that fits in `limit` the
 * rest is asked in one window, and at 0 nothing more is asked (no empty windows crawl to
 * the end of the key space).
 * Keys that share their first DEPTH bytes fall into one position; etcd is then paged
 * within them as before (correct, only slower).
 *
 * The windows are exact whatever the estimates: each starts where another ended (or
 * just after a key already received) and the last ends at the prefix's range end, so
 * every key is in exactly one window. The caller reads them all at one revision.
 */

/** Bytes of a key (after the prefix) that make its position. */
const DEPTH = 64;
const TOP = 1n << BigInt(8 * DEPTH);
/** Most a window's width grows after an answer with fewer keys than the target (×4 after an empty one). */
const GROW = 2;
const GROW_EMPTY = 4;
/** Most it shrinks after an answer with too many. */
const SHRINK = 64;
const SCALE_BITS = 20n;

/** One request to make: `[start, end)`, at most `limit` keys. */
export interface KeyWindow {
  readonly start: Buffer;
  readonly end: Buffer;
  readonly limit: number;
  /** @internal */
  readonly segment: Segment;
  /** @internal start's position and the width asked. */
  readonly startPos: bigint;
  /** @internal */
  readonly endPos: bigint;
}

interface Segment {
  /** The next window starts here (its position: nextPos). */
  next: Buffer;
  nextPos: bigint;
  readonly end: Buffer;
  readonly endPos: bigint;
  width: bigint;
  /**
   * At most this many keys lie in [next, end): etcd's count of the segment, less the
   * counts of its windows answered (windows still due make it smaller yet). At most
   * `limit`: the rest is asked in one window; 0: nothing is left to ask.
   */
  remaining: number;
  done: boolean;
}

export interface KeyWindowsOptions {
  /** The prefix's bytes and its range end (route-key.ts prefixRangeEnd). */
  prefix: Buffer;
  rangeEnd: Buffer;
  /** Keys a window aims at. */
  target: number;
  /** Most keys one answer may carry (the requests' limit). */
  limit: number;
}

export class KeyWindows {
  readonly #prefix: Buffer;
  readonly #rangeEnd: Buffer;
  #target: number;
  #limit: number;
  /** Holes first (their size is known), then the rest of the key space. */
  readonly #segments: Segment[] = [];

  constructor(opts: KeyWindowsOptions) {
    this.#prefix = opts.prefix;
    this.#rangeEnd = opts.rangeEnd;
    this.#target = Math.max(1, opts.target);
    this.#limit = Math.max(1, opts.limit);
  }

  get limit(): number {
    return this.#limit;
  }

  /** After a first page of `received` keys from `first` to `last`, of the `total` the prefix holds. */
  begin(first: Buffer, last: Buffer, received: number, total: number): void {
    const span = this.#position(last) - this.#position(first) + 1n;
    this.#segments.push({
      next: after(last),
      nextPos: this.#position(last),
      end: this.#rangeEnd,
      endPos: TOP,
      width: widthFor(span, received, this.#target),
      remaining: total - received,
      done: total <= received,
    });
  }

  /** Answers are too large for the receive limit: ask for at most `limit` keys from now on (windows shrink alike). */
  shrink(limit: number): void {
    const factor = Math.max(1, limit) / this.#limit;
    if (factor >= 1) return;
    this.#limit = Math.max(1, Math.floor(limit));
    this.#target = Math.max(1, Math.floor(this.#target * factor));
    for (const s of this.#segments) s.width = max1(scaled(s.width, factor));
  }

  /** The next window to ask for; undefined when none is left to ask now (answers due may add holes). */
  next(): KeyWindow | undefined {
    for (;;) {
      const seg = this.#segments[0];
      if (seg === undefined) return undefined;
      if (seg.done) {
        this.#segments.shift();
        continue;
      }
      const startPos = seg.nextPos;
      const start = seg.next;
      if (seg.remaining <= 0) {
        seg.done = true;
        continue;
      }
      let end = seg.end;
      let endPos = seg.endPos;
      if (seg.remaining > this.#limit) {
        const to = startPos + seg.width;
        if (to < seg.endPos) {
          endPos = to;
          end = this.#keyAt(to);
        }
      }
      if (endPos === seg.endPos) seg.done = true;
      seg.next = end;
      seg.nextPos = endPos;
      return { start, end, limit: this.#limit, segment: seg, startPos, endPos };
    }
  }

  /**
   * What etcd answered for `w`: `count` keys in it, `received` of them sent (all of
   * them unless the limit cut the answer), the last one `last`.
   */
  settle(w: KeyWindow, count: number, received: number, last: Buffer | undefined): void {
    const seg = w.segment;
    seg.remaining -= count;
    const asked = w.endPos - w.startPos;
    if (received >= count || last === undefined) {
      const factor = count === 0 ? GROW_EMPTY : Math.min(GROW, Math.max(1 / SHRINK, this.#target / count));
      if (!seg.done) seg.width = max1(scaled(asked, factor));
      return;
    }
    const lastPos = this.#position(last);
    const width = widthFor(lastPos - w.startPos + 1n, received, this.#target);
    if (!seg.done) seg.width = width;
    // The rest of this window: etcd said how many keys it holds.
    this.#segments.unshift({ next: after(last), nextPos: lastPos, end: w.end, endPos: w.endPos, width, remaining: count - received, done: false });
  }

  /** A key's position: its first DEPTH bytes after the prefix, as a number. */
  #position(key: Buffer): bigint {
    const from = this.#prefix.length;
    const bytes = Buffer.alloc(DEPTH);
    key.copy(bytes, 0, from, Math.min(key.length, from + DEPTH));
    return BigInt(`0x${bytes.toString('hex')}`);
  }

  /** The shortest key at a position (below TOP): the prefix, then its bytes without trailing zeros. */
  #keyAt(pos: bigint): Buffer {
    const bytes = Buffer.from(pos.toString(16).padStart(2 * DEPTH, '0'), 'hex');
    let n = DEPTH;
    while (n > 0 && bytes[n - 1] === 0) n--;
    return Buffer.concat([this.#prefix, bytes.subarray(0, n)]);
  }
}

/** The first key after `key`. */
function after(key: Buffer): Buffer {
  return Buffer.concat([key, Buffer.from([0])]);
}

/** A width that holds about `target` keys, where `span` held `keys`. */
function widthFor(span: bigint, keys: number, target: number): bigint {
  return max1((span * BigInt(target)) / BigInt(Math.max(1, keys)));
}

function scaled(width: bigint, factor: number): bigint {
  return (width * BigInt(Math.round(factor * 2 ** Number(SCALE_BITS)))) >> SCALE_BITS;
}

function max1(v: bigint): bigint {
  return v < 1n ? 1n : v;
}
