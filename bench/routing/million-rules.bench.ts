/**
 * A million rules in every process: how much RSS each process of the gateway grows
 * by per rule, and how long the instance takes to be ready, for N rules in the seed's
 * format (`{"clientIdPrefix": …, "openclawGateway": …}`), from `config/route.json`
 * or from etcd.
 *
 * The gateway is started as the README does: `node dist/src/cli/main.js --config FILE`
 * (on Node 20 that is a thin supervisor plus the primary it starts with its V8 flags,
 * plus the workers), in a fresh directory, on a free loopback port. The clock starts at
 * the spawn and stops at the first GET /readyz that answers 200. RSS of every process in
 * the tree is read from /proc at ready and again after `--settle-ms`; growth per rule is
 * (RSS with N rules − RSS of the same role with no rules) / N.
 *
 *   node dist/bench/routing/million-rules.bench.js [--rules 10000,100000,1000000]
 *       [--workers auto,16] [--source file,etcd,etcd-warm] [--settle-ms 5000] [--csv docs/rules-growth.csv]
 *
 * etcd-warm: right after each etcd row, the same instance started again in the same
 * directory, from the snapshot the first start wrote (a restart: warmStart, docs/routing.md).
 *
 * etcd (scripts/install-etcd.sh): a fresh etcd per N, loaded with one transaction per
 * 128 puts (etcd's default --max-txn-ops), several in flight; the load time is printed.
 * The gateway runs with the default etcd deadlines (dialTimeoutMs bounds reaching etcd,
 * not the load: docs/routing.md).
 *
 * Each row also gives the 1-minute load average at ready: on a shared box, times to
 * ready are the gateway's share of the machine, not the gateway's alone.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { descendantsOf } from '../relay/process-tree.js';
import { EtcdServer } from '../../test/helpers/etcd-server.js';
import { freePort } from '../../test/helpers/upstream.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const MAIN = path.join(ROOT, 'dist/src/cli/main.js');
const ETCD_PREFIX = '/stratix/routes/';

interface Options {
  rules: number[];
  workers: Array<'auto' | number>;
  /** etcd-warm: after the etcd row, a second start in the same directory, from the snapshot the first wrote (a restart). */
  sources: Array<'file' | 'etcd' | 'etcd-warm'>;
  settleMs: number;
  csv: string | undefined;
}

function parseArgs(argv: readonly string[]): Options {
  const get = (name: string, fallback: string) => {
    const i = argv.indexOf(`--${name}`);
    return i === -1 ? fallback : argv[i + 1]!;
  };
  return {
    rules: get('rules', '10000,100000,1000000').split(',').map(Number),
    workers: get('workers', 'auto,16').split(',').map((w) => (w === 'auto' ? 'auto' : Number(w))),
    sources: get('source', 'file,etcd').split(',') as Options['sources'],
    settleMs: Number(get('settle-ms', '5000')),
    csv: argv.includes('--csv') ? get('csv', '') : undefined,
  };
}

/** Rule i in the seed's format: one prefix per tenant, each tenant its own OpenClaw gateway. */
export function seedRule(i: number): { clientIdPrefix: string; openclawGateway: string } {
  return { clientIdPrefix: `client-${i}-`, openclawGateway: `ws://oc-${i}.tenants.internal:18789/ws` };
}

/** The config file's text with N rules, written without holding N objects. */
function configText(n: number, listen: string, workers: 'auto' | number, etcd: string | undefined): string {
  const head = { gateway: { listen, workers }, log: { level: 'warn' } };
  if (etcd !== undefined) {
    return JSON.stringify({ ...head, routeSource: { type: 'etcd', etcd: { endpoints: [etcd], prefix: ETCD_PREFIX } } });
  }
  const parts: string[] = [];
  for (let i = 0; i < n; i++) parts.push(JSON.stringify(seedRule(i)));
  return `${JSON.stringify(head).slice(0, -1)},"routes":[\n${parts.join(',\n')}\n]}\n`;
}

async function loadEtcd(endpoint: string, n: number): Promise<number> {
  const { Etcd3 } = await import('etcd3');
  const client = new Etcd3({ hosts: endpoint });
  const started = performance.now();
  const OPS = 128;
  const IN_FLIGHT = 8;
  let next = 0;
  const worker = async () => {
    for (;;) {
      const from = next;
      if (from >= n) return;
      next = Math.min(n, from + OPS);
      const ops = [];
      for (let i = from; i < next; i++) {
        const r = seedRule(i);
        ops.push(client.put(`${ETCD_PREFIX}prefix/${r.clientIdPrefix}`).value(JSON.stringify(r)));
      }
      await client.if(`${ETCD_PREFIX}none`, 'Version', '==', 0).then(...ops).commit();
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  const ms = performance.now() - started;
  client.close();
  return ms;
}

/** VmRSS of one process (process-tree.ts sums them; here each process counts alone). */
function rssOf(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Each process of the gateway with its role: supervisor (Node 20 relaunch), primary, worker k. */
function roles(root: number): Array<{ role: string; pid: number }> {
  const tree = descendantsOf(root);
  const children = (pid: number) => tree.filter((p) => parentOf(p) === pid);
  let primary = root;
  const out: Array<{ role: string; pid: number }> = [];
  const direct = children(root);
  if (direct.length === 1 && children(direct[0]!).length > 0) {
    out.push({ role: 'supervisor', pid: root });
    primary = direct[0]!;
  }
  out.push({ role: 'primary', pid: primary });
  children(primary)
    .sort((a, b) => a - b)
    .forEach((pid, k) => out.push({ role: `worker ${k}`, pid }));
  return out;
}

function parentOf(pid: number): number {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(text.slice(text.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return -1;
  }
}

interface Run {
  readyMs: number;
  atReady: Map<string, number>;
  settled: Map<string, number>;
  workers: number;
  readyBody: Record<string, unknown>;
  /** 1-minute load average at ready. */
  load: number;
}

/** One start; `keep`: leave the directory (and the etcd snapshot the instance wrote there) for a warm start in it. */
async function runOnce(n: number, workers: 'auto' | number, etcd: string | undefined, settleMs: number, dirIn?: string, keep = false): Promise<Run> {
  const dir = dirIn ?? mkdtempSync(path.join(os.tmpdir(), 'stratix-rules-'));
  const port = await freePort();
  const configPath = path.join(dir, 'route.json');
  writeFileSync(configPath, configText(n, `127.0.0.1:${port}`, workers, etcd));
  const started = performance.now();
  const child: ChildProcess = spawn(process.execPath, [MAIN, '--config', configPath], { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
  try {
    let readyMs = -1;
    let readyBody: Record<string, unknown> = {};
    while (readyMs < 0) {
      if (child.exitCode !== null) throw new Error(`the gateway exited with ${child.exitCode}`);
      if (performance.now() - started > 600_000) throw new Error('not ready within 600 s');
      try {
        const res = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(2_000) });
        if (res.status === 200) {
          readyMs = performance.now() - started;
          readyBody = (await res.json()) as Record<string, unknown>;
        } else await res.body?.cancel();
      } catch {
        /* not listening yet */
      }
      if (readyMs < 0) await delay(25);
    }
    const sample = () => new Map(roles(child.pid!).map(({ role, pid }) => [role, rssOf(pid)] as const));
    const atReady = sample();
    const load = os.loadavg()[0]!;
    await delay(settleMs);
    const settled = sample();
    const rt = (readyBody['routeTable'] ?? {}) as { rules?: number };
    if (rt.rules !== n) throw new Error(`/readyz reports ${String(rt.rules)} rules, expected ${n}`);
    return { readyMs, atReady, settled, workers: [...settled.keys()].filter((r) => r.startsWith('worker')).length, readyBody, load };
  } finally {
    child.kill('SIGTERM');
    if (child.exitCode === null) await Promise.race([once(child, 'exit'), delay(15_000)]);
    if (child.exitCode === null) child.kill('SIGKILL');
    if (!keep) rmSync(dir, { recursive: true, force: true });
  }
}

function mib(b: number): string {
  return (b / 1048576).toFixed(1);
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  if (!existsSync(MAIN)) throw new Error(`build first: npm run build (${MAIN} missing)`);
  const date = new Date().toISOString();
  console.log(`# million-rules bench ${date} node ${process.version} ${os.cpus().length} cores ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB`);
  console.log(`# node dist/bench/routing/million-rules.bench.js ${process.argv.slice(2).join(' ')}`);
  if (opts.csv !== undefined && !existsSync(opts.csv)) {
    writeFileSync(opts.csv, 'date,source,workers,rules,processes,primary_b_per_rule,max_worker_b_per_rule,supervisor_b_per_rule,primary_at_ready_b_per_rule,max_worker_at_ready_b_per_rule,ready_ms,etcd_load_ms,load1\n');
  }
  const warm = opts.sources.includes('etcd-warm');
  // etcd-warm is run with the etcd rows (it needs their snapshot).
  const sources = opts.sources.filter((s) => s !== 'etcd-warm');
  if (warm && !sources.includes('etcd')) sources.push('etcd');
  for (const source of sources) {
    for (const workers of opts.workers) {
      // The baseline: the same instance with no rules.
      let etcdServer: EtcdServer | undefined;
      if (source === 'etcd') etcdServer = await EtcdServer.start({ extraArgs: ['--quota-backend-bytes=8589934592', '--snapshot-count=1000000'] });
      const base = await runOnce(0, workers, etcdServer?.endpoint, opts.settleMs);
      await etcdServer?.close();
      console.log(`\n## source ${source}, workers ${workers} (${base.workers} processes), baseline ready in ${base.readyMs.toFixed(0)} ms`);
      console.log('rules\tready ms\tetcd load s\trole\tRSS ready MiB\tRSS settled MiB\tB/rule ready\tB/rule settled');
      for (const n of opts.rules) {
        let loadMs = 0;
        if (source === 'etcd') {
          etcdServer = await EtcdServer.start({ extraArgs: ['--quota-backend-bytes=8589934592', '--snapshot-count=1000000'] });
          loadMs = await loadEtcd(etcdServer.endpoint, n);
        }
        const dir = source === 'etcd' && warm ? mkdtempSync(path.join(os.tmpdir(), 'stratix-rules-')) : undefined;
        const runs: Array<[string, Run]> = [[source, await runOnce(n, workers, etcdServer?.endpoint, opts.settleMs, dir, dir !== undefined)]];
        if (dir !== undefined) runs.push(['etcd-warm', await runOnce(n, workers, etcdServer?.endpoint, opts.settleMs, dir)]);
        await etcdServer?.close();
        for (const [rowSource, run] of runs) report(rowSource, workers, n, run, base, loadMs, date, opts.csv);
      }
    }
  }
}

function report(source: string, workers: 'auto' | number, n: number, run: Run, base: Run, loadMs: number, date: string, csv: string | undefined): void {
  const growth = new Map<string, { ready: number; settled: number }>();
  for (const [role, rss] of run.settled) {
    const b0 = base.settled.get(role) ?? base.settled.get('worker 0') ?? 0;
    const r0 = base.atReady.get(role) ?? base.atReady.get('worker 0') ?? 0;
    const ready = run.atReady.get(role) ?? 0;
    const g = { ready: (ready - r0) / n, settled: (rss - b0) / n };
    growth.set(role, g);
    console.log(`${n}\t${run.readyMs.toFixed(0)}\t${(loadMs / 1000).toFixed(1)}\t${role}\t${mib(ready)}\t${mib(rss)}\t${g.ready.toFixed(0)}\t${g.settled.toFixed(0)}`);
  }
  const workersOnly = [...growth].filter(([role]) => role.startsWith('worker')).map(([, g]) => g);
  const maxWorker = { ready: Math.max(...workersOnly.map((g) => g.ready)), settled: Math.max(...workersOnly.map((g) => g.settled)) };
  const primary = growth.get('primary')!;
  const worst = Math.max(primary.settled, maxWorker.settled, primary.ready, maxWorker.ready);
  console.log(`${n}\t${source}: largest growth per rule, any process, at ready or settled: ${worst.toFixed(0)} B (target 200); ready in ${(run.readyMs / 1000).toFixed(1)} s (target 10); load average ${run.load.toFixed(1)}`);
  if (csv !== undefined) {
    const sup = growth.get('supervisor')?.settled;
    appendFileSync(
      csv,
      `${date},${source},${workers},${n},${run.settled.size},${primary.settled.toFixed(1)},${maxWorker.settled.toFixed(1)},${sup === undefined ? '' : sup.toFixed(1)},${primary.ready.toFixed(1)},${maxWorker.ready.toFixed(1)},${run.readyMs.toFixed(0)},${loadMs.toFixed(0)},${run.load.toFixed(1)}\n`,
    );
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
