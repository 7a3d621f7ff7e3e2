/**
 * One full garbage collection after a burst of new connections, once they stop coming.
 *
 * Every handshake leaves garbage behind (the HTTP parser's request objects, the
 * socket objects http and child_process made before a leg took the handle over, the
 * upstream request, the IPC message of a hand-over). With the small young generation
 * the gateway runs with (`--max-semi-space-size=2`), much of it lives long enough to
 * be promoted to the old generation during a burst, and V8 collects the old generation
 * only when it reaches its allocation limit, which a process holding idle sessions
 * may not reach for hours; V8's memory reducer starts only after such a collection.
 * Measured (docs/benchmarks.md, "Memory per idle session: what the bytes are"): with
 * 5,000 sessions just opened, a full collection in each process frees 5.8 KiB per
 * session of RSS (15 → 9 KiB per session).
 *
 * So each process (primary, workers, a standalone gateway) counts its new connections,
 * and when at least `minConnections` came since the last collection and none for
 * `quietMs`, it runs a full collection at each of its next `rounds` checks (one a
 * second; at most once per burst; never while connections keep coming). One collection
 * frees the garbage but gives little memory back: the sessions' objects are spread over
 * the pages the garbage shared with them, and V8 moves them together (compacts) only
 * over the following collections; three gave back what a longer series does (measured:
 * 5,000 sessions, 14 → 8 KiB per session). Each is a pause of a few tens of milliseconds
 * for a heap of tens of MiB, spread over three seconds. A process with traffic flowing
 * (its event loop busy more than `maxBusy`, 5 %, of the last second) puts them off until
 * it is nearly idle: a pause there delays the messages in flight (with 25 % the
 * collections ran while 1,000 clients sent 2,000 messages/s, and that benchmark's p99
 * rose by 1-2 ms), and the garbage of a busy process is the young generation's, which
 * V8 collects as it goes, so the relay's CPU per message does not pay for them.
 *
 * The collection is V8's `gc()`. Node exposes it with `--expose-gc`; so that every way
 * of starting the gateway (npm start, the bin, `node main.js`, the executable, the
 * systemd unit, any `gateway.workerNodeOptions`) gets it without another flag, the
 * process takes it from a fresh V8 context with the flag set at run time (V8 reads
 * it when a context is created) and clears the flag again: the global scope of the
 * gateway does not get a `gc`.
 */
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { fullCollection } from './full-collection.js';

export interface BurstCollectorOptions {
  /** New connections since the last collection that make a burst. */
  readonly minConnections?: number;
  /** Milliseconds without a new connection that end it. */
  readonly quietMs?: number;
  /** Collections per burst, one per check. */
  readonly rounds?: number;
  /** How often the process looks (its own unref'd timer). */
  readonly checkEveryMs?: number;
  /** Share of the time since the last check the event loop was busy, 0..1 (default: its utilization). */
  readonly busy?: () => number;
  /** Busier than this, the collections wait. */
  readonly maxBusy?: number;
  /** Monotonic milliseconds (default performance.now). */
  readonly now?: () => number;
  /** The collection (default V8's full gc()). */
  readonly collect?: () => void;
  /** Runs before each collection: lets the process drop what it keeps only for busy times (the reliable sessions' idle structures). */
  readonly beforeCollect?: () => void;
}

export const BURST_MIN_CONNECTIONS = 500;
export const BURST_QUIET_MS = 2_000;
export const BURST_ROUNDS = 3;
export const BURST_MAX_BUSY = 0.05;
const CHECK_EVERY_MS = 1_000;

export class BurstCollector {
  readonly #min: number;
  readonly #quietMs: number;
  readonly #rounds: number;
  readonly #now: () => number;
  readonly #collect: () => void;
  readonly #beforeCollect: (() => void) | undefined;
  readonly #busy: () => number;
  readonly #maxBusy: number;
  readonly #timer: NodeJS.Timeout;
  #connections = 0;
  #lastAt = 0;
  /** Collections still to run for the burst that ended. */
  #due = 0;
  /** Collections run (for tests and the logs). */
  collections = 0;

  constructor(opts: BurstCollectorOptions = {}) {
    this.#min = opts.minConnections ?? BURST_MIN_CONNECTIONS;
    this.#quietMs = opts.quietMs ?? BURST_QUIET_MS;
    this.#rounds = opts.rounds ?? BURST_ROUNDS;
    this.#now = opts.now ?? (() => performance.now());
    this.#collect = opts.collect ?? fullCollection();
    this.#beforeCollect = opts.beforeCollect;
    this.#busy = opts.busy ?? loopBusy();
    this.#maxBusy = opts.maxBusy ?? BURST_MAX_BUSY;
    this.#timer = setInterval(() => this.check(), opts.checkEveryMs ?? CHECK_EVERY_MS);
    this.#timer.unref();
  }

  /** A new connection arrived (a burst that goes on puts the collections off). */
  connection(): void {
    this.#connections++;
    this.#lastAt = this.#now();
    this.#due = 0;
  }

  /** Runs a collection if a burst has ended and one is due; true when it ran. */
  check(): boolean {
    const busy = this.#busy();
    if (this.#due === 0) {
      if (this.#connections < this.#min || this.#now() - this.#lastAt < this.#quietMs) return false;
      this.#connections = 0;
      this.#due = this.#rounds;
    }
    if (busy > this.#maxBusy) return false;
    this.#due--;
    this.#beforeCollect?.();
    this.#collect();
    this.collections++;
    return true;
  }

  close(): void {
    clearInterval(this.#timer);
  }
}

/** The event loop's utilization since the previous call. */
function loopBusy(): () => number {
  let last: EventLoopUtilization = performance.eventLoopUtilization();
  return () => {
    const now = performance.eventLoopUtilization();
    const u = performance.eventLoopUtilization(now, last).utilization;
    last = now;
    return u;
  };
}
