/**
 * Entry point of a worker process (forked by the primary). It runs one Gateway
 * in worker mode: sockets arrive over IPC with the request head already read, and
 * the routes arrive from the primary's RouteController (a full set as a file of
 * packed records, then deltas), each answered with the table version the worker now holds.
 * Signals: the first SIGTERM/SIGINT (or the primary's "drain") drains, a second
 * one exits at once. If the primary goes away, the worker exits too.
 */
import type { Socket } from 'node:net';
import type { Config } from '../config/schema.js';
import { deepFreeze } from '../config/deep-freeze.js';
import { PackedRouteTable } from '../routing/packed-route-table.js';
import { readRouteSetFile } from './route-set-files.js';
import { createLogger, type Logger } from '../log.js';
import { GatewayMetrics } from '../metrics/gateway-metrics.js';
import { Gateway } from '../server/gateway.js';
import { LocalSessionReplica } from '../server/session-replica.js';
import { ProcessStats } from '../server/process-stats.js';
import type { ToPrimary, ToWorker } from './messages.js';
import { shardOf } from './shard.js';

let gateway: Gateway | undefined;
let sessions: LocalSessionReplica | undefined;
let logger: Logger | undefined;
let draining = false;
function send(msg: ToPrimary): void {
  if (process.connected) process.send!(msg);
}

/** Answers request `id` with what `work` resolves (or its error). */
function reply(id: number, work: () => unknown): void {
  Promise.resolve()
    .then(work)
    .then(
      (value) => send({ t: 'reply', id, ok: true, value }),
      (err: Error) => {
        logger?.error({ err }, 'request from the primary failed');
        send({ t: 'reply', id, ok: false, error: err.message });
      },
    );
}

/** Source releases waiting to go to the primary: sent in batches, not one message per session end. */
let released: string[] = [];
let releaseTimer: NodeJS.Timeout | undefined;
const RELEASE_BATCH = 1_000;
const RELEASE_DELAY_MS = 50;

function sourceReleased(source: string): void {
  released.push(source);
  if (released.length >= RELEASE_BATCH) flushReleased();
  else releaseTimer ??= setTimeout(flushReleased, RELEASE_DELAY_MS);
}

function flushReleased(): void {
  clearTimeout(releaseTimer);
  releaseTimer = undefined;
  if (released.length === 0) return;
  send({ t: 'sources-released', sources: released });
  released = [];
}

/** Sockets taken off the IPC channel this turn: the primary learns it once per event-loop turn (its handshake queue). */
let taken = 0;

function tookSocket(): void {
  if (taken++ === 0) {
    setImmediate(() => {
      send({ t: 'taken', n: taken });
      taken = 0;
    });
  }
}

async function init(msg: Extract<ToWorker, { t: 'init' }>): Promise<void> {
  // Validated once, by the primary (its output, defaults filled in): a worker loads no validator.
  const config = deepFreeze(msg.config as Config);
  logger = createLogger({ level: config.log.level, bindings: { role: 'worker', worker: msg.index } });
  const metrics = new GatewayMetrics({ defaultMetrics: true });
  gateway = new Gateway(config, {
    logger,
    metrics,
    // The primary holds the instance to gateway.maxConnections; a worker's own bound is the same
    // number, a backstop (it also counts what the primary does not: detached reliable sessions).
    maxConnections: config.gateway.maxConnections,
    workerIndex: msg.index,
    workers: msg.workers,
    deferRoutes: true,
    onSourceReleased: sourceReleased,
    starts: msg.starts,
  });
  await gateway.admission.start();
  sessions = new LocalSessionReplica(gateway.directory, new ProcessStats(), `worker ${msg.index}`);
  const { index, workers } = msg;
  const recovered = gateway.startReliable({ generation: msg.generation, orphans: msg.orphans, owns: (id) => shardOf(id, workers) === index, workers });
  send({ t: 'ready', recovered: [...recovered] });
}

let signals = 0;

/**
 * SIGTERM/SIGINT: the first drains, a second exits at once. A service manager
 * (systemd's control group) or a terminal's Ctrl-C signals the workers as well as
 * the primary, and the primary then asks for the drain too: that request does
 * not count as a second signal.
 */
function onSignal(): void {
  if (++signals > 1) {
    logger?.warn('second signal: exiting now');
    logger?.flush();
    process.exit(1);
  }
  drain();
}

function drain(): void {
  if (draining) return;
  draining = true;
  if (gateway === undefined) process.exit(0);
  void gateway.drain().then(() => {
    send({ t: 'drained' });
    logger?.flush();
    process.exit(0);
  });
}

/** Route operations and queries from the primary (after init). */
function onRouteMessage(gw: Gateway, msg: Exclude<ToWorker, { t: 'init' | 'conn' | 'drain' | 'reload-credentials' }>): void {
  const live = gw.live;
  switch (msg.t) {
    case 'metrics':
      reply(msg.id, () => gw.metrics.registry.getMetricsAsJSON());
      break;
    case 'routes-file':
      // The whole set as the primary packed and indexed it: no object per rule.
      reply(msg.id, async () => {
        const rules = await readRouteSetFile(msg.path, msg.bytes, msg.defaultRoute);
        const table = new PackedRouteTable(rules, { health: live.health, revision: msg.revision > 0 ? msg.revision : undefined });
        return live.loadTable(table, msg.policy);
      });
      break;
    case 'routes-delta':
      reply(msg.id, () => live.applyRouteChanges(msg.changes, msg.revision, msg.policy));
      break;
    case 'upstream-mark':
      reply(msg.id, () => live.markUpstream(msg.url, msg.down));
      break;
    case 'explain':
      reply(msg.id, () => live.explainRoute(msg.clientId));
      break;
    case 'upstreams':
      reply(msg.id, () => live.upstreams());
      break;
    case 'sessions':
      reply(msg.id, () => sessions!.listSessions(msg.query));
      break;
    case 'session-get':
      reply(msg.id, () => sessions!.getSession(msg.session));
      break;
    case 'session-close':
      reply(msg.id, () => sessions!.closeSession(msg.session, { code: msg.code, end: msg.end }));
      break;
    case 'sessions-close':
      reply(msg.id, () => sessions!.closeSessions(msg.prefix, { code: msg.code, end: msg.end, ratePerSecond: msg.ratePerSecond }));
      break;
    case 'process-info':
      reply(msg.id, () => sessions!.processInfo());
      break;
  }
}

process.on('message', (msg: ToWorker, handle?: Socket) => {
  switch (msg.t) {
    case 'init':
      init(msg).catch((err: Error) => {
        logger?.fatal({ err: err.message }, 'worker cannot start');
        logger?.flush();
        process.exit(1);
      });
      break;
    case 'conn':
      tookSocket();
      if (handle === undefined) break;
      if (gateway === undefined) handle.destroy();
      else gateway.adopt(handle, Buffer.from(msg.head), { source: msg.source, peer: msg.peer, secure: msg.secure });
      break;
    case 'reload-credentials':
      void gateway?.reloadCredentials();
      break;
    case 'drain':
      drain();
      break;
    default:
      if (gateway !== undefined) onRouteMessage(gateway, msg);
  }
});

process.on('SIGTERM', onSignal);
process.on('SIGINT', onSignal);
process.on('disconnect', () => {
  // The primary is gone: nobody can hand us sockets or restart us.
  void gateway?.close().finally(() => process.exit(draining ? 0 : 1));
});
process.on('uncaughtException', (err) => {
  logger?.fatal({ err }, 'uncaught exception in worker');
  logger?.flush();
  process.exit(1);
});
