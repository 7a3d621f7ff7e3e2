/**
 * Paces connects to each upstream (admission.upstream): at most `maxConcurrent`
 * in flight and `ratePerSecond` started (token bucket, `burst`) per upstream URL;
 * the rest wait in a FIFO of at most `maxWaiting` per upstream. A thundering herd
 * after an upstream restart thus reaches it at a pace it survives, and a full queue
 * is refused at the handshake (503 STRATIX_ERR_UPSTREAM_BUSY), before the client's 101.
 *
 * Holders are opaque (a Session): `request` starts one now or queues it, `done`
 * says its connect finished (opened, failed, or the client left) and frees its place.
 * The owner calls `expire` from its tick to give up on holders that waited too long.
 * Lanes (per-upstream state) are forgotten once idle with a full bucket.
 */
import { TokenBucket, type Clock } from './token-bucket.js';

export interface UpstreamGateOptions {
  /** Connects in flight per upstream; 0 = no limit. */
  readonly maxConcurrent: number;
  /** Connects started per second per upstream; 0 = no limit. */
  readonly ratePerSecond: number;
  readonly burst: number;
  /** Waiting connects per upstream. */
  readonly maxWaiting: number;
  readonly now?: Clock;
}

interface Lane {
  readonly target: string;
  readonly bucket: TokenBucket;
  inFlight: number;
  waiting: number;
  queue: object[];
  head: number;
}

interface Place {
  readonly lane: Lane;
  running: boolean;
  readonly since: number;
}

export class UpstreamGate<T extends object> {
  readonly #o: UpstreamGateOptions;
  readonly #now: Clock;
  readonly #start: (holder: T) => void;
  readonly #lanes = new Map<string, Lane>();
  readonly #places = new Map<T, Place>();
  #timer: NodeJS.Timeout | undefined;
  #waiting = 0;
  #inFlight = 0;

  /** `start` opens the holder's upstream connect (called now or when its turn comes). */
  constructor(opts: UpstreamGateOptions, start: (holder: T) => void) {
    this.#o = opts;
    this.#now = opts.now ?? performance.now.bind(performance);
    this.#start = start;
  }

  /** Connects waiting, over all upstreams. */
  get waiting(): number {
    return this.#waiting;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  get lanes(): number {
    return this.#lanes.size;
  }

  /** False when `target` already has maxWaiting connects waiting (refuse before the 101). */
  canQueue(target: string): boolean {
    const lane = this.#lanes.get(target);
    return lane === undefined || lane.waiting < this.#o.maxWaiting || this.#free(lane);
  }

  /**
   * `holder` wants to connect to `target`: true when it may start now (the caller
   * starts it), false when it is queued (`start` is called when its turn comes).
   */
  request(target: string, holder: T): boolean {
    let lane = this.#lanes.get(target);
    if (lane === undefined) {
      lane = { target, bucket: new TokenBucket({ ratePerSecond: this.#o.ratePerSecond, burst: this.#o.burst, now: this.#now }), inFlight: 0, waiting: 0, queue: [], head: 0 };
      this.#lanes.set(target, lane);
    }
    const place: Place = { lane, running: false, since: this.#now() };
    this.#places.set(holder, place);
    if (lane.waiting === 0 && this.#free(lane) && lane.bucket.take()) {
      this.#occupy(place);
      return true;
    }
    lane.queue.push(holder);
    lane.waiting++;
    this.#waiting++;
    this.#pump(lane);
    return false;
  }

  /** The holder's connect finished, or it left while waiting. Idempotent. */
  done(holder: T): void {
    const place = this.#places.get(holder);
    if (place === undefined) return;
    this.#places.delete(holder);
    const lane = place.lane;
    if (place.running) {
      lane.inFlight--;
      this.#inFlight--;
      this.#pump(lane);
    } else {
      lane.waiting--;
      this.#waiting--;
    }
  }

  /** Calls `onExpired` for each holder that has waited at least `maxWaitMs` (it must then call `done`). */
  expire(maxWaitMs: number, onExpired: (holder: T) => void): void {
    const now = this.#now();
    if (this.#waiting > 0) {
      const late: T[] = [];
      for (const [h, p] of this.#places) if (!p.running && now - p.since >= maxWaitMs) late.push(h);
      for (const h of late) onExpired(h);
    }
    for (const [t, lane] of this.#lanes) if (lane.inFlight === 0 && lane.waiting === 0 && lane.bucket.full(now)) this.#lanes.delete(t);
  }

  close(): void {
    clearTimeout(this.#timer);
  }

  #free(lane: Lane): boolean {
    return this.#o.maxConcurrent === 0 || lane.inFlight < this.#o.maxConcurrent;
  }

  #occupy(place: Place): void {
    place.running = true;
    place.lane.inFlight++;
    this.#inFlight++;
  }

  #run(holder: T, place: Place): void {
    this.#occupy(place);
    this.#start(holder);
  }

  #pump(lane: Lane): void {
    while (lane.waiting > 0 && this.#free(lane)) {
      if (!lane.bucket.take()) {
        this.#wake(lane.bucket.waitMs());
        return;
      }
      const holder = this.#dequeue(lane);
      if (holder === undefined) return;
      lane.waiting--;
      this.#waiting--;
      this.#run(holder, this.#places.get(holder)!);
    }
  }

  /** The next holder still waiting (ones that left are skipped). */
  #dequeue(lane: Lane): T | undefined {
    while (lane.head < lane.queue.length) {
      const h = lane.queue[lane.head++] as T;
      const p = this.#places.get(h);
      if (p !== undefined && !p.running && p.lane === lane) {
        if (lane.head > 1024 && lane.head * 2 > lane.queue.length) {
          lane.queue = lane.queue.slice(lane.head);
          lane.head = 0;
        }
        return h;
      }
    }
    lane.queue = [];
    lane.head = 0;
    return undefined;
  }

  /** Pumps every rate-blocked lane in `ms` (one timer for the gate). */
  #wake(ms: number): void {
    if (this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      for (const lane of this.#lanes.values()) if (lane.waiting > 0) this.#pump(lane);
    }, Math.max(1, Math.ceil(ms)));
    this.#timer.unref();
  }
}
