/**
 * Other people's work on the machine, as the scale benchmark sees it: the cores busy
 * outside this runner's own process tree (the proxy, the upstreams and the load
 * generators are all its descendants). With `--wait-quiet-s`, a measured window waits
 * for that to fall under QUIET_CORES first, so that a figure taken while another
 * session compiled or ran its tests is not reported as the gateway's.
 */
import { readFileSync } from 'node:fs';
import { sampleTrees, ticksPerSecond } from '../relay/process-tree.js';
import type { ScaleContext } from './scale-context.js';

/** Cores of other work under which the machine counts as quiet. */
export const QUIET_CORES = 0.2;
const SAMPLE_MS = 2_000;

/**
 * CPU seconds the machine spent in processes (user, nice, system) or lost to the
 * hypervisor (steal), from /proc/stat. Interrupt and softirq time is left out: with
 * 100k sessions held, the loopback traffic of the benchmark's own pings keeps the
 * softirq column at ~0.15 cores, which no process is charged for.
 */
function processSeconds(ticks: number): number {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, , , , , steal] = fields as [number, number, number, number, number, number, number, number];
  return (user + nice + system + steal) / ticks;
}

/** Cores busy outside this process's tree over the next `ms`. */
export async function otherCores(ms = SAMPLE_MS): Promise<number> {
  const ticks = ticksPerSecond();
  const ownBefore = sampleTrees([process.pid]).cpuSeconds;
  const machineBefore = processSeconds(ticks);
  await new Promise((r) => setTimeout(r, ms));
  const own = sampleTrees([process.pid]).cpuSeconds - ownBefore;
  return (processSeconds(ticks) - machineBefore - own) / (ms / 1000);
}

/**
 * Waits up to `options.waitQuietMs` for other work to fall under QUIET_CORES; logs
 * what it waited for, or a warning when it gave up. Returns the last reading.
 */
export async function waitForQuiet(ctx: ScaleContext, before: string): Promise<number> {
  if (ctx.options.waitQuietMs === 0) return Number.NaN;
  const started = performance.now();
  for (;;) {
    const other = await otherCores();
    if (other < QUIET_CORES) {
      const waited = performance.now() - started;
      if (waited > SAMPLE_MS * 1.5) ctx.log(`    (waited ${(waited / 1000).toFixed(0)} s for other work to stop before ${before})`);
      return other;
    }
    if (performance.now() - started >= ctx.options.waitQuietMs) {
      ctx.log(`    WARNING: other work keeps ${other.toFixed(2)} cores busy; ${before} will be disturbed`);
      return other;
    }
  }
}
