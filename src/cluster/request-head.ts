/**
 * Reads an HTTP request head (request line + headers, up to the blank line) from
 * a freshly accepted socket, within a deadline and a size bound, then stops
 * reading. The primary uses it to learn the target (`/ws?clientId=…`) before
 * handing the socket to a worker; nothing past the head is read, because a
 * WebSocket client sends nothing more until it gets the 101.
 */
import type { Socket } from 'node:net';
import { handshakeError, type HandshakeError } from '../errors.js';
import { stopReading } from './held-reads.js';

const kHead = Symbol('stratix.requestHead');
const CRLFCRLF = Buffer.from('\r\n\r\n');

export interface RequestHead {
  readonly method: string;
  readonly url: string;
  /** Header fields by lower-case name; repeated fields joined with ", " (as node:http does). */
  readonly headers: Readonly<Record<string, string>>;
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

function onData(this: Tagged, chunk: Buffer): void {
  const st = this[kHead]!;
  if (st.length === 0 && chunk.length > 0 && !isTokenStart(chunk[0]!)) {
    // Not an HTTP request (a TLS ClientHello, a stray protocol): say so now, not after the handshake timeout.
    finish(this, handshakeError('BAD_REQUEST', 'not an HTTP request'));
    return;
  }
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
const HEADER_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*(.*?)[ \t]*$/;

/** A request line starts with a method: an upper-case letter (RFC 9110 methods in use all are). */
function isTokenStart(byte: number): boolean {
  return byte >= 0x41 && byte <= 0x5a;
}

function parseRequestLine(bytes: Buffer): RequestHead | HandshakeError {
  const end = bytes.indexOf(CRLFCRLF);
  const lines = bytes.toString('latin1', 0, end).split('\r\n');
  const m = REQUEST_LINE.exec(lines[0]!);
  if (m === null) return handshakeError('BAD_REQUEST', 'malformed request line');
  const headers: Record<string, string> = Object.create(null) as Record<string, string>;
  for (let i = 1; i < lines.length; i++) {
    const h = HEADER_LINE.exec(lines[i]!);
    if (h === null) return handshakeError('BAD_REQUEST', 'malformed header line');
    const name = h[1]!.toLowerCase();
    const prior = headers[name];
    headers[name] = prior === undefined ? h[2]! : `${prior}, ${h[2]!}`;
  }
  return { method: m[1]!, url: m[2]!, headers, bytes };
}
