/**
 * Real WebSocket upstream servers on 127.0.0.1:0 for tests. Each records what it
 * receives and can be told what to do per connection.
 */
import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';

export interface Received {
  data: Buffer;
  isBinary: boolean;
}

export interface TestUpstream {
  readonly port: number;
  readonly url: string;
  readonly wss: WebSocketServer;
  /** Every message received, over all connections, in order. */
  readonly received: Received[];
  /** Open server-side sockets. */
  readonly connections: Set<WebSocket>;
  /** Request headers of every upgrade, in order. */
  readonly upgradeHeaders: Array<Record<string, string | string[] | undefined>>;
  /** Resolves with the next connection. */
  nextConnection(): Promise<WebSocket>;
  close(): Promise<void>;
}

export interface UpstreamOptions {
  /** Echo every message back (default true). */
  echo?: boolean;
  maxPayload?: number;
  /** Answer the upgrade with this HTTP status instead of 101. */
  rejectStatus?: number;
}

export async function startUpstream(opts: UpstreamOptions = {}): Promise<TestUpstream> {
  const wss = new WebSocketServer({
    host: '127.0.0.1',
    port: 0,
    perMessageDeflate: false,
    maxPayload: opts.maxPayload ?? 64 * 1024 * 1024,
    ...(opts.rejectStatus === undefined
      ? {}
      : { verifyClient: (_info: unknown, cb: (ok: boolean, status?: number) => void) => cb(false, opts.rejectStatus) }),
  });
  await once(wss, 'listening');
  const port = (wss.address() as { port: number }).port;
  const received: Received[] = [];
  const connections = new Set<WebSocket>();
  const upgradeHeaders: Array<Record<string, string | string[] | undefined>> = [];
  const waiters: Array<(ws: WebSocket) => void> = [];
  wss.on('connection', (ws, req) => {
    upgradeHeaders.push(req.headers);
    connections.add(ws);
    ws.on('close', () => connections.delete(ws));
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      received.push({ data, isBinary });
      if (opts.echo !== false) ws.send(data, { binary: isBinary });
    });
    waiters.shift()?.(ws);
  });
  return {
    port,
    url: `ws://127.0.0.1:${port}/ws`,
    wss,
    received,
    connections,
    upgradeHeaders,
    nextConnection: () => new Promise((resolve) => waiters.push(resolve)),
    async close() {
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

/** A TCP server that accepts and then never answers (for connect timeouts). */
export async function startBlackhole(): Promise<{ port: number; sockets: Set<Socket>; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    s.resume(); // read (and drop) what arrives, so that a peer that leaves is noticed
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as { port: number }).port,
    sockets,
    async close() {
      for (const s of sockets) s.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}

/** A port on 127.0.0.1 with nothing listening (bound, then released). */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  server.close();
  await once(server, 'close');
  return port;
}
