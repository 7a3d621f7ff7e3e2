/**
 * Phase `reconnect`: `reconnectSessions` idle sessions on instance A; every client is
 * told to reconnect to instance B (same clientId, same source address) as soon as its
 * session closes; A gets SIGTERM and drains (docs/operations.md: closes with 1012
 * spread over `gateway.drainPeriodMs`). Reports the time from the SIGTERM until the
 * last client relayed its probe through B, close → back per client, failed attempts,
 * and the CPU it cost: B, A (while it drained), the echo upstreams and the clients.
 * Once a second meanwhile: B's accept queue and the cores of its primary and workers
 * (bench/scale/accept-watch.ts). At the end every session relays one more round trip through B.
 */
import type { FollowResult, RoundTripResult } from '../relay/generator-protocol.js';
import type { LoadGeneratorPool } from '../relay/load-generator-pool.js';
import { descendantsOf, sampleTrees } from '../relay/process-tree.js';
import { quantile } from '../relay/statistics.js';
import { AcceptWatch, ownCpuSeconds, type AcceptWatchResult } from './accept-watch.js';
import { closeAccount } from './gateway-account.js';
import { growTo, SESSION_TIMEOUT_MS, type ScaleContext } from './scale-context.js';
import type { ScaleProxy } from './scale-proxy.js';
import type { UpstreamFleet } from './upstream-fleet.js';

export interface ReconnectResult {
  sessions: number;
  drainPeriodMs: number;
  closed: number;
  back: number;
  failures: Record<string, number>;
  closeCodes: Record<string, number>;
  /** SIGTERM to A → last client back on B. */
  allBackSeconds: number;
  /** First close → last client back. */
  spanSeconds: number;
  closeToBackMs: { p50: number; p99: number; max: number };
  cpuSeconds: { drained: number; receiving: number; upstreams: number; generators: number };
  /** B's CPU seconds per 1,000 sessions taken over. */
  receivingCpuPer1k: number;
  /** B's accept queue and the cores of its primary and workers, once a second from the SIGTERM on. */
  receivingAccept: AcceptWatchResult;
  verified: RoundTripResult;
}

/** CPU seconds of a process tree that exits while it is watched: the last reading of each of its processes. */
class ExitingTreeCpu {
  readonly #last = new Map<number, number>();
  readonly #timer: NodeJS.Timeout;
  readonly #base: number;
  constructor(private readonly root: number) {
    this.#base = this.#read();
    this.#timer = setInterval(() => this.#read(), 250);
  }
  #read(): number {
    for (const pid of descendantsOf(this.root)) {
      const seconds = ownCpuSeconds(pid);
      if (seconds !== undefined) this.#last.set(pid, seconds);
    }
    return [...this.#last.values()].reduce((a, b) => a + b, 0);
  }
  /** CPU seconds since construction (up to the last reading before each process exited). */
  stop(): number {
    clearInterval(this.#timer);
    return [...this.#last.values()].reduce((a, b) => a + b, 0) - this.#base;
  }
}

export async function measureReconnect(
  ctx: ScaleContext,
  pool: LoadGeneratorPool,
  drained: ScaleProxy,
  receiving: ScaleProxy,
  fleet: UpstreamFleet,
): Promise<ReconnectResult> {
  const o = ctx.options;
  ctx.log(`reconnect: ${o.reconnectSessions} sessions drained from one instance (drainPeriodMs ${o.drainPeriodMs}) to another`);
  const { held } = await growTo(ctx, pool, drained.url, drained.pid, 0, o.reconnectSessions, 'moving-');
  await new Promise((r) => setTimeout(r, 5_000));
  const cpu = (pids: number[]): number => sampleTrees(pids).cpuSeconds;
  const before = { receiving: cpu([receiving.pid]), upstreams: cpu(fleet.pids), generators: cpu(pool.pids) };
  const drainedCpu = new ExitingTreeCpu(drained.pid);
  const deadlineMs = o.drainPeriodMs + 240_000;
  const following = pool.follow({
    url: receiving.url,
    sourceAddresses: ctx.sources,
    sessionTimeoutMs: SESSION_TIMEOUT_MS,
    retryDelayMs: 1_000,
    deadlineMs,
  });
  await new Promise((r) => setTimeout(r, 1_000)); // every generator has armed its sessions
  const watch = new AcceptWatch(receiving.pid, Number(new URL(receiving.url).port), ctx.log);
  const termAt = Date.now();
  ctx.log(`  SIGTERM to the first instance (pid ${drained.pid})`);
  const stopped = drained.stop(o.drainPeriodMs + 30_000);
  const moved: FollowResult = await following;
  const receivingAccept = watch.stop();
  const cpuSeconds = {
    receiving: cpu([receiving.pid]) - before.receiving,
    upstreams: cpu(fleet.pids) - before.upstreams,
    generators: cpu(pool.pids) - before.generators,
    drained: 0,
  };
  await stopped;
  cpuSeconds.drained = drainedCpu.stop();
  const sorted = moved.closeToBackMs;
  const result: Omit<ReconnectResult, 'verified'> = {
    sessions: held,
    drainPeriodMs: o.drainPeriodMs,
    closed: moved.closed,
    back: moved.back,
    failures: moved.failures,
    closeCodes: moved.closeCodes,
    allBackSeconds: moved.lastBackAt > 0 ? (moved.lastBackAt - termAt) / 1000 : Number.NaN,
    spanSeconds: moved.lastBackAt > 0 ? (moved.lastBackAt - moved.firstCloseAt) / 1000 : Number.NaN,
    closeToBackMs: { p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), max: quantile(sorted, 1) },
    cpuSeconds,
    receivingCpuPer1k: (cpuSeconds.receiving / Math.max(1, moved.back)) * 1000,
    receivingAccept,
  };
  ctx.log(`  ${moved.back}/${held} back on the second instance (${moved.closed} closed; codes ${JSON.stringify(moved.closeCodes)}), ` +
    `all back ${result.allBackSeconds.toFixed(1)} s after the SIGTERM (first close → last back ${result.spanSeconds.toFixed(1)} s); ` +
    `close → back p50 ${result.closeToBackMs.p50.toFixed(0)} ms, p99 ${result.closeToBackMs.p99.toFixed(0)}, max ${result.closeToBackMs.max.toFixed(0)}; ` +
    `failed attempts ${JSON.stringify(moved.failures)}`);
  ctx.log(`  CPU-s: receiving instance ${cpuSeconds.receiving.toFixed(1)} (${result.receivingCpuPer1k.toFixed(2)} per 1k sessions), ` +
    `drained instance ${cpuSeconds.drained.toFixed(1)}, upstreams ${cpuSeconds.upstreams.toFixed(1)}, clients ${cpuSeconds.generators.toFixed(1)}`);
  ctx.log(`  second instance's accept queue: at most ${receivingAccept.maxAcceptQueue} (full ${receivingAccept.fullSeconds} s of ${receivingAccept.samples.length}); ` +
    `machine-wide ListenOverflows +${receivingAccept.listenOverflows}, ListenDrops +${receivingAccept.listenDrops}; ` +
    `its primary ${receivingAccept.primaryCoresMean.toFixed(2)} cores on average, ${receivingAccept.primaryCoresMax.toFixed(2)} at most`);
  const verified = await pool.roundTrip(120_000);
  ctx.log(`  round trip through the second instance: echoed ${verified.echoed}, not open ${verified.notOpen}, no echo ${verified.noEcho}`);
  ctx.log(`  the second instance's own account: ${await closeAccount(receiving.url)}`);
  await pool.close(60_000);
  return { ...result, verified };
}
