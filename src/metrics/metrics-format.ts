/**
 * `GET /metrics` in three formats on one URL:
 * - the seed's JSON (`connectionsTotal`, …) for `Accept` of anything else (curl, browsers) or none;
 * - Prometheus text 0.0.4 for `Accept: text/plain`;
 * - OpenMetrics for `Accept: application/openmetrics-text`.
 * `?format=json|prometheus|openmetrics` overrides the header.
 *
 * Input is always a list of per-process metric snapshots (`getMetricsAsJSON()`),
 * summed with prom-client's AggregatorRegistry, so one worker and N workers
 * answer the same way.
 */
import { AggregatorRegistry, Registry, type MetricObjectWithValues, type MetricValue } from 'prom-client';

export type MetricsFormat = 'json' | 'prometheus' | 'openmetrics';
export type MetricsSnapshot = MetricObjectWithValues<MetricValue<string>>[];

/** The seed's JSON document. */
export interface SeedMetrics {
  connectionsTotal: number;
  connectionsActive: number;
  messagesReceived: number;
  messagesSent: number;
  messagesFailed: number;
  bytesReceived: number;
  bytesSent: number;
  uptimeSeconds: number;
}

export function negotiateMetricsFormat(accept: string | undefined, query: string | null): MetricsFormat {
  if (query === 'json' || query === 'prometheus' || query === 'openmetrics') return query;
  if (accept === undefined) return 'json';
  const a = accept.toLowerCase();
  if (a.includes('application/openmetrics-text')) return 'openmetrics';
  if (a.includes('text/plain')) return 'prometheus';
  return 'json';
}

const SEED_FIELDS: ReadonlyArray<[keyof SeedMetrics, string]> = [
  ['connectionsTotal', 'stratix_connections_total'],
  ['connectionsActive', 'stratix_connections_active'],
  ['messagesReceived', 'stratix_messages_received_total'],
  ['messagesSent', 'stratix_messages_sent_total'],
  ['messagesFailed', 'stratix_messages_failed_total'],
  ['bytesReceived', 'stratix_bytes_received_total'],
  ['bytesSent', 'stratix_bytes_sent_total'],
];

export function seedMetrics(snapshots: readonly MetricsSnapshot[], uptimeSeconds: number): SeedMetrics {
  const out: SeedMetrics = {
    connectionsTotal: 0,
    connectionsActive: 0,
    messagesReceived: 0,
    messagesSent: 0,
    messagesFailed: 0,
    bytesReceived: 0,
    bytesSent: 0,
    uptimeSeconds: Math.floor(uptimeSeconds),
  };
  const byName = new Map<string, keyof SeedMetrics>(SEED_FIELDS.map(([k, n]) => [n, k]));
  for (const snapshot of snapshots) {
    for (const metric of snapshot) {
      const field = byName.get(metric.name);
      if (field === undefined) continue;
      for (const v of metric.values) out[field] += v.value;
    }
  }
  return out;
}

export interface RenderedMetrics {
  contentType: string;
  body: string;
}

export async function renderMetrics(
  format: MetricsFormat,
  snapshots: readonly MetricsSnapshot[],
  uptimeSeconds: number,
): Promise<RenderedMetrics> {
  if (format === 'json') {
    return { contentType: 'application/json', body: JSON.stringify(seedMetrics(snapshots, uptimeSeconds)) };
  }
  const registry = AggregatorRegistry.aggregate(snapshots as MetricsSnapshot[]);
  if (format === 'openmetrics') registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
  return { contentType: registry.contentType, body: await registry.metrics() };
}

/**
 * Gives every per-process series (prom-client's `process_*` and `nodejs_*`) of one
 * process's snapshot a `worker` label ("primary", "0", "1", …), so that the aggregation
 * keeps one series per process instead of summing them: a file-descriptor limit, a heap
 * or an event-loop lag is a per-process fact. The `stratix_*` metrics are left to be summed.
 */
export function labelProcessMetrics(snapshot: MetricsSnapshot, worker: string): MetricsSnapshot {
  return snapshot.map((metric) => {
    if (!isProcessMetric(metric.name)) return metric;
    return { ...metric, values: metric.values.map((v) => ({ ...v, labels: { ...v.labels, worker } })) } as typeof metric;
  });
}

/**
 * One process's snapshot without its per-process series: only what the aggregation sums.
 * For a worker's last answer used again (stale): its heap or event-loop lag then would be
 * an old figure shown as the process's now, so those series are absent from that scrape.
 */
export function summedMetrics(snapshot: MetricsSnapshot): MetricsSnapshot {
  return snapshot.filter((metric) => !isProcessMetric(metric.name));
}

/** prom-client's per-process series: one process's own facts, never summed. */
export function isProcessMetric(name: string): boolean {
  return name.startsWith('process_') || name.startsWith('nodejs_');
}
