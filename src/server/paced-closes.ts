/**
 * Closes items at a configured rate, with jitter: what `routing.onRouteChange:
 * "migrate"` uses to move the sessions whose route changed without sending them all
 * to their new upstream in the same instant.
 *
 * Each batch added is shuffled (which client goes when is random), and the gap
 * between two closes is uniform in [0.5, 1.5] x 1/rate (the rate holds on average,
 * the instants do not line up across workers and instances). Items added while a
 * migration runs join the queue behind the ones waiting; an item already queued is
 * not queued twice, and one that goes away by itself can be dropped (`delete`, O(1)).
 * A late timer (the event loop was busy) catches up at most MAX_CATCH_UP_MS of the
 * schedule, so a stall never turns into a burst. One timer, armed only while something
 * waits.
 */
import { shuffleInPlace } from './drain-schedule.js';

export interface PacedClosesOptions<T> {
  ratePerSecond: number;
  close: (item: T) => void;
  random?: () => number;
  /** Milliseconds clock. Default performance.now. */
  now?: () => number;
}

/** Timers are not armed closer together than this; closes that fall due meanwhile go together. */
const MIN_TIMER_MS = 4;
/** After a stall (a late timer), at most this much of the schedule is caught up at once: no burst. */
const MAX_CATCH_UP_MS = 100;

export class PacedCloses<T> {
  /** Waiting items in the order they will be closed (a Set keeps insertion order). */
  readonly #queue = new Set<T>();
  readonly #close: (item: T) => void;
  readonly #random: () => number;
  readonly #now: () => number;
  #intervalMs: number;
  #nextDue = 0;
  #timer: NodeJS.Timeout | undefined;
  #closed = 0;

  constructor(opts: PacedClosesOptions<T>) {
    this.#close = opts.close;
    this.#random = opts.random ?? Math.random;
    this.#now = opts.now ?? (() => performance.now());
    this.#intervalMs = 1000 / opts.ratePerSecond;
  }

  /** Items waiting. */
  get pending(): number {
    return this.#queue.size;
  }

  /** Items closed so far. */
  get closed(): number {
    return this.#closed;
  }

  set ratePerSecond(rate: number) {
    this.#intervalMs = 1000 / rate;
  }

  /** Queues `items` (shuffled; ones already waiting are skipped). Returns how many were added. */
  add(items: T[]): number {
    let added = 0;
    const wasIdle = this.#queue.size === 0;
    for (const item of shuffleInPlace(items, this.#random)) {
      if (this.#queue.has(item)) continue;
      this.#queue.add(item);
      added++;
    }
    if (added > 0 && wasIdle) {
      this.#nextDue = this.#now() + this.#gap() / 2;
      this.#arm();
    }
    return added;
  }

  /** Forgets an item (it closed by itself). */
  delete(item: T): void {
    this.#queue.delete(item);
    if (this.#queue.size === 0) this.#disarm();
  }

  /** Forgets everything waiting (e.g. the drain closes them anyway). */
  clear(): void {
    this.#queue.clear();
    this.#disarm();
  }

  #gap(): number {
    return this.#intervalMs * (0.5 + this.#random());
  }

  #arm(): void {
    if (this.#timer !== undefined || this.#queue.size === 0) return;
    const delay = Math.max(MIN_TIMER_MS, this.#nextDue - this.#now());
    this.#timer = setTimeout(() => this.#onTimer(), delay);
    this.#timer.unref();
  }

  #disarm(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #onTimer(): void {
    this.#timer = undefined;
    const now = this.#now();
    if (this.#nextDue < now - MAX_CATCH_UP_MS) this.#nextDue = now - MAX_CATCH_UP_MS;
    while (this.#queue.size > 0 && this.#nextDue <= now) {
      const item = this.#queue.values().next().value as T;
      this.#queue.delete(item);
      this.#closed++;
      this.#nextDue += this.#gap();
      this.#close(item);
    }
    this.#arm();
  }
}
