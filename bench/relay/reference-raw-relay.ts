/**
 * A second yardstick for the relay benchmark: the floor of a Node.js relay. It does
 * both WebSocket handshakes by hand and then pipes the raw bytes each way without
 * parsing a frame (client frames arrive masked, as an upstream expects; upstream
 * frames arrive unmasked, as a client expects). No limits, no metrics, no close-code
 * mapping: not a product, only the lowest CPU and memory a Node relay can reach here.
 *
 *   node dist/bench/relay/reference-raw-relay.js ws://127.0.0.1:UPSTREAM_PORT/
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, request } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

const upstream = new URL(process.argv[2] ?? 'ws://127.0.0.1:9000/');
const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const server = createServer((_req, res) => res.writeHead(426).end());

server.on('upgrade', (req, client: Socket, head: Buffer) => {
  client.on('error', () => client.destroy());
  const upgrade = request({
    host: upstream.hostname,
    port: upstream.port,
    path: `${upstream.pathname}${upstream.search}`,
    headers: {
      Connection: 'Upgrade',
      Upgrade: 'websocket',
      'Sec-WebSocket-Version': '13',
      'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
    },
  });
  upgrade.on('error', () => client.destroy());
  upgrade.on('response', (res) => {
    res.resume();
    client.destroy();
  });
  upgrade.on('upgrade', (_res, upSocket: Socket, upHead: Buffer) => {
    const accept = createHash('sha1').update(`${req.headers['sec-websocket-key']}${GUID}`).digest('base64');
    client.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
    if (upHead.length > 0) client.write(upHead);
    if (head.length > 0) upSocket.write(head);
    client.setNoDelay(true);
    upSocket.setNoDelay(true);
    upSocket.on('error', () => client.destroy());
    client.on('close', () => upSocket.destroy());
    upSocket.on('close', () => client.destroy());
    client.pipe(upSocket);
    upSocket.pipe(client);
  });
  upgrade.end();
});

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  console.log(JSON.stringify({ msg: 'listening', host: '127.0.0.1', port }));
});
process.on('SIGTERM', () => process.exit(0));
