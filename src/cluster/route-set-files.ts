/**
 * How a full route set reaches the workers: the primary writes the packed records once
 * to a file (mode 0600, in a private directory under the system's temp dir) and every
 * worker that loads the set reads that file (`routes-file`, messages.ts). So a million
 * rules cost the primary one write of ~60 MB, whatever the number of workers, and no
 * IPC buffer per worker; each worker gets its set as one buffer, which it indexes in
 * place (routing/packed-route-table.ts).
 *
 * A file lives while a worker loads it: `acquire` writes it (or shares the write under
 * way for the same set), `release` deletes it when the last loader is done. A worker
 * that restarts later gets it written again. `close` removes the directory.
 */
import { rmSync } from 'node:fs';
import { mkdtemp, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PackedRules } from '../routing/packed-rules.js';

/** Bytes per write while the file is written. */
const WRITE_CHUNK = 1 << 20;

interface SetFile {
  readonly path: string;
  readonly bytes: number;
  refs: number;
  readonly written: Promise<void>;
}

export class RouteSetFiles {
  readonly #parent: string;
  #dir: Promise<string> | undefined;
  #dirPath: string | undefined;
  readonly #files = new Map<PackedRules, SetFile>();
  #n = 0;

  constructor(parent = tmpdir()) {
    this.#parent = parent;
  }

  /** The file holding `rules`' records (written now unless a loader has it already); release it when loaded. */
  async acquire(rules: PackedRules): Promise<{ path: string; bytes: number }> {
    let file = this.#files.get(rules);
    if (file === undefined) {
      const bytes = rules.recordBytes;
      const name = `routes-${++this.#n}.bin`;
      const written = this.#directory().then((dir) => writeFile(join(dir, name), chunksOf(rules), { mode: 0o600, flag: 'wx' }));
      file = { path: name, bytes, refs: 0, written };
      this.#files.set(rules, file);
    }
    file.refs++;
    try {
      await file.written;
    } catch (err) {
      this.release(rules);
      throw err;
    }
    return { path: join(this.#dirPath!, file.path), bytes: file.bytes };
  }

  /** One loader of `rules` is done; the last one deletes the file. */
  release(rules: PackedRules): void {
    const file = this.#files.get(rules);
    if (file === undefined || --file.refs > 0) return;
    this.#files.delete(rules);
    void file.written.then(
      () => unlink(join(this.#dirPath!, file.path)).catch(() => undefined),
      () => undefined,
    );
  }

  /** Removes the directory and whatever is left in it. */
  close(): void {
    this.#files.clear();
    if (this.#dirPath !== undefined) rmSync(this.#dirPath, { recursive: true, force: true });
  }

  #directory(): Promise<string> {
    this.#dir ??= mkdtemp(join(this.#parent, 'stratix-routes-')).then((dir) => (this.#dirPath = dir));
    return this.#dir;
  }
}

function* chunksOf(rules: PackedRules): Generator<Buffer> {
  yield* rules.chunks(WRITE_CHUNK);
}
