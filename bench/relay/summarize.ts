/**
 * Prints the summary table of a relay benchmark saved with `--json FILE`, without
 * running anything (to re-render results, e.g. after the report format changed).
 *
 *   node dist/bench/relay/summarize.js FILE.json
 */
import { readFileSync } from 'node:fs';
import type { RelayResults } from './relay-benchmark.js';
import type { RelayOptions } from './relay-options.js';
import { disturbanceNote, summaryTable } from './report.js';

interface Saved extends RelayResults {
  command: string;
  machine: string;
  date: string;
  options: RelayOptions;
}

const file = process.argv[2];
if (file === undefined) {
  console.error('usage: node dist/bench/relay/summarize.js FILE.json');
  process.exit(2);
}
const saved = JSON.parse(readFileSync(file, 'utf8')) as Saved;
console.log(`command: ${saved.command}\nmachine: ${saved.machine}\ndate:    ${saved.date}\n`);
console.log(`${summaryTable(saved, saved.options)}\n\n${disturbanceNote(saved)}`);
console.log(`took ${(saved.elapsedMs / 60_000).toFixed(1)} min`);
