/**
 * Command-line options of the relay benchmark, parsed once into a frozen object,
 * and the exact command line that reproduces a run (every option spelled out, so
 * a later change of default does not change what the printed command measures).
 */
import { parseArgs } from 'node:util';
import path from 'node:path';
import { DEFAULT_STRATIX_MAIN, PROXY_KINDS, type ProxyKind } from './proxy-under-test.js';

export const PHASES = ['throughput', 'latency', 'memory'] as const;
export type Phase = (typeof PHASES)[number];

export interface RelayOptions {
  /** Proxies measured against the same direct baseline, in this order. */
  proxies: ProxyKind[];
  phases: Phase[];
  /** Repetitions of every measurement; the report gives each value and the median. */
  runs: number;
  /** Sessions of the throughput and latency phases. */
  clients: number;
  /** Throughput phase: messages each client keeps in flight (closed loop). */
  inFlight: number;
  /** Load-generator processes for the throughput and latency phases. */
  generators: number;
  payloadBytes: number;
  warmupMs: number;
  durationMs: number;
  /** Total offered messages per second in the latency phase. */
  rate: number;
  /** Idle proxied sessions for the memory phase, one measurement per count. */
  idleSessions: number[];
  /** The memory phase uses ceil(sessions / this) load-generator processes. */
  sessionsPerGenerator: number;
  /** Sessions opened and closed before the memory baseline is taken (0: none). */
  memoryWarmupSessions: number;
  /** Clients bind 127.0.0.2 ... 127.0.0.(1 + this), round-robin. */
  sourceAddresses: number;
  /** Connection attempts in flight at once, per load generator. */
  connectConcurrency: number;
  workers: 'auto' | number;
  echoWorkers: number;
  /** The whole benchmark gives up past this. */
  timeLimitMs: number;
  /** Extra node options for the proxy processes (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"); workers inherit them. */
  proxyNodeArgs: string[];
  /** The Stratix CLI to start (absolute path of main.js); default this checkout's dist. */
  stratixMain: string;
  /**
   * Node options the Stratix primary is started with, as in production (`npm start`,
   * the bin shebang, the README's service unit); its workers inherit them and then
   * add `gateway.workerNodeOptions`. Given before `proxyNodeArgs`.
   */
  stratixNodeArgs: string[];
  /**
   * An executable to start instead of `node [stratixNodeArgs] stratixMain`: the single
   * executable (dist/stratix-gateway) or the bin file (dist/src/cli/main.js, run through its
   * shebang), started as `PATH --config FILE`.
   */
  stratixExec: string | undefined;
  /** Memory phase: keep the idle sessions open this long after measuring (to inspect the proxy by hand). */
  holdMs: number;
  /**
   * Before each measurement, wait up to this long for other work on the machine to go below
   * 0.15 cores; when > 0, a throughput window that other work disturbed is also measured again.
   */
  waitQuietMs: number;
  /** Also write the results as JSON here. */
  json: string | undefined;
}

/** How `npm start`, the `stratix-gateway` bin and the README's systemd unit start the primary. */
const DEFAULT_STRATIX_NODE_ARGS = '--max-semi-space-size=2';

const USAGE = `usage: node dist/bench/relay/run.js [options]
  --proxy LIST              stratix | stratix-native | stratix-js | stratix-tls | stratix-reliable | ws-relay | raw-relay | native-relay | native-relay-2t |
                            native-uring | nginx | haproxy | direct, comma-separated
                            (default stratix); nginx and haproxy are the installed programs
                            (scripts/install-bench-proxies.sh installs them)
  --phases LIST             throughput,latency,memory (default all)
  --runs N                  repetitions; medians are reported (default 1)
  --clients N               sessions for throughput and latency (default 1000)
  --in-flight K             throughput: messages each client keeps in flight, closed loop: K sent
                            at the start, one more per echo (default 2: the load at which nginx,
                            HAProxy and the ws relay measure what the issue's table says; with
                            more, more frames share a read or a write, and CPU per round trip
                            falls for every proxy)
  --generators N            load-generator processes for throughput/latency (default 2)
  --payload-bytes N         text message size (default 128)
  --warmup-s S              warm-up before each measurement window (default 2)
  --duration-s S            measurement window (default 10)
  --rate N                  offered messages/s, all clients together, latency phase (default 2000)
  --idle-sessions LIST      idle session counts for the memory phase (default 5000,15000)
  --sessions-per-generator N  memory phase: sessions per load generator (default 5000)
  --memory-warmup N         sessions opened+closed before the memory baseline (default 200)
  --source-addresses N      client source addresses 127.0.0.2... (default 16)
  --connect-concurrency N   handshakes in flight per load generator (default 64)
  --workers auto|N          Stratix gateway.workers (default auto)
  --echo-workers N          echo upstream processes (default 1)
  --time-limit-s S          abort the whole benchmark after this (default 3600)
  --proxy-node-args="ARGS" extra node options for stratix / ws-relay / raw-relay (profiling), e.g. "--cpu-prof"
                            (nginx and haproxy ignore it)
  --stratix-main PATH       the Stratix CLI to measure, e.g. a snapshot's dist/src/cli/main.js
                            (default this checkout's dist/src/cli/main.js)
  --stratix-node-args="ARGS" node options of the Stratix primary, as production starts it
                            (npm start, bin, service unit); workers inherit them
                            (default "${DEFAULT_STRATIX_NODE_ARGS}"; "" for none)
  --stratix-exec PATH       start this executable as \`PATH --config FILE\` instead of node + main.js:
                            the single executable (dist/stratix-gateway) or the bin file itself
                            (its shebang gives the node flags); --stratix-node-args is then unused
  --hold-s S                memory phase: keep the sessions open S s after measuring, for inspection (default 0)
  --wait-quiet-s S          before each measurement, wait up to S s for the machine to be idle, and
                            measure a throughput window again (3 at most) when other work disturbed it (default 0)
  --json FILE               also write the results as JSON`;

function positiveInt(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${name}: expected a non-negative integer, got "${value}"`);
  return n;
}

function list<T extends string>(name: string, value: string, allowed: readonly T[]): T[] {
  const items = value.split(',').map((s) => s.trim()).filter(Boolean);
  for (const item of items) {
    if (!(allowed as readonly string[]).includes(item)) {
      throw new Error(`--${name}: "${item}" is not one of ${allowed.join(', ')}`);
    }
  }
  return items as T[];
}

function nodeArgs(value: string): string[] {
  return value.split(/\s+/).filter(Boolean);
}

export function parseRelayOptions(argv: readonly string[]): RelayOptions {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    options: {
      proxy: { type: 'string', default: 'stratix' },
      phases: { type: 'string', default: PHASES.join(',') },
      runs: { type: 'string', default: '1' },
      clients: { type: 'string', default: '1000' },
      'in-flight': { type: 'string', default: '2' },
      generators: { type: 'string', default: '2' },
      'payload-bytes': { type: 'string', default: '128' },
      'warmup-s': { type: 'string', default: '2' },
      'duration-s': { type: 'string', default: '10' },
      rate: { type: 'string', default: '2000' },
      'idle-sessions': { type: 'string', default: '5000,15000' },
      'sessions-per-generator': { type: 'string', default: '5000' },
      'memory-warmup': { type: 'string', default: '200' },
      'source-addresses': { type: 'string', default: '16' },
      'connect-concurrency': { type: 'string', default: '64' },
      workers: { type: 'string', default: 'auto' },
      'echo-workers': { type: 'string', default: '1' },
      'time-limit-s': { type: 'string', default: '3600' },
      'proxy-node-args': { type: 'string', default: '' },
      'stratix-main': { type: 'string', default: DEFAULT_STRATIX_MAIN },
      'stratix-node-args': { type: 'string', default: DEFAULT_STRATIX_NODE_ARGS },
      'stratix-exec': { type: 'string' },
      'wait-quiet-s': { type: 'string', default: '0' },
      'hold-s': { type: 'string', default: '0' },
      json: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const int = (name: keyof typeof values): number => positiveInt(name, values[name] as string);
  const options: RelayOptions = {
    proxies: list('proxy', values.proxy, PROXY_KINDS),
    phases: list('phases', values.phases, PHASES),
    runs: Math.max(1, int('runs')),
    clients: Math.max(1, int('clients')),
    inFlight: Math.max(1, int('in-flight')),
    generators: Math.max(1, int('generators')),
    payloadBytes: Math.max(32, int('payload-bytes')),
    warmupMs: Number(values['warmup-s']) * 1000,
    durationMs: Number(values['duration-s']) * 1000,
    rate: Math.max(1, int('rate')),
    idleSessions: values['idle-sessions'].split(',').filter(Boolean).map((s) => positiveInt('idle-sessions', s)),
    sessionsPerGenerator: Math.max(1, int('sessions-per-generator')),
    memoryWarmupSessions: int('memory-warmup'),
    sourceAddresses: Math.min(250, Math.max(1, int('source-addresses'))),
    connectConcurrency: Math.max(1, int('connect-concurrency')),
    workers: values.workers === 'auto' ? 'auto' : Math.max(1, positiveInt('workers', values.workers)),
    echoWorkers: Math.max(1, int('echo-workers')),
    timeLimitMs: Number(values['time-limit-s']) * 1000,
    proxyNodeArgs: nodeArgs(values['proxy-node-args']),
    stratixMain: path.resolve(values['stratix-main']),
    stratixNodeArgs: nodeArgs(values['stratix-node-args']),
    stratixExec: values['stratix-exec'] === undefined ? undefined : path.resolve(values['stratix-exec']),
    waitQuietMs: Number(values['wait-quiet-s']) * 1000,
    holdMs: Number(values['hold-s']) * 1000,
    json: values.json,
  };
  const durations = [
    ['warmup-s', options.warmupMs],
    ['duration-s', options.durationMs],
    ['time-limit-s', options.timeLimitMs],
    ['wait-quiet-s', options.waitQuietMs],
    ['hold-s', options.holdMs],
  ] as const;
  for (const [name, ms] of durations) {
    if (!Number.isFinite(ms) || ms < 0) throw new Error(`--${name}: expected seconds`);
  }
  if (options.proxies.length === 0) throw new Error('--proxy: name at least one of ' + PROXY_KINDS.join(', '));
  return Object.freeze(options);
}

/** The command that reproduces a run with these options, every option explicit. */
export function reproduceCommand(o: RelayOptions): string {
  const parts = [
    'node dist/bench/relay/run.js',
    `--proxy ${o.proxies.join(',')}`,
    `--phases ${o.phases.join(',')}`,
    `--runs ${o.runs}`,
    `--clients ${o.clients}`,
    `--in-flight ${o.inFlight}`,
    `--generators ${o.generators}`,
    `--payload-bytes ${o.payloadBytes}`,
    `--warmup-s ${o.warmupMs / 1000}`,
    `--duration-s ${o.durationMs / 1000}`,
    `--rate ${o.rate}`,
    `--idle-sessions ${o.idleSessions.join(',')}`,
    `--sessions-per-generator ${o.sessionsPerGenerator}`,
    `--memory-warmup ${o.memoryWarmupSessions}`,
    `--source-addresses ${o.sourceAddresses}`,
    `--connect-concurrency ${o.connectConcurrency}`,
    `--workers ${o.workers}`,
    `--echo-workers ${o.echoWorkers}`,
    ...(o.proxyNodeArgs.length > 0 ? [`--proxy-node-args="${o.proxyNodeArgs.join(' ')}"`] : []),
    ...(o.proxies.some((p) => p.startsWith('stratix'))
      ? [
          ...(o.stratixExec !== undefined
            ? [`--stratix-exec ${o.stratixExec}`]
            : [...(o.stratixMain === DEFAULT_STRATIX_MAIN ? [] : [`--stratix-main ${o.stratixMain}`]), `--stratix-node-args="${o.stratixNodeArgs.join(' ')}"`]),
        ]
      : []),
    ...(o.waitQuietMs > 0 ? [`--wait-quiet-s ${o.waitQuietMs / 1000}`] : []),
    ...(o.holdMs > 0 ? [`--hold-s ${o.holdMs / 1000}`] : []),
  ];
  return parts.join(' ');
}

/** 127.0.0.2, 127.0.0.3, ...: spreads client sockets so no (source, destination) pair runs out of ports. */
export function sourceAddressList(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `127.0.0.${2 + i}`);
}
