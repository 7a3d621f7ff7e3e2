/**
 * A second yardstick for the relay benchmark: the floor of a Node.js relay. It does
 * both WebSocket handshakes by hand and then pipes the raw bytes each way without
 * parsing a frame (client frames arrive masked, as an upstream expects; upstream
 * frames arrive unmasked, as a client expects). No limits, no metrics, no close-code
 * mapping: not a product, only the lowest CPU and memory a Node relay can reach here.
 *
 *   node dist/bench/relay/reference-raw-relay.js ws://127.0.0.1:UPSTREAM_PORT/
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { onUpgradePair } from './upgrade-pair.js';

const upstream = new URL(process.argv[2] ?? 'ws://127.0.0.1:9000/');
const server = createServer((_req, res) => res.writeHead(426).end());

onUpgradePair(server, upstream, (client, up) => {
  client.pipe(up);
  up.pipe(client);
});

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  console.log(JSON.stringify({ msg: 'listening', host: '127.0.0.1', port }));
});
process.on('SIGTERM', () => process.exit(0));
