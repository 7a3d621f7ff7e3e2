/**
 * The two WebSocket opening handshakes the gateway performs itself (RFC 6455
 * §4): answering a client's upgrade, and upgrading a new upstream connection.
 * After them, each socket belongs to a Leg. No extension and no subprotocol are
 * negotiated on either side.
 */
import { createHash, randomBytes } from 'node:crypto';
import { request as httpRequest, type ClientRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { Duplex } from 'node:stream';
import { handshakeError, type HandshakeError } from '../errors.js';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const KEY_RE = /^[+/0-9A-Za-z]{22}==$/;

export function acceptValue(key: string): string {
  return createHash('sha1').update(key + GUID).digest('base64');
}

function headerHas(value: string | string[] | undefined, token: string): boolean {
  if (value === undefined) return false;
  const v = Array.isArray(value) ? value.join(',') : value;
  return v.split(',').some((t) => t.trim().toLowerCase() === token);
}

/** Checks a client's upgrade headers. Returns the Sec-WebSocket-Accept value, or the refusal. */
export function checkUpgradeRequest(req: IncomingMessage): string | HandshakeError {
  const h = req.headers;
  if (!headerHas(h.upgrade, 'websocket') || !headerHas(h.connection, 'upgrade')) {
    return handshakeError('UPGRADE_REQUIRED', 'missing "Upgrade: websocket" / "Connection: Upgrade"', { Upgrade: 'websocket' });
  }
  if (h['sec-websocket-version'] !== '13') {
    return handshakeError('UPGRADE_REQUIRED', 'unsupported Sec-WebSocket-Version (only 13)', { 'Sec-WebSocket-Version': '13' });
  }
  const key = h['sec-websocket-key'];
  if (typeof key !== 'string' || !KEY_RE.test(key.trim())) {
    return handshakeError('BAD_REQUEST', 'missing or invalid Sec-WebSocket-Key');
  }
  return acceptValue(key.trim());
}

/** Completes the client's upgrade: writes the 101. */
export function writeSwitchingProtocols(socket: Duplex, accept: string, extraHeaders: string): void {
  socket.write(
    'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      `Sec-WebSocket-Accept: ${accept}\r\n${extraHeaders}\r\n`,
  );
}

export interface UpstreamUpgrade {
  readonly req: ClientRequest;
  /** The Sec-WebSocket-Accept the upstream must answer with. */
  readonly accept: string;
}

/** Starts the upgrade request to an upstream `ws://` or `wss://` URL. */
export function requestUpgrade(url: URL, headers: Record<string, string>, origin: string | undefined): UpstreamUpgrade {
  const key = randomBytes(16).toString('base64');
  const secure = url.protocol === 'wss:';
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const all: Record<string, string> = {
    ...headers,
    Connection: 'Upgrade',
    Upgrade: 'websocket',
    'Sec-WebSocket-Version': '13',
    'Sec-WebSocket-Key': key,
  };
  if (origin !== undefined) all.Origin = origin;
  const options: RequestOptions = {
    host,
    port: url.port === '' ? (secure ? 443 : 80) : Number(url.port),
    path: url.pathname + url.search,
    method: 'GET',
    headers: all,
    createConnection: (secure ? tlsConnection : tcpConnection) as unknown as RequestOptions['createConnection'],
    ...(secure ? { servername: host } : {}),
  };
  const req = secure ? httpsRequest(options) : httpRequest(options);
  return { req, accept: acceptValue(key) };
}

function tcpConnection(options: { host?: string; port?: number }): Socket {
  return netConnect(options as { host: string; port: number });
}

function tlsConnection(options: { host?: string; port?: number; servername?: string }): Socket {
  return tlsConnect(options as { host: string; port: number; servername?: string });
}

/** Why an upstream's 101 is unacceptable, or undefined if it is fine. */
export function checkUpgradeResponse(res: IncomingMessage, accept: string): string | undefined {
  if (!headerHas(res.headers.upgrade, 'websocket')) return 'invalid Upgrade header in the 101';
  if (res.headers['sec-websocket-accept'] !== accept) return 'invalid Sec-WebSocket-Accept in the 101';
  if (res.headers['sec-websocket-extensions'] !== undefined) return 'upstream chose an extension that was not offered';
  if (res.headers['sec-websocket-protocol'] !== undefined) return 'upstream chose a subprotocol that was not offered';
  return undefined;
}
