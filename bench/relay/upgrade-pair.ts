/**
 * The reference relays' handshake step (reference-raw-relay.ts, bench/native/native-relay.ts):
 * for each upgrade on `server`, opens the WebSocket upgrade to `upstream` (its own key), answers
 * the client's 101 once the upstream's came, and hands both sockets over with the bytes that came
 * with each handshake already passed on. No checks: these are baselines, not gateways.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import { request } from 'node:http';
import type { Socket } from 'node:net';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export function onUpgradePair(server: Server, upstream: URL, paired: (client: Socket, up: Socket) => void): void {
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
    upgrade.on('upgrade', (_res, up: Socket, upHead: Buffer) => {
      const accept = createHash('sha1').update(`${req.headers['sec-websocket-key']}${GUID}`).digest('base64');
      client.setNoDelay(true);
      up.setNoDelay(true);
      up.on('error', () => client.destroy());
      client.on('close', () => up.destroy());
      up.on('close', () => client.destroy());
      client.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
      if (upHead.length > 0) client.write(upHead);
      if (head.length > 0) up.write(head);
      paired(client, up);
    });
    upgrade.end();
  });
}
