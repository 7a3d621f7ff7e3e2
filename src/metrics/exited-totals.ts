/**
 * The counts of processes that have exited, kept so that the instance's summed counters
 * only go up while the primary lives. A worker process that dies takes its counters with
 * it; its slot's next process counts from zero. Summed without them, every counter of the
 * instance would drop at a worker restart, which Prometheus' rate()/increase() read as a
 * reset of the whole sum (the other processes' lifetime totals counted as new increase).
 *
 * `add()` takes a process's last snapshot when it exits and adds its counter and histogram
 * series (`_bucket`, `_sum`, `_count` alike) into the base, keyed by series name and label
 * set; `snapshot()` gives the base as one more snapshot to sum with the live processes'.
 * Gauges are not kept (an exited process's sessions and buffers are gone), nor are the
 * per-process series (`process_*`, `nodejs_*`: each is one process's own, labelled by it),
 * nor summaries (their quantiles do not add).
 *
 * Bound: one entry per counter/histogram series the processes have exported, not per exit —
 * a restart adds into the existing entries. Every label of these metrics is a closed set
 * (directions, codes, reasons, `le` buckets), so that is a few hundred entries.
 */
import { isProcessMetric, type MetricsSnapshot } from './metrics-format.js';

type Metric = MetricsSnapshot[number];
type Sample = Metric['values'][number] & { metricName?: string };

export class ExitedTotals {
  readonly #metrics = new Map<string, { metric: Metric; samples: Map<string, Sample> }>();
  #snapshot: MetricsSnapshot = [];

  /** Adds an exited process's last snapshot. */
  add(snapshot: MetricsSnapshot): void {
    for (const metric of snapshot) {
      if (!isKept(metric)) continue;
      let kept = this.#metrics.get(metric.name);
      if (kept === undefined) {
        kept = { metric: { ...metric, values: [] }, samples: new Map() };
        this.#metrics.set(metric.name, kept);
      }
      for (const v of metric.values as Sample[]) {
        const key = sampleKey(v);
        const have = kept.samples.get(key);
        if (have === undefined) {
          const sample: Sample = { labels: { ...v.labels }, value: v.value };
          if (v.metricName !== undefined) sample.metricName = v.metricName;
          kept.samples.set(key, sample);
          kept.metric.values.push(sample);
        } else {
          have.value += v.value;
        }
      }
    }
    this.#snapshot = [...this.#metrics.values()].map((k) => k.metric);
  }

  /** The base as a snapshot to sum (empty until a process with figures has exited). */
  snapshot(): MetricsSnapshot {
    return this.#snapshot;
  }
}

function isKept(metric: Metric): boolean {
  const type = String(metric.type);
  if (type !== 'counter' && type !== 'histogram') return false;
  return !isProcessMetric(metric.name);
}

/** Series name (a histogram's `_bucket`/`_sum`/`_count`) and label set, labels in name order. */
function sampleKey(v: Sample): string {
  const labels = Object.entries(v.labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify([v.metricName ?? '', labels]);
}
