/** The scale benchmark's results as CSV files, the data of bench/plot/sessions-growth.gp. */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { LoadResult } from './load-steps.js';
import type { SessionsResult } from './session-steps.js';

function write(file: string, header: string[], rows: (number | string)[][]): void {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, [header.join(','), ...rows.map((r) => r.map((v) => (typeof v === 'number' ? +v.toFixed(3) : v)).join(','))].join('\n') + '\n');
}

export function writeSessionsCsv(dir: string, result: SessionsResult): string {
  const file = path.join(dir, `scale-sessions-${result.proxy}.csv`);
  write(
    file,
    ['sessions', 'rss_mib', 'kib_per_session', 'step_slope_kib', 'connects_per_s', 'cpu_s_per_1k_connects', 'primary_files', 'fullest_worker_files', 'idle_cores'],
    [
      [0, result.baselineRssBytes / 2 ** 20, '', '', '', '', result.baselineRootDescriptors, '', ''],
      ...result.steps.map((s) => [
        s.sessions, s.rssBytes / 2 ** 20, s.kibPerSession, s.stepSlopeKib, s.connectsPerSecond, s.cpuSecondsPer1k, s.rootDescriptors, s.maxChildDescriptors, s.idleCores,
      ]),
    ],
  );
  return file;
}

export function writeLoadCsv(dir: string, result: LoadResult): string {
  const file = path.join(dir, `scale-load-${result.proxy}.csv`);
  write(
    file,
    ['clients', 'p50_ms', 'p99_ms', 'p999_ms', 'round_trips_per_s', 'messages_per_s', 'cpu_s_per_100k_rt', 'proxy_cores', 'upstream_cores', 'generator_cores', 'other_cores'],
    result.steps.map((s) => [
      s.clients, s.latency.p50Ms, s.latency.p99Ms, s.latency.p999Ms, s.throughput.roundTripsPerSecond, s.throughput.messagesPerSecond,
      s.throughput.cpuSecondsPer100k, s.throughput.cores.proxy, s.throughput.cores.upstreams, s.throughput.cores.generators, s.throughput.cores.other,
    ]),
  );
  return file;
}
