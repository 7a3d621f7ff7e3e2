/**
 * A raw WebSocket client for abuse tests: performs the upgrade by hand over a
 * TCP socket, then writes frames built byte by byte and reads the server's close.
 */
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';

export interface RawFrameOptions {
  fin?: boolean;
  opcode: number;
  payload: Buffer;
  /** Mask the payload (clients must); false builds an illegal unmasked client frame. */
  mask?: boolean;
  /** Claimed payload length, if different from payload.length (to send only a header). */
  claimedLength?: number;
}

export function frame(o: RawFrameOptions): Buffer {
  const len = o.claimedLength ?? o.payload.length;
  const mask = o.mask !== false;
  const head: number[] = [(o.fin === false ? 0 : 0x80) | o.opcode];
  const m = mask ? 0x80 : 0;
  if (len < 126) head.push(m | len);
  else if (len < 65536) head.push(m | 126, len >> 8, len & 0xff);
  else {
    head.push(m | 127);
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(BigInt(len));
    head.push(...b);
  }
  if (!mask) return Buffer.concat([Buffer.from(head), o.payload]);
  const key = randomBytes(4);
  const masked = Buffer.from(o.payload);
  for (let i = 0; i < masked.length; i++) masked[i]! ^= key[i & 3]!;
  return Buffer.concat([Buffer.from(head), key, masked]);
}

export interface RawClient {
  socket: Socket;
  /** Complete data frames (text, binary, continuation) received so far, and their payload bytes. */
  readonly received: { frames: number; bytes: number };
  /** Every complete frame the server sent, in order (opcode and payload). */
  readonly frames: Array<{ opcode: number; payload: Buffer }>;
  /** Resolves when the server ends the TCP connection (FIN or reset). */
  ended: Promise<void>;
  /** Resolves with the close code of the first close frame the server sends (or 1006 if the socket just ends). */
  closeCode: Promise<number>;
}

/** Opens a raw WebSocket to the gateway and completes the upgrade. */
export async function rawConnect(port: number, clientId: string, extraHeaders: string[] = []): Promise<RawClient> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.write(
    `GET /ws?clientId=${clientId} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n` +
      extraHeaders.map((h) => `${h}\r\n`).join('') +
      '\r\n',
  );
  let buf = Buffer.alloc(0);
  let upgraded = false;
  let resolveUpgrade!: () => void;
  let rejectUpgrade!: (e: Error) => void;
  const upgrade = new Promise<void>((res, rej) => ((resolveUpgrade = res), (rejectUpgrade = rej)));
  const received = { frames: 0, bytes: 0 };
  const frames: Array<{ opcode: number; payload: Buffer }> = [];
  let resolveEnded!: () => void;
  const ended = new Promise<void>((res) => (resolveEnded = res));
  let resolveClose!: (code: number) => void;
  const closeCode = new Promise<number>((res) => (resolveClose = res));
  socket.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    if (!upgraded) {
      const end = buf.indexOf('\r\n\r\n');
      if (end === -1) return;
      const head = buf.subarray(0, end).toString();
      if (!head.startsWith('HTTP/1.1 101')) {
        rejectUpgrade(new Error(`upgrade refused: ${head.split('\r\n')[0]}`));
        return;
      }
      upgraded = true;
      buf = buf.subarray(end + 4);
      resolveUpgrade();
    }
    // Scan server frames (unmasked) for a close frame.
    while (buf.length >= 2) {
      let len = buf[1]! & 0x7f;
      let off = 2;
      if (len === 126) {
        if (buf.length < 4) return;
        len = buf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (buf.length < 10) return;
        len = Number(buf.readBigUInt64BE(2));
        off = 10;
      }
      if (buf.length < off + len) return;
      const opcode = buf[0]! & 0x0f;
      frames.push({ opcode, payload: Buffer.from(buf.subarray(off, off + len)) });
      if (opcode === 0x8) resolveClose(len >= 2 ? buf.readUInt16BE(off) : 1005);
      else if (opcode <= 0x2) {
        received.frames++;
        received.bytes += len;
      }
      buf = buf.subarray(off + len);
    }
  });
  socket.on('error', () => {});
  socket.on('end', () => resolveEnded());
  socket.on('close', () => {
    resolveEnded();
    resolveClose(1006);
    rejectUpgrade(new Error('socket closed before upgrade'));
  });
  await upgrade;
  return { socket, closeCode, received, frames, ended };
}
