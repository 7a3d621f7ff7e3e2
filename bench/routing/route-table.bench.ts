/**
 * Route table benchmark: build time, memory per rule, lookup latency, event-loop
 * stall during a time-sliced rebuild + swap, and the cost of single-rule changes,
 * for 10k, 100k and 1M rules of a realistic mix; plus a worst case with prefix
 * rules of all 128 lengths.
 *
 *   npx tsc -p . && node --expose-gc dist/bench/routing/route-table.bench.js --repeat 3
 *   (options: --sizes 10000,100000,1000000  --repeat N (medians of N runs)  --json)
 *
 * Each size runs in a fresh child process (so heap numbers are not mixed up).
 * Rules reach the table as JSON.parse'd objects, as from the config file or etcd.
 */
import { spawnSync } from 'node:child_process';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { constants, monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { routeRuleSchema } from '../../src/config/route-schema.js';
import {
  buildRouteTable,
  buildRouteTableAsync,
  isValidClientId,
  RouteTableHolder,
  type RouteRule,
  type RouteTable,
} from '../../src/routing/index.js';
import type { HashRouteTable } from '../../src/routing/hash-route-table.js';
import { lengthsWorkload, POOLS, TEMPLATES, workload } from './route-workload.js';
import { Progress } from '../../src/ops/progress.js';

const COMMAND = `npx tsc -p . && node --expose-gc dist/bench/routing/route-table.bench.js${process.argv.slice(2).filter((a) => a !== '--json').map((a) => ` ${a}`).join('')}`;
const CHANGES = 10_000;

/** `gc` exists with --expose-gc (the children always get it). */
const gc = (globalThis as { gc?: () => void }).gc;

// ---------------------------------------------------------------- measurements

/**
 * Heap in use (JS heap + typed-array stores). The first reading after a full GC can
 * still include garbage a later GC frees, so this settles: the lowest of several
 * readings 50 ms apart.
 */
async function heapBytes(): Promise<number> {
  let lowest = Infinity;
  for (let i = 0; i < 4; i++) {
    gc?.();
    gc?.();
    const m = process.memoryUsage();
    lowest = Math.min(lowest, m.heapUsed + m.arrayBuffers);
    await sleep(50);
  }
  return lowest;
}

function quantile(sorted: Float64Array | number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/**
 * Per-lookup latency: hrtime around each call, minus the timer's own cost. Before
 * each call the clientId is validated (outside the timing), as the handshake does
 * right before it resolves, so the id's characters are in cache as in the gateway.
 * The batch mean runs back to back over cold ids (no validation): a pessimistic figure.
 */
function measureLookups(table: RouteTable, ids: readonly string[]) {
  let sink = 0;
  for (let r = 0; r < 3; r++) for (const id of ids) sink += table.resolve(id)?.target.length ?? 0;
  const overhead = new Float64Array(20_000);
  for (let i = 0; i < overhead.length; i++) {
    const t0 = process.hrtime.bigint();
    overhead[i] = Number(process.hrtime.bigint() - t0);
  }
  overhead.sort();
  const timerNs = quantile(overhead, 0.5);
  const samples = new Float64Array(ids.length * 2);
  for (let i = 0; i < samples.length; i++) {
    const id = ids[i % ids.length]!;
    if (!isValidClientId(id)) throw new Error(`bad id ${id}`);
    const t0 = process.hrtime.bigint();
    const m = table.resolve(id);
    samples[i] = Number(process.hrtime.bigint() - t0) - timerNs;
    sink += m?.target.length ?? 0;
  }
  samples.sort();
  const batches = 50;
  const b0 = process.hrtime.bigint();
  for (let b = 0; b < batches; b++) for (const id of ids) sink += table.resolve(id)?.target.length ?? 0;
  const meanNs = Number(process.hrtime.bigint() - b0) / (batches * ids.length);
  let misses = 0;
  for (const id of ids) if (table.resolve(id) === undefined) misses++;
  return {
    p50Ns: Math.max(0, quantile(samples, 0.5)),
    p99Ns: quantile(samples, 0.99),
    p999Ns: quantile(samples, 0.999),
    meanNs,
    timerNs,
    undefinedResults: misses,
    sink,
  };
}

/**
 * Watches the event loop while something runs: a 1 ms timer does 50 lookups per
 * tick (connections keep arriving), `monitorEventLoopDelay` records the stalls, and
 * a `gc` performance observer records V8's pauses, so that a stall can be told
 * apart from a GC pause.
 */
function watchLoop(holder: RouteTableHolder, ids: readonly string[]) {
  const h = monitorEventLoopDelay({ resolution: 1 });
  let lookups = 0;
  let maxGcMs = 0;
  let maxMajorGcMs = 0;
  const gcObserver = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      maxGcMs = Math.max(maxGcMs, e.duration);
      if ((e as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) {
        maxMajorGcMs = Math.max(maxMajorGcMs, e.duration);
      }
    }
  });
  gcObserver.observe({ entryTypes: ['gc'] });
  const traffic = setInterval(() => {
    for (let i = 0; i < 50; i++) holder.current.resolve(ids[lookups++ % ids.length]!);
  }, 1);
  h.enable();
  return async () => {
    h.disable();
    clearInterval(traffic);
    await sleep(10); // let the observer deliver the last entries
    gcObserver.disconnect();
    return { maxStallMs: h.max / 1e6, p99StallMs: h.percentile(99) / 1e6, maxGcMs, maxMajorGcMs, lookups };
  };
}

/**
 * Rebuilds with the time-sliced builder under traffic, swaps, and keeps the traffic
 * going for 3 s while the old table is collected. The same watch with nothing to do
 * for as long gives the baseline (GC of the traffic itself, the machine's scheduling).
 */
async function measureRebuild(rulesJson: string, holder: RouteTableHolder, ids: readonly string[]) {
  const rules = JSON.parse(rulesJson) as RouteRule[];
  await sleep(50);
  const stop = watchLoop(holder, ids);
  const t0 = performance.now();
  const next = await buildRouteTableAsync(rules, { openclawGateway: 'ws://default.internal:18789/ws' });
  const buildMs = performance.now() - t0;
  holder.swap(next);
  await sleep(3000);
  const during = await stop();
  const stopIdle = watchLoop(holder, ids);
  await sleep(buildMs + 3000);
  const idle = await stopIdle();
  return { asyncBuildMs: buildMs, ...during, idle };
}

async function measureChanges(table: HashRouteTable, n: number) {
  const time = (fn: (i: number) => void) => {
    const s = new Float64Array(CHANGES);
    for (let i = 0; i < CHANGES; i++) {
      const t0 = process.hrtime.bigint();
      fn(i);
      s[i] = Number(process.hrtime.bigint() - t0);
    }
    s.sort();
    let sum = 0;
    for (const v of s) sum += v;
    return { meanNs: sum / CHANGES, p99Ns: quantile(s, 0.99), maxNs: s[s.length - 1]! };
  };
  const add = time((i) => table.put({ clientId: `new-${n}-${i}`, openclawGateway: `ws://oc-new-${i}.tenants.internal:18789/ws` }, { revision: i }));
  const replace = time((i) => table.put({ clientId: `new-${n}-${i}`, openclawGateway: TEMPLATES[i % TEMPLATES.length]!.replace('{suffix}', '{clientId}') }));
  const addPrefix = time((i) => table.put({ clientIdPrefix: `newp-${i}.`, openclawGateways: POOLS[i % POOLS.length]! }));
  const remove = time((i) => table.delete({ clientId: `new-${n}-${i}` }));
  return { add, replace, addPrefix, remove, growth: await measureGrowth(table, n) };
}

/**
 * Puts new exact rules until the exact index has grown into a bigger generation and
 * finished moving the old one (bounded: at most 2.5 x the table's size in puts).
 * Reports the slowest put as measured, and with any GC pause inside it taken out.
 */
async function measureGrowth(table: HashRouteTable, n: number) {
  const gcs: Array<[start: number, end: number]> = [];
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcs.push([e.startTime, e.startTime + e.duration]);
  });
  observer.observe({ entryTypes: ['gc'] });
  const slow: Array<[start: number, end: number]> = [];
  let maxPutMs = 0;
  let puts = 0;
  let sawGrowing = false;
  const t0 = performance.now();
  for (let i = 0; i < n * 2.5 + 100_000; i++) {
    const start = performance.now();
    table.put({ clientId: `grow-${i}`, openclawGateway: 'ws://oc-grow.tenants.internal:18789/ws' });
    const end = performance.now();
    maxPutMs = Math.max(maxPutMs, end - start);
    if (end - start > 1) slow.push([start, end]);
    puts++;
    if (table.growing) sawGrowing = true;
    else if (sawGrowing) break;
  }
  const totalMs = performance.now() - t0;
  await sleep(10);
  observer.disconnect();
  for (let i = 0; i < puts; i++) table.delete({ clientId: `grow-${i}` });
  // Puts under 1 ms are not examined for GC: they count as they are.
  let maxPutWithoutGcMs = Math.min(maxPutMs, 1);
  for (const [start, end] of slow) {
    let gcMs = 0;
    for (const [gs, ge] of gcs) gcMs += Math.max(0, Math.min(end, ge) - Math.max(start, gs));
    maxPutWithoutGcMs = Math.max(maxPutWithoutGcMs, end - start - gcMs);
  }
  return { grew: sawGrowing, puts, maxPutMs, maxPutWithoutGcMs, meanPutNs: (totalMs * 1e6) / puts };
}

// ---------------------------------------------------------------- one size, in a child

async function runChild(size: number, scenario: 'mix' | 'lengths') {
  const { rulesJson, idsJson } = scenario === 'mix' ? workload(size) : lengthsWorkload(size);
  const ids = JSON.parse(idsJson) as string[];
  const defaultRoute = { openclawGateway: 'ws://default.internal:18789/ws' };

  // Memory: what the table retains = heap with it - heap once it is dropped (the
  // rule objects are garbage by then; the key and URL strings live on in the table).
  let probe: HashRouteTable | undefined = buildRouteTable(JSON.parse(rulesJson) as RouteRule[], defaultRoute);
  const withTable = await heapBytes();
  const probeSize = probe.size;
  probe = undefined;
  const withoutTable = await heapBytes();
  const bytesPerRule = (withTable - withoutTable) / probeSize;
  if (process.env.ROUTING_BENCH_DEBUG) process.stderr.write(`heap with table ${withTable} without ${withoutTable}\n`);

  let rules: RouteRule[] | undefined = JSON.parse(rulesJson) as RouteRule[];
  await sleep(10);
  const t0 = performance.now();
  const table = buildRouteTable(rules, defaultRoute);
  const buildMs = performance.now() - t0;
  // Schema validation of the same rules (what the config loader / etcd source does first).
  const validateN = Math.min(rules.length, 100_000);
  const v0 = performance.now();
  for (let i = 0; i < validateN; i++) routeRuleSchema.parse(rules[i]);
  const validateUsPerRule = ((performance.now() - v0) * 1000) / validateN;
  rules = undefined;
  await heapBytes();

  const lookup = measureLookups(table, ids);
  const holder = new RouteTableHolder(table);
  const rebuild = await measureRebuild(rulesJson, holder, ids);
  const changes = await measureChanges(holder.current as HashRouteTable, size);
  await nextTurn();
  return {
    scenario,
    size,
    rules: table.size,
    prefixLengths: table.prefixLengths,
    sharedTargets: table.sharedTargets,
    buildMs,
    bytesPerRule,
    validateUsPerRule,
    lookup,
    rebuild,
    changes,
  };
}

// ---------------------------------------------------------------- driver

type Result = Awaited<ReturnType<typeof runChild>>;

function runSize(size: number, scenario: string): Result {
  const self = fileURLToPath(import.meta.url);
  const r = spawnSync(process.execPath, ['--expose-gc', '--max-old-space-size=8192', self, '--child', String(size), scenario], {
    encoding: 'utf8',
    maxBuffer: 1 << 20,
    timeout: 600_000,
  });
  if (r.status !== 0) throw new Error(`child ${size} ${scenario} failed: ${r.stderr || r.error?.message}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Result;
}

const us = (ns: number) => (ns / 1000).toFixed(2);

/** Per numeric field, the median over repeated runs (booleans: all true; other fields: the first run's). */
function medianOf<T>(runs: T[]): T {
  const first = runs[0]!;
  if (typeof first === 'number') {
    const sorted = (runs as number[]).slice().sort((a, b) => a - b);
    return sorted[Math.floor((sorted.length - 1) / 2)] as T;
  }
  if (typeof first === 'boolean') return (runs as boolean[]).every(Boolean) as T;
  if (first === null || typeof first !== 'object') return first;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(first)) out[key] = medianOf(runs.map((r) => (r as Record<string, unknown>)[key]));
  return out as T;
}

function report(results: Result[]): string {
  const n = (r: Result) => r.rules.toLocaleString('en-US');
  const ms = (v: number) => `${v.toFixed(v < 1 ? 2 : 1)} ms`;
  const lines = [
    `${new Date().toISOString().slice(0, 10)}. Machine: ${cpus()[0]?.model ?? 'unknown'}, ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Linux ${release()}, Node ${process.version}; load average at the end ${loadavg()[0]!.toFixed(1)}.`,
    `Command: \`${COMMAND}\``,
    '',
    '| rules | scenario | prefix lengths | build (sync) | bytes/rule | lookup p50 | p99 | p99.9 | mean, cold ids |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of results) {
    lines.push(
      `| ${n(r)} | ${r.scenario} | ${r.prefixLengths} | ${r.buildMs.toFixed(0)} ms | ${r.bytesPerRule.toFixed(0)} | ` +
        `${us(r.lookup.p50Ns)} µs | ${us(r.lookup.p99Ns)} µs | ${us(r.lookup.p999Ns)} µs | ${us(r.lookup.meanNs)} µs |`,
    );
  }
  lines.push(
    '',
    '| rules | scenario | sliced rebuild | max loop stall: rebuild + swap | longest GC pause (major) | max loop stall: idle baseline | put (new) mean / p99 | replace | delete | growth: slowest put (without GC) |',
    '|---|---|---|---|---|---|---|---|---|---|',
  );
  for (const r of results) {
    const b = r.rebuild;
    const g = r.changes.growth;
    lines.push(
      `| ${n(r)} | ${r.scenario} | ${b.asyncBuildMs.toFixed(0)} ms | ${ms(b.maxStallMs)} | ${ms(b.maxGcMs)} (${ms(b.maxMajorGcMs)}) | ${ms(b.idle.maxStallMs)} | ` +
        `${us(r.changes.add.meanNs)} / ${us(r.changes.add.p99Ns)} µs | ${us(r.changes.replace.meanNs)} µs | ${us(r.changes.remove.meanNs)} µs | ` +
        `${g.grew ? `${ms(g.maxPutMs)} (${ms(g.maxPutWithoutGcMs)}) over ${g.puts.toLocaleString('en-US')} puts` : 'did not grow'} |`,
    );
  }
  lines.push(
    '',
    `Schema validation (routeRuleSchema.parse, done before the build by the config loader / etcd source): ${results.map((r) => `${r.validateUsPerRule.toFixed(2)} µs/rule at ${n(r)}`).join(', ')}.`,
  );
  return lines.join('\n');
}

async function main() {
  const args = process.argv.slice(2);
  if (args[0] === '--child') {
    const result = await runChild(Number(args[1]), args[2] as 'mix' | 'lengths');
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return;
  }
  const option = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const sizes = (option('--sizes') ?? '10000,100000,1000000').split(',').map(Number);
  const repeat = Number(option('--repeat') ?? 1);
  const runs: Array<[size: number, scenario: 'mix' | 'lengths']> = sizes.map((size) => [size, 'mix']);
  runs.push([Math.max(...sizes), 'lengths']);
  const all: Result[][] = [];
  // The work grows with the rules: the bar counts rules benchmarked (a bar on a terminal, plain lines otherwise).
  const progress = new Progress(process.stderr, { label: 'routing bench', unit: 'rules', total: runs.reduce((n, [size]) => n + size * repeat, 0), plainEveryMs: 0 });
  for (const [size, scenario] of runs) {
    const these: Result[] = [];
    for (let r = 1; r <= repeat; r++) {
      progress.log(`routing bench: ${size} rules (${scenario}), run ${r} of ${repeat}…`);
      these.push(runSize(size, scenario));
      progress.add(size);
    }
    all.push(these);
  }
  progress.finish();
  if (args.includes('--json')) process.stdout.write(`${JSON.stringify(all, null, 2)}\n`);
  process.stdout.write(`${report(all.map((these) => medianOf(these)))}\n`);
  if (repeat > 1) {
    process.stdout.write(
      `\nMedians of ${repeat} runs. Worst of the runs, max loop stall during rebuild + swap / idle baseline: ` +
        all.map((these) => `${these[0]!.rules.toLocaleString('en-US')} ${these[0]!.scenario}: ${Math.max(...these.map((r) => r.rebuild.maxStallMs)).toFixed(1)} / ${Math.max(...these.map((r) => r.rebuild.idle.maxStallMs)).toFixed(1)} ms`).join('; ') +
        '.\n',
    );
  }
}

await main();
