/**
 * Spreads closes over a period: the items are shuffled once (the jitter), then
 * each tick closes as many as the elapsed fraction of the period calls for, so
 * 100k clients reconnect over the period, not in the same second.
 */
export class DrainSchedule<T> {
  readonly #items: T[];
  readonly #periodMs: number;
  readonly #startedAt: number;
  readonly #close: (item: T) => void;
  #next = 0;

  constructor(items: T[], periodMs: number, now: number, close: (item: T) => void, random: () => number = Math.random) {
    this.#items = shuffleInPlace(items, random);
    this.#periodMs = periodMs;
    this.#startedAt = now;
    this.#close = close;
  }

  get done(): boolean {
    return this.#next >= this.#items.length;
  }

  /** How many items have been closed so far. */
  get closed(): number {
    return this.#next;
  }

  tick(now: number): void {
    const elapsed = now - this.#startedAt;
    const due = this.#periodMs <= 0 || elapsed >= this.#periodMs
      ? this.#items.length
      : Math.floor((this.#items.length * elapsed) / this.#periodMs);
    while (this.#next < due) this.#close(this.#items[this.#next++]!);
  }
}

/** Fisher–Yates: puts `items` in a uniformly random order, in place; returns it. */
export function shuffleInPlace<T>(items: T[], random: () => number = Math.random): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const t = items[i]!;
    items[i] = items[j]!;
    items[j] = t;
  }
  return items;
}
