/**
 * deploy/grafana/stratix.json: a dashboard Grafana can import (structure, variables, grid),
 * with the panels the operator needs (rates, latency heatmaps and quantiles, errors by
 * code, per-worker processes), every query valid PromQL (checked by the real promtool)
 * and naming only metrics a running gateway exports. The alert rules are held to the
 * same: every metric they name exists.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { startCli, writeTempConfig, type RunningCli } from '../helpers/cli.js';
import { promtool } from '../helpers/prometheus.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

const DASHBOARD = fileURLToPath(new URL('../../../deploy/grafana/stratix.json', import.meta.url));
const ALERTS = fileURLToPath(new URL('../../../deploy/prometheus/alerts.yml', import.meta.url));

interface Target {
  refId: string;
  expr: string;
  legendFormat?: string;
  format?: string;
}
interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: Target[];
  datasource?: { type: string; uid: string };
}
interface Dashboard {
  title: string;
  uid: string;
  schemaVersion: number;
  panels: Panel[];
  templating: { list: Array<{ name: string; type: string; query?: unknown }> };
}

const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard;
const panels = dashboard.panels.filter((p) => p.type !== 'row');
const exprs = panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, ...t })));
const METRIC = /\b((?:stratix|process|nodejs)_[a-z0-9_]+)\b/g;

describe('the Grafana dashboard', () => {
  let up: TestUpstream;
  let cli: RunningCli;
  const exported = new Set<string>();

  before(async () => {
    up = await startUpstream();
    cli = await startCli({ gateway: { listen: '127.0.0.1:0', workers: 2 }, defaultRoute: { openclawGateway: up.url } });
    const text = await (await fetch(`http://127.0.0.1:${cli.port}/metrics`, { headers: { Accept: 'text/plain' } })).text();
    for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
      exported.add(m[1]!);
      if (m[2] === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) exported.add(m[1]! + suffix);
    }
  });
  after(async () => {
    await cli?.stop();
    await up?.close();
  });

  it('is an importable dashboard: uid, schema, variables, unique ids, panels on the 24-column grid without overlap', () => {
    assert.equal(dashboard.uid, 'stratix-gateway');
    assert.ok(dashboard.schemaVersion >= 36);
    assert.deepEqual(dashboard.templating.list.map((v) => [v.name, v.type]), [['datasource', 'datasource'], ['instance', 'query']]);
    const ids = dashboard.panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length);
    const cells = new Set<string>();
    for (const p of dashboard.panels) {
      const g = p.gridPos;
      assert.ok(g.x >= 0 && g.w > 0 && g.x + g.w <= 24 && g.h > 0, `${p.title}: ${JSON.stringify(g)}`);
      for (let x = g.x; x < g.x + g.w; x++) {
        for (let y = g.y; y < g.y + g.h; y++) {
          assert.ok(!cells.has(`${x},${y}`), `${p.title} overlaps another panel at ${x},${y}`);
          cells.add(`${x},${y}`);
        }
      }
    }
    for (const p of panels) {
      assert.ok(['stat', 'timeseries', 'heatmap'].includes(p.type), `${p.title}: ${p.type}`);
      assert.equal(p.datasource?.uid, '${datasource}');
      assert.ok((p.targets ?? []).length > 0, `${p.title} has queries`);
      for (const t of p.targets!) assert.match(t.expr, /instance=~"\$instance"/, `${p.title}: filtered by the instance variable`);
    }
  });

  it('has rates, latency heatmaps and quantiles, errors by code, and per-worker panels', () => {
    const heatmaps = panels.filter((p) => p.type === 'heatmap');
    assert.ok(heatmaps.length >= 2);
    for (const h of heatmaps) for (const t of h.targets!) {
      assert.equal(t.format, 'heatmap');
      assert.match(t.expr, /_bucket\{.*\}\[\$__rate_interval\]\)\)$/);
      assert.match(t.expr, /^sum by \(le\)/);
    }
    assert.ok(exprs.some((e) => e.expr.startsWith('histogram_quantile(0.99') && e.expr.includes('stratix_relay_latency_seconds_bucket')));
    assert.ok(exprs.some((e) => e.expr.startsWith('histogram_quantile(0.99') && e.expr.includes('stratix_upstream_connect_seconds_bucket')));
    for (const rate of ['stratix_messages_received_total', 'stratix_bytes_received_total', 'stratix_connections_total']) {
      assert.ok(exprs.some((e) => e.expr.includes(`rate(${rate}`)), rate);
    }
    for (const byCode of ['stratix_handshake_rejections_total', 'stratix_client_closes_total', 'stratix_upstream_connect_failures_total']) {
      assert.ok(exprs.some((e) => e.expr.startsWith('sum by (code)') && e.expr.includes(byCode) && e.legendFormat === '{{code}}'), byCode);
    }
    const perWorker = exprs.filter((e) => e.legendFormat?.includes('{{worker}}'));
    assert.ok(perWorker.length >= 6, `per-worker queries: ${perWorker.length}`);
    for (const m of ['process_resident_memory_bytes', 'process_cpu_seconds_total', 'nodejs_eventloop_lag_p99_seconds', 'process_open_fds', 'stratix_worker_restarts_total']) {
      assert.ok(perWorker.some((e) => e.expr.includes(m)), m);
    }
  });

  it('every query and every alert names only metrics the gateway exports', () => {
    assert.ok(exported.has('stratix_connections_active') && exported.has('process_open_fds'), 'read the catalogue');
    const named = new Set<string>();
    for (const e of exprs) for (const m of e.expr.matchAll(METRIC)) named.add(m[1]!);
    for (const m of readFileSync(ALERTS, 'utf8').matchAll(/expr: ([\s\S]*?)\n\s+(?:for|labels):/g)) for (const n of m[1]!.matchAll(METRIC)) named.add(n[1]!);
    assert.ok(named.size >= 25, `metrics named: ${named.size}`);
    const unknown = [...named].filter((n) => !exported.has(n));
    assert.deepEqual(unknown, []);
  });

  it('every query is valid PromQL (promtool checks them as recording rules)', () => {
    const tmp = writeTempConfig({});
    try {
      const rules = exprs.map((e, i) => ({ record: `dashboard:query_${i}`, expr: e.expr.replaceAll('$instance', '.*').replaceAll('$__rate_interval', '1m') }));
      const file = join(tmp.dir, 'dashboard-queries.yml');
      writeFileSync(file, JSON.stringify({ groups: [{ name: 'dashboard', rules }] }));
      const r = promtool(['check', 'rules', file]);
      assert.equal(r.code, 0, r.output);
      assert.match(r.output, new RegExp(`SUCCESS: ${rules.length} rules found`));
      // And a broken query is caught.
      writeFileSync(file, JSON.stringify({ groups: [{ name: 'dashboard', rules: [{ record: 'x:y', expr: 'sum by (code (rate(x[1m]))' }] }] }));
      assert.notEqual(promtool(['check', 'rules', file]).code, 0);
    } finally {
      tmp.cleanup();
    }
  });
});
