/**
 * The message log on real files: records read back as written; a torn last record
 * is cut off and a corrupt one ends its segment only; segments roll with a
 * checkpoint and are deleted once nothing needs them; files are 0600 in a 0700
 * directory; a full disk (a real 1 MiB tmpfs) makes the log unwritable, counted and
 * logged, without a crash, and the batch is written when room comes back.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, ftruncateSync, readdirSync, rmSync, statSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MessageLog, type MessageLogEvents } from '../../src/reliable/message-log.js';
import { numberBody, bareBody, messageBody, RecordKind, ENVELOPE_HEAD, RECORD_PREFIX } from '../../src/reliable/log-records.js';
import { scanLog, segmentFiles } from '../../src/reliable/log-scan.js';

const MiB = 1024 * 1024;

function events(): MessageLogEvents & { errors: Array<[string, string | undefined]>; segments: number } {
  const e = {
    errors: [] as Array<[string, string | undefined]>,
    segments: 0,
    onSegmentStart() {
      e.segments++;
    },
    onDurable() {},
    onError(op: string, err: Error | undefined) {
      e.errors.push([op, (err as NodeJS.ErrnoException | undefined)?.code]);
    },
    observeWrite() {},
    observeFsync() {},
  };
  return e;
}

function newLog(dir: string, over: Partial<ConstructorParameters<typeof MessageLog>[0]> = {}, ev = events()): { log: MessageLog; ev: ReturnType<typeof events> } {
  const log = new MessageLog({ dir, segmentBytes: 1 * MiB, maxSegmentAgeMs: 3_600_000, fsync: 'none', fsyncIntervalMs: 1_000, maxBytes: 64 * MiB, retryMs: 50, ...over }, ev, () => performance.now());
  log.open();
  return { log, ev };
}

function envelope(i: number, size = 100): Buffer {
  return Buffer.from(`{"seq":${i},"data":"${'x'.repeat(size)}"}`);
}

describe('message log files', () => {
  let root: string;
  before(() => {
    root = mkdtempSync(join(tmpdir(), 'stratix-msglog-'));
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  test('records come back in order; envelopes read back at their position; 0600 files in a 0700 directory', () => {
    const dir = join(root, 'a');
    const { log } = newLog(dir);
    const at: number[] = [];
    for (let i = 1; i <= 50; i++) at.push(log.append(numberBody(RecordKind.Envelope, 7, i), envelope(i, i * 40)));
    log.append(bareBody(RecordKind.End, 7));
    assert.equal(log.flush(), true);
    for (let i = 1; i <= 50; i++) assert.deepEqual(log.read(log.currentSegment, at[i - 1]!, envelope(i, i * 40).length), envelope(i, i * 40));
    log.close();
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    for (const f of readdirSync(dir)) assert.equal(statSync(join(dir, f)).mode & 0o777, 0o600, f);
    const seen: number[] = [];
    const r = scanLog(dir, (rec) => {
      if (rec.kind === RecordKind.Envelope) {
        const seq = rec.body.readDoubleLE(5);
        seen.push(seq);
        assert.deepEqual(Buffer.from(rec.body.subarray(ENVELOPE_HEAD - RECORD_PREFIX)), envelope(seq, seq * 40));
      }
    });
    assert.deepEqual(seen, Array.from({ length: 50 }, (_, i) => i + 1));
    assert.equal(r.records, 51);
    assert.deepEqual(r.cut, []);
  });

  test('records written in place (appendNumber, appendMessage) are byte for byte the records of their bodies', () => {
    const logs = ['in-place', 'bodies'].map((name) => newLog(join(root, `same-${name}`)).log);
    const [inPlace, bodies] = [logs[0]!, logs[1]!];
    const positions: number[][] = [[], []];
    // Envelopes below and above the size copied into the slab, every message-record form, urgent or not.
    for (let i = 1; i <= 40; i++) {
      const env = envelope(i, i * 60);
      positions[0]!.push(inPlace.appendNumber(RecordKind.Envelope, 3, i, env));
      positions[1]!.push(bodies.append(numberBody(RecordKind.Envelope, 3, i), env));
      const id = `m-${i}`.repeat(1 + (i % 5));
      const outcome = i % 3 === 0 ? undefined : i % 3;
      positions[0]!.push(inPlace.appendMessage(3, 1_700_000_000_000 + i, id, outcome, i % 2 === 0));
      positions[1]!.push(bodies.append(messageBody(3, 1_700_000_000_000 + i, id, outcome), undefined, i % 2 === 0));
      positions[0]!.push(inPlace.appendNumber(RecordKind.ClientAck, 3, i, undefined, false));
      positions[1]!.push(bodies.append(numberBody(RecordKind.ClientAck, 3, i), undefined, false));
    }
    assert.deepEqual(positions[0], positions[1]);
    for (const log of logs) {
      assert.equal(log.flush(), true);
      log.close();
    }
    const files = ['in-place', 'bodies'].map((name) => readFileSync(segmentFiles(join(root, `same-${name}`))[0]!.path));
    assert.ok(files[0]!.length > 40 * 1024, 'envelopes above the slab-copy size are in it');
    assert.deepEqual(files[0], files[1]);
    const kinds: number[] = [];
    const r = scanLog(join(root, 'same-in-place'), (rec) => kinds.push(rec.kind));
    assert.deepEqual(r.cut, []);
    assert.equal(kinds.length, 120);
  });

  test('a torn last record is cut off; everything before it is read', () => {
    const dir = join(root, 'b');
    const { log } = newLog(dir);
    for (let i = 1; i <= 10; i++) log.append(numberBody(RecordKind.Envelope, 1, i), envelope(i));
    log.flush();
    log.close();
    const [seg] = segmentFiles(dir);
    const size = statSync(seg!.path).size;
    for (const tear of [1, 7, 30]) {
      const copy = join(root, `b-torn-${tear}`);
      execFileSync('cp', ['-r', dir, copy]);
      const fd = openSync(join(copy, readdirSync(copy)[0]!), 'r+');
      ftruncateSync(fd, size - tear);
      closeSync(fd);
      const seqs: number[] = [];
      const r = scanLog(copy, (rec) => seqs.push(rec.body.readDoubleLE(5)));
      assert.deepEqual(seqs, [1, 2, 3, 4, 5, 6, 7, 8, 9], `torn by ${tear} bytes`);
      assert.equal(r.cut.length, 1);
      assert.match(r.cut[0]!.why, /torn/);
    }
  });

  test('a corrupt record ends its segment only: later segments are still read', () => {
    const dir = join(root, 'c');
    const { log, ev } = newLog(dir, { segmentBytes: 1 * MiB });
    for (let i = 1; i <= 3000; i++) log.append(numberBody(RecordKind.Envelope, 1, i), envelope(i, 900)) && (log.pendingBytes > 256 * 1024 && log.flush());
    log.flush();
    log.close();
    assert.ok(ev.segments >= 2, 'rolled');
    const segs = segmentFiles(dir);
    const first = readFileSync(segs[0]!.path);
    first[5000] ^= 0xff; // inside some record
    writeFileSync(segs[0]!.path, first);
    const seqs: number[] = [];
    const r = scanLog(dir, (rec) => seqs.push(rec.body.readDoubleLE(5)));
    assert.equal(r.cut.length, 1);
    assert.equal(r.cut[0]!.segment, segs[0]!.index);
    assert.match(r.cut[0]!.why, /CRC|length/);
    assert.ok(seqs.at(-1) === 3000, 'the last segment was read');
    assert.ok(seqs.length < 3000, 'the corrupt segment lost its tail');
  });

  test('segments roll with a checkpoint and are deleted once their envelopes are released and pins expired', () => {
    const dir = join(root, 'd');
    const { log, ev } = newLog(dir, { segmentBytes: 1 * MiB });
    const segs: number[] = [];
    for (let i = 1; i <= 2500; i++) {
      log.append(numberBody(RecordKind.Envelope, 1, i), envelope(i, 900));
      log.retain(log.currentSegment);
      segs.push(log.currentSegment);
      if (log.pendingBytes > 200_000) log.flush();
    }
    log.flush();
    const first = segs[0]!;
    log.pin(first, Date.now() + 60_000);
    assert.ok(ev.segments >= 2);
    const count = log.segmentCount;
    for (const s of segs) log.release(s);
    log.maintain(Date.now());
    assert.equal(log.segmentCount, 2, 'the pinned first segment and the current one remain');
    log.maintain(Date.now() + 61_000);
    assert.equal(log.segmentCount, 1, 'then only the current one');
    assert.ok(count > 2);
    assert.equal(segmentFiles(dir).length, 1);
    log.close();
  });
});

/** Mounts a tmpfs of `size` at `dir`; false where this machine does not let us (not root). */
function mountTmpfs(dir: string, size: string): boolean {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('a full disk (a real tmpfs)', () => {
  let dir: string;
  let mounted = false;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'stratix-full-'));
    mounted = mountTmpfs(dir, '1m');
  });
  after(() => {
    if (mounted) execFileSync('umount', [dir]);
    rmSync(dir, { recursive: true, force: true });
  });

  test('the log becomes unwritable (ENOSPC, counted once, no throw), keeps the batch, and writes it when room comes back', () => {
    assert.ok(mounted, 'this suite mounts a 1 MiB tmpfs: it needs root (CI runs as root)');
    const filler = join(dir, 'filler');
    writeFileSync(filler, Buffer.alloc(700 * 1024));
    const { log, ev } = newLog(join(dir, 'log'), { segmentBytes: 64 * MiB });
    let wrote = true;
    const all: Buffer[] = [];
    for (let i = 1; i <= 40 && wrote; i++) {
      const e = envelope(i, 20_000);
      all.push(e);
      log.append(numberBody(RecordKind.Envelope, 1, i), e);
      wrote = log.flush();
    }
    assert.equal(wrote, false, 'the disk filled');
    assert.equal(log.writable, false);
    assert.deepEqual(ev.errors, [['write', 'ENOSPC']], 'one error reported, with its code');
    log.append(numberBody(RecordKind.Envelope, 1, all.length + 1), envelope(all.length + 1, 100));
    assert.equal(log.flush(), false, 'still failing: nothing new is written past the failure');
    rmSync(filler);
    log.maintain(Date.now()); // too early for a retry (retryMs 50)
    const until = Date.now() + 2_000;
    while (!log.writable && Date.now() < until) {
      execFileSync('sleep', ['0.06']);
      log.maintain(Date.now());
    }
    assert.equal(log.writable, true, 'written once room came back');
    assert.deepEqual(ev.errors.at(-1), ['write', undefined], 'the recovery is reported');
    log.close();
    const seqs: number[] = [];
    scanLog(join(dir, 'log'), (rec) => seqs.push(rec.body.readDoubleLE(5)));
    assert.deepEqual(seqs, Array.from({ length: all.length + 1 }, (_, i) => i + 1), 'every record, once, in order');
  });
});
