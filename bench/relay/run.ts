/**
 * Entry point of the relay macro benchmark.
 *
 *   npx tsc -p . && node dist/bench/relay/run.js --proxy stratix,ws-relay --runs 3
 *
 * Prints the command that reproduces the run, the machine, the date, progress per
 * phase and a Markdown summary table; `--json FILE` also writes every sample.
 */
import { writeFileSync } from 'node:fs';
import { describeMachine } from './machine.js';
import { killDescendants } from './process-tree.js';
import { stratixCommand } from './proxy-under-test.js';
import { measurementsPerRun, proxySettings, runRelayBenchmark } from './relay-benchmark.js';
import { Progress } from '../../src/ops/progress.js';
import { parseRelayOptions, reproduceCommand } from './relay-options.js';
import { disturbanceNote, summaryTable } from './report.js';

/** On Ctrl-C or a failure, nothing this benchmark started may outlive it. */
function killChildrenAndExit(code: number): never {
  killDescendants();
  process.exit(code);
}

async function main(): Promise<void> {
  const options = parseRelayOptions(process.argv.slice(2));
  process.once('SIGINT', () => killChildrenAndExit(130));
  process.once('SIGTERM', () => killChildrenAndExit(143));
  const command = reproduceCommand(options);
  const machine = describeMachine();
  const date = new Date().toISOString();
  console.log(`# relay benchmark\ncommand: ${command}\nmachine: ${machine}\ndate:    ${date}`);
  if (options.proxies.some((p) => p.startsWith('stratix'))) {
    console.log(`stratix: ${options.stratixExec ?? `node ${stratixCommand(proxySettings(options)).join(' ')}`} --config <temporary config>`);
  }
  // On a terminal a bar on stderr (measurements done, rate, time left); plain lines otherwise.
  const progress = new Progress(process.stderr, { label: 'relay benchmark', unit: 'measurements', total: options.runs * measurementsPerRun(options), plainEveryMs: 60_000 });
  const log = (line: string): void => (process.stdout.isTTY && process.stderr.isTTY ? progress.log(line) : console.log(line));
  const results = await runRelayBenchmark(options, log, () => progress.add(1));
  progress.finish();
  console.log(`\n${summaryTable(results, options)}\n\n${disturbanceNote(results)}`);
  console.log(`took ${(results.elapsedMs / 60_000).toFixed(1)} min; reproduce with: ${command}`);
  if (options.json !== undefined) {
    writeFileSync(options.json, JSON.stringify({ command, machine, date, options, ...results }, null, 2));
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.stack ?? error.message : error);
  killChildrenAndExit(1);
});
