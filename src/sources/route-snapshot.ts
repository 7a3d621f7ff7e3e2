/**
 * The local snapshot of the route table: what lets a gateway start when etcd is
 * unreachable, and catch up from the snapshot's revision when etcd returns.
 *
 * Format: JSON lines. The first line is the header
 *   {"format":"stratix-route-snapshot","version":1,"prefix":…,"revision":…,"clusterId":…,"count":N,"writtenAt":…}
 * then N lines `["<key>",<value>]`: the key as in route-key.ts (relative to the prefix)
 * and the rule's JSON, in no particular order. A million plain rules ≈ 100 MB.
 *
 * Written atomically: a temp file in the same directory, fsync, rename over the old
 * one, fsync of the directory. A reader sees the old snapshot or the new one, never
 * a torn one; the count in the header catches a file cut short by other means.
 */
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { routeEntryFromJson, type RouteEntry, type RouteValue } from './route-key.js';
import { RouteSourceError, routeSourceError } from './route-source-error.js';

const FORMAT = 'stratix-route-snapshot';
const VERSION = 1;
/** Entries serialised per write call (~250 KiB). */
const ENTRIES_PER_CHUNK = 4096;

export interface RouteSnapshotHeader {
  readonly prefix: string;
  readonly revision: number;
  /** etcd's cluster id, to notice a snapshot of another cluster. */
  readonly clusterId: string;
}

export interface RouteSnapshot extends RouteSnapshotHeader {
  readonly entries: RouteEntry[];
  readonly writtenAt: string;
}

/**
 * Writes `[key, value]` pairs. The caller passes a copy taken at
 * `header.revision` (an array, or any iterable with its `count`); the write yields
 * between chunks.
 */
export async function writeRouteSnapshot(
  path: string,
  header: RouteSnapshotHeader,
  entries: Iterable<readonly [string, RouteValue]>,
  count = (entries as ReadonlyArray<unknown>).length,
): Promise<void> {
  await writeRouteSnapshotLines(path, header, entryChunks(entries), count);
}

/** Entry lines ready to write: `text` holds `entries` whole lines, each ending with a newline. */
export interface SnapshotChunk {
  readonly text: string | Buffer;
  readonly entries: number;
}

/**
 * As `writeRouteSnapshot`, for entry lines already serialised (each exactly what
 * `JSON.stringify([key, value])` gives, and a newline): a million packed rules are
 * written from their bytes, without an object or a string each.
 */
export async function writeRouteSnapshotLines(path: string, header: RouteSnapshotHeader, chunks: Iterable<SnapshotChunk>, count: number): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  const fh = await open(tmp, 'w', 0o644);
  try {
    const head = { format: FORMAT, version: VERSION, ...header, count, writtenAt: new Date().toISOString() };
    await fh.write(JSON.stringify(head) + '\n');
    let written = 0;
    for (const chunk of chunks) {
      if (typeof chunk.text === 'string') await fh.write(chunk.text);
      else await fh.write(chunk.text);
      written += chunk.entries;
    }
    if (written !== count) throw new Error(`route snapshot: ${written} entries, not the ${count} announced`);
    await fh.sync();
    await fh.close();
    await rename(tmp, path);
  } catch (err) {
    await fh.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw err;
  }
  // Make the rename itself durable; not every filesystem allows fsync on a directory.
  try {
    const d = await open(dir, 'r');
    await d.sync().finally(() => d.close());
  } catch {
    /* best effort */
  }
}

/** `[key, value]` pairs as lines, ENTRIES_PER_CHUNK a chunk. */
function* entryChunks(entries: Iterable<readonly [string, RouteValue]>): IterableIterator<SnapshotChunk> {
  let text = '';
  let n = 0;
  for (const entry of entries) {
    text += JSON.stringify(entry) + '\n';
    if (++n === ENTRIES_PER_CHUNK) {
      yield { text, entries: n };
      text = '';
      n = 0;
    }
  }
  if (n > 0) yield { text, entries: n };
}

/**
 * Reads a snapshot, streaming (no whole-file string, so size is bounded by memory, not
 * by V8's string limit). Resolves undefined when there is none; rejects with
 * STRATIX_ERR_ROUTE_SNAPSHOT_INVALID when it exists but cannot be used. With `each`,
 * every entry goes to it as it is read and `entries` stays empty (a million entries
 * are then never held as objects at once); use what `each` kept only once it resolves.
 */
export async function readRouteSnapshot(path: string, expectedPrefix: string, each?: (entry: RouteEntry) => void): Promise<RouteSnapshot | undefined> {
  const bad = (why: string, cause?: unknown) => routeSourceError('SNAPSHOT_INVALID', `route snapshot ${path}: ${why}`, cause);
  let head: Record<string, unknown> | undefined;
  const entries: RouteEntry[] = [];
  let read = 0;
  let line = 0;
  const takeLine = (text: string) => {
    line++;
    if (head === undefined) {
      try {
        head = JSON.parse(text) as Record<string, unknown>;
      } catch (err) {
        throw bad('header is not JSON', err);
      }
      if (head['format'] !== FORMAT || head['version'] !== VERSION) throw bad(`not a ${FORMAT} version ${VERSION}`);
      if (head['prefix'] !== expectedPrefix) {
        throw bad(`written for prefix ${JSON.stringify(head['prefix'])}, not ${JSON.stringify(expectedPrefix)}`);
      }
      if (!Number.isSafeInteger(head['revision']) || !Number.isSafeInteger(head['count'])) throw bad('header lacks revision or count');
      return;
    }
    let pair: unknown;
    try {
      pair = JSON.parse(text);
    } catch (err) {
      throw bad(`line ${line} is not JSON`, err);
    }
    if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string') throw bad(`line ${line} is not ["key", value]`);
    const entry = routeEntryFromJson(pair[0], pair[1]);
    if (entry.kind === 'invalid') throw bad(`line ${line}: ${entry.reason}`);
    read++;
    if (each === undefined) entries.push(entry);
    else each(entry);
  };

  let rest = '';
  try {
    for await (const chunk of createReadStream(path, { encoding: 'utf8', highWaterMark: 1 << 20 })) {
      const text = rest + (chunk as string);
      let start = 0;
      for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
        takeLine(text.slice(start, nl));
        start = nl + 1;
      }
      rest = text.slice(start);
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    if (err instanceof RouteSourceError) throw err;
    throw bad(`cannot read: ${(err as Error).message}`, err);
  }
  if (head === undefined) throw bad('no header line');
  if (rest !== '') throw bad(`line ${line + 1} is cut short`);
  if (read !== head['count']) throw bad(`header says ${String(head['count'])} entries, file has ${read}`);
  return {
    prefix: expectedPrefix,
    revision: head['revision'] as number,
    clusterId: String(head['clusterId'] ?? ''),
    writtenAt: String(head['writtenAt'] ?? ''),
    entries,
  };
}
