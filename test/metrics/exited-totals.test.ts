/**
 * ExitedTotals: the counts of exited processes, from real prom-client registries'
 * snapshots, summed with a live one by the same aggregation /metrics uses.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { ExitedTotals } from '../../src/metrics/exited-totals.js';
import { renderMetrics, type MetricsSnapshot } from '../../src/metrics/metrics-format.js';
import { promSample } from '../helpers/raw-http.js';

/** One process's registry: a labelled counter, a gauge, a histogram and a per-process series. */
function processRegistry(n: number): Promise<MetricsSnapshot> {
  const registers = [new Registry()];
  const c = new Counter({ name: 'stratix_test_total', help: 'c', labelNames: ['a', 'b'], registers });
  c.inc({ a: 'x', b: 'y' }, n);
  c.inc({ b: 'z', a: 'x' }, 1);
  new Gauge({ name: 'stratix_test_open', help: 'g', registers }).set(n);
  const h = new Histogram({ name: 'stratix_test_seconds', help: 'h', buckets: [0.1, 1], registers });
  for (let i = 0; i < n; i++) h.observe(0.5);
  new Counter({ name: 'process_test_seconds_total', help: 'p', registers }).inc(n);
  return registers[0]!.getMetricsAsJSON();
}

async function prom(snapshots: MetricsSnapshot[]): Promise<string> {
  return (await renderMetrics('prometheus', snapshots, 0)).body;
}

describe('ExitedTotals', () => {
  it('is empty until a process has exited', () => {
    assert.deepEqual(new ExitedTotals().snapshot(), []);
  });

  it('adds the counters and histograms (buckets, sum, count) of every exited process by name and labels; keeps no gauge and no per-process series', async () => {
    const base = new ExitedTotals();
    base.add(await processRegistry(2));
    base.add(await processRegistry(3));
    const text = await prom([base.snapshot(), await processRegistry(4)]);
    assert.equal(promSample(text, 'stratix_test_total', { a: 'x', b: 'y' }), 9);
    assert.equal(promSample(text, 'stratix_test_total', { a: 'x', b: 'z' }), 3);
    assert.equal(promSample(text, 'stratix_test_seconds_count'), 9);
    assert.equal(promSample(text, 'stratix_test_seconds_sum'), 4.5);
    assert.equal(promSample(text, 'stratix_test_seconds_bucket', { le: '0.1' }), 0);
    assert.equal(promSample(text, 'stratix_test_seconds_bucket', { le: '1' }), 9);
    assert.equal(promSample(text, 'stratix_test_seconds_bucket', { le: '+Inf' }), 9);
    assert.equal(promSample(text, 'stratix_test_open'), 4, 'the live process\'s gauge only');
    assert.equal(promSample(text, 'process_test_seconds_total'), 4, 'the live process\'s own series only');
  });

  it('holds one entry per series, however many processes exit', async () => {
    const base = new ExitedTotals();
    for (let i = 0; i < 50; i++) base.add(await processRegistry(1));
    const entries = base.snapshot().reduce((n, m) => n + m.values.length, 0);
    const one = new ExitedTotals();
    one.add(await processRegistry(1));
    assert.equal(entries, one.snapshot().reduce((n, m) => n + m.values.length, 0));
    assert.equal(promSample(await prom([base.snapshot()]), 'stratix_test_total', { a: 'x', b: 'y' }), 50);
  });
});
