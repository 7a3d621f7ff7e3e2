/**
 * The two WebSocket opening handshakes the gateway performs itself (RFC 6455
 * §4): answering a client's upgrade, and upgrading a new upstream connection.
 * After them, each socket belongs to a Leg. No extension is negotiated on either
 * side; a subprotocol is either `stratix.v1` (selected by the gateway, nothing
 * offered upstream) or the upstream's choice among what the client offered.
 *
 * Also the refusal a browser can see: a `stratix.v1` client that is refused after
 * its request head was read gets the upgrade completed and a close code at once
 * (browsers never expose the HTTP status of a failed upgrade).
 */
import { createHash, randomBytes } from 'node:crypto';
import { request as httpRequest, type ClientRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { checkServerIdentity, connect as tlsConnect, type ConnectionOptions, type PeerCertificate, type SecureContext } from 'node:tls';
import type { Duplex } from 'node:stream';
import { handshakeError, type HandshakeError } from '../errors.js';
import { rejectHandshake } from '../protocol/handshake.js';
import { parseSubprotocols, STRATIX_V1 } from '../protocol/subprotocol.js';
import { closePayload, controlFrame, OP_CLOSE, textFrame } from './frame-codec.js';

/** Request header fields by lower-case name (node:http's IncomingHttpHeaders, or the primary's parse). */
export type RequestHeaders = Readonly<Record<string, string | string[] | undefined>>;

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
export function checkUpgradeRequest(h: RequestHeaders): string | HandshakeError {
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
  if (parseSubprotocols(h['sec-websocket-protocol']) === null) {
    return handshakeError('BAD_REQUEST', 'malformed Sec-WebSocket-Protocol');
  }
  return acceptValue(key.trim());
}

/** Whether a (valid) upgrade request offers `stratix.v1`. */
export function offersStratixV1(h: RequestHeaders): boolean {
  return parseSubprotocols(h['sec-websocket-protocol'])?.includes(STRATIX_V1) === true;
}

/** Completes the client's upgrade: writes the 101 (`protocol`: the selected subprotocol, if any). */
export function writeSwitchingProtocols(socket: Duplex, accept: string, extraHeaders: string, protocol?: string): void {
  socket.write(
    'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      `Sec-WebSocket-Accept: ${accept}\r\n${protocol === undefined ? '' : `Sec-WebSocket-Protocol: ${protocol}\r\n`}${extraHeaders}\r\n`,
  );
}

/**
 * Refuses an upgrade. A valid upgrade that offers `stratix.v1`, refused for a reason
 * with a close code, is upgraded and closed at once: a `retry_after` EVENT first when
 * the refusal carries Retry-After, then the close frame (reason: the error code).
 * Everything else gets the HTTP status and JSON body.
 */
export function refuseUpgrade(socket: Duplex, err: HandshakeError, headers: RequestHeaders | undefined): void {
  if (socket.destroyed) return;
  const accept = headers === undefined || err.close === undefined ? undefined : checkUpgradeRequest(headers);
  if (typeof accept !== 'string' || !offersStratixV1(headers!)) {
    rejectHandshake(socket, err);
    return;
  }
  writeSwitchingProtocols(socket, accept, '', STRATIX_V1);
  const retryAfter = Number(err.headers['Retry-After']);
  if (retryAfter > 0) {
    const event = `{"type":4,"event":"retry_after","retryAfterMs":${retryAfter * 1000},"code":"${err.code}"}`;
    socket.write(textFrame(Buffer.from(event)));
  }
  socket.end(controlFrame(OP_CLOSE, closePayload(err.close!.code, err.code), false));
  socket.once('finish', () => socket.destroy());
  setTimeout(() => socket.destroy(), 2_000).unref();
}

export interface UpstreamUpgrade {
  readonly req: ClientRequest;
  /** The Sec-WebSocket-Accept the upstream must answer with. */
  readonly accept: string;
}

/** TLS for wss:// upstreams: one secure context (CA bundle, client certificate) built once, and the SNI name. */
export interface UpstreamTlsOptions {
  readonly secureContext: SecureContext;
  /** SNI and the name the certificate must carry; default the URL's host (no SNI for an IP literal). */
  readonly servername?: string | undefined;
}

/** Starts the upgrade request to an upstream `ws://` or `wss://` URL, offering `protocols` if given. */
export function requestUpgrade(url: URL, headers: Record<string, string>, origin: string | undefined, protocols?: readonly string[], tls?: UpstreamTlsOptions): UpstreamUpgrade {
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
  if (protocols !== undefined && protocols.length > 0) all['Sec-WebSocket-Protocol'] = protocols.join(', ');
  const options: RequestOptions = {
    host,
    port: url.port === '' ? (secure ? 443 : 80) : Number(url.port),
    path: url.pathname + url.search,
    method: 'GET',
    headers: all,
    createConnection: (secure ? tlsConnection : tcpConnection) as unknown as RequestOptions['createConnection'],
    ...(secure ? tlsRequestOptions(host, tls) : {}),
  };
  const req = secure ? httpsRequest(options) : httpRequest(options);
  return { req, accept: acceptValue(key) };
}

function tcpConnection(options: { host?: string; port?: number }): Socket {
  return netConnect(options as { host: string; port: number });
}

function tlsRequestOptions(host: string, tls: UpstreamTlsOptions | undefined): Record<string, unknown> {
  const servername = tls?.servername ?? (isIP(host) === 0 ? host : undefined);
  return {
    ...(servername === undefined ? {} : { servername }),
    ...(tls === undefined ? {} : { secureContext: tls.secureContext }),
    // An IP literal without a servername is checked against the certificate's IP SANs.
    ...(tls?.servername !== undefined && isIP(host) !== 0 ? { checkServerIdentity: (_h: string, cert: PeerCertificate) => checkServerIdentity(tls.servername!, cert) } : {}),
  };
}

function tlsConnection(options: ConnectionOptions): Socket {
  return tlsConnect(options);
}

/** Why an upstream's 101 is unacceptable (`problem`), or the subprotocol it selected. */
export function checkUpgradeResponse(
  res: IncomingMessage,
  accept: string,
  offered: readonly string[] | undefined,
): { problem?: string; protocol?: string } {
  if (!headerHas(res.headers.upgrade, 'websocket')) return { problem: 'invalid Upgrade header in the 101' };
  if (res.headers['sec-websocket-accept'] !== accept) return { problem: 'invalid Sec-WebSocket-Accept in the 101' };
  if (res.headers['sec-websocket-extensions'] !== undefined) return { problem: 'upstream chose an extension that was not offered' };
  const chosen = res.headers['sec-websocket-protocol'];
  if (chosen === undefined) return {};
  if (offered === undefined || !offered.includes(chosen)) return { problem: 'upstream chose a subprotocol that was not offered' };
  return { protocol: chosen };
}
