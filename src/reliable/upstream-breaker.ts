/**
 * The circuit breaker in front of reliable sessions' upstream reconnects, so that
 * 100k sessions whose upstream died do not all hammer it. The state per upstream
 * is the process's UpstreamHealth (src/routing/upstream-health.ts): after
 * `routing.health.failuresToMarkDown` failed connects it is open for
 * `downCooldownMs`; then half-open, one attempt (the probe) at a time.
 *
 * A session that may not connect now waits here; the tick lets one waiter through
 * as the probe whenever the breaker allows one, and when an attempt succeeds the
 * rest are released spread at random over `spreadMs` (not all in one instant).
 */
import type { UpstreamHealth } from '../routing/upstream-health.js';

export interface BreakerWaiter {
  /** The breaker lets this session's connect attempt start now. */
  breakerAllows(): void;
}

export class UpstreamBreaker {
  readonly health: UpstreamHealth;
  readonly #spreadMs: number;
  readonly #random: () => number;
  readonly #waiting = new Map<string, Set<BreakerWaiter>>();
  /** Released after a success, each at its own time (monotonic ms). */
  #releases: Array<{ waiter: BreakerWaiter; at: number }> = [];
  #waiters = 0;

  constructor(health: UpstreamHealth, spreadMs: number, random: () => number = Math.random) {
    this.health = health;
    this.#spreadMs = spreadMs;
    this.#random = random;
  }

  /** Sessions waiting for the breaker (or for their spread release). */
  get waiters(): number {
    return this.#waiters + this.#releases.length;
  }

  /** True: connect now. False: wait; `waiter.breakerAllows()` is called when it may. */
  request(target: string, waiter: BreakerWaiter): boolean {
    if (this.health.admit(target)) return true;
    let set = this.#waiting.get(target);
    if (set === undefined) this.#waiting.set(target, (set = new Set()));
    if (!set.has(waiter)) {
      set.add(waiter);
      this.#waiters++;
    }
    return false;
  }

  /** The waiter no longer wants to connect (its session ended). */
  cancel(target: string, waiter: BreakerWaiter): void {
    const set = this.#waiting.get(target);
    if (set?.delete(waiter)) {
      this.#waiters--;
      if (set.size === 0) this.#waiting.delete(target);
    }
    this.#releases = this.#releases.filter((r) => r.waiter !== waiter);
  }

  /** A connect to `target` succeeded: the breaker closes and its waiters follow, spread out. */
  success(target: string, now: number): void {
    this.health.recordSuccess(target);
    const set = this.#waiting.get(target);
    if (set === undefined) return;
    this.#waiting.delete(target);
    this.#waiters -= set.size;
    for (const waiter of set) this.#releases.push({ waiter, at: now + this.#random() * this.#spreadMs });
  }

  /** An open connection to `target` was lost: reconnects probe it one at a time until one succeeds. */
  lost(target: string): void {
    this.health.recordLoss(target);
  }

  /** An attempt to `target` was given up before its outcome (its session ended). */
  abandoned(target: string): void {
    this.health.probeAbandoned(target);
  }

  /** A connect to `target` failed. True when this failure opened the breaker. */
  failure(target: string): boolean {
    return this.health.recordFailure(target);
  }

  /** Lets due releases go, and one probe per upstream whose breaker allows an attempt. */
  tick(now: number): void {
    if (this.#releases.length > 0) {
      const due = this.#releases.filter((r) => r.at <= now);
      if (due.length > 0) {
        this.#releases = this.#releases.filter((r) => r.at > now);
        for (const r of due) r.waiter.breakerAllows();
      }
    }
    for (const [target, set] of this.#waiting) {
      if (!this.health.admit(target)) continue;
      const first = set.values().next().value as BreakerWaiter;
      set.delete(first);
      this.#waiters--;
      if (set.size === 0) this.#waiting.delete(target);
      first.breakerAllows();
    }
  }

  /** How many tracked upstreams are open and half-open now (for the gauge; not one series per upstream). */
  counts(): { open: number; halfOpen: number } {
    let open = 0;
    let halfOpen = 0;
    for (const s of this.health.list()) {
      const st = this.health.breakerState(s.target);
      if (st === 'open') open++;
      else if (st === 'half_open') halfOpen++;
    }
    return { open, halfOpen };
  }
}
