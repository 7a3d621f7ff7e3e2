/**
 * The reference proxy of the relay benchmark: the plain `ws` relay anyone would write
 * first (one process, one upstream WebSocket per client, default options). Kept
 * deliberately naive: it is the yardstick Stratix must beat, not a product.
 *
 *   node dist/bench/relay/reference-ws-relay.js ws://127.0.0.1:UPSTREAM_PORT/
 */
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer, type RawData } from 'ws';

const upstreamUrl = process.argv[2] ?? 'ws://127.0.0.1:9000/';
const server = new WebSocketServer({ host: '127.0.0.1', port: Number(process.argv[3] ?? 0) });

server.on('connection', (client) => {
  const upstream = new WebSocket(upstreamUrl);
  const pending: [RawData, boolean][] = [];
  client.on('message', (data, isBinary) => {
    if (upstream.readyState === WebSocket.OPEN) upstream.send(data as Buffer, { binary: isBinary });
    else pending.push([data, isBinary]);
  });
  upstream.on('open', () => {
    for (const [data, isBinary] of pending) upstream.send(data as Buffer, { binary: isBinary });
    pending.length = 0;
  });
  upstream.on('message', (data, isBinary) => client.send(data as Buffer, { binary: isBinary }));
  upstream.on('close', (code) => client.close(code === 1005 || code === 1006 ? 1011 : code));
  client.on('close', () => upstream.terminate());
  upstream.on('error', () => client.terminate());
  client.on('error', () => upstream.terminate());
});

server.on('listening', () => {
  const { port } = server.address() as AddressInfo;
  console.log(JSON.stringify({ msg: 'listening', host: '127.0.0.1', port }));
});
process.on('SIGTERM', () => process.exit(0));
