/**
 * What `GET /admin/workers` tells about one process: its pid, memory, uptime and how
 * late its event loop ran (perf_hooks' event-loop delay histogram, sampled every 20 ms,
 * over the last complete 10-second window: the figures do not depend on how often
 * anyone asks). A loop that is never late shows 0. One per process, created by its entry point.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

const WINDOW_MS = 10_000;
/** The histogram's timer fires every RESOLUTION_MS and records the whole interval: the lateness is the rest. */
const RESOLUTION_MS = 20;

export interface EventLoopDelay {
  /** Milliseconds; the histogram's own resolution is 20 ms. */
  readonly meanMs: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** Seconds the window covers (less than 10 for a process younger than that). */
  readonly windowSeconds: number;
}

export interface ProcessInfo {
  readonly pid: number;
  readonly rssBytes: number;
  readonly heapUsedBytes: number;
  readonly uptimeSeconds: number;
  readonly eventLoopDelay: EventLoopDelay;
  /** The Node/V8 flags the process runs with: its execArgv (the executable's built-in ones included) and NODE_OPTIONS. */
  readonly nodeFlags: string[];
}

export class ProcessStats {
  readonly #histogram: IntervalHistogram;
  readonly #timer: NodeJS.Timeout;
  #windowStart = performance.now();
  #last: EventLoopDelay | undefined;

  constructor() {
    this.#histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
    this.#histogram.enable();
    this.#timer = setInterval(() => {
      this.#last = this.#read();
      this.#histogram.reset();
      this.#windowStart = performance.now();
    }, WINDOW_MS);
    this.#timer.unref();
  }

  info(): ProcessInfo {
    const mem = process.memoryUsage();
    return {
      pid: process.pid,
      rssBytes: mem.rss,
      heapUsedBytes: mem.heapUsed,
      uptimeSeconds: Math.round(process.uptime()),
      eventLoopDelay: this.#last ?? this.#read(),
      nodeFlags: [...process.execArgv, ...(process.env['NODE_OPTIONS'] ?? '').split(/\s+/).filter((f) => f.startsWith('--'))],
    };
  }

  close(): void {
    clearInterval(this.#timer);
    this.#histogram.disable();
  }

  #read(): EventLoopDelay {
    const h = this.#histogram;
    const ms = (ns: number): number => (Number.isFinite(ns) ? Math.max(0, Math.round((ns / 1e6 - RESOLUTION_MS) * 100) / 100) : 0);
    return {
      meanMs: h.count === 0 ? 0 : ms(h.mean),
      p50Ms: h.count === 0 ? 0 : ms(h.percentile(50)),
      p99Ms: h.count === 0 ? 0 : ms(h.percentile(99)),
      maxMs: h.count === 0 ? 0 : ms(h.max),
      windowSeconds: Math.round((performance.now() - this.#windowStart) / 100) / 10,
    };
  }
}
