/**
 * Latency at a fixed offered rate, well below saturation: messages are sent on a
 * schedule (open loop, round-robin over the clients) whether or not earlier echoes
 * came back, so a slow proxy cannot hide its delay by slowing the senders down.
 *
 * It also gives the proxy's CPU time per 100k round trips at that rate: every proxy
 * carries the same traffic then, where the closed loop (throughput-phase.ts) compares
 * them at the different rates each reaches when it saturates the machine together
 * with the load generators and the echo upstream.
 */
import { checkDeadline, openSessions, waitForQuiet, type BenchContext } from './bench-context.js';
import type { LoadGeneratorPool } from './load-generator-pool.js';
import { machineBusySeconds } from './machine.js';
import { sampleTrees, ticksPerSecond, type TreeSample } from './process-tree.js';
import type { ProxyKind, ProxyUnderTest } from './proxy-under-test.js';
import { quantile } from './statistics.js';

export interface LatencySample {
  target: ProxyKind;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  /** Messages timed (sent inside the window and echoed). */
  samples: number;
  lost: number;
  /** CPU seconds of the proxy's process tree per 100,000 round trips in the window (the messages timed). */
  cpuSecondsPer100k: number;
  /** Cores busy on average during the window: proxy, echo upstream, load generators, everything else. */
  cores: { target: number; echo: number; generators: number; other: number };
}

export async function measureLatency(
  ctx: BenchContext,
  pool: LoadGeneratorPool,
  target: ProxyUnderTest,
  echoPid: number,
): Promise<LatencySample> {
  checkDeadline(ctx, `latency ${target.kind}`);
  const { options } = ctx;
  ctx.log(`latency: ${target.kind}, ${options.clients} clients, ${options.rate} messages/s offered`);
  await waitForQuiet(ctx);
  await openSessions(ctx, pool, target, options.clients, 'bench-');
  const groups = [target.pids, [echoPid], pool.pids];
  let before: TreeSample[] = [];
  let after: TreeSample[] = [];
  const clock = { start: 0, end: 0, machineBefore: 0, machineAfter: 0 };
  const result = await pool.openLoop(options.payloadBytes, options.rate, options.warmupMs, options.durationMs, {}, {
    onStart: () => {
      before = groups.map(sampleTrees);
      clock.machineBefore = machineBusySeconds(ticksPerSecond());
      clock.start = performance.now();
    },
    onEnd: () => {
      after = groups.map(sampleTrees);
      clock.machineAfter = machineBusySeconds(ticksPerSecond());
      clock.end = performance.now();
    },
  });
  await pool.close(10_000);
  const latencies = result.latenciesMs;
  const seconds = (clock.end - clock.start) / 1000;
  const busy = groups.map((_, i) => (after[i]!.cpuSeconds - before[i]!.cpuSeconds) / seconds);
  const ours = (target.kind === 'direct' ? 0 : busy[0]!) + busy[1]! + busy[2]!; // direct: the target is the echo
  const sample: LatencySample = {
    target: target.kind,
    p50Ms: quantile(latencies, 0.5),
    p99Ms: quantile(latencies, 0.99),
    p999Ms: quantile(latencies, 0.999),
    maxMs: quantile(latencies, 1),
    samples: latencies.length,
    lost: result.lost,
    cpuSecondsPer100k: latencies.length === 0 ? Number.NaN : ((after[0]!.cpuSeconds - before[0]!.cpuSeconds) / latencies.length) * 100_000,
    cores: { target: busy[0]!, echo: busy[1]!, generators: busy[2]!, other: (clock.machineAfter - clock.machineBefore) / seconds - ours },
  };
  ctx.log(`  p50 ${sample.p50Ms.toFixed(2)} ms, p99 ${sample.p99Ms.toFixed(2)} ms, ` +
    `p99.9 ${sample.p999Ms.toFixed(2)} ms over ${sample.samples} messages` + (sample.lost ? `, lost ${sample.lost}` : '') +
    `; ${sample.cpuSecondsPer100k.toFixed(2)} CPU-s/100k RT; cores busy: ${target.kind} ${sample.cores.target.toFixed(2)}, ` +
    `echo ${sample.cores.echo.toFixed(2)}, generators ${sample.cores.generators.toFixed(2)}, other ${sample.cores.other.toFixed(2)}`);
  return sample;
}
