/**
 * The local message log of one gateway process: segmented, append-only files in a
 * directory of its own (0700, files 0600), written in batches.
 *
 * Appends go into the current batch (small records copied into a slab, large
 * envelopes referenced as they are); `flush()` writes the batch with one
 * positional `writev(2)`. The owner sends an envelope to its client only after the
 * flush of its batch returned (and, with `fsync: "always"`, after the `fdatasync`
 * that covers it: `durableBatch`), so a `kill -9` loses nothing that was sent, and
 * the fsync policy decides what a power cut loses: `none` (the OS writes back),
 * `interval` (an asynchronous fdatasync every `fsyncIntervalMs`), `always`.
 *
 * Segments: when the current one reaches `segmentBytes` (or is older than
 * `maxSegmentAgeMs` and not empty) a new one starts, and the owner writes a
 * checkpoint into it (`onSegmentStart`). Older segments are kept only while they
 * hold envelopes still unacknowledged (`retain`/`release`) or message outcomes still
 * inside the duplicate window (`pin`); then they are deleted. No payload outlives
 * its acknowledgement or its session's window by more than one segment's age.
 *
 * Failure (a full disk, an I/O error): the batch stays in memory and is written
 * again, at the same position, every `retryMs`; meanwhile `writable` is false and
 * the owner stops taking new data. Positions never change, so a torn partial
 * write is overwritten by the retry.
 *
 * The file system is passed in (default node:fs), so that a test can inject a
 * failure where the real one cannot be arranged.
 */
import * as nodeFs from 'node:fs';
import { basename, join } from 'node:path';
import { crc32 } from 'node:zlib';
import { crc32Of } from './crc32.js';
import { messageBodyLength, NUMBER_BODY, RECORD_PREFIX, RecordKind, writeMessageBody, writeNumberBody, writePrefixOf } from './log-records.js';

export type FsyncPolicy = 'none' | 'interval' | 'always';

export interface LogFileSystem {
  openSync(path: string, flags: string, mode?: number): number;
  writevSync(fd: number, buffers: readonly NodeJS.ArrayBufferView[], position?: number): number;
  readSync(fd: number, buffer: Buffer, offset: number, length: number, position: number): number;
  fdatasync(fd: number, callback: (err: NodeJS.ErrnoException | null) => void): void;
  fdatasyncSync(fd: number): void;
  closeSync(fd: number): void;
  unlinkSync(path: string): void;
  mkdirSync(path: string, options: { recursive: boolean; mode: number }): unknown;
  renameSync(from: string, to: string): void;
}

export interface MessageLogOptions {
  /** This process's directory (created 0700). */
  readonly dir: string;
  readonly segmentBytes: number;
  readonly maxSegmentAgeMs: number;
  readonly fsync: FsyncPolicy;
  readonly fsyncIntervalMs: number;
  /** This process's share of reliable.log.maxBytes: past it, `full` is true. */
  readonly maxBytes: number;
  /** How often a failed batch is written again. */
  readonly retryMs?: number;
  readonly fs?: LogFileSystem;
}

export interface MessageLogEvents {
  /** A new segment began: append the checkpoint (every live session's SESSION record). */
  onSegmentStart(): void;
  /** With fsync "always": batches up to `batch` are on disk. */
  onDurable(batch: number): void;
  /** A write or sync failed (`op`), or a failed batch was written at last (`err` undefined). */
  onError(op: 'write' | 'fsync' | 'delete', err: Error | undefined): void;
  /** Timing of each batch write and each fdatasync, in seconds. */
  observeWrite(seconds: number, bytes: number): void;
  observeFsync(seconds: number): void;
}

interface Segment {
  readonly index: number;
  readonly path: string;
  readonly fd: number;
  /** Bytes written (flushed). */
  size: number;
  /** Unacknowledged envelopes in it. */
  envelopes: number;
  /** Wall-clock ms until which outcomes in it are still inside the duplicate window. */
  pinnedUntil: number;
  /** Monotonic ms it started. */
  readonly startedAt: number;
  /** Bytes written since its last fdatasync. */
  unsynced: number;
}

const SLAB_BYTES = 256 * 1024;
/** Envelopes up to this size are copied into the slab (fewer iovecs); larger ones are written from where they are. */
const COPY_MAX = 1024;

export class MessageLog {
  #dir: string;
  readonly #o: Required<Omit<MessageLogOptions, 'fs' | 'dir'>>;
  readonly #fs: LogFileSystem;
  readonly #events: MessageLogEvents;
  readonly #now: () => number;
  readonly #segments = new Map<number, Segment>();
  #current!: Segment;
  #nextIndex = 1;
  /** The batch being built: buffers for writev, their total, and the slab small records go to. */
  #iov: Buffer[] = [];
  #batchBytes = 0;
  #slab = Buffer.allocUnsafe(SLAB_BYTES);
  #slabAt = 0;
  #slabStart = 0;
  #batch = 0;
  /** The batch holds a record something waits for (an envelope to send, a message to write upstream). */
  #urgent = false;
  #durable = 0;
  #failedAt = -1;
  #syncing = false;
  #syncWanted = false;
  /** fsync "interval": the timer of the next fdatasync, while one is due. */
  #syncTimer: NodeJS.Timeout | undefined;
  #totalBytes = 0;
  #closed = false;

  constructor(opts: MessageLogOptions, events: MessageLogEvents, now: () => number) {
    this.#dir = opts.dir;
    this.#o = {
      segmentBytes: opts.segmentBytes,
      maxSegmentAgeMs: opts.maxSegmentAgeMs,
      fsync: opts.fsync,
      fsyncIntervalMs: opts.fsyncIntervalMs,
      maxBytes: opts.maxBytes,
      retryMs: opts.retryMs ?? 1_000,
    };
    this.#fs = opts.fs ?? nodeFs;
    this.#events = events;
    this.#now = now;
  }

  /** Creates the directory and the first segment (the caller then writes its first checkpoint). */
  open(): void {
    this.#fs.mkdirSync(this.#dir, { recursive: true, mode: 0o700 });
    this.#current = this.#openSegment();
  }

  get dir(): string {
    return this.#dir;
  }

  /** Renames the log's directory (a recovery done: `x.recovering` → `x`); the open files stay. */
  moveTo(dir: string): void {
    this.#fs.renameSync(this.#dir, dir);
    this.#dir = dir;
    for (const [index, s] of this.#segments) this.#segments.set(index, { ...s, path: join(dir, basename(s.path)) });
    this.#current = this.#segments.get(this.#current.index)!;
  }

  // --- State ------------------------------------------------------------------

  /** False while a failed batch waits to be written again. */
  get writable(): boolean {
    return this.#failedAt < 0;
  }

  /** The log holds maxBytes or more: the owner stops taking new envelopes. */
  get full(): boolean {
    return this.#totalBytes >= this.#o.maxBytes;
  }

  get totalBytes(): number {
    return this.#totalBytes;
  }

  get segmentCount(): number {
    return this.#segments.size;
  }

  /** The segment appends go to now. */
  get currentSegment(): number {
    return this.#current.index;
  }

  /** The number of the last batch written (0: none yet). */
  get batch(): number {
    return this.#batch;
  }

  /** Batches up to this one are durable under the fsync policy (all written ones, unless fsync is "always"). */
  get durableBatch(): number {
    return this.#o.fsync === 'always' ? this.#durable : this.#batch;
  }

  get pendingBytes(): number {
    return this.#batchBytes;
  }

  /** The pending batch holds a record something waits for. */
  get urgentPending(): boolean {
    return this.#urgent;
  }

  // --- Appending ----------------------------------------------------------------

  /**
   * Appends a record of `body` (kind, handle, fields) and optionally `tail` (an
   * envelope). Returns the byte position of `tail` in the current segment (of the
   * body's end without one), for reading it back. `urgent`: something waits for
   * this record's write (`flush(true)` writes only batches that hold one).
   */
  append(body: Buffer, tail?: Buffer, urgent = true): number {
    const at = this.#open(body.length, tail, urgent);
    body.copy(this.#slab, at);
    return this.#close(at, body.length, tail);
  }

  /** `append` of a kind + handle + f64 body (log-records.ts `numberBody`), written in place. */
  appendNumber(kind: RecordKind, handle: number, value: number, tail?: Buffer, urgent = true): number {
    const at = this.#open(NUMBER_BODY, tail, urgent);
    writeNumberBody(this.#slab, at, kind, handle, value);
    return this.#close(at, NUMBER_BODY, tail);
  }

  /** `append` of an ACCEPTED (`nack` undefined) or OUTCOME body (log-records.ts `messageBody`), written in place. */
  appendMessage(handle: number, atMs: number, messageId: string, nack: number | undefined, urgent = true): number {
    const len = messageBodyLength(messageId, nack);
    const at = this.#open(len, undefined, urgent);
    writeMessageBody(this.#slab, at, handle, atMs, messageId, nack);
    return this.#close(at, len, undefined);
  }

  /**
   * Makes room in the slab for a record of a `bodyLength`-byte body and `tail` (copied
   * after the body when small); returns where the body goes. The caller writes the body
   * there, then `#close`s the record.
   */
  #open(bodyLength: number, tail: Buffer | undefined, urgent: boolean): number {
    if (urgent) this.#urgent = true;
    const copied = tail !== undefined && tail.length <= COPY_MAX ? tail.length : 0;
    this.#slabFor(RECORD_PREFIX + bodyLength + copied);
    const at = this.#slabAt + RECORD_PREFIX;
    if (copied > 0) tail!.copy(this.#slab, at + bodyLength);
    return at;
  }

  /** Writes the prefix (length, CRC) of the record whose body is at `at`, adds it to the batch; returns the tail's position in the segment. */
  #close(at: number, bodyLength: number, tail: Buffer | undefined): number {
    const slab = this.#slab;
    const tailLen = tail?.length ?? 0;
    const recordAt = this.#current.size + this.#batchBytes;
    // The body's CRC in JavaScript (a few dozen bytes), the tail's (an envelope) by zlib from the tail itself.
    const bodyCrc = crc32Of(slab, at, at + bodyLength);
    if (tail === undefined || tailLen <= COPY_MAX) {
      const len = bodyLength + tailLen;
      writePrefixOf(slab, at - RECORD_PREFIX, len, tailLen === 0 ? bodyCrc : crc32(tail!, bodyCrc));
      this.#slabAt = at + len;
      this.#batchBytes += RECORD_PREFIX + len;
    } else {
      writePrefixOf(slab, at - RECORD_PREFIX, bodyLength + tailLen, crc32(tail, bodyCrc));
      this.#slabAt = at + bodyLength;
      this.#cutSlab();
      this.#iov.push(tail);
      this.#batchBytes += RECORD_PREFIX + bodyLength + tailLen;
    }
    return recordAt + RECORD_PREFIX + bodyLength;
  }

  /** Room for `need` bytes in the slab (a bigger slab for a bigger record). */
  #slabFor(need: number): Buffer {
    if (this.#slabAt + need > this.#slab.length) {
      this.#cutSlab();
      this.#slab = Buffer.allocUnsafe(Math.max(SLAB_BYTES, need));
      this.#slabAt = 0;
      this.#slabStart = 0;
    }
    return this.#slab;
  }

  /** Ends the slab's current run: it becomes one iovec. */
  #cutSlab(): void {
    if (this.#slabAt > this.#slabStart) this.#iov.push(this.#slab.subarray(this.#slabStart, this.#slabAt));
    this.#slabStart = this.#slabAt;
  }

  // --- Writing ------------------------------------------------------------------

  /**
   * Writes the batch. True when it is written (or empty, or holds nothing urgent
   * and `urgentOnly`); false when the write failed (it stays pending).
   */
  flush(urgentOnly = false): boolean {
    if (this.#closed) return false;
    if (this.#batchBytes === 0 || (urgentOnly && !this.#urgent)) return true;
    if (this.#failedAt >= 0) return false;
    return this.#write();
  }

  #write(): boolean {
    this.#cutSlab();
    const seg = this.#current;
    const bytes = this.#batchBytes;
    const t0 = this.#now();
    let written: number;
    try {
      written = this.#fs.writevSync(seg.fd, this.#iov, seg.size);
      // A short write (the disk filled mid-batch): writing the rest surfaces the cause (ENOSPC, EFBIG…).
      if (written !== bytes) this.#fs.writevSync(seg.fd, rest(this.#iov, written), seg.size + written);
      if (written !== bytes) throw Object.assign(new Error(`short write: ${written} of ${bytes} bytes`), { code: 'EIO' });
    } catch (err) {
      if (this.#failedAt < 0) this.#events.onError('write', err as Error);
      this.#failedAt = this.#now();
      return false;
    }
    this.#events.observeWrite((this.#now() - t0) / 1000, bytes);
    if (this.#failedAt >= 0) {
      this.#failedAt = -1;
      this.#events.onError('write', undefined);
    }
    seg.size += bytes;
    seg.unsynced += bytes;
    this.#totalBytes += bytes;
    this.#iov = [];
    this.#batchBytes = 0;
    this.#urgent = false;
    this.#slabAt = 0;
    this.#slabStart = 0;
    this.#batch++;
    if (this.#o.fsync === 'always') this.#sync();
    else if (this.#o.fsync === 'interval' && this.#syncTimer === undefined) {
      this.#syncTimer = setTimeout(() => {
        this.#syncTimer = undefined;
        if (!this.#closed && this.#current.unsynced > 0) this.#sync();
      }, this.#o.fsyncIntervalMs);
      this.#syncTimer.unref();
    }
    if (seg.size >= this.#o.segmentBytes) this.#roll();
    return true;
  }

  /** Starts a new segment (the owner checkpoints into it). */
  #roll(): void {
    const old = this.#current;
    this.#current = this.#openSegment();
    if (this.#o.fsync !== 'none' && old.unsynced > 0) this.#syncSegment(old);
    this.#events.onSegmentStart();
  }

  #openSegment(): Segment {
    const index = this.#nextIndex++;
    const path = join(this.#dir, `${String(index).padStart(10, '0')}.log`);
    const fd = this.#fs.openSync(path, 'wx+', 0o600);
    const seg: Segment = { index, path, fd, size: 0, envelopes: 0, pinnedUntil: 0, startedAt: this.#now(), unsynced: 0 };
    this.#segments.set(index, seg);
    return seg;
  }

  #sync(): void {
    if (this.#syncing) {
      this.#syncWanted = true;
      return;
    }
    const seg = this.#current;
    const through = this.#batch;
    this.#syncing = true;
    const t0 = this.#now();
    const unsynced = seg.unsynced;
    this.#fs.fdatasync(seg.fd, (err) => {
      this.#syncing = false;
      if (err !== null) {
        this.#events.onError('fsync', err);
      } else {
        seg.unsynced -= unsynced;
        this.#events.observeFsync((this.#now() - t0) / 1000);
        this.#durable = through;
            if (this.#o.fsync === 'always') this.#events.onDurable(through);
      }
      if (this.#syncWanted && !this.#closed) {
        this.#syncWanted = false;
        this.#sync();
      }
    });
  }

  #syncSegment(seg: Segment): void {
    const t0 = this.#now();
    this.#fs.fdatasync(seg.fd, (err) => {
      if (err !== null) this.#events.onError('fsync', err);
      else this.#events.observeFsync((this.#now() - t0) / 1000);
      seg.unsynced = 0;
    });
  }

  // --- Reading ------------------------------------------------------------------

  /** Reads `len` bytes at `pos` of segment `seg` (an envelope written earlier). */
  read(seg: number, pos: number, len: number): Buffer {
    const s = this.#segments.get(seg);
    if (s === undefined) throw new Error(`segment ${seg} is gone`);
    const out = Buffer.allocUnsafe(len);
    const n = this.#fs.readSync(s.fd, out, 0, len, pos);
    if (n !== len) throw new Error(`short read of segment ${seg}: ${n} of ${len} bytes`);
    return out;
  }

  // --- Retention ------------------------------------------------------------------

  /** An unacknowledged envelope lives in segment `seg`. */
  retain(seg: number): void {
    const s = this.#segment(seg);
    if (s !== undefined) s.envelopes++;
  }

  /** That envelope was acknowledged (or its session ended). */
  release(seg: number): void {
    const s = this.#segment(seg);
    if (s !== undefined) s.envelopes--;
  }

  /** Segment `seg` holds outcomes needed until wall-clock `untilMs`. */
  pin(seg: number, untilMs: number): void {
    const s = this.#segment(seg);
    if (s !== undefined && untilMs > s.pinnedUntil) s.pinnedUntil = untilMs;
  }

  /** Segment `seg` if it still exists (nearly always the current one: no map lookup then). */
  #segment(seg: number): Segment | undefined {
    return seg === this.#current.index ? this.#current : this.#segments.get(seg);
  }

  /**
   * Periodic work: retries a failed batch, rolls a segment that is old enough,
   * deletes segments nothing needs any more. (The interval fdatasync has its own
   * timer: at most `fsyncIntervalMs` after the write it covers.)
   */
  maintain(wallMs: number): void {
    if (this.#closed) return;
    const now = this.#now();
    if (this.#failedAt >= 0 && now - this.#failedAt >= this.#o.retryMs) this.#write();
    if (this.#failedAt < 0 && this.#current.size > 0 && now - this.#current.startedAt >= this.#o.maxSegmentAgeMs && this.#batchBytes === 0) this.#roll();
    for (const s of [...this.#segments.values()]) {
      if (s === this.#current || s.envelopes > 0 || s.pinnedUntil > wallMs) continue;
      this.#delete(s);
    }
  }

  #delete(s: Segment): void {
    this.#segments.delete(s.index);
    this.#totalBytes -= s.size;
    try {
      this.#fs.closeSync(s.fd);
      this.#fs.unlinkSync(s.path);
    } catch (err) {
      this.#events.onError('delete', err as Error);
    }
  }

  /** Syncs every segment now, whatever the policy (a recovery's copy, before it is declared complete). */
  syncNow(): void {
    for (const s of this.#segments.values()) {
      this.#fs.fdatasyncSync(s.fd);
      s.unsynced = 0;
    }
  }

  /** Writes what is pending, syncs every segment (whatever the policy), closes the files. */
  close(): void {
    if (this.#closed) return;
    if (this.#batchBytes > 0) this.#write();
    this.#closed = true;
    clearTimeout(this.#syncTimer);
    for (const s of this.#segments.values()) {
      try {
        if (s.unsynced > 0 || this.#o.fsync !== 'none') this.#fs.fdatasyncSync(s.fd);
        this.#fs.closeSync(s.fd);
      } catch (err) {
        this.#events.onError('fsync', err as Error);
      }
    }
  }
}

/** The buffers of `iov` after its first `skip` bytes. */
function rest(iov: readonly Buffer[], skip: number): Buffer[] {
  const out: Buffer[] = [];
  for (const b of iov) {
    if (skip >= b.length) {
      skip -= b.length;
      continue;
    }
    out.push(skip > 0 ? b.subarray(skip) : b);
    skip = 0;
  }
  return out;
}
