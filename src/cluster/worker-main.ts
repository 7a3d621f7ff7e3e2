/**
 * Entry point of a worker process (forked by the primary). It runs one Gateway
 * in worker mode: sockets arrive over IPC with the request head already read.
 * Signals: the first SIGTERM/SIGINT (or the primary's "drain") drains, a second
 * one exits at once. If the primary goes away, the worker exits too.
 */
import type { Socket } from 'node:net';
import { parseConfig } from '../config/load.js';
import { createLogger, type Logger } from '../log.js';
import { GatewayMetrics } from '../metrics/gateway-metrics.js';
import { Gateway } from '../server/gateway.js';
import type { ToPrimary, ToWorker } from './messages.js';

let gateway: Gateway | undefined;
let logger: Logger | undefined;
let draining = false;

function send(msg: ToPrimary): void {
  if (process.connected) process.send!(msg);
}

function init(msg: Extract<ToWorker, { t: 'init' }>): void {
  const config = parseConfig(msg.config, '<from primary>');
  logger = createLogger({ level: config.log.level, bindings: { role: 'worker', worker: msg.index } });
  const metrics = new GatewayMetrics({ defaultMetrics: true });
  gateway = new Gateway(config, {
    logger,
    metrics,
    maxConnections: Math.ceil(config.gateway.maxConnections / msg.workers),
    workerIndex: msg.index,
  });
  send({ t: 'ready' });
}

function drain(): void {
  if (draining) {
    logger?.warn('second signal: exiting now');
    process.exit(1);
  }
  draining = true;
  if (gateway === undefined) process.exit(0);
  void gateway.drain().then(() => {
    send({ t: 'drained' });
    logger?.flush();
    process.exit(0);
  });
}

process.on('message', (msg: ToWorker, handle?: Socket) => {
  switch (msg.t) {
    case 'init':
      init(msg);
      break;
    case 'conn':
      if (handle === undefined) break;
      if (gateway === undefined) handle.destroy();
      else gateway.adopt(handle, Buffer.from(msg.head));
      break;
    case 'metrics':
      if (gateway !== undefined) {
        void gateway.metrics.registry.getMetricsAsJSON().then((snapshot) => send({ t: 'metrics', id: msg.id, snapshot }));
      }
      break;
    case 'drain':
      if (!draining) drain();
      break;
  }
});

process.on('SIGTERM', drain);
process.on('SIGINT', drain);
process.on('disconnect', () => {
  // The primary is gone: nobody can hand us sockets or restart us.
  void gateway?.close().finally(() => process.exit(draining ? 0 : 1));
});
process.on('uncaughtException', (err) => {
  logger?.fatal({ err }, 'uncaught exception in worker');
  logger?.flush();
  process.exit(1);
});
