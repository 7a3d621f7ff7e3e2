/**
 * The relay macro benchmark: the same load sent directly to an echo upstream and
 * through each proxy under test, in the same run, phase by phase:
 * throughput + CPU per round trip (closed loop), latency at a fixed offered rate
 * (open loop), then memory per idle session on freshly started proxies.
 */
import type { BenchContext } from './bench-context.js';
import { measureIdleMemory, type MemorySample } from './idle-memory-phase.js';
import { measureLatency, type LatencySample } from './latency-phase.js';
import type { ListeningProcess } from './listening-process.js';
import { LoadGeneratorPool } from './load-generator-pool.js';
import { startEchoUpstream, startProxy, type ProxyKind, type ProxySettings, type ProxyUnderTest } from './proxy-under-test.js';
import { sourceAddressList, type RelayOptions } from './relay-options.js';
import { measureThroughput, type ThroughputSample } from './throughput-phase.js';

export interface RunResults {
  run: number;
  throughput: ThroughputSample[];
  latency: LatencySample[];
  memory: MemorySample[];
}

export interface RelayResults {
  runs: RunResults[];
  elapsedMs: number;
}

/** `direct` in the memory phase measures a fresh echo upstream of its own. */
async function startMemoryTarget(kind: ProxyKind, echo: ListeningProcess, settings: ProxySettings): Promise<ProxyUnderTest> {
  if (kind !== 'direct') return startProxy(kind, echo, settings);
  const ownEcho = await startEchoUpstream(settings.echoWorkers);
  const target = await startProxy('direct', ownEcho, settings);
  return { ...target, stop: () => ownEcho.stop() };
}

/** Measurements a run makes (for the progress bar): each target per active phase, each proxy and count in the memory phase. */
export function measurementsPerRun(options: RelayOptions): number {
  const targets = 1 + options.proxies.filter((k) => k !== 'direct').length;
  const active = (options.phases.includes('throughput') ? targets : 0) + (options.phases.includes('latency') ? targets : 0);
  return active + (options.phases.includes('memory') ? options.proxies.length * options.idleSessions.length : 0);
}

async function activePhases(ctx: BenchContext, run: RunResults, echo: ListeningProcess, settings: ProxySettings): Promise<void> {
  const { options } = ctx;
  const pool = LoadGeneratorPool.start(options.generators);
  const targets: ProxyUnderTest[] = [await startProxy('direct', echo, settings)];
  try {
    for (const kind of options.proxies) {
      if (kind !== 'direct') targets.push(await startProxy(kind, echo, settings));
    }
    if (options.phases.includes('throughput')) {
      for (const target of targets) {
        run.throughput.push(await measureThroughput(ctx, pool, target, echo.pid));
        ctx.measured?.();
      }
    }
    if (options.phases.includes('latency')) {
      for (const target of targets) {
        run.latency.push(await measureLatency(ctx, pool, target, echo.pid));
        ctx.measured?.();
      }
    }
  } finally {
    await pool.stop();
    for (const target of targets) await target.stop();
  }
}

export function proxySettings(options: RelayOptions): ProxySettings {
  return {
    workers: options.workers,
    echoWorkers: options.echoWorkers,
    nodeArgs: options.proxyNodeArgs,
    stratixMain: options.stratixMain,
    stratixNodeArgs: options.stratixNodeArgs,
    stratixExec: options.stratixExec,
  };
}

export async function runRelayBenchmark(options: RelayOptions, log: (line: string) => void, measured?: () => void): Promise<RelayResults> {
  const started = performance.now();
  const ctx: BenchContext = {
    options,
    sources: sourceAddressList(options.sourceAddresses),
    deadline: Date.now() + options.timeLimitMs,
    log,
    measured,
  };
  const settings: ProxySettings = proxySettings(options);
  const runs: RunResults[] = [];
  for (let i = 1; i <= options.runs; i++) {
    log(`--- run ${i}/${options.runs}`);
    const run: RunResults = { run: i, throughput: [], latency: [], memory: [] };
    runs.push(run);
    const echo = await startEchoUpstream(options.echoWorkers);
    try {
      if (options.phases.includes('throughput') || options.phases.includes('latency')) {
        await activePhases(ctx, run, echo, settings);
      }
      if (options.phases.includes('memory')) {
        for (const kind of options.proxies) {
          for (const sessions of options.idleSessions) {
            run.memory.push(await measureIdleMemory(ctx, kind, sessions, () => startMemoryTarget(kind, echo, settings)));
            ctx.measured?.();
          }
        }
      }
    } finally {
      await echo.stop();
    }
  }
  return { runs, elapsedMs: performance.now() - started };
}
