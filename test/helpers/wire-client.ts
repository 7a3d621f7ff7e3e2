/**
 * A raw WebSocket client for conformance and fuzz tests: it performs the upgrade
 * by hand, then writes whatever bytes it is given and reads every frame the server
 * sends (FrameReader: a 16 MiB echo costs one copy, not one per read). It never
 * answers anything by itself: no pong, no close reply, so what the test sees is
 * what the gateway did.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { FrameReader, OP, type WireFrame } from './ws-wire.js';

export interface WireClient {
  readonly socket: Socket;
  readonly reader: FrameReader;
  /** Frames received so far. */
  readonly frames: WireFrame[];
  /** The server's FIN (or the socket closing, whichever first). */
  readonly ended: Promise<void>;
  /** The socket is closed. */
  readonly closed: Promise<void>;
  readonly hasEnded: () => boolean;
  /** Resolves once `n` frames have arrived (or the socket closed). */
  frameCount(n: number): Promise<void>;
}

export interface UpgradeOptions {
  /** Extra request header lines. */
  headers?: readonly string[];
  path?: string;
}

export async function wireConnect(port: number, clientId: string, opts: UpgradeOptions = {}): Promise<WireClient> {
  const socket = connect(port, '127.0.0.1');
  socket.setNoDelay(true);
  socket.on('error', () => {});
  await once(socket, 'connect');
  const path = opts.path ?? `/ws?clientId=${encodeURIComponent(clientId)}`;
  socket.write(
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n` +
      (opts.headers ?? []).map((h) => `${h}\r\n`).join('') +
      '\r\n',
  );
  const reader = new FrameReader();
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  let endedFlag = false;
  let resolveEnded!: () => void;
  const ended = new Promise<void>((r) => (resolveEnded = r));
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  const wake = (): void => {
    for (let i = waiters.length - 1; i >= 0; i--) {
      if (endedFlag || reader.frames.length >= waiters[i]!.n) waiters.splice(i, 1)[0]!.resolve();
    }
  };
  const markEnded = (): void => {
    endedFlag = true;
    resolveEnded();
    wake();
  };
  socket.on('end', markEnded);
  socket.on('close', markEnded);

  await new Promise<void>((resolve, reject) => {
    let head = Buffer.alloc(0);
    const onData = (d: Buffer): void => {
      head = Buffer.concat([head, d]);
      const end = head.indexOf('\r\n\r\n');
      if (end === -1) return;
      socket.off('data', onData);
      socket.off('close', onClose);
      const status = head.subarray(0, end).toString('latin1').split('\r\n')[0]!;
      if (!status.startsWith('HTTP/1.1 101')) {
        socket.destroy();
        reject(new Error(`upgrade refused: ${status}`));
        return;
      }
      socket.on('data', (c: Buffer) => {
        reader.push(c);
        wake();
      });
      const rest = head.subarray(end + 4);
      if (rest.length > 0) reader.push(rest);
      resolve();
    };
    const onClose = (): void => reject(new Error('socket closed before the upgrade was answered'));
    socket.on('data', onData);
    socket.once('close', onClose);
  });

  return {
    socket,
    reader,
    frames: reader.frames,
    ended,
    closed,
    hasEnded: () => endedFlag,
    frameCount: (n) => (endedFlag || reader.frames.length >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve }))),
  };
}

/** The code of the first close frame in `frames` (1005 for one without a code), or undefined. */
export function closeCodeOf(frames: readonly WireFrame[]): number | undefined {
  const f = frames.find((x) => x.opcode === OP.CLOSE);
  if (f === undefined) return undefined;
  return f.payload.length >= 2 ? f.payload.readUInt16BE(0) : 1005;
}
