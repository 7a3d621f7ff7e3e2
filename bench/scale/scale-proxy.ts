/**
 * The proxies of the scale benchmark, started as their users start them, in front of
 * an upstream fleet:
 * - Stratix: `node --max-semi-space-size=2 dist/src/cli/main.js --config route.json`
 *   (the README's `npm start` command line), on its default data path (`stratix`:
 *   relay.dataPath "auto") or as bench/relay's `stratix-native` / `stratix-js` with
 *   `relay.dataPath: "native"` / `"js"`, `gateway.workers` workers so that no
 *   worker passes 20,000 files (two sockets per session), and a `defaultRoute` pool
 *   over every upstream of the fleet (rendezvous hashing of the clientId spreads
 *   the sessions, so the gateway's own connections have many destinations);
 * - nginx: Debian's, as bench/relay/reference-nginx.ts configures it, with
 *   `nginxWorkers` workers and an `upstream` block balancing over the fleet.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { USABLE_DESCRIPTORS } from '../relay/descriptor-limit.js';
import { ListeningProcess } from '../relay/listening-process.js';
import { freePort, relayFailures, startReferenceProgram, stratixCommand } from '../relay/proxy-under-test.js';
import { ADMIN_TOKEN } from './gateway-account.js';
import type { UpstreamFleet } from './upstream-fleet.js';

const START_TIMEOUT_MS = 60_000;

export interface ScaleProxy {
  kind: 'stratix' | 'stratix-native' | 'stratix-js' | 'nginx';
  url: string;
  /** The root process (Stratix: the primary; nginx: the master). */
  pid: number;
  /** Sessions it may hold without a process passing the file limit. */
  maxSessions: number;
  /** SIGTERM, then waits up to `graceMs` before killing what is left. */
  stop(graceMs?: number): Promise<void>;
}

export interface StratixSetup {
  workers: number;
  stratixMain: string;
  stratixNodeArgs: string[];
  drainPeriodMs?: number;
  maxConnections: number;
  /** relay.dataPath (docs/native-data-path.md); undefined: the default, "auto". */
  dataPath?: 'js' | 'native';
}

/** The config file the scale benchmark starts Stratix with. */
export function stratixConfig(port: number, fleet: UpstreamFleet, setup: StratixSetup, dir: string): object {
  return {
    gateway: {
      listen: `127.0.0.1:${port}`,
      workers: setup.workers,
      maxConnections: setup.maxConnections,
      drainPeriodMs: setup.drainPeriodMs ?? 0,
      drainGraceMs: 5_000,
    },
    routes: [],
    defaultRoute: { openclawGateways: fleet.urls },
    log: { level: 'warn' },
    // For the per-session counts of a session the harness found wanting (gateway-account.ts).
    admin: { token: ADMIN_TOKEN },
    // Each echo process stands for ~12k OpenClaw gateways' worth of clients; the
    // per-upstream pacing (made for a herd on one real upstream) is off, as in bench/relay.
    admission: { upstream: { maxConcurrentConnects: 0, connectsPerSecond: 0 } },
    // Each instance needs a log directory of its own (the reconnect phase runs two).
    reliable: { log: { dir: path.join(dir, 'reliable') } },
    ...(setup.dataPath !== undefined ? { relay: { dataPath: setup.dataPath } } : {}),
  };
}

let probes = 0;

export async function startStratix(fleet: UpstreamFleet, setup: StratixSetup): Promise<ScaleProxy> {
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'stratix-scale-'));
  const configFile = path.join(dir, 'route.json');
  writeFileSync(configFile, JSON.stringify(stratixConfig(port, fleet, setup, dir), null, 2));
  const url = `ws://127.0.0.1:${port}/ws`;
  let gateway: ListeningProcess;
  try {
    gateway = await ListeningProcess.start({
      name: 'stratix',
      args: [...stratixCommand({ stratixNodeArgs: setup.stratixNodeArgs, nodeArgs: [], stratixMain: setup.stratixMain }), '--config', configFile],
      timeoutMs: START_TIMEOUT_MS,
      expectedPort: port,
      probe: async () => (await relayFailures(url, [`scale-start-${probes++}`], 2_000)).length === 0,
    });
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    kind: setup.dataPath === 'native' ? 'stratix-native' : setup.dataPath === 'js' ? 'stratix-js' : 'stratix',
    url,
    pid: gateway.pid,
    maxSessions: Math.floor((USABLE_DESCRIPTORS / 2) * setup.workers * 0.95),
    stop: async (graceMs = 10_000) => {
      await gateway.stop(graceMs);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function startNginx(fleet: UpstreamFleet, workers: number): Promise<ScaleProxy> {
  const proxy = await startReferenceProgram('nginx', fleet.ports[0]!, { workers, upstreamPorts: fleet.ports });
  return { kind: 'nginx', url: proxy.url, pid: proxy.pids[0]!, maxSessions: proxy.maxSessions, stop: () => proxy.stop() };
}
