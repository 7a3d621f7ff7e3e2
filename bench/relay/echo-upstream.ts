/**
 * The upstream of the relay benchmark: a WebSocket server that sends every message
 * back on the connection it came from, text as text and binary as binary.
 *
 *   node dist/bench/relay/echo-upstream.js [WORKERS]
 *
 * With WORKERS > 1 it runs as a node:cluster (the primary accepts and hands
 * connections round-robin to the workers), so that N sessions need about N/WORKERS
 * descriptors per process. Prints `{"msg":"listening","host":...,"port":N}` once
 * every worker listens.
 */
import cluster from 'node:cluster';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';

const HOST = '127.0.0.1';
const workers = Math.max(1, Number(process.argv[2] ?? '1') || 1);

function announce(port: number): void {
  process.stdout.write(`${JSON.stringify({ msg: 'listening', host: HOST, port, workers })}\n`);
}

function echo(this: WebSocket, data: RawData, isBinary: boolean): void {
  this.send(data as Buffer, { binary: isBinary });
}

function ignore(): void {}

/**
 * The load generators' re-sent probe ({"probe":2,…}, bench/relay/probed-session.ts) as the
 * first message on a connection means the first probe never reached this upstream: said on
 * stderr, to place a lost first message on the proxy's way in, not on its way back.
 */
function onFirstMessage(data: RawData): void {
  const text = (data as Buffer).toString('utf8', 0, 120);
  if (text.startsWith('{"probe":2')) process.stderr.write(`echo upstream: the first message on a connection was a re-sent probe: ${text}\n`);
}

function onConnection(socket: WebSocket): void {
  socket.once('message', onFirstMessage);
  socket.on('message', echo);
  socket.on('error', ignore);
}

if (workers > 1 && cluster.isPrimary) {
  let listening = 0;
  cluster.on('listening', (_worker, address) => {
    if (++listening === workers) announce(address.port);
  });
  cluster.on('exit', (_worker, code, signal) => {
    process.stderr.write(`echo worker exited (${code ?? signal})\n`);
    process.exit(1);
  });
  for (let i = 0; i < workers; i++) cluster.fork({ ...process.env });
  process.on('SIGTERM', () => {
    cluster.removeAllListeners('exit');
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM');
    process.exit(0);
  });
} else {
  const server = new WebSocketServer({
    host: HOST,
    port: 0,
    backlog: 4096,
    clientTracking: false,
    perMessageDeflate: false,
  });
  server.on('connection', onConnection);
  server.on('listening', () => {
    if (cluster.isPrimary) announce((server.address() as AddressInfo).port);
  });
  process.on('SIGTERM', () => process.exit(0));
}
