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

/** One row per client count; the latency columns are those of the highest rate offered. */
export function writeLoadCsv(dir: string, result: LoadResult): string {
  const file = path.join(dir, `scale-load-${result.proxy}.csv`);
  write(
    file,
    ['clients', 'p50_ms', 'p99_ms', 'p999_ms', 'round_trips_per_s', 'messages_per_s', 'cpu_s_per_100k_rt', 'proxy_cores', 'upstream_cores', 'generator_cores', 'other_cores'],
    result.steps.map((s) => [
      s.clients, s.latency.at(-1)!.p50Ms, s.latency.at(-1)!.p99Ms, s.latency.at(-1)!.p999Ms, s.throughput.roundTripsPerSecond, s.throughput.messagesPerSecond,
      s.throughput.cpuSecondsPer100k, s.throughput.cores.proxy, s.throughput.cores.upstreams, s.throughput.cores.generators, s.throughput.cores.other,
    ]),
  );
  return file;
}

/** Every latency window: one row per (clients, offered rate). */
export function writeLatencyCsv(dir: string, result: LoadResult): string {
  const file = path.join(dir, `scale-latency-${result.proxy}.csv`);
  write(
    file,
    ['clients', 'rate_per_s', 'p50_ms', 'p99_ms', 'p999_ms', 'max_ms', 'send_lag_p99_ms', 'proxy_cores', 'upstream_cores', 'generator_cores', 'other_cores',
      'proxy_wait_ms', 'upstream_wait_ms', 'generator_wait_ms'],
    result.steps.flatMap((s) => s.latency.map((l) => [
      s.clients, l.rate, l.p50Ms, l.p99Ms, l.p999Ms, l.maxMs, l.sendLagP99Ms, l.cores.proxy, l.cores.upstreams, l.cores.generators, l.cores.other,
      l.cores.waitMs?.proxy ?? '', l.cores.waitMs?.upstreams ?? '', l.cores.waitMs?.generators ?? '',
    ])),
  );
  return file;
}
