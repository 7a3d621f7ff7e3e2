/**
 * Phase `sessions`: idle proxied sessions opened in steps (1k, 15k, 50k, 100k, 150k by
 * default) on one freshly started proxy; at each step, once RSS stopped moving: the
 * RSS of the proxy's whole process tree, (RSS − RSS before any session) / N, the
 * slope since the previous step, the connect rate and CPU of the step, and the open
 * files of the primary and of the fullest worker (the primary must not keep one per
 * session). At the end every session relays one more round trip.
 */
import type { LoadGeneratorPool } from '../relay/load-generator-pool.js';
import { settledSample } from '../relay/idle-memory-phase.js';
import { descendantsOf, sampleTrees } from '../relay/process-tree.js';
import type { RoundTripResult } from '../relay/generator-protocol.js';
import { openDescriptors } from './open-descriptors.js';
import { growTo, type ScaleContext } from './scale-context.js';
import type { ScaleProxy } from './scale-proxy.js';

export interface SessionStep {
  sessions: number;
  failed: number;
  failures: Record<string, number>;
  connectSeconds: number;
  connectsPerSecond: number;
  /** Proxy CPU seconds per 1,000 sessions opened in this step. */
  cpuSecondsPer1k: number;
  /** Cores busy outside the proxy during the step (harness and other work). */
  restCores: number;
  rssBytes: number;
  /** (rss − baseline) / sessions, KiB. */
  kibPerSession: number;
  /** (rss − previous step's rss) / (sessions − previous sessions), KiB. */
  stepSlopeKib: number;
  /** Cores the idle proxy keeps busy with N sessions (pings of both legs, timers), over one ping interval. */
  idleCores: number;
  rootRssBytes: number;
  rootDescriptors: number;
  maxChildDescriptors: number;
  processes: number;
  settleMs: number;
}

export interface SessionsResult {
  proxy: string;
  baselineRssBytes: number;
  baselineRootDescriptors: number;
  steps: SessionStep[];
  /** Least-squares fit of RSS over the steps: KiB per session and the fixed cost (MiB at 0 sessions). */
  fit: { kibPerSession: number; fixedMib: number };
  verified: RoundTripResult;
}

const WARMUP_SESSIONS = 200;
/** gateway.pingIntervalMs's default: every leg is pinged once in this window. */
const IDLE_WINDOW_MS = 25_000;

async function idleCores(pid: number): Promise<number> {
  const before = sampleTrees([pid]).cpuSeconds;
  await new Promise((r) => setTimeout(r, IDLE_WINDOW_MS));
  return (sampleTrees([pid]).cpuSeconds - before) / (IDLE_WINDOW_MS / 1000);
}

function descriptorsOf(rootPid: number): { root: number; maxChild: number } {
  const [root, ...children] = descendantsOf(rootPid);
  return { root: openDescriptors(root!), maxChild: Math.max(0, ...children.map(openDescriptors).filter((n) => !Number.isNaN(n))) };
}

export function linearFit(points: readonly { x: number; y: number }[]): { slope: number; intercept: number } {
  const n = points.length;
  const mx = points.reduce((a, p) => a + p.x, 0) / n;
  const my = points.reduce((a, p) => a + p.y, 0) / n;
  const sxx = points.reduce((a, p) => a + (p.x - mx) ** 2, 0);
  const sxy = points.reduce((a, p) => a + (p.x - mx) * (p.y - my), 0);
  const slope = sxx === 0 ? 0 : sxy / sxx;
  return { slope, intercept: my - slope * mx };
}

export async function measureSessionSteps(ctx: ScaleContext, pool: LoadGeneratorPool, proxy: ScaleProxy): Promise<SessionsResult> {
  const mib = (b: number): string => (b / 2 ** 20).toFixed(1);
  ctx.log(`sessions: ${proxy.kind}, steps ${ctx.options.steps.join(', ')} (at most ${proxy.maxSessions} under the file limit)`);
  await growTo(ctx, pool, proxy.url, proxy.pid, 0, WARMUP_SESSIONS, 'warmup-');
  await pool.close(30_000);
  const baseline = await settledSample([proxy.pid]);
  const baseFds = descriptorsOf(proxy.pid);
  ctx.log(`  baseline RSS ${mib(baseline.sample.rssBytes)} MiB over ${baseline.sample.pids.length} processes; primary holds ${baseFds.root} files`);
  const steps: SessionStep[] = [];
  let held = 0;
  for (const target of ctx.options.steps) {
    if (target > proxy.maxSessions) {
      ctx.log(`  ${target}: skipped (over ${proxy.maxSessions} sessions a process would pass the file limit)`);
      continue;
    }
    ctx.log(`  step ${target}:`);
    const grown = await growTo(ctx, pool, proxy.url, proxy.pid, held, target, `idle${target}-`);
    const previous = steps.at(-1);
    held = grown.held;
    const loaded = await settledSample([proxy.pid]);
    const fds = descriptorsOf(proxy.pid);
    const idle = await idleCores(proxy.pid);
    const rss = loaded.sample.rssBytes;
    const step: SessionStep = {
      sessions: held,
      failed: grown.failed,
      failures: grown.failures,
      connectSeconds: grown.elapsedMs / 1000,
      connectsPerSecond: grown.ratePerSecond,
      cpuSecondsPer1k: (grown.proxyCpuSeconds / Math.max(1, grown.opened)) * 1000,
      restCores: grown.restCores,
      idleCores: idle,
      rssBytes: rss,
      kibPerSession: (rss - baseline.sample.rssBytes) / held / 1024,
      stepSlopeKib: (rss - (previous?.rssBytes ?? baseline.sample.rssBytes)) / Math.max(1, held - (previous?.sessions ?? 0)) / 1024,
      rootRssBytes: loaded.sample.rssBytesByPid[0] ?? 0,
      rootDescriptors: fds.root,
      maxChildDescriptors: fds.maxChild,
      processes: loaded.sample.pids.length,
      settleMs: loaded.settleMs,
    };
    steps.push(step);
    ctx.log(`  ${held} sessions: RSS ${mib(rss)} MiB (primary ${mib(step.rootRssBytes)}), ${step.kibPerSession.toFixed(2)} KiB/session, ` +
      `step slope ${step.stepSlopeKib.toFixed(2)} KiB; idle CPU ${idle.toFixed(3)} cores; files: primary ${fds.root}, fullest worker ${fds.maxChild}; settled in ${(loaded.settleMs / 1000).toFixed(0)} s`);
  }
  ctx.log(`  round trip on every one of the ${held} sessions`);
  const verified = await pool.roundTrip(120_000);
  ctx.log(`  echoed ${verified.echoed}, not open ${verified.notOpen}, no echo ${verified.noEcho}`);
  const fitted = linearFit(steps.map((s) => ({ x: s.sessions, y: s.rssBytes })));
  const fit = { kibPerSession: fitted.slope / 1024, fixedMib: fitted.intercept / 2 ** 20 };
  ctx.log(`  fit over the steps: ${fit.kibPerSession.toFixed(2)} KiB per session + ${fit.fixedMib.toFixed(0)} MiB fixed`);
  await pool.close(60_000);
  return { proxy: proxy.kind, baselineRssBytes: baseline.sample.rssBytes, baselineRootDescriptors: baseFds.root, steps, fit, verified };
}
