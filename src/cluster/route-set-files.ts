/**
 * How a full route set reaches the workers: the primary writes the packed rules' image
 * once (PackedRules.image: a header with the counts and the digest, the hash index
 * and its Bloom filter, the records) to a file (mode 0600, in a private directory under the system's temp
 * dir), and every worker that loads the set reads that file (`routes-file`,
 * messages.ts) into two buffers it looks rules up in, in place
 * (routing/packed-route-table.ts). So a million rules cost the primary one write of
 * ~70 MB whatever the number of workers, and no IPC buffer per worker; a worker reads
 * them and checks the records' framing, and neither hashes nor indexes a rule.
 *
 * A file lives while a worker loads it: `acquire` writes it (or shares the write under
 * way for the same set), `release` deletes it when the last loader is done. A worker
 * that restarts later gets it written again. `close` removes the directory.
 */
import { rmSync } from 'node:fs';
import { mkdtemp, open, unlink, writeFile, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DefaultRoute } from '../routing/route-table.js';
import { IMAGE_HEADER_BYTES, PackedRules } from '../routing/packed-rules.js';

/** Bytes per write while the file is written. */
const WRITE_CHUNK = 1 << 20;
/** Room to grow (etcd puts) that a reader allocates after the records: an eighth of them, at least 64 KiB (not resident until used). */
const GROWTH_SHARE = 8;
const MIN_GROWTH = 64 * 1024;

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
      const image = rules.image();
      const bytes = image.header.length + image.index.byteLength + image.filter.byteLength + image.records.length;
      const name = `routes-${++this.#n}.bin`;
      const written = this.#directory().then((dir) => writeFile(join(dir, name), pieces(image), { mode: 0o600, flag: 'wx' }));
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

/** The file's bytes, in pieces (views: nothing is copied). */
function* pieces({ header, index, filter, records }: ReturnType<PackedRules['image']>): Generator<Buffer> {
  yield header;
  yield Buffer.from(index.buffer, index.byteOffset, index.byteLength);
  yield Buffer.from(filter.buffer, filter.byteOffset, filter.byteLength);
  for (let at = 0; at < records.length; at += WRITE_CHUNK) yield records.subarray(at, at + WRITE_CHUNK);
}

/** Reads a file `RouteSetFiles` wrote (`bytes` long) into a pack; TypeError if it is not one. */
export async function readRouteSetFile(path: string, bytes: number, defaultRoute: DefaultRoute | undefined): Promise<PackedRules> {
  const file = await open(path, 'r');
  try {
    const { size } = await file.stat();
    const header = Buffer.alloc(IMAGE_HEADER_BYTES);
    if (size >= IMAGE_HEADER_BYTES) await readFully(file, header, 0);
    const { slots, filterBytes, recordBytes } = PackedRules.imageSizes(header);
    const indexBytes = slots * 4;
    if (size !== bytes || IMAGE_HEADER_BYTES + indexBytes + filterBytes + recordBytes !== bytes) throw new TypeError(`the route set file ${path} is not the ${bytes} bytes it should be`);
    const index = new Int32Array(slots);
    await readFully(file, Buffer.from(index.buffer), IMAGE_HEADER_BYTES);
    const filter = new Int32Array(filterBytes / 4);
    await readFully(file, Buffer.from(filter.buffer), IMAGE_HEADER_BYTES + indexBytes);
    const records = Buffer.allocUnsafeSlow(recordBytes + Math.max(MIN_GROWTH, Math.ceil(recordBytes / GROWTH_SHARE)));
    await readFully(file, records.subarray(0, recordBytes), IMAGE_HEADER_BYTES + indexBytes + filterBytes);
    return PackedRules.fromImage(header, index, filter, records, defaultRoute);
  } finally {
    await file.close();
  }
}

async function readFully(file: FileHandle, into: Buffer, position: number): Promise<void> {
  for (let n = 0; n < into.length; ) {
    const { bytesRead } = await file.read(into, n, into.length - n, position + n);
    if (bytesRead === 0) throw new TypeError('a route set file ends early');
    n += bytesRead;
  }
}
