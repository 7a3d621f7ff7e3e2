/**
 * The relay benchmark's summary: one row per measured target with the median over
 * runs (and every run's value when there were several), as a Markdown table that
 * can be pasted into docs/benchmarks.md.
 */
import type { MemorySample } from './idle-memory-phase.js';
import type { ProxyKind } from './proxy-under-test.js';
import type { RelayResults } from './relay-benchmark.js';
import type { RelayOptions } from './relay-options.js';
import { median } from './statistics.js';

function cell(values: number[], digits: number): string {
  if (values.length === 0 || values.every(Number.isNaN)) return '—';
  const m = median(values).toFixed(digits);
  return values.length === 1 ? m : `${m} (${values.map((v) => v.toFixed(digits)).join(', ')})`;
}

function memoryCell(samples: MemorySample[]): string {
  const skipped = samples.find((s) => s.skipped !== undefined);
  if (skipped) return 'n/a (fd limit)';
  return cell(samples.map((s) => s.bytesPerSession / 1024), 1);
}

export function summaryTable(results: RelayResults, options: RelayOptions): string {
  const targets: ProxyKind[] = ['direct', ...options.proxies.filter((k) => k !== 'direct')];
  const inFlight = options.inFlight ?? 1; // results saved before --in-flight existed
  const header = [
    'proxy',
    `round trips/s @${options.clients} clients × ${inFlight} in flight`,
    'ratio to direct',
    'CPU-s per 100k RT',
    'cores busy (proxy)',
    ...(options.proxies.includes('ws-relay') ? ['CPU ÷ ws-relay'] : []),
    `p50 ms @${options.rate}/s`,
    `p99 ms @${options.rate}/s`,
    `CPU-s per 100k RT @${options.rate}/s`,
    ...options.idleSessions.map((n) => `KiB per idle session @${n}`),
  ];
  const rows = targets.map((kind) => {
    const throughput = results.runs.map((r) => r.throughput.find((t) => t.target === kind));
    const ratios = results.runs.map((r) => {
      const own = r.throughput.find((t) => t.target === kind);
      const direct = r.throughput.find((t) => t.target === 'direct');
      return own && direct ? own.roundTripsPerSecond / direct.roundTripsPerSecond : Number.NaN;
    });
    const latency = results.runs.flatMap((r) => r.latency.filter((l) => l.target === kind));
    const present = throughput.filter((t) => t !== undefined);
    const cpu = cell(present.map((t) => t.cpuSecondsPer100k), 2);
    const cpuVsWsRelay = results.runs.map((r) => {
      const own = r.throughput.find((t) => t.target === kind);
      const reference = r.throughput.find((t) => t.target === 'ws-relay');
      return own && reference ? own.cpuSecondsPer100k / reference.cpuSecondsPer100k : Number.NaN;
    });
    return [
      kind === 'direct' ? 'direct (no proxy)' : kind,
      cell(present.map((t) => t.roundTripsPerSecond), 0),
      kind === 'direct' ? (present.length > 0 ? '1' : '—') : cell(ratios, 2),
      kind === 'direct' && present.length > 0 ? `${cpu} (echo upstream)` : cpu,
      cell(present.map((t) => t.cores.target), 2),
      ...(options.proxies.includes('ws-relay') ? [kind === 'direct' ? '—' : cell(cpuVsWsRelay, 2)] : []),
      cell(latency.map((l) => l.p50Ms), 2),
      cell(latency.map((l) => l.p99Ms), 2),
      cell(latency.map((l) => l.cpuSecondsPer100k ?? Number.NaN), 2), // results saved before it existed have none
      ...options.idleSessions.map((n) => {
        const samples = results.runs.flatMap((r) => r.memory.filter((m) => m.target === kind && m.sessions === n));
        return samples.length === 0 ? '—' : memoryCell(samples);
      }),
    ];
  });
  return [header, header.map(() => '---'), ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n');
}

/** How much other work shared the machine during the throughput windows. */
export function disturbanceNote(results: RelayResults): string {
  const other = results.runs.flatMap((r) => r.throughput.map((t) => t.cores.other));
  if (other.length === 0) return '';
  return `other work on the machine during the throughput windows: median ${median(other).toFixed(2)} cores, ` +
    `max ${Math.max(...other).toFixed(2)} (figures are clean when this is near 0)`;
}
