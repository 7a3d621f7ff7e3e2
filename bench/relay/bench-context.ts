/** What every phase of the relay benchmark is handed: the options, the clock budget and a log. */
import { connectNotes, failureList } from './connect-outcome.js';
import type { ConnectResult } from './generator-protocol.js';
import type { LoadGeneratorPool } from './load-generator-pool.js';
import { machineBusySeconds } from './machine.js';
import { ticksPerSecond } from './process-tree.js';
import type { RelayOptions } from './relay-options.js';

export interface BenchContext {
  options: RelayOptions;
  /** Client source addresses (127.0.0.2, ...). */
  sources: string[];
  /** Date.now() past which the benchmark aborts between steps. */
  deadline: number;
  log: (line: string) => void;
  /** Called after each measurement (the progress bar). */
  measured?: (() => void) | undefined;
}

/** A single session's handshake plus probe echo must finish within this. */
const SESSION_TIMEOUT_MS = 15_000;
/** A whole connect step (up to 15k sessions) must finish within this. */
const CONNECT_DEADLINE_MS = 180_000;
/** Sessions that may fail to open before a phase's figure is thrown away. */
const ALLOWED_CONNECT_FAILURES = 0.005;

export function checkDeadline(ctx: BenchContext, step: string): void {
  if (Date.now() > ctx.deadline) throw new Error(`time limit reached before ${step}`);
}

/** Opens `sessions` through `url` on `pool`; fails when more than 0.5% could not be opened. */
export async function openSessions(
  ctx: BenchContext,
  pool: LoadGeneratorPool,
  target: { url: string; protocol?: 'stratix.v1' | undefined },
  sessions: number,
  clientIdPrefix: string,
): Promise<ConnectResult> {
  const url = target.url;
  const result = await pool.connect({
    url,
    protocol: target.protocol,
    sessions,
    clientIdPrefix,
    sourceAddresses: ctx.sources,
    concurrency: ctx.options.connectConcurrency,
    sessionTimeoutMs: SESSION_TIMEOUT_MS,
    deadlineMs: CONNECT_DEADLINE_MS,
  });
  const failures = failureList(result);
  ctx.log(`  opened ${result.opened}/${sessions} sessions in ${(result.elapsedMs / 1000).toFixed(1)} s` + connectNotes(result));
  if (result.failed > sessions * ALLOWED_CONNECT_FAILURES) {
    await pool.close(10_000);
    throw new Error(`${url}: ${result.failed} of ${sessions} sessions failed to open (${failures})`);
  }
  return result;
}

const QUIET_CORES = 0.15;
const QUIET_SAMPLE_MS = 2_000;

/**
 * Measures for 2 s how busy the machine is while the benchmark itself is idle (other
 * people's work); waits up to `options.waitQuietMs` for it to fall below 0.15 cores.
 * Returns the last reading, and logs it when the wait gave up.
 */
export async function waitForQuiet(ctx: BenchContext): Promise<number> {
  const deadline = performance.now() + ctx.options.waitQuietMs;
  for (;;) {
    const before = machineBusySeconds(ticksPerSecond());
    await sleep(QUIET_SAMPLE_MS);
    const busy = (machineBusySeconds(ticksPerSecond()) - before) / (QUIET_SAMPLE_MS / 1000);
    if (busy < QUIET_CORES) return busy;
    if (performance.now() >= deadline) {
      ctx.log(`  WARNING: other work keeps ${busy.toFixed(2)} cores busy; this figure will be disturbed`);
      return busy;
    }
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
