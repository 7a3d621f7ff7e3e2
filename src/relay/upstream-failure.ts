/**
 * Classifies why an upstream WebSocket could not be opened, or broke after it
 * opened, into the catalogue's UpstreamError (and so into the client's close code).
 */
import { upstreamError, type UpstreamError } from '../errors.js';

const UNREACHABLE = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_NONAME', 'EAI_FAIL', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENETDOWN', 'EADDRNOTAVAIL']);
const REFUSED = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ECONNABORTED']);
const TIMEOUT = new Set(['ETIMEDOUT', 'ESOCKETTIMEDOUT']);

/** An error emitted while the upstream was still connecting. `httpStatus` is set when it answered the upgrade with an HTTP error. */
export function classifyConnectError(err: Error, httpStatus: number | undefined): UpstreamError {
  if (httpStatus !== undefined) {
    return upstreamError('REJECTED', `upstream answered HTTP ${httpStatus}`, err);
  }
  const code = (err as NodeJS.ErrnoException).code;
  if (code !== undefined) {
    if (REFUSED.has(code)) return upstreamError('REFUSED', `upstream refused the connection (${code})`, err);
    if (UNREACHABLE.has(code)) return upstreamError('UNREACHABLE', `upstream unreachable (${code})`, err);
    if (TIMEOUT.has(code)) return upstreamError('TIMEOUT', `upstream connect timed out (${code})`, err);
  }
  if (/timed out/i.test(err.message)) return upstreamError('TIMEOUT', 'upstream connect timed out', err);
  // ws: "Invalid Upgrade header", "Invalid Sec-WebSocket-Accept header", "Server sent …".
  return upstreamError('REJECTED', `upstream handshake failed: ${err.message.slice(0, 80)}`, err);
}

/** An error emitted by an open upstream: a protocol violation (ws codes WS_ERR_*) or a socket error. */
export function classifyOpenError(err: Error): UpstreamError {
  const code = (err as NodeJS.ErrnoException).code;
  if (code !== undefined && code.startsWith('WS_ERR_')) {
    return upstreamError('PROTOCOL', `upstream protocol error (${code})`, err);
  }
  return upstreamError('LOST', `upstream connection lost (${code ?? err.message.slice(0, 60)})`, err);
}
