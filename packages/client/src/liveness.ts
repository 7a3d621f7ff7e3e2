/**
 * Is the connection alive? The gateway sends something (at least a HEARTBEAT) every
 * `heartbeatMs`, within half a second (docs/protocol.md §3.2); browsers cannot see
 * WebSocket pings, so this is the signal (§3.4). Silence for two intervals means the
 * connection is dead.
 *
 * Time is read from the clock passed in (the wall clock by default, which goes on
 * while a laptop sleeps, where a monotonic clock may stop). A check that runs late
 * by more than an interval (the machine was asleep, the process stopped, the timers
 * were throttled) is taken as dead at once if nothing arrived for more than 1.5
 * intervals (at least an interval plus the gateway's half second): more silence
 * than a healthy gateway leaves, so the gateway has probably dropped the
 * connection meanwhile, and a socket that slept rarely learns of it before it
 * sends. A frame delivered on waking, before the late check has run, was queued
 * before the sleep: the late check runs first (`traffic`). A page whose timers are throttled (a hidden tab) still gets its frames, so
 * a late check does not drop a live connection there; it only notices a dead one
 * as late as its timers run.
 *
 * The timer functions are passed in too (the global ones by default), so that tests
 * run its checks on a clock of their own.
 */
export interface LivenessTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const globalTimers: LivenessTimers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

export class Liveness {
  readonly #clock: () => number;
  readonly #onDead: (why: string) => void;
  readonly #timers: LivenessTimers;
  #heartbeatMs = 0;
  #intervalMs = 0;
  #lastTraffic = 0;
  #due = 0;
  #timer: unknown;

  constructor(clock: () => number, onDead: (why: string) => void, timers: LivenessTimers = globalTimers) {
    this.#clock = clock;
    this.#onDead = onDead;
    this.#timers = timers;
  }

  /** Starts watching a connection whose gateway promised traffic every `heartbeatMs`. */
  start(heartbeatMs: number): void {
    this.stop();
    this.#heartbeatMs = heartbeatMs;
    this.#intervalMs = Math.max(50, Math.floor(heartbeatMs / 2));
    this.#lastTraffic = this.#clock();
    this.#schedule(this.#lastTraffic);
  }

  /**
   * A frame arrived. One that comes while the check is overdue by more than an interval
   * (the timers did not run: the machine slept, the process stopped) may have been queued
   * before that, and says nothing of the connection now: the late check runs first, on
   * the silence before the frame.
   */
  traffic(): void {
    const now = this.#clock();
    if (this.#timer !== undefined && now - this.#due > this.#heartbeatMs) {
      this.#timers.clearTimeout(this.#timer);
      if (!this.#check()) return;
    }
    this.#lastTraffic = now;
  }

  stop(): void {
    if (this.#timer !== undefined) this.#timers.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(now: number): void {
    this.#due = now + this.#intervalMs;
    this.#timer = this.#timers.setTimeout(() => void this.#check(), this.#intervalMs);
  }

  /** Runs a check: false when it found the connection dead (then nothing is scheduled). */
  #check(): boolean {
    this.#timer = undefined;
    const now = this.#clock();
    const hb = this.#heartbeatMs;
    if (now < this.#lastTraffic) this.#lastTraffic = now; // the wall clock was set back
    const silence = now - this.#lastTraffic;
    const late = now - this.#due;
    if (silence > 2 * hb) {
      this.#onDead(`nothing from the gateway for ${silence} ms (heartbeat ${hb} ms)`);
      return false;
    }
    if (late > hb && silence > lateSilenceMs(hb)) {
      this.#onDead(`the liveness check ran ${late} ms late and nothing arrived for ${silence} ms (asleep?)`);
      return false;
    }
    this.#schedule(now);
    return true;
  }
}

/** The silence that a late check takes as dead: 1.5 intervals, and at least the gateway's bound (an interval plus 500 ms). */
export function lateSilenceMs(heartbeatMs: number): number {
  return Math.max(1.5 * heartbeatMs, heartbeatMs + 500);
}
