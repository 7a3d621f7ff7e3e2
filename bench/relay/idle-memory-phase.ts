/**
 * Memory per idle proxied session: a freshly started proxy's RSS (summed over its
 * process tree) before and after N sessions are opened through it, each having
 * relayed one probe message so that its upstream leg exists too; (after - before)/N.
 * The load generators hold at most `sessionsPerGenerator` sessions each.
 */
import { checkDeadline, openSessions, sleep, waitForQuiet, type BenchContext } from './bench-context.js';
import { LoadGeneratorPool } from './load-generator-pool.js';
import { sampleTrees, type TreeSample } from './process-tree.js';
import type { ProxyKind, ProxyUnderTest } from './proxy-under-test.js';

export interface MemorySample {
  target: ProxyKind;
  sessions: number;
  /** Set when the measurement was not made, with the reason. */
  skipped?: string;
  opened: number;
  processes: number;
  baselineRssBytes: number;
  loadedRssBytes: number;
  bytesPerSession: number;
  /** How long RSS took to stop moving after the sessions were open. */
  settleMs: number;
  /** RSS growth of each process of the tree (root first), in bytes. */
  growthBytesByProcess: number[];
}

const SAMPLE_EVERY_MS = 1_000;
const STABLE_SAMPLES = 3;
const SETTLE_LIMIT_MS = 30_000;

/** Samples until RSS moved less than 0.25% (or 256 KiB) three times in a row, 30 s at most. */
export async function settledSample(pids: number[]): Promise<{ sample: TreeSample; settleMs: number }> {
  const started = performance.now();
  let previous = sampleTrees(pids);
  let stable = 0;
  while (stable < STABLE_SAMPLES && performance.now() - started < SETTLE_LIMIT_MS) {
    await sleep(SAMPLE_EVERY_MS);
    const current = sampleTrees(pids);
    const moved = Math.abs(current.rssBytes - previous.rssBytes);
    stable = moved <= Math.max(256 * 1024, previous.rssBytes * 0.0025) ? stable + 1 : 0;
    previous = current;
  }
  return { sample: previous, settleMs: performance.now() - started };
}

export async function measureIdleMemory(
  ctx: BenchContext,
  kind: ProxyKind,
  sessions: number,
  startTarget: () => Promise<ProxyUnderTest>,
): Promise<MemorySample> {
  checkDeadline(ctx, `memory ${kind} ${sessions}`);
  const empty = {
    target: kind,
    sessions,
    opened: 0,
    processes: 0,
    baselineRssBytes: 0,
    loadedRssBytes: 0,
    bytesPerSession: 0,
    settleMs: 0,
    growthBytesByProcess: [],
  };
  ctx.log(`memory: ${kind}, ${sessions} idle sessions`);
  await waitForQuiet(ctx);
  const target = await startTarget();
  try {
    if (sessions > target.maxSessions) {
      const skipped = `over ${target.maxSessions} sessions a process would pass the 20,000-descriptor limit`;
      ctx.log(`  skipped: ${skipped}`);
      return { ...empty, skipped };
    }
    const pool = LoadGeneratorPool.start(Math.ceil(sessions / ctx.options.sessionsPerGenerator));
    try {
      if (ctx.options.memoryWarmupSessions > 0) {
        await openSessions(ctx, pool, target, ctx.options.memoryWarmupSessions, 'warmup-');
        await pool.close(10_000);
      }
      const baseline = await settledSample(target.pids);
      const connected = await openSessions(ctx, pool, target, sessions, 'idle-');
      const loaded = await settledSample(target.pids);
      const sample: MemorySample = {
        target: kind,
        sessions,
        opened: connected.opened,
        processes: loaded.sample.pids.length,
        baselineRssBytes: baseline.sample.rssBytes,
        loadedRssBytes: loaded.sample.rssBytes,
        bytesPerSession: (loaded.sample.rssBytes - baseline.sample.rssBytes) / connected.opened,
        settleMs: loaded.settleMs,
        growthBytesByProcess: loaded.sample.pids.map((pid, i) => {
          const before = baseline.sample.pids.indexOf(pid);
          return loaded.sample.rssBytesByPid[i]! - (before === -1 ? 0 : baseline.sample.rssBytesByPid[before]!);
        }),
      };
      const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(1);
      ctx.log(`  RSS ${mib(sample.baselineRssBytes)} -> ${mib(sample.loadedRssBytes)} MiB ` +
        `over ${sample.processes} processes (growth per process, root first: ` +
        `${sample.growthBytesByProcess.map(mib).join(' + ')} MiB): ` +
        `${(sample.bytesPerSession / 1024).toFixed(2)} KiB per session (settled in ${(sample.settleMs / 1000).toFixed(0)} s)`);
      if (ctx.options.holdMs > 0) {
        ctx.log(`  holding the sessions ${ctx.options.holdMs / 1000} s; processes: ${loaded.sample.pids.join(' ')}`);
        await sleep(ctx.options.holdMs);
      }
      await pool.close(30_000);
      return sample;
    } finally {
      await pool.stop();
    }
  } finally {
    await target.stop();
  }
}
