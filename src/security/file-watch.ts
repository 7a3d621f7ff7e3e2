/**
 * Watches key and certificate files for changes, debounced, to reload them. The
 * parent directories are watched, not the files: secrets are usually replaced by
 * renaming a new file over the old one (and Kubernetes swaps a `..data` link), which
 * a watch on the old file would miss. SIGHUP reloads too, so a missed event
 * (network file systems) has a fallback.
 */
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { Logger } from 'pino';

const DEBOUNCE_MS = 200;

export class DirectoryWatch {
  readonly #watchers: FSWatcher[] = [];
  #timer: NodeJS.Timeout | undefined;

  /**
   * `target`: a directory (any change in it counts) or a list of files (a change to
   * one of their names, or an unnamed event in their directory, counts).
   */
  constructor(target: string | readonly string[], onChange: () => void, logger: Logger) {
    const fire = (): void => {
      clearTimeout(this.#timer);
      this.#timer = setTimeout(onChange, DEBOUNCE_MS);
      this.#timer.unref();
    };
    const byDir = new Map<string, Set<string> | undefined>();
    if (typeof target === 'string') byDir.set(target, undefined);
    else for (const f of target) byDir.set(dirname(f), (byDir.get(dirname(f)) ?? new Set()).add(basename(f)));
    for (const [dir, names] of byDir) {
      try {
        const w = watch(dir, { persistent: false }, (_event, name) => {
          if (names === undefined || name === null || names.has(String(name)) || String(name).startsWith('..')) fire();
        });
        w.on('error', (err) => logger.warn({ dir, err: err.message }, 'file watch failed; SIGHUP still reloads'));
        this.#watchers.push(w);
      } catch (err) {
        logger.warn({ dir, err: (err as Error).message }, 'cannot watch for changes; SIGHUP still reloads');
      }
    }
  }

  close(): void {
    clearTimeout(this.#timer);
    for (const w of this.#watchers) w.close();
  }
}
