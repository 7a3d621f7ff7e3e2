/**
 * Latency at a fixed offered rate, well below saturation: messages are sent on a
 * schedule (open loop, round-robin over the clients) whether or not earlier echoes
 * came back, so a slow proxy cannot hide its delay by slowing the senders down.
 */
import { checkDeadline, openSessions, waitForQuiet, type BenchContext } from './bench-context.js';
import type { LoadGeneratorPool } from './load-generator-pool.js';
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
}

export async function measureLatency(
  ctx: BenchContext,
  pool: LoadGeneratorPool,
  target: ProxyUnderTest,
): Promise<LatencySample> {
  checkDeadline(ctx, `latency ${target.kind}`);
  const { options } = ctx;
  ctx.log(`latency: ${target.kind}, ${options.clients} clients, ${options.rate} messages/s offered`);
  await waitForQuiet(ctx);
  await openSessions(ctx, pool, target, options.clients, 'bench-');
  const result = await pool.openLoop(options.payloadBytes, options.rate, options.warmupMs, options.durationMs);
  await pool.close(10_000);
  const latencies = result.latenciesMs;
  const sample: LatencySample = {
    target: target.kind,
    p50Ms: quantile(latencies, 0.5),
    p99Ms: quantile(latencies, 0.99),
    p999Ms: quantile(latencies, 0.999),
    maxMs: quantile(latencies, 1),
    samples: latencies.length,
    lost: result.lost,
  };
  ctx.log(`  p50 ${sample.p50Ms.toFixed(2)} ms, p99 ${sample.p99Ms.toFixed(2)} ms, ` +
    `p99.9 ${sample.p999Ms.toFixed(2)} ms over ${sample.samples} messages` + (sample.lost ? `, lost ${sample.lost}` : ''));
  return sample;
}
