/**
 * Options of the scale benchmark (bench/scale/run.ts), parsed once; `reproduceCommand`
 * spells every one of them out so that a printed result can be run again as it was.
 */
import { parseArgs } from 'node:util';
import { DEFAULT_STRATIX_MAIN } from '../relay/proxy-under-test.js';

export const SCALE_PHASES = ['sessions', 'load', 'reconnect'] as const;
export type ScalePhase = (typeof SCALE_PHASES)[number];
export type ScaleProxy = 'stratix' | 'stratix-native' | 'stratix-js' | 'nginx';

export interface ScaleOptions {
  phases: ScalePhase[];
  /** The proxy of the sessions and load phases (reconnect is always Stratix to Stratix: native with stratix-native). */
  proxy: ScaleProxy;
  /** sessions: idle session counts at which RSS, descriptors and the connect rate are read. */
  steps: number[];
  /** load: client counts at which latency and throughput are measured. */
  loadAt: number[];
  /** load, open loop: messages per second offered in total, one latency window each (ascending). */
  rates: number[];
  /** load, closed loop: messages each client keeps in flight. */
  inFlight: number;
  payloadBytes: number;
  warmupMs: number;
  durationMs: number;
  /** reconnect: sessions drained from the first instance. */
  reconnectSessions: number;
  /** reconnect: `gateway.drainPeriodMs` of the drained instance. */
  drainPeriodMs: number;
  /** Stratix `gateway.workers`. */
  workers: number;
  /** nginx `worker_processes`. */
  nginxWorkers: number;
  /** Echo upstream processes (each its own port on 127.0.0.1). */
  upstreams: number;
  /** Load-generator processes (each holds at most sessions / generators). */
  generators: number;
  /** Client source addresses 127.0.0.2, 127.0.0.3, ... */
  sourceAddresses: number;
  /** Connection attempts in flight per generator. */
  connectConcurrency: number;
  stratixMain: string;
  stratixNodeArgs: string[];
  timeLimitMs: number;
  /** Before each measured window, wait up to this long for other work on the machine to stop (0: don't). */
  waitQuietMs: number;
  json: string | undefined;
  /** Directory for the CSV files the plot reads. */
  csvDir: string | undefined;
}

const HELP = `node dist/bench/scale/run.js [options]
  --phases LIST             sessions,load,reconnect (default sessions)
  --proxy stratix|stratix-native|stratix-js|nginx
                            proxy of the sessions and load phases (default stratix: the default config,
                            relay.dataPath "auto"); stratix-native / stratix-js: relay.dataPath "native" / "js",
                            also for both instances of the reconnect phase
  --steps LIST              sessions: idle session counts (default 1000,15000,50000,100000,150000)
  --load-at LIST            load: client counts (default 1000,10000,100000)
  --rate LIST               load: open-loop messages/s in total, a latency window at each (default 10000)
  --in-flight K             load: closed-loop messages in flight per client (default 1)
  --payload-bytes N         (default 128)
  --warmup-s S --duration-s S   load windows (default 2 and 10)
  --reconnect-sessions N    (default 50000)
  --drain-period-ms MS      drained instance's gateway.drainPeriodMs (default 30000, the default)
  --workers N               Stratix gateway.workers (default 20)
  --nginx-workers N         (default 16)
  --upstreams N             echo upstream processes, one port each (default 12)
  --generators N            load-generator processes (default 10)
  --source-addresses N      (default 16)
  --connect-concurrency N   per generator (default 16)
  --stratix-main PATH       gateway CLI to start (default this checkout's dist/src/cli/main.js)
  --stratix-node-args ARGS  node options of the primary (default --max-semi-space-size=2, as npm start)
  --time-limit-s S          abort after this (default 3000)
  --wait-quiet-s S          before each connect step and load window, wait up to S s for the cores busy
                            outside the benchmark's processes to fall under 0.2 (default 0: don't wait)
  --json FILE --csv-dir DIR`;

function list(text: string): number[] {
  return text.split(',').filter(Boolean).map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 1) throw new Error(`not a positive integer: ${s}`);
    return n;
  });
}

export function parseScaleOptions(argv: string[]): ScaleOptions {
  const { values: v } = parseArgs({
    args: argv,
    options: {
      phases: { type: 'string', default: 'sessions' },
      proxy: { type: 'string', default: 'stratix' },
      steps: { type: 'string', default: '1000,15000,50000,100000,150000' },
      'load-at': { type: 'string', default: '1000,10000,100000' },
      rate: { type: 'string', default: '10000' },
      'in-flight': { type: 'string', default: '1' },
      'payload-bytes': { type: 'string', default: '128' },
      'warmup-s': { type: 'string', default: '2' },
      'duration-s': { type: 'string', default: '10' },
      'reconnect-sessions': { type: 'string', default: '50000' },
      'drain-period-ms': { type: 'string', default: '30000' },
      workers: { type: 'string', default: '20' },
      'nginx-workers': { type: 'string', default: '16' },
      upstreams: { type: 'string', default: '12' },
      generators: { type: 'string', default: '10' },
      'source-addresses': { type: 'string', default: '16' },
      'connect-concurrency': { type: 'string', default: '16' },
      'stratix-main': { type: 'string', default: DEFAULT_STRATIX_MAIN },
      'stratix-node-args': { type: 'string', default: '--max-semi-space-size=2' },
      'time-limit-s': { type: 'string', default: '3000' },
      'wait-quiet-s': { type: 'string', default: '0' },
      json: { type: 'string' },
      'csv-dir': { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (v.help) {
    console.log(HELP);
    process.exit(0);
  }
  const phases = v.phases.split(',').filter(Boolean);
  for (const p of phases) if (!(SCALE_PHASES as readonly string[]).includes(p)) throw new Error(`--phases: unknown phase ${p}`);
  if (v.proxy !== 'stratix' && v.proxy !== 'stratix-native' && v.proxy !== 'stratix-js' && v.proxy !== 'nginx') throw new Error(`--proxy: expected stratix, stratix-native, stratix-js or nginx, got ${v.proxy}`);
  const [inFlight, payloadBytes, reconnectSessions, workers, nginxWorkers, upstreams, generators, sources, concurrency] = list(
    [v['in-flight'], v['payload-bytes'], v['reconnect-sessions'], v.workers, v['nginx-workers'], v.upstreams, v.generators,
      v['source-addresses'], v['connect-concurrency']].join(','),
  ) as [number, number, number, number, number, number, number, number, number];
  return {
    phases: phases as ScalePhase[],
    proxy: v.proxy,
    steps: list(v.steps).sort((a, b) => a - b),
    loadAt: list(v['load-at']).sort((a, b) => a - b),
    rates: list(v.rate).sort((a, b) => a - b),
    inFlight,
    payloadBytes,
    warmupMs: Number(v['warmup-s']) * 1000,
    durationMs: Number(v['duration-s']) * 1000,
    reconnectSessions,
    drainPeriodMs: Number(v['drain-period-ms']),
    workers,
    nginxWorkers,
    upstreams: Math.min(64, upstreams), // a pool holds at most 64 members
    generators,
    sourceAddresses: Math.min(250, sources),
    connectConcurrency: concurrency,
    stratixMain: v['stratix-main'],
    stratixNodeArgs: v['stratix-node-args'].split(' ').filter(Boolean),
    timeLimitMs: Number(v['time-limit-s']) * 1000,
    waitQuietMs: Number(v['wait-quiet-s']) * 1000,
    json: v.json,
    csvDir: v['csv-dir'],
  };
}

export function reproduceCommand(o: ScaleOptions): string {
  return [
    'node dist/bench/scale/run.js',
    `--phases ${o.phases.join(',')}`,
    `--proxy ${o.proxy}`,
    `--steps ${o.steps.join(',')}`,
    `--load-at ${o.loadAt.join(',')}`,
    `--rate ${o.rates.join(',')} --in-flight ${o.inFlight} --payload-bytes ${o.payloadBytes}`,
    `--warmup-s ${o.warmupMs / 1000} --duration-s ${o.durationMs / 1000}`,
    `--reconnect-sessions ${o.reconnectSessions} --drain-period-ms ${o.drainPeriodMs}`,
    `--workers ${o.workers} --nginx-workers ${o.nginxWorkers} --upstreams ${o.upstreams}`,
    `--generators ${o.generators} --source-addresses ${o.sourceAddresses} --connect-concurrency ${o.connectConcurrency}`,
    ...(o.stratixMain === DEFAULT_STRATIX_MAIN ? [] : [`--stratix-main ${o.stratixMain}`]),
    `--stratix-node-args="${o.stratixNodeArgs.join(' ')}"`,
    `--time-limit-s ${o.timeLimitMs / 1000}`,
    ...(o.waitQuietMs === 0 ? [] : [`--wait-quiet-s ${o.waitQuietMs / 1000}`]),
    ...(o.json === undefined ? [] : [`--json ${o.json}`]),
    ...(o.csvDir === undefined ? [] : [`--csv-dir ${o.csvDir}`]),
  ].join(' ');
}
