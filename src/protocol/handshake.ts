/**
 * What a client's upgrade request must look like, and how a refusal is written.
 * Used by the worker (full request) and by the primary (request line only), so
 * both answer a bad request the same way.
 */
import type { Duplex } from 'node:stream';
import { STATUS_CODES } from 'node:http';
import { handshakeError, type HandshakeError } from '../errors.js';
import { isValidClientId } from './client-id.js';

export const WS_PATH = '/ws';

export interface HandshakeTarget {
  readonly clientId: string;
}

/**
 * Validates the request target (`/ws?clientId=…`). Returns the clientId or the
 * HandshakeError to answer with. `method` is checked only for `/ws`.
 */
export function parseHandshakeTarget(method: string, url: string): HandshakeTarget | HandshakeError {
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  if (path !== WS_PATH) return handshakeError('NOT_FOUND', `no such path: ${truncate(path)}`);
  if (method !== 'GET') return handshakeError('METHOD_NOT_ALLOWED', `method ${truncate(method)} not allowed on ${WS_PATH}`, { Allow: 'GET' });
  let ids: string[];
  try {
    ids = new URLSearchParams(q === -1 ? '' : url.slice(q + 1)).getAll('clientId');
  } catch {
    return handshakeError('CLIENT_ID_INVALID', 'query string cannot be decoded');
  }
  if (ids.length !== 1 || ids[0] === '') {
    return handshakeError('CLIENT_ID_MISSING', ids.length > 1 ? 'clientId given more than once' : 'clientId query parameter is required');
  }
  const clientId = ids[0]!;
  if (!isValidClientId(clientId)) {
    return handshakeError('CLIENT_ID_INVALID', 'clientId must be 1-128 characters of [A-Za-z0-9._:@-]');
  }
  return { clientId };
}

/** The refusal for an HTTP parser error on an upgrade or operations request (Node's 'clientError'). */
export function clientErrorRefusal(err: NodeJS.ErrnoException): HandshakeError {
  const name =
    err.code === 'HPE_HEADER_OVERFLOW' ? 'HEADERS_TOO_LARGE' : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'HANDSHAKE_TIMEOUT' : 'BAD_REQUEST';
  return handshakeError(name);
}

/** Handles Node's 'clientError': answers with a JSON refusal unless the peer is gone. */
export function onHttpClientError(err: NodeJS.ErrnoException, socket: Duplex, count: (e: HandshakeError) => void): void {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const refusal = clientErrorRefusal(err);
  count(refusal);
  rejectHandshake(socket, refusal);
}

/** The JSON body of every refusal: `{"error":{"code":"STRATIX_ERR_…","message":"…"}}`. */
export function errorBody(err: HandshakeError): string {
  return JSON.stringify({ error: { code: err.code, message: err.message } });
}

/** Answers a raw socket (before or instead of the upgrade) and closes it. */
export function rejectHandshake(socket: Duplex, err: HandshakeError): void {
  if (socket.destroyed) return;
  if (socket.listenerCount('error') === 0) socket.on('error', noop); // a reset while we answer is not an error of ours
  const body = errorBody(err);
  let head = `HTTP/1.1 ${err.status} ${STATUS_CODES[err.status] ?? 'Error'}\r\n` +
    'Connection: close\r\n' +
    'Content-Type: application/json\r\n' +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    `X-Stratix-Error: ${err.code}\r\n`;
  for (const [k, v] of Object.entries(err.headers)) head += `${k}: ${v}\r\n`;
  socket.end(`${head}\r\n${body}`);
  // A peer that never reads must not pin the socket.
  socket.once('finish', () => socket.destroy());
  setTimeout(() => socket.destroy(), 2_000).unref();
}

function noop(): void {}

function truncate(s: string): string {
  return s.length > 64 ? `${s.slice(0, 64)}…` : s;
}
