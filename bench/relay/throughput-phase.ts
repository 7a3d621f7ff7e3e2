/**
 * Saturation: every client keeps one message in flight (closed loop) for the
 * measurement window. Gives round trips per second and, from /proc, the CPU time
 * the proxy (primary + workers) spent per 100k round trips in that window.
 */
import { checkDeadline, openSessions, waitForQuiet, type BenchContext } from './bench-context.js';
import type { LoadGeneratorPool } from './load-generator-pool.js';
import { machineBusySeconds } from './machine.js';
import { sampleTrees, ticksPerSecond, type TreeSample } from './process-tree.js';
import type { ProxyKind, ProxyUnderTest } from './proxy-under-test.js';

export interface ThroughputSample {
  target: ProxyKind;
  roundTripsPerSecond: number;
  roundTrips: number;
  /** CPU seconds of the target's process tree per 100,000 round trips. */
  cpuSecondsPer100k: number;
  /**
   * Cores busy on average during the window: target, echo upstream, load generators,
   * and everything else on the machine (kernel threads, other people's work).
   */
  cores: { target: number; echo: number; generators: number; other: number };
  lost: number;
  closedDuringPhase: number;
}

export async function measureThroughput(
  ctx: BenchContext,
  pool: LoadGeneratorPool,
  target: ProxyUnderTest,
  echoPid: number,
): Promise<ThroughputSample> {
  checkDeadline(ctx, `throughput ${target.kind}`);
  const { options } = ctx;
  ctx.log(`throughput: ${target.kind}, ${options.clients} clients, closed loop`);
  await waitForQuiet(ctx);
  await openSessions(ctx, pool, target.url, options.clients, 'bench-');
  const groups = [target.pids, [echoPid], pool.pids];
  let before: TreeSample[] = [];
  let after: TreeSample[] = [];
  let windowStart = 0;
  let windowEnd = 0;
  let machineBefore = 0;
  let machineAfter = 0;
  const result = await pool.closedLoop(options.payloadBytes, options.warmupMs, options.durationMs, {
    onStart: () => {
      before = groups.map(sampleTrees);
      machineBefore = machineBusySeconds(ticksPerSecond());
      windowStart = performance.now();
    },
    onEnd: () => {
      after = groups.map(sampleTrees);
      machineAfter = machineBusySeconds(ticksPerSecond());
      windowEnd = performance.now();
    },
  });
  await pool.close(10_000);
  const seconds = (windowEnd - windowStart) / 1000;
  const busy = groups.map((_, i) => (after[i]!.cpuSeconds - before[i]!.cpuSeconds) / seconds);
  const ours = (target.kind === 'direct' ? 0 : busy[0]!) + busy[1]! + busy[2]!; // direct: the target is the echo
  const sample: ThroughputSample = {
    target: target.kind,
    roundTripsPerSecond: result.roundTrips / (result.windowMs / 1000),
    roundTrips: result.roundTrips,
    cpuSecondsPer100k: ((after[0]!.cpuSeconds - before[0]!.cpuSeconds) / result.roundTrips) * 100_000,
    cores: { target: busy[0]!, echo: busy[1]!, generators: busy[2]!, other: (machineAfter - machineBefore) / seconds - ours },
    lost: result.lost,
    closedDuringPhase: result.closedDuringPhase,
  };
  ctx.log(`  ${Math.round(sample.roundTripsPerSecond)} round trips/s, ` +
    `${sample.cpuSecondsPer100k.toFixed(2)} CPU-s/100k RT; cores busy: ${target.kind} ${sample.cores.target.toFixed(2)}, ` +
    `echo ${sample.cores.echo.toFixed(2)}, generators ${sample.cores.generators.toFixed(2)}, ` +
    `other ${sample.cores.other.toFixed(2)}` +
    (result.lost || result.closedDuringPhase ? `; lost ${result.lost}, closed ${result.closedDuringPhase}` : ''));
  return sample;
}
