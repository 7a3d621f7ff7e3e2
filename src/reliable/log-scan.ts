/**
 * Reading a message log back (crash recovery): the segments of one directory in
 * order, record by record. A record whose length runs past the end of its segment,
 * or whose CRC does not match, ends that segment: after a crash that is the torn
 * last record of the last segment (cut off: never used); anywhere else it is
 * corruption, reported, and the segment's later records are lost (the next
 * segments are still read).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { BODY_HEAD, MAX_RECORD_BYTES, RECORD_PREFIX, type RecordKind } from './log-records.js';

export interface ScannedRecord {
  readonly segment: number;
  readonly kind: RecordKind;
  readonly handle: number;
  /** The body (kind, handle, fields), a view into the segment's bytes: copy what you keep. */
  readonly body: Buffer;
}

export interface ScanResult {
  readonly records: number;
  readonly bytes: number;
  /** Segments that ended in a bad record: where, and why. */
  readonly cut: Array<{ segment: number; offset: number; why: string }>;
  /** Per segment, where its good records end (what a second pass may read without checking again). */
  readonly goodUntil: ReadonlyMap<number, number>;
}

export interface ScanOptions {
  /** Read only these good extents (from a first pass), without checking CRCs again. */
  readonly verified?: ReadonlyMap<number, number>;
}

/** The segment files of a log directory, oldest first. */
export function segmentFiles(dir: string): Array<{ index: number; path: string }> {
  return readdirSync(dir)
    .filter((f) => /^\d{10}\.log$/.test(f))
    .map((f) => ({ index: Number(f.slice(0, 10)), path: join(dir, f) }))
    .sort((a, b) => a.index - b.index);
}

/** Calls `onRecord` for every good record of `dir`, in write order. */
export function scanLog(dir: string, onRecord: (r: ScannedRecord) => void, opts: ScanOptions = {}): ScanResult {
  let records = 0;
  let bytes = 0;
  const cut: Array<{ segment: number; offset: number; why: string }> = [];
  const goodUntil = new Map<number, number>();
  for (const { index, path } of segmentFiles(dir)) {
    const verifiedEnd = opts.verified?.get(index);
    if (opts.verified !== undefined && verifiedEnd === undefined) continue;
    const data = readFileSync(path);
    bytes += data.length;
    const end = verifiedEnd ?? data.length;
    let at = 0;
    while (at < end) {
      const why = verifiedEnd === undefined ? badRecord(data, at) : undefined;
      if (why !== undefined) {
        cut.push({ segment: index, offset: at, why });
        break;
      }
      const len = data.readUInt32LE(at);
      const body = data.subarray(at + RECORD_PREFIX, at + RECORD_PREFIX + len);
      onRecord({ segment: index, kind: body[0]! as RecordKind, handle: body.readUInt32LE(1), body });
      records++;
      at += RECORD_PREFIX + len;
    }
    goodUntil.set(index, at);
  }
  return { records, bytes, cut, goodUntil };
}

/** Why the record at `at` cannot be used, or undefined. */
function badRecord(data: Buffer, at: number): string | undefined {
  if (data.length - at < RECORD_PREFIX) return 'torn record prefix';
  const len = data.readUInt32LE(at);
  if (len < BODY_HEAD || len > MAX_RECORD_BYTES) return `impossible record length ${len}`;
  if (data.length - at - RECORD_PREFIX < len) return 'torn record';
  const body = data.subarray(at + RECORD_PREFIX, at + RECORD_PREFIX + len);
  if (crc32(body) >>> 0 !== data.readUInt32LE(at + 4)) return 'CRC mismatch';
  return undefined;
}
