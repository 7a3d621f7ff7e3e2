/**
 * Phase `load`: at each client count (1k, 10k, 100k by default, connected in steps on
 * one proxy and kept open), first latency, then saturation:
 * - latency: at each of the `rates` (messages/s in total), open loop (each message has a
 *   scheduled send time, start + (k + 1) / rate, and is timed from it, so a late sender
 *   does not hide delay: no coordinated omission); p50/p99/p999 over the 10 s window,
 *   and how late the generators themselves wrote (their share of the figure);
 * - saturation: every client keeps `inFlight` messages in flight (closed loop); round
 *   trips/s, relayed messages/s (two per round trip), CPU-s per 100k round trips of
 *   the proxy, and the cores used by the proxy, the echo upstreams, the load generators
 *   and everything else, so that the proxy's limit can be told from the machine's.
 * At the end every session relays one more round trip.
 */
import type { LatencySample } from '../relay/latency-phase.js';
import type { LoadGeneratorPool } from '../relay/load-generator-pool.js';
import { machineBusySeconds } from '../relay/machine.js';
import { sampleTrees, ticksPerSecond, type TreeSample } from '../relay/process-tree.js';
import { quantile } from '../relay/statistics.js';
import { meanWaitMs, readRunQueue } from './run-queue.js';
import type { RoundTripResult } from '../relay/generator-protocol.js';
import { waitForQuiet } from './quiet-machine.js';
import { growTo, type ScaleContext } from './scale-context.js';
import type { ScaleProxy } from './scale-proxy.js';
import type { UpstreamFleet } from './upstream-fleet.js';

export interface Cores {
  proxy: number;
  upstreams: number;
  generators: number;
  other: number;
  /** Mean wait for a core each time a process woke up (ms; bench/scale/run-queue.ts). */
  waitMs: { proxy: number; upstreams: number; generators: number };
}

/** bench/relay's latency figures, plus the rate they were taken at, the senders' lateness and the cores. */
export interface Latency extends Omit<LatencySample, 'target' | 'cores' | 'cpuSecondsPer100k'> {
  /** Messages per second offered in total. */
  rate: number;
  sendLagP99Ms: number;
  cores: Cores;
}

export interface LoadStep {
  clients: number;
  /** One open-loop window per offered rate, ascending. */
  latency: Latency[];
  throughput: { roundTripsPerSecond: number; messagesPerSecond: number; cpuSecondsPer100k: number; lost: number; closed: number; cores: Cores };
}

export interface LoadResult {
  proxy: string;
  steps: LoadStep[];
  verified: RoundTripResult;
}

class CoreMeter {
  #before: TreeSample[] = [];
  #queueBefore: ReturnType<typeof readRunQueue>[] = [];
  #machineBefore = 0;
  #startedAt = 0;
  constructor(private readonly groups: number[][]) {}

  // Walking /proc takes a while on a busy machine: the clock is read before the readings
  // at the start and after them at the end, so the window covers all the CPU it counts.
  start(): void {
    this.#startedAt = performance.now();
    this.#machineBefore = machineBusySeconds(ticksPerSecond());
    this.#before = this.groups.map((g) => sampleTrees(g));
    this.#queueBefore = this.groups.map((g) => readRunQueue(g));
  }

  /** Cores per group since start(), and the proxy's CPU seconds. */
  stop(): { cores: Cores; proxyCpuSeconds: number } {
    const after = this.groups.map((g) => sampleTrees(g));
    const [proxyWait, upstreamWait, generatorWait] = this.groups.map((g, i) => meanWaitMs(this.#queueBefore[i]!, readRunQueue(g))) as [number, number, number];
    const seconds = (performance.now() - this.#startedAt) / 1000;
    const used = after.map((a, i) => a.cpuSeconds - this.#before[i]!.cpuSeconds);
    const machine = machineBusySeconds(ticksPerSecond()) - this.#machineBefore;
    const [proxy, upstreams, generators] = used.map((u) => u / seconds) as [number, number, number];
    const waitMs = { proxy: proxyWait, upstreams: upstreamWait, generators: generatorWait };
    return { cores: { proxy, upstreams, generators, other: machine / seconds - proxy - upstreams - generators, waitMs }, proxyCpuSeconds: used[0]! };
  }
}

function coresText(c: Cores): string {
  return `proxy ${c.proxy.toFixed(2)}, upstreams ${c.upstreams.toFixed(2)}, generators ${c.generators.toFixed(2)}, other ${c.other.toFixed(2)}; ` +
    `wait for a core per wake-up: proxy ${c.waitMs.proxy.toFixed(2)} ms, upstreams ${c.waitMs.upstreams.toFixed(2)}, generators ${c.waitMs.generators.toFixed(2)}`;
}

/** One open-loop window at `rate` messages/s in total, timed from the scheduled send times. */
async function measureLatency(ctx: ScaleContext, pool: LoadGeneratorPool, meter: CoreMeter, rate: number): Promise<Latency> {
  const o = ctx.options;
  await waitForQuiet(ctx, `the latency window at ${rate}/s`);
  meter.start();
  const open = await pool.openLoop(o.payloadBytes, rate, o.warmupMs, o.durationMs, { fromScheduledTime: true });
  const cores = meter.stop().cores;
  const latency: Latency = {
    rate,
    p50Ms: quantile(open.latenciesMs, 0.5),
    p99Ms: quantile(open.latenciesMs, 0.99),
    p999Ms: quantile(open.latenciesMs, 0.999),
    maxMs: quantile(open.latenciesMs, 1),
    samples: open.latenciesMs.length,
    lost: open.lost,
    sendLagP99Ms: quantile(open.sendLagMs ?? new Float64Array(0), 0.99),
    cores,
  };
  ctx.log(`    latency @${rate}/s: p50 ${latency.p50Ms.toFixed(2)} ms, p99 ${latency.p99Ms.toFixed(2)}, p99.9 ${latency.p999Ms.toFixed(2)}, ` +
    `max ${latency.maxMs.toFixed(1)} over ${latency.samples} (lost ${latency.lost}; senders' own lateness p99 ${latency.sendLagP99Ms.toFixed(2)} ms); ` +
    `cores: ${coresText(cores)}`);
  return latency;
}

export async function measureLoadSteps(ctx: ScaleContext, pool: LoadGeneratorPool, proxy: ScaleProxy, fleet: UpstreamFleet): Promise<LoadResult> {
  const o = ctx.options;
  const meter = new CoreMeter([[proxy.pid], fleet.pids, pool.pids]);
  const steps: LoadStep[] = [];
  let held = 0;
  ctx.log(`load: ${proxy.kind}, clients ${o.loadAt.join(', ')}; open loop ${o.rates.join(', ')}/s, closed loop ${o.inFlight} in flight`);
  for (const clients of o.loadAt) {
    if (clients > proxy.maxSessions) {
      ctx.log(`  ${clients}: skipped (over ${proxy.maxSessions} sessions a process would pass the file limit)`);
      continue;
    }
    ctx.log(`  ${clients} clients:`);
    held = (await growTo(ctx, pool, proxy.url, proxy.pid, held, clients, `load${clients}-`)).held;
    await new Promise((r) => setTimeout(r, 5_000)); // let the connect burst's garbage go

    const latency: Latency[] = [];
    for (const rate of o.rates) latency.push(await measureLatency(ctx, pool, meter, rate));

    await waitForQuiet(ctx, 'the saturated window');
    let window: { cores: Cores; proxyCpuSeconds: number } | undefined;
    const closed = await pool.closedLoop(
      { payloadBytes: o.payloadBytes, inFlight: o.inFlight, warmupMs: o.warmupMs, durationMs: o.durationMs },
      { onStart: () => meter.start(), onEnd: () => (window = meter.stop()) },
    );
    const rtps = closed.roundTrips / (closed.windowMs / 1000);
    const throughput = {
      roundTripsPerSecond: rtps,
      messagesPerSecond: 2 * rtps,
      cpuSecondsPer100k: (window!.proxyCpuSeconds / closed.roundTrips) * 100_000,
      lost: closed.lost,
      closed: closed.closedDuringPhase,
      cores: window!.cores,
    };
    ctx.log(`    saturated: ${rtps.toFixed(0)} round trips/s = ${throughput.messagesPerSecond.toFixed(0)} relayed messages/s, ` +
      `${throughput.cpuSecondsPer100k.toFixed(2)} CPU-s per 100k RT; cores: ${coresText(throughput.cores)}` +
      (closed.lost || closed.closedDuringPhase ? `; lost ${closed.lost}, closed ${closed.closedDuringPhase}` : ''));
    steps.push({ clients: held, latency, throughput });
  }
  ctx.log(`  round trip on every one of the ${held} sessions`);
  const verified = await pool.roundTrip(120_000);
  ctx.log(`  echoed ${verified.echoed}, not open ${verified.notOpen}, no echo ${verified.noEcho}`);
  await pool.close(60_000);
  return { proxy: proxy.kind, steps, verified };
}
