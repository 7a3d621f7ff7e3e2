/**
 * The thing the relay benchmark measures, started fresh when asked:
 * - `stratix`: the gateway CLI (dist/src/cli/main.js, or a snapshot's) started as
 *   production starts it (`node --max-semi-space-size=2 main.js`), with a temporary
 *   config whose default route is the echo upstream; measured over primary + workers;
 *   and its default data path (relay.dataPath "auto": native where the addon loads);
 * - `stratix-native`: the same with `relay.dataPath: "native"` (the native data path,
 *   docs/native-data-path.md; `npm run build` builds the addon); `stratix-js`: with
 *   `relay.dataPath: "js"` (the JS path, net.Socket);
 * - `stratix-tls`: the same with `tls.server` (wss:// on the listener: the primary terminates
 *   TLS and pipes to the workers), with a certificate made by openssl for the run;
 * - `stratix-reliable`: the same gateway, with clients that speak stratix.v1 (reliable
 *   sessions: envelopes, acks, the message log on with fsync every 10 ms);
 * - `ws-relay`: reference-ws-relay.ts, the naive one-process `ws` relay;
 * - `raw-relay`: reference-raw-relay.ts, handshakes then raw byte pipes (the floor);
 * - `native-relay`, `native-relay-2t`: bench/native/native-relay.ts, handshakes in JS, then
 *   frames relayed by the issue-11 addon's thread (one, or two; `native-uring`: one, with
 *   io_uring instead of epoll); build it first
 *   (bash native/relay/build.sh);
 * - `nginx`, `haproxy`: the real programs (reference-nginx.ts, reference-haproxy.ts),
 *   each in a fresh temporary directory with a generated config; measured over the
 *   whole process tree (nginx: master + workers);
 * - `direct`: no proxy, the clients talk to the echo upstream (whose own process
 *   tree is then the one measured).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openFilesHardLimit, USABLE_DESCRIPTORS } from './descriptor-limit.js';
import { ListeningProcess } from './listening-process.js';
import { openProbedSession } from './probed-session.js';
import { findExecutable, type ProgramSetup, type ProxyProgram } from './proxy-program.js';
import { haproxy } from './reference-haproxy.js';
import { nginx } from './reference-nginx.js';

export const PROXY_KINDS = ['stratix', 'stratix-native', 'stratix-js', 'stratix-tls', 'stratix-reliable', 'ws-relay', 'raw-relay', 'native-relay', 'native-relay-2t', 'native-uring', 'nginx', 'haproxy', 'direct'] as const;
export type ProxyKind = (typeof PROXY_KINDS)[number];

const START_TIMEOUT_MS = 30_000;

/** This checkout's gateway CLI. */
export const DEFAULT_STRATIX_MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const REFERENCE_RELAYS = {
  'ws-relay': fileURLToPath(new URL('./reference-ws-relay.js', import.meta.url)),
  'raw-relay': fileURLToPath(new URL('./reference-raw-relay.js', import.meta.url)),
  'native-relay': fileURLToPath(new URL('../native/native-relay.js', import.meta.url)),
  'native-relay-2t': fileURLToPath(new URL('../native/native-relay.js', import.meta.url)),
  'native-uring': fileURLToPath(new URL('../native/native-relay.js', import.meta.url)),
} as const;
/** Arguments after the upstream URL: the native relay's thread count. */
const REFERENCE_RELAY_ARGS: Partial<Record<keyof typeof REFERENCE_RELAYS, string[]>> = {
  'native-relay': ['1', 'epoll'],
  'native-relay-2t': ['2', 'epoll'],
  'native-uring': ['1', 'uring'],
};
const REFERENCE_PROGRAMS: Record<'nginx' | 'haproxy', ProxyProgram> = { nginx, haproxy };
const ECHO_UPSTREAM = fileURLToPath(new URL('./echo-upstream.js', import.meta.url));

export interface ProxyUnderTest {
  kind: ProxyKind;
  /** Base WebSocket URL clients connect to; the generator appends `?clientId=`. */
  url: string;
  /** The sessions' protocol: stratix.v1 for reliable sessions, else plain frames. */
  protocol?: 'stratix.v1';
  /** Roots of the process trees whose CPU and memory are attributed to the proxy. */
  pids: number[];
  /** Most idle sessions it can hold without a process passing the descriptor limit. */
  maxSessions: number;
  stop(): Promise<void>;
}

export interface ProxySettings {
  /** Stratix `gateway.workers`. */
  workers: 'auto' | number;
  /** Processes of the echo upstream. */
  echoWorkers: number;
  /** Extra node options for the proxy's processes. */
  nodeArgs: string[];
  /** The Stratix CLI (main.js) to start. */
  stratixMain: string;
  /** Node options of the Stratix primary as in production; given before `nodeArgs`. */
  stratixNodeArgs: string[];
  /** Start this executable (`PATH --config FILE`) instead of node + stratixMain. */
  stratixExec?: string | undefined;
}

/** The node arguments that start the Stratix primary (without `--config`). */
export function stratixCommand(settings: Pick<ProxySettings, 'nodeArgs' | 'stratixMain' | 'stratixNodeArgs'>): string[] {
  return [...settings.stratixNodeArgs, ...settings.nodeArgs, settings.stratixMain];
}

export async function startEchoUpstream(echoWorkers: number): Promise<ListeningProcess> {
  return ListeningProcess.start({
    name: 'echo upstream',
    args: [ECHO_UPSTREAM, String(echoWorkers)],
    timeoutMs: START_TIMEOUT_MS,
    relayStderr: 'echo upstream:',
  });
}

/** A port of 127.0.0.1 that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Opens one session per clientId and checks each relays a probe; closes them.
 * Resolves with the failures (empty when all relayed) and the sessions that
 * relayed only a re-sent probe.
 */
export async function relayFailures(url: string, clientIds: readonly string[], timeoutMs = 6_000, protocol?: 'stratix.v1'): Promise<string[]> {
  const results = await Promise.all(clientIds.map((id) => openProbedSession(`${url}?clientId=${id}`, timeoutMs, undefined, protocol)));
  const failures: string[] = [];
  results.forEach(({ socket, failure, reprobed, firstLost }, i) => {
    socket?.terminate();
    if (failure !== undefined) failures.push(`${clientIds[i]}: ${failure}`);
    else if (reprobed) process.stderr.write(`warning: ${url}?clientId=${clientIds[i]} relayed only a re-sent probe (its first message ${firstLost ? 'lost' : 'late'})\n`);
  });
  return failures;
}

const PROBE_CLIENT_IDS = Array.from({ length: 8 }, (_, i) => `bench-probe-${i}`);
let startProbes = 0;

/** A self-signed certificate for 127.0.0.1 in `dir` (Debian's openssl). */
function makeBenchCertificate(dir: string): { certFile: string; keyFile: string } {
  const certFile = path.join(dir, 'cert.pem');
  const keyFile = path.join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  return { certFile, keyFile };
}

/** `variant`: plain ws://, the native data path, wss:// on the listener, or stratix.v1 clients. */
async function startStratix(echoPort: number, settings: ProxySettings, variant: 'plain' | 'native' | 'js' | 'tls' | 'reliable' = 'plain'): Promise<ProxyUnderTest> {
  const tls = variant === 'tls';
  const native = variant === 'native';
  const reliable = variant === 'reliable';
  const port = await freePort();
  const echoUrl = `ws://127.0.0.1:${echoPort}/`;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'stratix-bench-'));
  const configFile = path.join(dir, 'config.json');
  const tlsConfig = tls ? { server: makeBenchCertificate(dir) } : {};
  writeFileSync(
    configFile,
    JSON.stringify({
      gateway: {
        listen: `127.0.0.1:${port}`,
        workers: settings.workers,
        maxConnections: 100_000,
        drainPeriodMs: 0,
        drainGraceMs: 1_000,
      },
      routes: [],
      defaultRoute: { openclawGateway: echoUrl },
      log: { level: 'warn' },
      tls: tlsConfig,
      // Every bench client goes to one echo upstream; in production an upstream has a few
      // clients. The per-upstream pacing (made for a herd after an OpenClaw restart) is off.
      admission: { upstream: { maxConcurrentConnects: 0, connectsPerSecond: 0 } },
      // stratix-reliable: the log on, fsync every 10 ms (issue 7's benchmark setting; the default is 1,000 ms).
      reliable: { log: { dir: path.join(dir, 'reliable'), fsync: 'interval', fsyncIntervalMs: 10 } },
      ...(native || variant === 'js' ? { relay: { dataPath: variant } } : {}),
    }),
  );
  const url = `${tls ? 'wss' : 'ws'}://127.0.0.1:${port}/ws`;
  let gateway: ListeningProcess;
  try {
    gateway = await ListeningProcess.start({
      name: 'stratix',
      ...(settings.stratixExec === undefined
        ? { args: [...stratixCommand(settings), '--config', configFile] }
        : { command: settings.stratixExec, args: ['--config', configFile] }),
      timeoutMs: START_TIMEOUT_MS,
      expectedPort: port, // at log level warn the "listening" line may be filtered out
      probe: async () => (await relayFailures(url, [`bench-start-${startProbes++}`], 2_000)).length === 0,
    });
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const workers = settings.workers === 'auto' ? os.availableParallelism() : settings.workers;
  const proxy: ProxyUnderTest = {
    kind: tls ? 'stratix-tls' : reliable ? 'stratix-reliable' : native ? 'stratix-native' : variant === 'js' ? 'stratix-js' : 'stratix',
    url,
    ...(reliable ? { protocol: 'stratix.v1' as const } : {}),
    pids: [gateway.pid],
    maxSessions: Math.floor((USABLE_DESCRIPTORS / 2) * workers * 0.95), // two sockets per session, uneven hashing
    stop: async () => {
      await gateway.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await ensureRelays(proxy, gateway);
  return proxy;
}

/** One of the single-process reference relays. */
async function startReferenceRelay(
  kind: keyof typeof REFERENCE_RELAYS,
  echoPort: number,
  settings: ProxySettings,
): Promise<ProxyUnderTest> {
  const relay = await ListeningProcess.start({
    name: kind,
    args: [...settings.nodeArgs, REFERENCE_RELAYS[kind], `ws://127.0.0.1:${echoPort}/`, ...(REFERENCE_RELAY_ARGS[kind] ?? [])],
    timeoutMs: START_TIMEOUT_MS,
  });
  const proxy: ProxyUnderTest = {
    kind,
    url: `ws://127.0.0.1:${relay.port}/ws`,
    pids: [relay.pid],
    maxSessions: Math.floor(USABLE_DESCRIPTORS / 2),
    stop: () => relay.stop(),
  };
  await ensureRelays(proxy, relay);
  return proxy;
}

/**
 * nginx or HAProxy, in a fresh temporary directory with its generated config;
 * `layout` sets its worker count and upstreams where one per core and `echoPort` will not do.
 */
export async function startReferenceProgram(
  kind: keyof typeof REFERENCE_PROGRAMS,
  echoPort: number,
  layout: Pick<ProgramSetup, 'workers' | 'upstreamPorts'> = {},
): Promise<ProxyUnderTest> {
  const program = REFERENCE_PROGRAMS[kind];
  const executable = findExecutable(program.executable);
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), `stratix-bench-${kind}-`));
  const setup: ProgramSetup = {
    dir,
    port,
    upstreamPort: echoPort,
    cores: os.availableParallelism(),
    openFiles: openFilesHardLimit(),
    usableDescriptors: USABLE_DESCRIPTORS,
    ...layout,
  };
  const configPath = path.join(dir, program.configFile);
  writeFileSync(configPath, program.config(setup));
  const url = `ws://127.0.0.1:${port}/ws`;
  let server: ListeningProcess;
  try {
    server = await ListeningProcess.start({
      name: kind,
      command: executable,
      args: program.args(setup, configPath),
      timeoutMs: START_TIMEOUT_MS,
      expectedPort: port, // neither prints a line when it listens
      probe: async () => (await relayFailures(url, [`bench-start-${startProbes++}`], 2_000)).length === 0,
    });
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const proxy: ProxyUnderTest = {
    kind,
    url,
    pids: [server.pid],
    maxSessions: program.maxSessions(setup),
    stop: async () => {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await ensureRelays(proxy, server);
  return proxy;
}

async function ensureRelays(proxy: ProxyUnderTest, server: ListeningProcess): Promise<void> {
  const failures = await relayFailures(proxy.url, PROBE_CLIENT_IDS, 6_000, proxy.protocol);
  if (failures.length === 0) return;
  await proxy.stop();
  throw new Error(`${proxy.kind} started but did not relay probe messages: ${failures.join('; ')}\n${server.outputTail}`);
}

/**
 * Starts `kind` in front of the echo upstream listening on `echo.port`. For `direct`
 * nothing is started: the proxy is the echo upstream itself (`stop` leaves it running).
 */
export async function startProxy(
  kind: ProxyKind,
  echo: ListeningProcess,
  settings: ProxySettings,
): Promise<ProxyUnderTest> {
  switch (kind) {
    case 'stratix':
      return startStratix(echo.port, settings);
    case 'stratix-native':
      return startStratix(echo.port, settings, 'native');
    case 'stratix-js':
      return startStratix(echo.port, settings, 'js');
    case 'stratix-tls':
      return startStratix(echo.port, settings, 'tls');
    case 'stratix-reliable':
      return startStratix(echo.port, settings, 'reliable');
    case 'ws-relay':
    case 'raw-relay':
    case 'native-relay':
    case 'native-relay-2t':
    case 'native-uring':
      return startReferenceRelay(kind, echo.port, settings);
    case 'nginx':
    case 'haproxy':
      return startReferenceProgram(kind, echo.port);
    case 'direct':
      return {
        kind,
        url: `ws://127.0.0.1:${echo.port}/ws`,
        pids: [echo.pid],
        maxSessions: USABLE_DESCRIPTORS * settings.echoWorkers,
        stop: async () => {},
      };
  }
}
