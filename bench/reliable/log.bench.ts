/**
 * Micro-benchmarks of the reliable sessions' message log, on this machine's disk:
 *
 *   append: envelopes appended in batches as a busy worker does (one flush per
 *           "turn" of --batch envelopes), per fsync policy: envelopes/s and MB/s,
 *           and the write and fdatasync latency;
 *   recover: a log of about --recover-mb MB written as sessions write it
 *           (checkpoints, envelopes, acks), then read back by crash recovery:
 *           time, and what it found.
 *
 *   npx tsc -p . && node dist/bench/reliable/log.bench.js [--sizes 200,1024,16384] [--seconds 5] [--batch 50] [--recover-mb 1024]
 *
 * Prints the command, the machine and the date with its results.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Registry } from 'prom-client';
import { pino } from 'pino';
import { GatewayMetrics } from '../../src/metrics/gateway-metrics.js';
import { numberBody, RecordKind, sessionBody } from '../../src/reliable/log-records.js';
import { MessageLog, type FsyncPolicy } from '../../src/reliable/message-log.js';
import { recoverInto } from '../../src/reliable/log-recovery.js';
import { ReliableSessions } from '../../src/reliable/reliable-sessions.js';
import { reliableOptions } from '../../src/reliable/reliable-process.js';
import { parseConfig } from '../../src/config/load.js';
import { UpstreamHealth } from '../../src/routing/upstream-health.js';
import { systemClock } from '../../src/time/clock.js';
import { describeMachine } from '../relay/machine.js';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '200,1024,16384' },
    seconds: { type: 'string', default: '5' },
    batch: { type: 'string', default: '50' },
    'recover-mb': { type: 'string', default: '1024' },
    dir: { type: 'string', default: tmpdir() },
  },
});
const sizes = values.sizes.split(',').map(Number);
const seconds = Number(values.seconds);
const batch = Number(values.batch);
const recoverMb = Number(values['recover-mb']);
const MiB = 1024 * 1024;

const command = `node dist/bench/reliable/log.bench.js --sizes ${values.sizes} --seconds ${seconds} --batch ${batch} --recover-mb ${recoverMb}`;
console.log(`# message log benchmark\ncommand: ${command}\nmachine: ${describeMachine()}\ndate:    ${new Date().toISOString()}\ndisk:    ${values.dir}\n`);

function quantile(sorted: number[], q: number): number {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

async function append(size: number, fsync: FsyncPolicy): Promise<string> {
  const root = mkdtempSync(join(values.dir, 'stratix-logbench-'));
  const writes: number[] = [];
  const syncs: number[] = [];
  let durable = 0;
  const log = new MessageLog(
    { dir: join(root, 'g'), segmentBytes: 64 * MiB, maxSegmentAgeMs: 3_600_000, fsync, fsyncIntervalMs: 10, maxBytes: 2 ** 40 },
    {
      onSegmentStart() {},
      onDurable(b) {
        durable = b;
      },
      onError(_op, err) {
        if (err) throw err;
      },
      observeWrite: (s) => writes.push(s * 1e6),
      observeFsync: (s) => syncs.push(s * 1e6),
    },
    () => performance.now(),
  );
  log.open();
  const envelope = Buffer.from(`{"type":0,"seq":1,"messageId":"1","timestamp":1764582000123456789,"data":"${'A'.repeat(Math.max(0, size - 80))}"}`);
  let n = 0;
  const end = performance.now() + seconds * 1000;
  const t0 = performance.now();
  while (performance.now() < end) {
    for (let i = 0; i < batch; i++) {
      const pos = log.append(numberBody(RecordKind.Envelope, 1, ++n), envelope);
      log.retain(log.currentSegment);
      void pos;
    }
    log.flush();
    if (fsync === 'always') {
      // An envelope is sent only once its batch is durable: wait for it, as a session does.
      const want = log.batch;
      while (durable < want) await new Promise((r) => setImmediate(r));
    } else if (n % (batch * 64) === 0) await new Promise((r) => setImmediate(r)); // let the interval timer run
  }
  const ms = performance.now() - t0;
  log.close();
  rmSync(root, { recursive: true, force: true });
  writes.sort((a, b) => a - b);
  syncs.sort((a, b) => a - b);
  const mb = (n * envelope.length) / MiB / (ms / 1000);
  return `| ${size} | ${fsync} | ${Math.round(n / (ms / 1000)).toLocaleString('en')} | ${mb.toFixed(1)} | ${quantile(writes, 0.5).toFixed(0)} / ${quantile(writes, 0.99).toFixed(0)} | ${syncs.length === 0 ? '—' : `${quantile(syncs, 0.5).toFixed(0)} / ${quantile(syncs, 0.99).toFixed(0)} (${syncs.length})`} |`;
}

async function recovery(): Promise<string> {
  const root = mkdtempSync(join(values.dir, 'stratix-recbench-'));
  const orphan = join(root, 'g0000000000001-w0-00000000');
  // Write about recoverMb MB as 10,000 sessions would: a checkpoint, then envelopes of 1 KiB, half of them acknowledged.
  const log = new MessageLog(
    { dir: orphan, segmentBytes: 64 * MiB, maxSegmentAgeMs: 3_600_000, fsync: 'none', fsyncIntervalMs: 1_000, maxBytes: 2 ** 40 },
    { onSegmentStart() {}, onDurable() {}, onError() {}, observeWrite() {}, observeFsync() {} },
    () => performance.now(),
  );
  log.open();
  const sessions = 10_000;
  const now = Date.now();
  for (let h = 1; h <= sessions; h++) {
    log.append(sessionBody(h, { sessionId: `s${String(h).padStart(21, '0')}`, clientId: `bench-${h}`, target: 'ws://127.0.0.1:9/', createdAtMs: now, lastSeq: 0, ackedSeq: 0, detachedAtMs: now, upstreamOpened: true }));
  }
  const envelope = Buffer.from(`{"type":0,"seq":1,"messageId":"1","timestamp":1764582000123456789,"data":"${'A'.repeat(944)}"}`);
  const perSession = Math.ceil((recoverMb * MiB) / envelope.length / sessions);
  for (let seq = 1; seq <= perSession; seq++) {
    for (let h = 1; h <= sessions; h++) log.append(numberBody(RecordKind.Envelope, h, seq), envelope);
    if (seq === Math.floor(perSession / 2)) for (let h = 1; h <= sessions; h++) log.append(numberBody(RecordKind.ClientAck, h, seq));
    log.flush();
  }
  log.close();
  const bytes = log.totalBytes;
  // Recover it as a fresh worker would (its own generation, default bounds).
  const config = parseConfig({ reliable: { log: { dir: root } } });
  const registry = new Registry();
  const host = new ReliableSessions(reliableOptions(config, join(root, 'new.recovering'), 1), {
    relay: { maxMessageBytes: 25 * MiB, preOpenMaxMessageBytes: 65536, preOpenQueueMessages: 64, preOpenQueueBytes: MiB, highWaterMarkBytes: MiB, lowWaterMarkBytes: 256 * 1024, connectTimeoutMs: 10_000, closeTimeoutMs: 10_000 },
    counters: new GatewayMetrics(),
    registry,
    logger: pino({ level: 'silent' }),
    connecting: new Map(),
    health: new UpstreamHealth(),
    upstreamRequest: (url) => ({ url, headers: {}, origin: undefined }),
    sessionOpened() {},
    sessionClosed() {},
    admitClient: () => true,
    paceConnect: () => true,
    connectDone() {},
  }, systemClock);
  host.open();
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const report = recoverInto(host, [orphan], () => true);
  host.flush();
  host.log.syncNow();
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const cpuS = (cpu.user + cpu.system) / 1e6;
  host.close();
  rmSync(root, { recursive: true, force: true });
  return `| ${(bytes / MiB).toFixed(0)} MiB | ${sessions.toLocaleString('en')} | ${report.sessions.toLocaleString('en')} | ${report.envelopes.toLocaleString('en')} | ${(ms / 1000).toFixed(2)} s (CPU ${cpuS.toFixed(2)} s) | ${((bytes / MiB) / (ms / 1000)).toFixed(0)} MiB/s |`;
}

console.log('| envelope bytes | fsync | envelopes/s | MB/s | write µs p50 / p99 | fdatasync µs p50 / p99 (count) |');
console.log('| --- | --- | --- | --- | --- | --- |');
for (const size of sizes) for (const fsync of ['none', 'interval', 'always'] as const) console.log(await append(size, fsync));
console.log('\n(interval = fdatasync every 10 ms; each row appends for the whole duration in batches of the given size, writing one batch per flush)\n');
if (recoverMb > 0) {
  console.log('| log | sessions written | sessions recovered | envelopes copied forward | recovery time | read rate |');
  console.log('| --- | --- | --- | --- | --- | --- |');
  console.log(await recovery());
}
