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
import { PackedRules } from '../routing/packed-rules.js';
import { plainRuleAt } from '../config/route-rule-check.js';
import { keyNamesRule, routeEntryFromJson, type RouteEntry, type RouteValue } from './route-key.js';
import { RouteSourceError, routeSourceError } from './route-source-error.js';

const FORMAT = 'stratix-route-snapshot';
const VERSION = 1;
/** Entries serialised per write call (~250 KiB). */
const ENTRIES_PER_CHUNK = 4096;
const NEWLINE = 0x0a;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

export interface RouteSnapshotHeader {
  readonly prefix: string;
  readonly revision: number;
  /** etcd's cluster id, to notice a snapshot of another cluster. */
  readonly clusterId: string;
  /**
   * How many keys the prefix held at `revision`, valid or not, and the invalid ones'
   * names: what a warm start checks against etcd's count at that revision (absent: the
   * snapshot is only for starting while etcd is down).
   */
  readonly keys?: number | undefined;
  readonly invalidKeys?: readonly string[] | undefined;
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
  const entries: RouteEntry[] = [];
  const snapshot = await readSnapshotLines(path, expectedPrefix, () => undefined, each ?? ((entry) => entries.push(entry)));
  return snapshot === undefined ? undefined : { ...snapshot, entries };
}

/**
 * The reader both functions share: the header checked, then every entry line handed to
 * `fast` (the line's bytes [start, end), without its newline; true: taken) or else
 * parsed and validated and handed to `each`.
 */
async function readSnapshotLines(
  path: string,
  expectedPrefix: string,
  counted: (count: number) => void,
  each: (entry: RouteEntry) => void,
  fast?: (line: Buffer, start: number, end: number) => boolean,
): Promise<RouteSnapshot | undefined> {
  const bad = (why: string, cause?: unknown) => routeSourceError('SNAPSHOT_INVALID', `route snapshot ${path}: ${why}`, cause);
  let head: Record<string, unknown> | undefined;
  let read = 0;
  let line = 0;
  const takeLine = (buf: Buffer, start: number, end: number) => {
    line++;
    if (head === undefined) {
      try {
        head = JSON.parse(buf.toString('utf8', start, end)) as Record<string, unknown>;
      } catch (err) {
        throw bad('header is not JSON', err);
      }
      if (head['format'] !== FORMAT || head['version'] !== VERSION) throw bad(`not a ${FORMAT} version ${VERSION}`);
      if (head['prefix'] !== expectedPrefix) {
        throw bad(`written for prefix ${JSON.stringify(head['prefix'])}, not ${JSON.stringify(expectedPrefix)}`);
      }
      if (!Number.isSafeInteger(head['revision']) || !Number.isSafeInteger(head['count'])) throw bad('header lacks revision or count');
      counted(head['count'] as number);
      return;
    }
    read++;
    try {
      if (fast?.(buf, start, end) === true) return;
    } catch (err) {
      throw bad(`line ${line}: ${(err as Error).message}`, err);
    }
    let pair: unknown;
    try {
      pair = JSON.parse(buf.toString('utf8', start, end));
    } catch (err) {
      throw bad(`line ${line} is not JSON`, err);
    }
    if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string') throw bad(`line ${line} is not ["key", value]`);
    const entry = routeEntryFromJson(pair[0], pair[1]);
    if (entry.kind === 'invalid') throw bad(`line ${line}: ${entry.reason}`);
    each(entry);
  };

  let rest: Buffer = Buffer.alloc(0);
  try {
    for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
      const buf = rest.length === 0 ? (chunk as Buffer) : Buffer.concat([rest, chunk as Buffer]);
      let start = 0;
      for (let nl = buf.indexOf(NEWLINE); nl !== -1; nl = buf.indexOf(NEWLINE, start)) {
        takeLine(buf, start, nl);
        start = nl + 1;
      }
      rest = buf.subarray(start);
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    if (err instanceof RouteSourceError) throw err;
    throw bad(`cannot read: ${(err as Error).message}`, err);
  }
  if (head === undefined) throw bad('no header line');
  if (rest.length > 0) throw bad(`line ${line + 1} is cut short`);
  if (read !== head['count']) throw bad(`header says ${String(head['count'])} entries, file has ${read}`);
  const keys = head['keys'];
  const invalidKeys = head['invalidKeys'];
  const checkable = Number.isSafeInteger(keys) && Array.isArray(invalidKeys) && invalidKeys.every((k) => typeof k === 'string');
  return {
    prefix: expectedPrefix,
    revision: head['revision'] as number,
    clusterId: String(head['clusterId'] ?? ''),
    writtenAt: String(head['writtenAt'] ?? ''),
    ...(checkable ? { keys: keys as number, invalidKeys: invalidKeys as string[] } : {}),
    entries: [],
  };
}

/**
 * As `readRouteSnapshot`, into a packed set sized from the header's count: a line in the
 * form snapshot-lines.ts writes for a seed-style rule is checked in its bytes and copied
 * in (no string, no object, no JSON.parse: a million lines in about the time a config
 * file's rules take); any other line goes the usual way.
 */
export async function readRouteSnapshotRules(path: string, expectedPrefix: string): Promise<{ snapshot: RouteSnapshot; rules: PackedRules } | undefined> {
  let rules: PackedRules | undefined;
  const spans = new Int32Array(5);
  const snapshot = await readSnapshotLines(
    path,
    expectedPrefix,
    (count) => {
      rules = new PackedRules({ bytes: count * 64, rules: count });
    },
    (entry) => {
      if (entry.kind === 'default') rules!.setDefault(entry.defaultRoute);
      else rules!.put(entry.rule);
    },
    (line, start, end) => {
      // ["<key>",{…}] with a key JSON need not escape, and a seed-style value that names it.
      if (line[start] !== 0x5b || line[start + 1] !== QUOTE || line[end - 1] !== 0x5d) return false;
      const ks = start + 2;
      let ke = ks;
      while (ke < end && line[ke] !== QUOTE && line[ke] !== BACKSLASH) ke++;
      if (line[ke] !== QUOTE || line[ke + 1] !== 0x2c) return false;
      const vs = ke + 2;
      const ve = end - 1;
      if (!plainRuleAt(line, vs, ve, spans) || !keyNamesRule(line, ks, line, spans, ke)) return false;
      if (!rules!.addBytes(spans[0] === 1, line, spans[1]!, spans[2]!, spans[3]!, spans[4]!)) throw new Error('a second line for one key');
      return true;
    },
  );
  return snapshot === undefined ? undefined : { snapshot, rules: rules ?? new PackedRules() };
}
