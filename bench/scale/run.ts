/**
 * Entry point of the scale benchmark (issue 11): one instance on this machine with
 * up to 150k idle proxied sessions, latency and saturation at 1k–100k clients, and
 * 50k sessions drained from one instance to another.
 *
 *   npm run bench:scale -- --phases sessions,load,reconnect
 *   (= npx tsc -p . && node dist/bench/scale/run.js ...; --help lists the options)
 *
 * Prints the command that reproduces the run, the machine and the date; `--json FILE`
 * keeps every figure, `--csv-dir DIR` writes the CSV files the plot reads.
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { LoadGeneratorPool } from '../relay/load-generator-pool.js';
import { describeMachine } from '../relay/machine.js';
import { killDescendants } from '../relay/process-tree.js';
import { stratixCommand } from '../relay/proxy-under-test.js';
import { sourceAddressList } from '../relay/relay-options.js';
import { measureLoadSteps, type LoadResult } from './load-steps.js';
import { measureReconnect, type ReconnectResult } from './reconnect-phase.js';
import type { ScaleContext } from './scale-context.js';
import { writeLatencyCsv, writeLoadCsv, writeSessionsCsv } from './scale-csv.js';
import { parseScaleOptions, reproduceCommand, type ScaleOptions } from './scale-options.js';
import { startNginx, startStratix, type ScaleProxy } from './scale-proxy.js';
import { measureSessionSteps, type SessionsResult } from './session-steps.js';
import { startUpstreamFleet, type UpstreamFleet } from './upstream-fleet.js';

/** On Ctrl-C or a failure, nothing this benchmark started may outlive it. */
function killChildrenAndExit(code: number): never {
  killDescendants();
  process.exit(code);
}

function startProxy(o: ScaleOptions, fleet: UpstreamFleet, maxSessions: number): Promise<ScaleProxy> {
  if (o.proxy === 'nginx') return startNginx(fleet, o.nginxWorkers);
  return startStratix(fleet, { workers: o.workers, stratixMain: o.stratixMain, stratixNodeArgs: o.stratixNodeArgs, maxConnections: maxSessions + 1_000, dataPath: dataPathOf(o) });
}

/** relay.dataPath of the Stratix instances (the reconnect phase too): --proxy stratix-native or stratix-js, else the default ("auto"). */
function dataPathOf(o: ScaleOptions): 'js' | 'native' | undefined {
  return o.proxy === 'stratix-native' ? 'native' : o.proxy === 'stratix-js' ? 'js' : undefined;
}

/** Enough generators that none holds more than 15,000 sessions (one file each). */
function generatorsFor(o: ScaleOptions, sessions: number): number {
  return Math.max(o.generators, Math.ceil(sessions / 15_000));
}

async function withPool<T>(processes: number, body: (pool: LoadGeneratorPool) => Promise<T>): Promise<T> {
  const pool = LoadGeneratorPool.start(processes);
  try {
    return await body(pool);
  } finally {
    await pool.stop();
  }
}

async function main(): Promise<void> {
  const options = parseScaleOptions(process.argv.slice(2));
  process.once('SIGINT', () => killChildrenAndExit(130));
  process.once('SIGTERM', () => killChildrenAndExit(143));
  const started = performance.now();
  const command = reproduceCommand(options);
  const machine = describeMachine();
  const date = new Date().toISOString();
  console.log(`# scale benchmark\ncommand: ${command}\nmachine: ${machine}\ndate:    ${date}`);
  console.log(`stratix: node ${stratixCommand({ stratixNodeArgs: options.stratixNodeArgs, nodeArgs: [], stratixMain: options.stratixMain }).join(' ')} --config <temporary route.json>`);
  const ctx: ScaleContext = {
    options,
    sources: sourceAddressList(options.sourceAddresses),
    deadline: Date.now() + options.timeLimitMs,
    // The load average beside every line: a reader sees at once whether other work shared the box.
    log: (line) => console.log(`[${new Date().toISOString().slice(11, 19)} load ${os.loadavg()[0]!.toFixed(2)}] ${line}`),
  };
  const results: { sessions?: SessionsResult; load?: LoadResult; reconnect?: ReconnectResult } = {};
  const fleet = await startUpstreamFleet(options.upstreams);
  try {
    if (options.phases.includes('sessions')) {
      const most = options.steps.at(-1)!;
      const proxy = await startProxy(options, fleet, most);
      try {
        results.sessions = await withPool(generatorsFor(options, most), (pool) => measureSessionSteps(ctx, pool, proxy));
      } finally {
        await proxy.stop();
      }
      if (options.csvDir !== undefined) console.log(`wrote ${writeSessionsCsv(options.csvDir, results.sessions)}`);
    }
    if (options.phases.includes('load')) {
      const most = options.loadAt.at(-1)!;
      const proxy = await startProxy(options, fleet, most);
      try {
        results.load = await withPool(generatorsFor(options, most), (pool) => measureLoadSteps(ctx, pool, proxy, fleet));
      } finally {
        await proxy.stop();
      }
      if (options.csvDir !== undefined) console.log(`wrote ${writeLoadCsv(options.csvDir, results.load)}, ${writeLatencyCsv(options.csvDir, results.load)}`);
    }
    if (options.phases.includes('reconnect')) {
      const setup = { workers: options.workers, stratixMain: options.stratixMain, stratixNodeArgs: options.stratixNodeArgs, maxConnections: options.reconnectSessions + 1_000, dataPath: dataPathOf(options) };
      const drained = await startStratix(fleet, { ...setup, drainPeriodMs: options.drainPeriodMs });
      const receiving = await startStratix(fleet, setup);
      try {
        results.reconnect = await withPool(generatorsFor(options, options.reconnectSessions), (pool) =>
          measureReconnect(ctx, pool, drained, receiving, fleet));
      } finally {
        await drained.stop();
        await receiving.stop();
      }
    }
  } finally {
    await fleet.stop();
  }
  console.log(`took ${((performance.now() - started) / 60_000).toFixed(1)} min; reproduce with: ${command}`);
  if (options.json !== undefined) writeFileSync(options.json, JSON.stringify({ command, machine, date, options, ...results }, null, 2));
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.stack ?? error.message : error);
  killChildrenAndExit(1);
});
