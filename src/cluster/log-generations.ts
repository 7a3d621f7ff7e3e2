/**
 * The primary's bookkeeping of the reliable sessions' log generations
 * (src/reliable/log-directory.ts): each worker process writes a generation of its
 * own; a generation whose process is gone is an orphan, to be read back by every
 * worker that may own one of its sessions — all of them at an instance start
 * (the worker count may have changed), only the restarted one when a single worker
 * died (its shard is unchanged) — and removed once each of them has.
 */
import type { Logger } from 'pino';
import { listGenerations, lockLogRoot, newGeneration, ownedByLiveProcess, removeGeneration } from '../reliable/log-directory.js';
import type { Clock } from '../time/clock.js';

export class LogGenerations {
  readonly #root: string;
  readonly #clock: Clock;
  readonly #logger: Logger;
  /** Orphan → the workers that still have to read it. */
  readonly #pending = new Map<string, Set<number>>();
  /** Each worker's current generation. */
  readonly #current = new Map<number, string>();
  /** Gives the directory up (at exit). */
  readonly release: () => void;

  /** Takes `root` for this instance (throws STRATIX_ERR_LOG_LOCKED if another one holds it). */
  constructor(root: string, workers: number, clock: Clock, logger: Logger) {
    this.release = lockLogRoot(root);
    this.#root = root;
    this.#clock = clock;
    this.#logger = logger;
    const all = Array.from({ length: workers }, (_, i) => i);
    for (const g of listGenerations(root)) if (!ownedByLiveProcess(g)) this.#pending.set(g, new Set(all));
    if (this.#pending.size > 0) logger.info({ orphans: this.#pending.size, root }, 'reliable session logs to recover');
  }

  /** A (re)starting worker: its new generation, and the orphans it must read (its previous generation among them). */
  place(worker: number): { generation: string; orphans: string[] } {
    const previous = this.#current.get(worker);
    if (previous !== undefined) this.#pending.set(previous, new Set([worker]));
    const generation = newGeneration(this.#root, worker, this.#clock.wallMs());
    this.#current.set(worker, generation);
    const orphans = [...this.#pending].filter(([, w]) => w.has(worker)).map(([g]) => g).sort();
    return { generation, orphans };
  }

  /** `worker` has read `orphans`: those nobody else needs are removed. */
  recovered(worker: number, orphans: readonly string[]): void {
    for (const g of orphans) {
      const w = this.#pending.get(g);
      if (w === undefined) continue;
      w.delete(worker);
      if (w.size > 0) continue;
      this.#pending.delete(g);
      removeGeneration(g);
      this.#logger.info({ generation: g }, 'recovered reliable session log removed');
    }
  }
}
