/**
 * Which upstreams are down, keyed by the resolved upstream URL (`RouteMatch.target`).
 *
 * An upstream goes down when
 *   - the operator marks it down (`markDown`): it stays down until `markUp`;
 *   - `failureThreshold` connects in a row fail (`recordFailure`): it stays down for
 *     `cooldownMs`, then is tried again (half-open: the next failure takes it down
 *     again at once, a success clears it).
 * A pool skips down members (see `route-target.ts`). One instance per process,
 * passed to the route table; nothing here is global.
 *
 * It is also the circuit breaker of reliable sessions' reconnects (`admit`):
 * closed (up) lets every attempt through; open (down) lets none; half-open (a
 * failure-down upstream whose cooldown has passed) lets exactly one attempt through
 * at a time, the probe, whose outcome closes or reopens it.
 *
 * Bounded: at most `maxTracked` upstreams are tracked; past it the oldest entry that
 * is not an operator mark is dropped and counted in `evicted`.
 */

export type DownReason = 'operator' | 'failures';

/** The circuit breaker's view of an upstream. */
export type BreakerState = 'closed' | 'open' | 'half_open';

export interface UpstreamStatus {
  readonly target: string;
  readonly down: boolean;
  /** Why it is (or was last) down; undefined while it only collects failures. */
  readonly reason: DownReason | undefined;
  /** Consecutive failed connects. */
  readonly failures: number;
  /** Until when (clock ms) a failure-down upstream is skipped; undefined for operator marks. */
  readonly downUntil: number | undefined;
}

/** What the route table needs from a health tracker. */
export interface UpstreamHealthView {
  /** False when no upstream is tracked at all: the table then skips every check. */
  anyTracked(): boolean;
  isDown(target: string): boolean;
  status(target: string): UpstreamStatus | undefined;
}

export interface UpstreamHealthOptions {
  /** Consecutive connect failures that take an upstream down. Default 3. */
  readonly failureThreshold?: number;
  /** How long a failure-down upstream is skipped before it is tried again. Default 30 s. */
  readonly cooldownMs?: number;
  /** Most upstreams tracked at once. Default 100,000. */
  readonly maxTracked?: number;
  /** Milliseconds clock. Default `Date.now`. */
  readonly now?: () => number;
}

interface Entry {
  failures: number;
  operator: boolean;
  /** 0 = not failure-down. */
  downUntil: number;
  /** Half-open: the one attempt let through is in flight. */
  probing: boolean;
}

export class UpstreamHealth implements UpstreamHealthView {
  readonly failureThreshold: number;
  readonly cooldownMs: number;
  readonly maxTracked: number;
  readonly #now: () => number;
  readonly #entries = new Map<string, Entry>();
  #evicted = 0;

  constructor(opts: UpstreamHealthOptions = {}) {
    this.failureThreshold = opts.failureThreshold ?? 3;
    this.cooldownMs = opts.cooldownMs ?? 30_000;
    this.maxTracked = opts.maxTracked ?? 100_000;
    this.#now = opts.now ?? Date.now;
    if (!(this.failureThreshold >= 1) || !(this.cooldownMs >= 0) || !(this.maxTracked >= 1)) {
      throw new RangeError('failureThreshold and maxTracked must be >= 1, cooldownMs >= 0');
    }
  }

  /** Entries dropped because `maxTracked` was reached. */
  get evicted(): number {
    return this.#evicted;
  }

  get tracked(): number {
    return this.#entries.size;
  }

  anyTracked(): boolean {
    return this.#entries.size > 0;
  }

  isDown(target: string): boolean {
    const e = this.#entries.get(target);
    return e !== undefined && (e.operator || e.downUntil > this.#now());
  }

  status(target: string): UpstreamStatus | undefined {
    const e = this.#entries.get(target);
    if (e === undefined) return undefined;
    const down = e.operator || e.downUntil > this.#now();
    return Object.freeze({
      target,
      down,
      reason: e.operator ? 'operator' : e.downUntil > 0 ? 'failures' : undefined,
      failures: e.failures,
      downUntil: e.operator || e.downUntil === 0 ? undefined : e.downUntil,
    });
  }

  /** Every tracked upstream (for the admin API). */
  list(): UpstreamStatus[] {
    return [...this.#entries.keys()].map((t) => this.status(t)!);
  }

  /** The breaker's state for `target`. */
  breakerState(target: string): BreakerState {
    const e = this.#entries.get(target);
    if (e === undefined) return 'closed';
    if (e.operator || e.downUntil > this.#now()) return 'open';
    return e.downUntil > 0 ? 'half_open' : 'closed';
  }

  /**
   * May a connect to `target` start now? Closed: yes. Open: no. Half-open: yes for
   * the first caller (the probe; its recordSuccess/recordFailure settles the state),
   * no for the others until then.
   */
  admit(target: string): boolean {
    const e = this.#entries.get(target);
    if (e === undefined) return true;
    if (e.operator || e.downUntil > this.#now()) return false;
    if (e.downUntil === 0) return true;
    if (e.probing) return false;
    e.probing = true;
    return true;
  }

  /** A connect to `target` failed. Returns true when this failure took it down. */
  recordFailure(target: string): boolean {
    const e = this.#entry(target);
    e.probing = false;
    e.failures++;
    if (e.operator || e.failures < this.failureThreshold) return false;
    const wasDown = e.downUntil > this.#now();
    e.downUntil = this.#now() + this.cooldownMs;
    return !wasDown;
  }

  /**
   * An open connection to `target` was lost: the breaker goes half-open (unless it is
   * open already), so that the reconnects of many sessions send one probe first.
   */
  recordLoss(target: string): void {
    const e = this.#entry(target);
    if (e.operator || e.downUntil > this.#now()) return;
    e.failures = Math.max(e.failures, this.failureThreshold);
    if (e.downUntil === 0) e.downUntil = this.#now();
  }

  /** The probe let through by `admit` ended without an outcome: let another one through. */
  probeAbandoned(target: string): void {
    const e = this.#entries.get(target);
    if (e !== undefined) e.probing = false;
  }

  /** A connect to `target` succeeded: failures are forgotten (an operator mark stays). */
  recordSuccess(target: string): void {
    const e = this.#entries.get(target);
    if (e === undefined) return;
    if (e.operator) {
      e.failures = 0;
      e.downUntil = 0;
      e.probing = false;
    } else {
      this.#entries.delete(target);
    }
  }

  /** The operator takes `target` out of its pools until `markUp`. */
  markDown(target: string): void {
    this.#entry(target).operator = true;
  }

  /** Clears the operator mark and any failures. */
  markUp(target: string): void {
    this.#entries.delete(target);
  }

  #entry(target: string): Entry {
    let e = this.#entries.get(target);
    if (e === undefined) {
      if (this.#entries.size >= this.maxTracked) this.#evictOne();
      e = { failures: 0, operator: false, downUntil: 0, probing: false };
      this.#entries.set(target, e);
    }
    return e;
  }

  #evictOne(): void {
    for (const [target, e] of this.#entries) {
      if (!e.operator) {
        this.#entries.delete(target);
        this.#evicted++;
        return;
      }
    }
    // Only operator marks: drop the oldest of them rather than grow without bound.
    const oldest = this.#entries.keys().next().value;
    if (oldest !== undefined) {
      this.#entries.delete(oldest);
      this.#evicted++;
    }
  }
}
