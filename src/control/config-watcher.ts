/**
 * Watches the config file and calls back (debounced) when its content may have
 * changed. It watches the file's directory, not the file: editors and deploy tools
 * replace a file by renaming a new one over it (and Kubernetes swaps a `..data`
 * symlink), which a watch on the old inode would never see. Events for other names
 * in the directory are ignored; a burst of events is one callback `debounceMs` after
 * the last; and a callback only happens when the file's identity, size or mtime
 * differ from the last look (rewriting the same bytes does reload, which is harmless:
 * a table equal to the current one is not sent anywhere).
 */
import { watch, type FSWatcher } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { Logger } from 'pino';

export class ConfigWatcher {
  readonly #path: string;
  readonly #name: string;
  readonly #debounceMs: number;
  readonly #onChange: () => void;
  readonly #log: Logger;
  #watcher: FSWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** Fingerprint of the file at the last callback ("" before the first). */
  #last = '';

  constructor(path: string, debounceMs: number, onChange: () => void, logger: Logger) {
    this.#path = path;
    this.#name = basename(path);
    this.#debounceMs = debounceMs;
    this.#onChange = onChange;
    this.#log = logger;
  }

  start(): void {
    // No baseline is taken here: a stat racing with a replace could take the new file as
    // the baseline and miss it. The first event always reloads (harmless: a table equal
    // to the current one is not sent anywhere).
    try {
      this.#watcher = watch(dirname(this.#path), { persistent: false }, (_event, filename) => {
        const name = filename?.toString();
        if (name === undefined || name === this.#name || name.startsWith('..')) this.#schedule();
      });
      this.#watcher.on('error', (err) => {
        this.#log.warn({ path: this.#path, err: err.message }, 'config file watch failed; reload with SIGHUP or POST /admin/reload');
        this.close();
      });
    } catch (err) {
      this.#log.warn({ path: this.#path, err: (err as Error).message }, 'cannot watch the config file; reload with SIGHUP or POST /admin/reload');
    }
  }

  #schedule(): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#check(), this.#debounceMs);
    this.#timer.unref();
  }

  async #check(): Promise<void> {
    const f = await this.#fingerprint();
    if (f === this.#last) return;
    this.#last = f;
    this.#log.info({ path: this.#path }, 'config file changed');
    this.#onChange();
  }

  /** Identity, size and mtime of the file ("" when it cannot be read: a reload then reports why). */
  async #fingerprint(): Promise<string> {
    try {
      const s = await stat(this.#path);
      return `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}`;
    } catch (err) {
      return `missing:${(err as NodeJS.ErrnoException).code ?? ''}`;
    }
  }

  close(): void {
    clearTimeout(this.#timer);
    this.#watcher?.close();
    this.#watcher = undefined;
  }
}
