/**
 * Progress of long work (a million rules imported, a benchmark run): on a terminal one
 * line redrawn in place, at most 10 times a second —
 *
 *   importing into etcd [###########---------]  55%  550,000/1,000,000 rules  61,204/s  7 s left
 *
 * — and elsewhere (a pipe, a log file, CI) plain lines, one every `plainEveryMs` (5 s) and
 * one at the end, so a log is not flooded:
 *
 *   importing into etcd: 550,000/1,000,000 rules (55%), 61,204/s, 7 s left
 *
 * The rate counts from the first update (work before it, such as parsing a file before
 * the first rule is counted, does not slow it down); the time left is what remains at
 * that rate. The last line gives the whole task's time and average rate.
 * Without a known total it shows the count and the rate. `log()` prints a line above the
 * bar without breaking it. The clock is passed in (tests).
 */
import type { Writable } from 'node:stream';

export interface ProgressStream extends Pick<Writable, 'write'> {
  readonly isTTY?: boolean | undefined;
  readonly columns?: number | undefined;
}

export interface ProgressOptions {
  /** What is being done, e.g. "importing into etcd". */
  readonly label: string;
  /** Units counted, e.g. "rules" (default "items"). */
  readonly unit?: string;
  /** How many there are in all; undefined when not known. */
  readonly total?: number | undefined;
  /** Milliseconds clock (default performance.now). */
  readonly now?: () => number;
  /** Plain mode: a line at most this often (default 5000 ms). */
  readonly plainEveryMs?: number;
  /** Draw as a terminal line (default: the stream's isTTY). */
  readonly tty?: boolean;
  /** How to show the count (default: thousands separators; e.g. seconds for a time-based task). */
  readonly format?: (n: number) => string;
  /** Show nothing, not even the last line, while the count and the total stay below this (small jobs stay quiet). */
  readonly quietBelow?: number;
}

const TTY_EVERY_MS = 100;
const BAR_WIDTH = 20;
const numbers = new Intl.NumberFormat('en-US');

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}

export class Progress {
  readonly #out: ProgressStream;
  readonly #opts: ProgressOptions;
  readonly #now: () => number;
  readonly #tty: boolean;
  readonly #startedAt: number;
  #total: number | undefined;
  #done = 0;
  /** The first update: where the rate is counted from. */
  #originAt: number | undefined;
  #originDone = 0;
  #drawnAt = Number.NEGATIVE_INFINITY;
  #lineShown = false;
  #finished = false;

  constructor(out: ProgressStream, opts: ProgressOptions) {
    this.#out = out;
    this.#opts = opts;
    this.#now = opts.now ?? (() => performance.now());
    this.#tty = opts.tty ?? out.isTTY === true;
    this.#total = opts.total;
    this.#startedAt = this.#now();
  }

  get done(): number {
    return this.#done;
  }

  set total(total: number | undefined) {
    this.#total = total;
  }

  /** Sets the count done so far; redraws when it is time to. */
  update(done: number): void {
    this.#done = done;
    if (this.#quiet()) return;
    const now = this.#now();
    if (this.#originAt === undefined) {
      this.#originAt = now;
      this.#originDone = done;
    }
    if (now - this.#drawnAt < (this.#tty ? TTY_EVERY_MS : (this.#opts.plainEveryMs ?? 5_000))) return;
    this.#drawnAt = now;
    this.#draw(now);
  }

  add(n: number): void {
    this.update(this.#done + n);
  }

  /** A line above the bar (the bar is drawn again below it). */
  log(line: string): void {
    if (this.#tty && this.#lineShown) this.#out.write('\r\x1b[2K');
    this.#out.write(`${line}\n`);
    if (this.#tty && this.#lineShown && !this.#finished) this.#draw(this.#now());
  }

  /** The last line, with the final count and the time it took. */
  finish(done: number = this.#done): void {
    if (this.#finished) return;
    this.#done = done;
    if (this.#quiet()) {
      this.#finished = true;
      return;
    }
    const now = this.#now();
    const seconds = (now - this.#startedAt) / 1000;
    const line = `${this.#opts.label}: ${this.#count()} ${this.#opts.unit ?? 'items'} in ${formatDuration(seconds)}${seconds > 0 && this.#opts.format === undefined ? ` (${numbers.format(Math.round(done / seconds))}/s)` : ''}`;
    this.#out.write(this.#tty ? `\r\x1b[2K${line}\n` : `${line}\n`);
    this.#finished = true;
  }

  #quiet(): boolean {
    const below = this.#opts.quietBelow ?? 0;
    return this.#done < below && (this.#total ?? 0) < below;
  }

  #count(): string {
    const f = this.#opts.format ?? ((n: number) => numbers.format(n));
    return this.#total === undefined ? f(this.#done) : `${f(this.#done)}/${f(this.#total)}`;
  }

  #draw(now: number): void {
    if (this.#finished) return;
    const elapsed = (now - (this.#originAt ?? now)) / 1000;
    const rate = elapsed > 0 ? (this.#done - this.#originDone) / elapsed : 0;
    const total = this.#total;
    const fraction = total === undefined || total === 0 ? undefined : Math.min(1, this.#done / total);
    const left = total === undefined || rate === 0 ? undefined : (total - this.#done) / rate;
    const unit = this.#opts.unit ?? 'items';
    const rateText = this.#opts.format === undefined && elapsed > 0 ? `${numbers.format(Math.round(rate))}/s` : '';
    const leftText = left === undefined ? '' : `${formatDuration(left)} left`;
    if (this.#tty) {
      const bar = fraction === undefined ? '' : ` [${'#'.repeat(Math.round(fraction * BAR_WIDTH)).padEnd(BAR_WIDTH, '-')}] ${String(Math.floor(fraction * 100)).padStart(3)}%`;
      let line = `${this.#opts.label}${bar}  ${this.#count()} ${unit}${rateText === '' ? '' : `  ${rateText}`}${leftText === '' ? '' : `  ${leftText}`}`;
      const width = this.#out.columns;
      if (width !== undefined && line.length > width - 1) line = line.slice(0, width - 1);
      this.#out.write(`\r\x1b[2K${line}`);
      this.#lineShown = true;
    } else {
      const parts = [fraction === undefined ? undefined : `${Math.floor(fraction * 100)}%`, rateText || undefined, leftText || undefined].filter(Boolean);
      this.#out.write(`${this.#opts.label}: ${this.#count()} ${unit}${parts.length > 0 ? ` (${parts.join(', ')})` : ''}\n`);
    }
  }
}
