/**
 * The storm benchmark: N clients connected to a Stratix gateway (started as the
 * README starts it: the CLI with a config file) all lose their connection at once
 * and reconnect within a window, from several load processes (each under the
 * 20,000-descriptor limit) and several loopback source addresses. It reports the
 * gateway's RSS (primary + workers) before and at the peak of the storm, handshake
 * p50/p99, how many attempts were refused with 503 (and 429), how long the last
 * client took, and how many never got back (must be 0). Bounded in time: every
 * attempt has a deadline and the phase one too.
 *
 *   npm run build && node dist/bench/storm/run.js [--clients 30000] [--generators 3] [--window-s 10]
 *     [--source-addresses 8] [--workers 4] [--echo-workers 3] [--auth none|hmac] [--deadline-s 120]
 *     [--instance-rate R (admission.instance.handshakesPerSecond, burst 2R)] [--wait-quiet-s S]
 *     [--max-queued N (admission.instance.maxQueuedHandshakes)] [--listen-backlog N (gateway.listenBacklog)]
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from 'node:net';
import { parseArgs } from 'node:util';
import { ListeningProcess } from '../relay/listening-process.js';
import { describeMachine, machineBusySeconds } from '../relay/machine.js';
import { sampleTrees, ticksPerSecond } from '../relay/process-tree.js';
import { startEchoUpstream } from '../relay/proxy-under-test.js';
import { quantile } from '../relay/statistics.js';
import type { StormRequest, StormResult } from './storm-client.js';

const CLIENT = fileURLToPath(new URL('./storm-client.js', import.meta.url));
const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

const { values: v } = parseArgs({
  options: {
    clients: { type: 'string', default: '30000' },
    generators: { type: 'string', default: '3' },
    'window-s': { type: 'string', default: '10' },
    'source-addresses': { type: 'string', default: '8' },
    workers: { type: 'string', default: '4' },
    'echo-workers': { type: 'string', default: '3' },
    auth: { type: 'string', default: 'none' },
    'deadline-s': { type: 'string', default: '120' },
    'connect-concurrency': { type: 'string', default: '100' },
    'instance-rate': { type: 'string', default: '' },
    'max-queued': { type: 'string', default: '' },
    'listen-backlog': { type: 'string', default: '' },
    'wait-quiet-s': { type: 'string', default: '0' },
  },
});
const opts = {
  clients: Number(v.clients),
  generators: Number(v.generators),
  windowMs: Number(v['window-s']) * 1000,
  sources: Number(v['source-addresses']),
  workers: Number(v.workers),
  echoWorkers: Number(v['echo-workers']),
  auth: v.auth === 'hmac' ? 'hmac' : 'none',
  deadlineMs: Number(v['deadline-s']) * 1000,
  concurrency: Number(v['connect-concurrency']),
  instanceRate: v['instance-rate'] === '' ? undefined : Number(v['instance-rate']),
  maxQueued: v['max-queued'] === '' ? undefined : Number(v['max-queued']),
  listenBacklog: v['listen-backlog'] === '' ? undefined : Number(v['listen-backlog']),
  waitQuietMs: Number(v['wait-quiet-s']) * 1000,
};
const command = `node dist/bench/storm/run.js --clients ${opts.clients} --generators ${opts.generators} --window-s ${opts.windowMs / 1000} --source-addresses ${opts.sources} --workers ${opts.workers} --echo-workers ${opts.echoWorkers} --auth ${opts.auth} --deadline-s ${opts.deadlineMs / 1000} --connect-concurrency ${opts.concurrency}${opts.instanceRate === undefined ? '' : ` --instance-rate ${opts.instanceRate}`}${opts.maxQueued === undefined ? '' : ` --max-queued ${opts.maxQueued}`}${opts.listenBacklog === undefined ? '' : ` --listen-backlog ${opts.listenBacklog}`}${opts.waitQuietMs > 0 ? ` --wait-quiet-s ${opts.waitQuietMs / 1000}` : ''}`;

/** admission.instance as the options set it (the defaults otherwise). */
function instanceAdmission(o: typeof opts): Record<string, number> {
  return {
    ...(o.instanceRate === undefined ? {} : { handshakesPerSecond: o.instanceRate, handshakeBurst: Math.max(1, 2 * o.instanceRate) }),
    ...(o.maxQueued === undefined ? {} : { maxQueuedHandshakes: o.maxQueued }),
  };
}

/** Cores busy with anything over `ms` (the whole machine, from /proc/stat). */
async function busyCores(ms: number): Promise<number> {
  const before = machineBusySeconds(ticksPerSecond());
  await new Promise((r) => setTimeout(r, ms));
  return (machineBusySeconds(ticksPerSecond()) - before) / (ms / 1000);
}

/** Waits up to `maxMs` for the machine to be nearly idle (other sessions share it). */
async function waitQuiet(maxMs: number): Promise<void> {
  const end = performance.now() + maxMs;
  for (;;) {
    const busy = await busyCores(1_000);
    if (busy < 0.3 || performance.now() > end) {
      console.log(`other work before the run: ${busy.toFixed(2)} cores busy`);
      return;
    }
  }
}

class Generator {
  readonly child: ChildProcess;
  #next = 0;
  readonly #pending = new Map<number, (r: StormResult) => void>();
  constructor() {
    this.child = fork(CLIENT, [], { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (m: { id: number; ok: boolean; result?: StormResult; error?: string }) => {
      if (!m.ok) throw new Error(m.error);
      this.#pending.get(m.id)?.(m.result!);
    });
  }
  request(r: StormRequest): Promise<StormResult> {
    const id = this.#next++;
    return new Promise((resolve) => {
      this.#pending.set(id, resolve);
      this.child.send({ id, request: r });
    });
  }
}

function merge(rs: StormResult[]): StormResult {
  return {
    handshakeMs: rs.flatMap((r) => r.handshakeMs),
    connectedMs: rs.flatMap((r) => r.connectedMs),
    refused503: rs.reduce((n, r) => n + r.refused503, 0),
    refused429: rs.reduce((n, r) => n + r.refused429, 0),
    otherFailures: rs.reduce((n, r) => n + r.otherFailures, 0),
    notConnected: rs.reduce((n, r) => n + r.notConnected, 0),
    attempts: rs.reduce((n, r) => n + r.attempts, 0),
    errors: rs.reduce<Record<string, number>>((acc, r) => {
      for (const [k, n] of Object.entries(r.errors)) acc[k] = (acc[k] ?? 0) + n;
      return acc;
    }, {}),
  };
}

function describe(label: string, r: StormResult, ms: number): string {
  const hs = Float64Array.from(r.handshakeMs).sort();
  const cs = Float64Array.from(r.connectedMs).sort();
  return [
    `${label}: ${r.connectedMs.length} connected, ${r.notConnected} not connected by the deadline, in ${(ms / 1000).toFixed(1)} s`,
    `  attempts ${r.attempts}; refused 503: ${r.refused503}, 429: ${r.refused429}, other failures: ${r.otherFailures} ${JSON.stringify(r.errors)}`,
    `  handshake (attempt → 101) p50 ${quantile(hs, 0.5).toFixed(1)} ms, p99 ${quantile(hs, 0.99).toFixed(1)} ms, max ${hs.length > 0 ? hs[hs.length - 1]!.toFixed(0) : '-'} ms`,
    `  planned moment → connected (retries included) p50 ${quantile(cs, 0.5).toFixed(0)} ms, p99 ${quantile(cs, 0.99).toFixed(0)} ms, max ${cs.length > 0 ? cs[cs.length - 1]!.toFixed(0) : '-'} ms`,
  ].join('\n');
}

/** True once something accepts TCP connections on 127.0.0.1:`port`. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port }, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

const mib = (b: number): string => `${(b / 1048576).toFixed(0)} MiB`;

async function main(): Promise<void> {
  console.log(`# storm benchmark\ncommand: ${command}\nmachine: ${describeMachine()}\ndate:    ${new Date().toISOString()}`);
  if (opts.waitQuietMs > 0) await waitQuiet(opts.waitQuietMs);
  const echo = await startEchoUpstream(opts.echoWorkers);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'stratix-storm-'));
  const hmac = opts.auth === 'hmac' ? { kid: 'storm', secret: 'storm-benchmark-secret-0123456789abcdef' } : undefined;
  const keysDir = path.join(dir, 'keys');
  if (hmac !== undefined) {
    mkdirSync(keysDir);
    writeFileSync(path.join(keysDir, hmac.kid), hmac.secret);
  }
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const configFile = path.join(dir, 'config.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      gateway: { listen: `127.0.0.1:${port}`, workers: opts.workers, maxConnections: 200_000, drainPeriodMs: 0, drainGraceMs: 1_000, ...(opts.listenBacklog === undefined ? {} : { listenBacklog: opts.listenBacklog }) },
      defaultRoute: { openclawGateway: `ws://127.0.0.1:${echo.port}/` },
      log: { level: 'warn' },
      // One echo upstream stands for every OpenClaw gateway: its per-upstream pacing is off.
      admission: { upstream: { maxConcurrentConnects: 0, connectsPerSecond: 0 }, instance: instanceAdmission(opts) },
      ...(hmac === undefined ? {} : { auth: { mode: 'hmac', hmac: { keysDir } } }),
    }),
  );
  console.log(`stratix: node --max-semi-space-size=2 dist/src/cli/main.js --config <config: workers ${opts.workers}, auth ${opts.auth}, admission defaults except upstream pacing off${opts.instanceRate === undefined ? '' : `, instance rate ${opts.instanceRate}/s, burst ${2 * opts.instanceRate}`}${opts.maxQueued === undefined ? '' : `, maxQueuedHandshakes ${opts.maxQueued}`}${opts.listenBacklog === undefined ? '' : `, listenBacklog ${opts.listenBacklog}`}>`);
  const gateway = await ListeningProcess.start({ name: 'stratix', args: ['--max-semi-space-size=2', MAIN, '--config', configFile], timeoutMs: 30_000, expectedPort: port, probe: () => accepts(port) });
  const gens = Array.from({ length: opts.generators }, () => new Generator());
  const per = Math.ceil(opts.clients / opts.generators);
  const sources = Array.from({ length: opts.sources }, (_, i) => `127.0.0.${2 + i}`);
  const base = (kind: StormRequest['kind'], g: number): StormRequest => ({
    kind,
    url: `ws://127.0.0.1:${port}/ws`,
    clientIdPrefix: 'storm-',
    first: g * per,
    count: Math.min(per, opts.clients - g * per),
    sourceAddresses: sources,
    windowMs: opts.windowMs,
    concurrency: Math.ceil(opts.concurrency / opts.generators),
    attemptTimeoutMs: 30_000,
    deadlineMs: opts.deadlineMs,
    ...(hmac === undefined ? {} : { hmac }),
  });
  try {
    let t = performance.now();
    const warm = merge(await Promise.all(gens.map((g, i) => g.request(base('connect', i)))));
    console.log(describe('initial connect', warm, performance.now() - t));
    await new Promise((r) => setTimeout(r, 3_000));
    const before = sampleTrees([gateway.pid]);
    console.log(`gateway RSS with ${warm.connectedMs.length} sessions: ${mib(before.rssBytes)} (${before.pids.length} processes)`);
    let peak = before.rssBytes;
    const sampler = setInterval(() => (peak = Math.max(peak, sampleTrees([gateway.pid]).rssBytes)), 250);
    t = performance.now();
    const machineBefore = machineBusySeconds(ticksPerSecond());
    const ownBefore = sampleTrees([gateway.pid, echo.pid, ...gens.map((g) => g.child.pid!)]).cpuSeconds;
    const storm = merge(await Promise.all(gens.map((g, i) => g.request(base('storm', i)))));
    clearInterval(sampler);
    const seconds = (performance.now() - t) / 1000;
    const own = sampleTrees([gateway.pid, echo.pid, ...gens.map((g) => g.child.pid!)]).cpuSeconds - ownBefore;
    const other = machineBusySeconds(ticksPerSecond()) - machineBefore - own;
    console.log(`during the storm: gateway + echo + load processes ${(own / seconds).toFixed(2)} cores, other work on the machine ${(other / seconds).toFixed(2)} cores`);
    console.log(describe(`storm (all dropped, reconnecting within ${opts.windowMs / 1000} s)`, storm, performance.now() - t));
    const after = sampleTrees([gateway.pid]);
    if (after.pids.length === 0) console.log(`THE GATEWAY EXITED during the storm; its last output:\n${gateway.outputTail}`);
    console.log(`gateway RSS: peak during the storm ${mib(peak)}, after ${mib(after.rssBytes)}`);
    console.log(`reproduce with: ${command}`);
    await Promise.all(gens.map((g, i) => g.request(base('close', i))));
  } finally {
    for (const g of gens) g.child.kill();
    await gateway.stop();
    await echo.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
