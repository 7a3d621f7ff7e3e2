/**
 * The bundled demo upstream: a WebSocket server that echoes every message back
 * with its type (text/binary) unchanged. It lets the quick start show a relay
 * working with no OpenClaw installed. Never route production traffic to it.
 */
import { once } from 'node:events';
import { WebSocketServer, type WebSocket } from 'ws';

export interface EchoUpstream {
  readonly port: number;
  close(): Promise<void>;
}

export async function startEchoUpstream(host: string | undefined, port: number): Promise<EchoUpstream> {
  const wss = new WebSocketServer({ host, port, perMessageDeflate: false, maxPayload: 256 * 1024 * 1024 });
  wss.on('connection', onConnection);
  await once(wss, 'listening');
  const addr = wss.address();
  return {
    port: typeof addr === 'object' && addr !== null ? addr.port : port,
    async close() {
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

function onConnection(ws: WebSocket): void {
  ws.on('message', echo);
}

function echo(this: WebSocket, data: Buffer, isBinary: boolean): void {
  this.send(data, { binary: isBinary });
}
