/**
 * What every phase of the scale benchmark shares: the options, the clock budget,
 * the log, and `growTo`, which tops the sessions held by a load-generator pool up to
 * a count in one bounded connect step.
 */
import { connectNotes } from '../relay/connect-outcome.js';
import type { ConnectResult } from '../relay/generator-protocol.js';
import type { LoadGeneratorPool } from '../relay/load-generator-pool.js';
import { machineBusySeconds } from '../relay/machine.js';
import { sampleTrees, ticksPerSecond } from '../relay/process-tree.js';
import { messageAccount, sessionAccount } from './gateway-account.js';
import { waitForQuiet } from './quiet-machine.js';
import type { ScaleOptions } from './scale-options.js';

export interface ScaleContext {
  options: ScaleOptions;
  /** Client source addresses (127.0.0.2, ...). */
  sources: string[];
  /** Date.now() past which the benchmark aborts between steps. */
  deadline: number;
  log: (line: string) => void;
}

/** A session's handshake plus probe echo must finish within this. */
export const SESSION_TIMEOUT_MS = 20_000;
/** A connect step gives up when it runs slower than this on average (sessions/s), 60 s at least. */
const SLOWEST_CONNECT_RATE = 25;

export function checkDeadline(ctx: ScaleContext, step: string): void {
  if (Date.now() > ctx.deadline) throw new Error(`time limit reached before ${step}`);
}

export interface GrowResult extends ConnectResult {
  /** Sessions held after the step. */
  held: number;
  /** Sessions opened per second in this step. */
  ratePerSecond: number;
  /** CPU seconds of the proxy's process tree spent on the step. */
  proxyCpuSeconds: number;
  /** Cores the rest of the machine kept busy meanwhile (the load generators, the upstreams, other work). */
  restCores: number;
}

/** Opens `target - held` more sessions (clientIds `${prefix}${i}`); bounded by a step deadline. */
export async function growTo(
  ctx: ScaleContext,
  pool: LoadGeneratorPool,
  url: string,
  proxyPid: number,
  held: number,
  target: number,
  prefix: string,
): Promise<GrowResult> {
  checkDeadline(ctx, `connecting ${target} sessions`);
  await waitForQuiet(ctx, `connecting ${target} sessions`);
  const add = target - held;
  const cpuBefore = sampleTrees([proxyPid]).cpuSeconds;
  const machineBefore = machineBusySeconds(ticksPerSecond());
  const result = await pool.connect({
    url,
    sessions: add,
    clientIdPrefix: prefix,
    sourceAddresses: ctx.sources,
    concurrency: ctx.options.connectConcurrency,
    sessionTimeoutMs: SESSION_TIMEOUT_MS,
    deadlineMs: Math.max(60_000, (add / SLOWEST_CONNECT_RATE) * 1000),
  });
  const proxyCpuSeconds = sampleTrees([proxyPid]).cpuSeconds - cpuBefore;
  const restCores = (machineBusySeconds(ticksPerSecond()) - machineBefore - proxyCpuSeconds) / (result.elapsedMs / 1000);
  const ratePerSecond = result.opened / (result.elapsedMs / 1000);
  ctx.log(`  opened ${result.opened}/${add} sessions in ${(result.elapsedMs / 1000).toFixed(1)} s ` +
    `(${ratePerSecond.toFixed(0)}/s, proxy ${proxyCpuSeconds.toFixed(1)} CPU-s; the rest of the machine ${restCores.toFixed(2)} cores)` + connectNotes(result));
  // A first message without its echo: where the proxy's own account (a Stratix /metrics) says its messages went.
  if (result.reprobed > 0 || result.foreignEchoes.length > 0) ctx.log(`    the proxy's message account: ${await messageAccount(url)}`);
  if (result.lostClientIds.length > 0) ctx.log(`    the proxy's sessions of those: ${await sessionAccount(url, result.lostClientIds)}`);
  return { ...result, held: held + result.opened, ratePerSecond, proxyCpuSeconds, restCores };
}
