/**
 * Reads an HTTP request head (request line + headers, up to the blank line) from
 * a freshly accepted socket, within a deadline and a size bound, then stops
 * reading. The primary uses it to learn the target (`/ws?clientId=…`) before
 * handing the socket to a worker; nothing past the head is read, because a
 * WebSocket client sends nothing more until it gets the 101.
 */
import type { Socket } from 'node:net';
import { handshakeError, type HandshakeError } from '../errors.js';

const kHead = Symbol('stratix.requestHead');
const CRLFCRLF = Buffer.from('\r\n\r\n');

export interface RequestHead {
  readonly method: string;
  readonly url: string;
  /** Every byte read so far, to replay into the HTTP parser that takes over. */
  readonly bytes: Buffer;
}

export type HeadCallback = (socket: Socket, result: RequestHead | HandshakeError) => void;

interface HeadState {
  chunks: Buffer[];
  length: number;
  maxBytes: number;
  timer: NodeJS.Timeout;
  done: HeadCallback;
}

type Tagged = Socket & { [kHead]?: HeadState };

export function readRequestHead(socket: Socket, maxBytes: number, timeoutMs: number, done: HeadCallback): void {
  const s = socket as Tagged;
  s[kHead] = { chunks: [], length: 0, maxBytes, timer: setTimeout(onTimeout, timeoutMs, s), done };
  s.on('data', onData);
  s.on('error', onError);
  s.on('close', onClose);
}

function finish(socket: Tagged, result: RequestHead | HandshakeError | undefined): void {
  const st = socket[kHead];
  if (st === undefined) return;
  socket[kHead] = undefined;
  clearTimeout(st.timer);
  socket.removeListener('data', onData);
  socket.removeListener('error', onError);
  socket.removeListener('close', onClose);
  if (result === undefined) {
    socket.destroy();
    return;
  }
  stopReading(socket);
  st.done(socket, result);
}

/**
 * Stops the kernel-level reads, not just the stream's flow: net.Socket#pause()
 * leaves the handle reading (only sockets created with `onread` stop), and bytes
 * the primary reads after the head would be lost when the handle moves to a
 * worker. `resume()` restarts reading, for the operations path.
 */
function stopReading(socket: Socket): void {
  socket.pause();
  const handle = (socket as unknown as { _handle?: { reading?: boolean; readStop?: () => number } })._handle;
  if (handle?.reading === true) {
    handle.reading = false;
    handle.readStop?.();
  }
}

function onData(this: Tagged, chunk: Buffer): void {
  const st = this[kHead]!;
  st.chunks.push(chunk);
  st.length += chunk.length;
  const buf = st.chunks.length === 1 ? chunk : Buffer.concat(st.chunks, st.length);
  if (st.chunks.length > 1) st.chunks = [buf];
  const end = buf.indexOf(CRLFCRLF);
  if (end === -1) {
    if (st.length > st.maxBytes) finish(this, handshakeError('HEADERS_TOO_LARGE'));
    return;
  }
  if (end + 4 > st.maxBytes) {
    finish(this, handshakeError('HEADERS_TOO_LARGE'));
    return;
  }
  finish(this, parseRequestLine(buf));
}

function onTimeout(socket: Tagged): void {
  finish(socket, handshakeError('HANDSHAKE_TIMEOUT'));
}

function onError(this: Tagged): void {
  finish(this, undefined);
}

function onClose(this: Tagged): void {
  finish(this, undefined);
}

const REQUEST_LINE = /^([A-Z]{1,16}) (\S{1,8192}) HTTP\/1\.[01]$/;

function parseRequestLine(bytes: Buffer): RequestHead | HandshakeError {
  const eol = bytes.indexOf('\r\n');
  const m = REQUEST_LINE.exec(bytes.toString('latin1', 0, eol));
  if (m === null) return handshakeError('BAD_REQUEST', 'malformed request line');
  return { method: m[1]!, url: m[2]!, bytes };
}
