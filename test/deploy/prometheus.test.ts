/**
 * deploy/prometheus/alerts.yml with the real Prometheus tools: `promtool check rules`,
 * `promtool test rules` on series this test writes (each alert fires on the case it is for
 * and stays quiet on its neighbour), and a real Prometheus server that scrapes a running
 * two-worker gateway, loads the rules, and answers stratix_connections_active (and the
 * per-worker process series) through its HTTP API.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it, test } from 'node:test';
import { startCli, type RunningCli } from '../helpers/cli.js';
import { connectClient, type TestClient } from '../helpers/gateway.js';
import { promtool, startPrometheus, type RunningPrometheus } from '../helpers/prometheus.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { writeTempConfig } from '../helpers/cli.js';

export const ALERTS = fileURLToPath(new URL('../../../deploy/prometheus/alerts.yml', import.meta.url));

test('promtool check rules: the alert file is valid', () => {
  const r = promtool(['check', 'rules', ALERTS]);
  assert.equal(r.code, 0, r.output);
  assert.match(r.output, /SUCCESS: 7 rules found/);
});

interface AlertCase {
  name: string;
  series: Array<[string, string]>;
  evalTime: string;
  fires: Array<{ labels: Record<string, string>; summary: string }>;
}

const GW1 = 'gw1:8080';
const GW2 = 'gw2:8080';
const JOB = 'stratix';
const s = (name: string, labels: Record<string, string>): string =>
  `${name}{${Object.entries({ instance: GW1, job: JOB, ...labels }).map(([k, v]) => `${k}="${v}"`).join(',')}}`;

/** For each alert: series where it must fire (on gw1) and where it must not (gw2, or another worker). */
const CASES: AlertCase[] = [
  {
    name: 'StratixWorkerRestartLoop',
    series: [
      [s('stratix_worker_restarts_total', { worker: '1' }), '0+1x30'],
      [s('stratix_worker_restarts_total', { worker: '0' }), '0x30'],
      [s('stratix_worker_restarts_total', { instance: GW2, worker: '1' }), '0 0 0 0 0 1 1 1 1 1 1 1 1 1 1 1 1 1'],
    ],
    evalTime: '15m',
    fires: [{ labels: { instance: GW1, job: JOB, worker: '1', severity: 'critical' }, summary: `Stratix worker 1 on ${GW1} restarted 15 times in 15 minutes` }],
  },
  {
    name: 'StratixRouteTableNotConverged',
    series: [
      [s('stratix_route_table_converged', {}), '0x10'],
      [s('stratix_route_table_converged', { instance: GW2 }), '1 1 0 0 1 1 1 1 1 1 1'],
    ],
    evalTime: '6m',
    fires: [{ labels: { instance: GW1, job: JOB, severity: 'warning' }, summary: `Stratix on ${GW1}: workers hold different route tables` }],
  },
  {
    name: 'StratixRouteSourceDegraded',
    series: [
      [s('stratix_route_source_degraded', {}), '1x5'],
      [s('stratix_route_source_degraded', { instance: GW2 }), '0 0 0 1 1'],
    ],
    evalTime: '3m',
    fires: [{ labels: { instance: GW1, job: JOB, severity: 'warning' }, summary: `Stratix on ${GW1}: route source degraded (etcd unreachable)` }],
  },
  {
    name: 'StratixUpstreamConnectFailures',
    series: [
      // gw1: 1 failure/s out of 10 connects/s (10 %); gw2: 1 failure a minute (below the floor).
      [s('stratix_upstream_connect_failures_total', { code: 'STRATIX_ERR_UPSTREAM_REFUSED' }), '0+60x20'],
      [s('stratix_upstream_connect_seconds_count', { result: 'error' }), '0+60x20'],
      [s('stratix_upstream_connect_seconds_count', { result: 'open' }), '0+540x20'],
      [s('stratix_upstream_connect_failures_total', { instance: GW2, code: 'STRATIX_ERR_UPSTREAM_TIMEOUT' }), '0+1x20'],
      [s('stratix_upstream_connect_seconds_count', { instance: GW2, result: 'error' }), '0+1x20'],
      [s('stratix_upstream_connect_seconds_count', { instance: GW2, result: 'open' }), '0+2x20'],
    ],
    evalTime: '12m',
    fires: [{ labels: { instance: GW1, severity: 'warning' }, summary: `Stratix on ${GW1}: 10% of upstream connects fail` }],
  },
  {
    name: 'StratixSlowClientCloses',
    series: [
      [s('stratix_client_closes_total', { code: '4408' }), '0+120x30'],
      [s('stratix_client_closes_total', { code: '1000' }), '0+6000x30'],
      [s('stratix_client_closes_total', { instance: GW2, code: '4408' }), '0x30'],
    ],
    evalTime: '16m',
    fires: [{ labels: { instance: GW1, severity: 'warning' }, summary: `Stratix on ${GW1}: 120 slow clients closed per minute (4408)` }],
  },
  {
    name: 'StratixRefusalsSpiking',
    series: [
      [s('stratix_handshake_rejections_total', { code: 'STRATIX_ERR_OVER_CAPACITY' }), '0+300x20'],
      [s('stratix_connections_total', {}), '0+300x20'],
      // gw2: refusals are 1 % of attempts.
      [s('stratix_handshake_rejections_total', { instance: GW2, code: 'STRATIX_ERR_NO_ROUTE' }), '0+60x20'],
      [s('stratix_connections_total', { instance: GW2 }), '0+5940x20'],
    ],
    evalTime: '12m',
    fires: [{ labels: { instance: GW1, severity: 'warning' }, summary: `Stratix on ${GW1}: 50% of handshakes refused` }],
  },
  {
    name: 'StratixFileDescriptorsNearLimit',
    series: [
      [s('process_open_fds', { worker: '0' }), '900x10'],
      [s('process_max_fds', { worker: '0' }), '1000x10'],
      [s('process_open_fds', { worker: '1' }), '100x10'],
      [s('process_max_fds', { worker: '1' }), '1000x10'],
    ],
    evalTime: '6m',
    fires: [{ labels: { instance: GW1, worker: '0', severity: 'critical' }, summary: `Stratix on ${GW1}, process 0: 90% of its file descriptors in use` }],
  },
];

/** The description annotation of each alert, as in the rule file, with its labels filled in. */
async function descriptions(): Promise<Map<string, string>> {
  const { readFileSync } = await import('node:fs');
  const text = readFileSync(ALERTS, 'utf8');
  const out = new Map<string, string>();
  for (const m of text.matchAll(/- alert: (\w+)[\s\S]*?description: "((?:[^"\\]|\\.)*)"/g)) out.set(m[1]!, m[2]!.replace(/\\"/g, '"'));
  return out;
}

test('promtool test rules: every alert fires on its case, with its labels and summary, and not on the neighbours', async () => {
  const tmp = writeTempConfig({});
  try {
    const desc = await descriptions();
    assert.equal(desc.size, 7);
    const tests = CASES.map((c) => ({
      interval: '1m',
      input_series: c.series.map(([series, values]) => ({ series, values })),
      alert_rule_test: [
        {
          eval_time: c.evalTime,
          alertname: c.name,
          exp_alerts: c.fires.map((f) => ({
            exp_labels: f.labels,
            exp_annotations: { summary: f.summary, description: desc.get(c.name)!.replace('{{ $labels.worker }}', f.labels['worker'] ?? '') },
          })),
        },
        // Before the condition held long enough (or before any data): nothing fires.
        { eval_time: '0m', alertname: c.name, exp_alerts: [] },
      ],
    }));
    // JSON is YAML: promtool reads it as it is.
    const file = join(tmp.dir, 'alerts.test.yml');
    writeFileSync(file, JSON.stringify({ rule_files: [ALERTS], evaluation_interval: '1m', tests }, null, 2));
    const r = promtool(['test', 'rules', file]);
    assert.equal(r.code, 0, r.output);
    assert.match(r.output, /SUCCESS/);
    // And the test can fail: expect a firing alert where the series say it must not fire.
    const wrong = structuredClone(tests);
    wrong[1]!.alert_rule_test[0]!.exp_alerts[0]!.exp_labels = { ...wrong[1]!.alert_rule_test[0]!.exp_alerts[0]!.exp_labels, instance: GW2 };
    writeFileSync(file, JSON.stringify({ rule_files: [ALERTS], evaluation_interval: '1m', tests: wrong }));
    const failed = promtool(['test', 'rules', file]);
    assert.notEqual(failed.code, 0);
    assert.match(failed.output, /StratixRouteTableNotConverged/);
  } finally {
    tmp.cleanup();
  }
});

describe('a real Prometheus scrapes a running gateway', () => {
  let up: TestUpstream;
  let cli: RunningCli;
  let prom: RunningPrometheus;
  const clients: TestClient[] = [];

  before(async () => {
    up = await startUpstream();
    cli = await startCli({ gateway: { listen: '127.0.0.1:0', workers: 2 }, defaultRoute: { openclawGateway: up.url } });
    for (let i = 0; i < 3; i++) {
      const c = connectClient(cli.port, `prom-${i}`);
      await once(c.ws, 'open');
      clients.push(c);
    }
    prom = await startPrometheus(() =>
      JSON.stringify({
        global: { scrape_interval: '1s', evaluation_interval: '1s' },
        rule_files: [ALERTS],
        scrape_configs: [{ job_name: 'stratix', metrics_path: '/metrics', static_configs: [{ targets: [`127.0.0.1:${cli.port}`] }] }],
      }),
    );
  });
  after(async () => {
    for (const c of clients) c.ws.terminate();
    await prom?.stop();
    await cli?.stop();
    await up?.close();
  });

  it('stratix_connections_active comes back through the HTTP API, and the rules are loaded', async () => {
    const deadline = Date.now() + 30_000;
    let result: Awaited<ReturnType<RunningPrometheus['query']>> = [];
    while (Date.now() < deadline) {
      result = await prom.query('stratix_connections_active');
      if (result.length === 1 && result[0]!.value[1] === '3') break;
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.equal(result.length, 1, JSON.stringify(result));
    assert.equal(result[0]!.value[1], '3');
    assert.deepEqual(result[0]!.metric, { __name__: 'stratix_connections_active', instance: `127.0.0.1:${cli.port}`, job: 'stratix' });
    const targets = await prom.api<{ activeTargets: Array<{ health: string; lastError: string }> }>('/api/v1/targets');
    assert.equal(targets.activeTargets[0]!.health, 'up', targets.activeTargets[0]!.lastError);
    const fds = await prom.query('process_open_fds / process_max_fds');
    assert.deepEqual(fds.map((r) => r.metric['worker']).sort(), ['0', '1', 'primary']);
    const rules = await prom.api<{ groups: Array<{ name: string; rules: Array<{ name: string; health: string }> }> }>('/api/v1/rules');
    assert.equal(rules.groups[0]!.name, 'stratix-gateway');
    assert.equal(rules.groups[0]!.rules.length, 7);
  });
});
