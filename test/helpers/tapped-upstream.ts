/**
 * A real echo upstream (a `ws` WebSocketServer, as OpenClaw is) whose connections
 * are tapped: every byte the gateway writes to it is kept, so a test can say what
 * the upstream received frame by frame and byte by byte (fragments, length
 * encodings, the gateway's own close), not only the messages `ws` reassembles.
 *
 * Each connection also gives an open barrier: on connect the upstream pings the
 * gateway, and the gateway's upstream leg answers only once the session is open
 * (the upstream's 101 processed, the pre-open queue flushed). `opened` resolves
 * with that pong, in-process or through the CLI's workers alike. The pong is part
 * of the tap; `received()` leaves it out.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { C, decodeFrames, describeFrame, describeStream, OP, type WireFrame } from './ws-wire.js';

/** The payload of the barrier ping (a frame no test sends itself). */
export const OPEN_BARRIER = Buffer.from('stratix-test:open?');

const BARRIER_LINE = describeFrame(decodeFrames(C.pong(OPEN_BARRIER))[0]!);

export interface TappedConnection {
  readonly ws: WebSocket;
  readonly request: IncomingMessage;
  /** Every byte received from the gateway, in order. */
  raw(): Buffer;
  /** The frames received, unmasked, without the barrier pong. */
  received(): WireFrame[];
  /** What was received, one line per frame (an unfinished last frame included), without the barrier pong. */
  receivedLines(): string[];
  /** The raw socket, for writing what `ws` never would (bad frames). */
  readonly socket: Duplex;
  /** The gateway answered the barrier ping: its session is open. */
  readonly opened: Promise<void>;
  /** The TCP connection closed. */
  readonly closed: Promise<void>;
  readonly isClosed: () => boolean;
}

export interface UpgradeAttempt {
  readonly answered: () => boolean;
  readonly closed: Promise<void>;
}

export interface TappedUpstream {
  readonly port: number;
  readonly url: string;
  readonly connections: TappedConnection[];
  /** Resolves with the next connection. */
  next(): Promise<TappedConnection>;
  /**
   * Resolves with the connection whose request path ends in `/<key>` (route the
   * gateway to `url + '/{clientId}'` and key on the clientId).
   */
  connectionFor(key: string): Promise<TappedConnection>;
  /** The upgrade request for `/<key>`, if one arrived: whether it was answered, and when its TCP connection closed. */
  attempt(key: string): UpgradeAttempt | undefined;
  close(): Promise<void>;
}

export interface TappedUpstreamOptions {
  /** Echo every message back (default true). */
  echo?: boolean;
  /** Delay the 101 by this long (the client's messages arrive before the upstream is open). */
  answerAfterMs?: number;
}

export async function startTappedUpstream(opts: TappedUpstreamOptions = {}): Promise<TappedUpstream> {
  // ws (8.23) refuses a message of more than 16384 fragments by default (1008), an upstream's own
  // policy; this one takes what the gateway relays, so that Autobahn 9.3/9.4 (65536 fragments) echo.
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 64 * 1024 * 1024, maxFragments: 0 });
  const connections: TappedConnection[] = [];
  const waiters: Array<(c: TappedConnection) => void> = [];
  const sockets = new Set<Duplex>();
  const byKey = new Map<string, TappedConnection>();
  const keyWaiters = new Map<string, (c: TappedConnection) => void>();
  const attempts = new Map<string, UpgradeAttempt>();
  const keyOf = (req: IncomingMessage): string => decodeURIComponent((req.url ?? '').split('?')[0]!.split('/').pop() ?? '');
  const server: Server = createServer((_req, res) => res.writeHead(404).end());
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    sockets.add(socket);
    socket.on('error', () => {});
    const key = keyOf(req);
    let answered = false;
    // The tap goes on before ws takes the socket: ws unshifts `head`, so it comes through here too.
    const chunks: Buffer[] = [];
    // A copy: ws unmasks the chunks it gets in place.
    socket.on('data', (d: Buffer) => chunks.push(Buffer.from(d)));
    let closed = false;
    const closedP = new Promise<void>((resolve) =>
      socket.once('close', () => {
        closed = true;
        sockets.delete(socket);
        resolve();
      }),
    );
    // node:http leaves an upgraded socket half-open: the gateway's FIN before the 101
    // (an attempt it abandoned) would go unseen until a write fails. A real server
    // (ws) stops there, and so does this one.
    const onEarlyEnd = (): void => {
      if (!answered) socket.destroy();
    };
    socket.once('end', onEarlyEnd);
    attempts.set(key, { answered: () => answered, closed: closedP });
    const go = (): void => {
      if (socket.destroyed || !socket.readable) return;
      socket.off('end', onEarlyEnd);
      answered = true;
      wss.handleUpgrade(req, socket, head, (ws) => {
        ws.on('error', () => {});
        if (opts.echo !== false) ws.on('message', (data: Buffer, isBinary: boolean) => ws.send(data, { binary: isBinary }));
        const opened = new Promise<void>((resolve) => ws.on('pong', (p: Buffer) => p.equals(OPEN_BARRIER) && resolve()));
        ws.ping(OPEN_BARRIER);
        const raw = (): Buffer => Buffer.concat(chunks);
        const c: TappedConnection = {
          ws,
          request: req,
          raw,
          received: () => withoutBarrier(decodeFrames(raw())),
          receivedLines: () => {
            const lines = describeStream(raw());
            const i = lines.indexOf(BARRIER_LINE);
            return i === -1 ? lines : [...lines.slice(0, i), ...lines.slice(i + 1)];
          },
          socket,
          opened,
          closed: closedP,
          isClosed: () => closed,
        };
        connections.push(c);
        byKey.set(key, c);
        keyWaiters.get(key)?.(c);
        keyWaiters.delete(key);
        waiters.shift()?.(c);
      });
    };
    if (opts.answerAfterMs === undefined) go();
    else setTimeout(go, opts.answerAfterMs);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  return {
    port,
    url: `ws://127.0.0.1:${port}/ws`,
    connections,
    next: () => new Promise((resolve) => waiters.push(resolve)),
    connectionFor: (key) => {
      const c = byKey.get(key);
      return c !== undefined ? Promise.resolve(c) : new Promise((resolve) => keyWaiters.set(key, resolve));
    },
    attempt: (key) => attempts.get(key),
    async close() {
      for (const s of sockets) s.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}

function withoutBarrier(frames: WireFrame[]): WireFrame[] {
  const i = frames.findIndex((f) => f.opcode === OP.PONG && f.payload.equals(OPEN_BARRIER));
  return i === -1 ? frames : [...frames.slice(0, i), ...frames.slice(i + 1)];
}
