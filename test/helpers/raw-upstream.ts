/**
 * A hand-made WebSocket upstream for tests that need what a well-behaved server
 * never does: a frame started and left unfinished, a 101 with a wrong Accept, an
 * extension or a subprotocol nobody offered. It completes the upgrade by hand (or
 * answers as told) and then lets the test write raw frames and read raw bytes.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';

export interface RawUpstreamConnection {
  readonly socket: Socket;
  /** The upgrade request head as received. */
  readonly head: string;
  /** Every byte received after the head. */
  received(): Buffer;
}

export interface RawUpstream {
  /** Most upgrade requests waiting for their answer at once (with answerAfterMs). */
  readonly maxPending: () => number;
  readonly port: number;
  readonly url: string;
  readonly connections: RawUpstreamConnection[];
  nextConnection(): Promise<RawUpstreamConnection>;
  close(): Promise<void>;
}

export interface RawUpstreamOptions {
  /** Extra header lines of the 101 (e.g. "Sec-WebSocket-Extensions: permessage-deflate"). */
  extraHeaders?: readonly string[];
  /** Send this Sec-WebSocket-Accept instead of the right one. */
  accept?: string;
  /** Answer each upgrade this long after its request arrived. */
  answerAfterMs?: number;
}

/** An unmasked server frame. */
export function serverFrame(opcode: number, payload: Buffer, fin = true): Buffer {
  const len = payload.length;
  const head = len < 126 ? Buffer.from([(fin ? 0x80 : 0) | opcode, len]) : len < 65536 ? Buffer.from([(fin ? 0x80 : 0) | opcode, 126, len >> 8, len & 0xff]) : Buffer.alloc(10);
  if (len >= 65536) {
    head[0] = (fin ? 0x80 : 0) | opcode;
    head[1] = 127;
    head.writeBigUInt64BE(BigInt(len), 2);
  }
  return Buffer.concat([head, payload]);
}

export async function startRawUpstream(opts: RawUpstreamOptions = {}): Promise<RawUpstream> {
  const connections: RawUpstreamConnection[] = [];
  const waiters: Array<(c: RawUpstreamConnection) => void> = [];
  const sockets = new Set<Socket>();
  let pending = 0;
  let maxPending = 0;
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buf = Buffer.alloc(0);
    let conn: RawUpstreamConnection | undefined;
    const after: Buffer[] = [];
    socket.on('data', (d: Buffer) => {
      if (conn !== undefined) {
        after.push(d);
        return;
      }
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf('\r\n\r\n');
      if (end === -1) return;
      const head = buf.subarray(0, end).toString('latin1');
      const rest = buf.subarray(end + 4);
      if (rest.length > 0) after.push(rest);
      const key = /^sec-websocket-key:\s*(\S+)/im.exec(head)?.[1] ?? '';
      const accept = opts.accept ?? createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
      const c: RawUpstreamConnection = { socket, head, received: () => Buffer.concat(after) };
      conn = c;
      const answer = (): void => {
        socket.write(
          `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n` +
            (opts.extraHeaders ?? []).map((h) => `${h}\r\n`).join('') +
            '\r\n',
        );
        connections.push(c);
        waiters.shift()?.(c);
      };
      if (opts.answerAfterMs === undefined) answer();
      else {
        maxPending = Math.max(maxPending, ++pending);
        setTimeout(() => {
          pending--;
          answer();
        }, opts.answerAfterMs);
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  return {
    maxPending: () => maxPending,
    port,
    url: `ws://127.0.0.1:${port}/`,
    connections,
    nextConnection: () => new Promise((resolve) => waiters.push(resolve)),
    async close() {
      for (const s of sockets) s.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}
