/**
 * The error catalogue. Every failure the gateway reports has a stable `code`, and
 * the HTTP status (handshake) or close code (open session) it causes. Retry and
 * metric decisions key on `code`, never on message text. `docs/protocol.md` lists
 * the handshake errors; a test keeps the two in step.
 */
import { CloseCode, type CloseCodeInfo } from './protocol/close-codes.js';

export class StratixError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A setting in the config is bad. `issues` holds one line per bad setting, each starting with its path. */
export class ConfigError extends StratixError {
  readonly issues: readonly string[];
  constructor(source: string, issues: readonly string[], options?: { cause?: unknown }) {
    super('STRATIX_ERR_CONFIG', `invalid config ${source}:\n  ${issues.join('\n  ')}`, options);
    this.issues = issues;
  }
}

/**
 * The native data path cannot be used: relay.dataPath is "native" and the addon is missing
 * or does not load, or ("native" or "auto") the process's relay thread runs with another
 * relay.nativeReceiveBuffers. The process (the gateway) does not start.
 */
export class NativeDataPathError extends StratixError {
  constructor(reason: string, options?: { cause?: unknown; setting?: 'native' | 'auto' }) {
    super('STRATIX_ERR_NATIVE_UNAVAILABLE', `relay.dataPath is "${options?.setting ?? 'native'}" but the native data path cannot be used: ${reason}`, options);
  }
}

/** A refusal answered over HTTP: `status`, extra headers, and a JSON body carrying `code` (and `details`). */
export class HttpError extends StratixError {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  /** More fields for the JSON body (e.g. the bad settings of a reload). */
  readonly details: Readonly<Record<string, unknown>>;
  constructor(code: string, status: number, message: string, headers: Record<string, string> = {}, details: Record<string, unknown> = {}) {
    super(code, message);
    this.status = status;
    this.headers = headers;
    this.details = details;
  }
}

/**
 * A rejected WebSocket upgrade. `close` is the close code a `stratix.v1` client
 * gets instead of the HTTP status (browsers never see a status): the gateway then
 * completes the upgrade and closes at once (see protocol/handshake.ts). Refusals
 * without one (the request is not a valid upgrade) are HTTP only.
 */
export class HandshakeError extends HttpError {
  readonly close: CloseCodeInfo | undefined;
  constructor(code: string, status: number, message: string, headers: Record<string, string> = {}, close?: CloseCodeInfo) {
    super(code, status, message, headers);
    this.close = close;
  }
}

interface HandshakeErrorInfo {
  readonly code: string;
  readonly status: number;
  readonly meaning: string;
  /** What a stratix.v1 client gets instead (undefined: HTTP only). */
  readonly close?: CloseCodeInfo;
}

function refusal(code: string, status: number, meaning: string, close?: CloseCodeInfo): HandshakeErrorInfo {
  return Object.freeze({ code, status, meaning, ...(close === undefined ? {} : { close }) });
}

/** Handshake rejections, by code. */
export const HandshakeErrors = Object.freeze({
  BAD_REQUEST: refusal('STRATIX_ERR_BAD_REQUEST', 400, 'The request line or headers could not be parsed.', CloseCode.BAD_REQUEST),
  CLIENT_ID_MISSING: refusal('STRATIX_ERR_CLIENT_ID_MISSING', 400, 'No clientId query parameter, an empty one, or more than one.', CloseCode.BAD_REQUEST),
  CLIENT_ID_INVALID: refusal('STRATIX_ERR_CLIENT_ID_INVALID', 400, 'The clientId has a character outside [A-Za-z0-9._:@-] or is longer than 128.', CloseCode.BAD_REQUEST),
  AUTH_REQUIRED: refusal('STRATIX_ERR_AUTH_REQUIRED', 401, 'auth.mode requires credentials and the request carries none (no sig, no token, no Authorization: Bearer).', CloseCode.UNAUTHORIZED),
  AUTH_INVALID: refusal('STRATIX_ERR_AUTH_INVALID', 401, 'The credentials are malformed, name an unknown kid or key, do not verify, or (JWT) have the wrong iss or aud.', CloseCode.UNAUTHORIZED),
  AUTH_EXPIRED: refusal('STRATIX_ERR_AUTH_EXPIRED', 401, 'The signed ts is more than auth.hmac.maxSkewMs from the gateway clock, or the JWT is past exp or before nbf. Date is set.', CloseCode.UNAUTHORIZED),
  AUTH_REPLAYED: refusal('STRATIX_ERR_AUTH_REPLAYED', 401, 'This nonce was already accepted for this clientId within the skew window (replay protection is per instance). Sign again with a fresh nonce.', CloseCode.UNAUTHORIZED),
  AUTH_FORBIDDEN: refusal('STRATIX_ERR_AUTH_FORBIDDEN', 403, 'The token is valid but for another clientId (its auth.jwt.clientIdClaim differs).', CloseCode.FORBIDDEN),
  ORIGIN_FORBIDDEN: refusal('STRATIX_ERR_ORIGIN_FORBIDDEN', 403, 'The Origin header is not in auth.allowedOrigins (or is missing while auth.allowMissingOrigin is false).', CloseCode.FORBIDDEN),
  NOT_FOUND: refusal('STRATIX_ERR_NOT_FOUND', 404, 'The path is not /ws (nor an operations endpoint).', CloseCode.NOT_FOUND),
  NO_ROUTE: refusal('STRATIX_ERR_NO_ROUTE', 404, 'No route matches the clientId and there is no defaultRoute.', CloseCode.NOT_FOUND),
  METHOD_NOT_ALLOWED: refusal('STRATIX_ERR_METHOD_NOT_ALLOWED', 405, 'The upgrade request was not a GET.'),
  HANDSHAKE_TIMEOUT: refusal('STRATIX_ERR_HANDSHAKE_TIMEOUT', 408, 'The request head did not arrive within gateway.handshakeTimeoutMs.'),
  CLIENT_ID_IN_USE: refusal('STRATIX_ERR_CLIENT_ID_IN_USE', 409, 'Another connection holds this clientId on this instance and admission.duplicateClientId is reject.', CloseCode.CLIENT_ID_IN_USE),
  UPGRADE_REQUIRED: refusal('STRATIX_ERR_UPGRADE_REQUIRED', 426, 'GET /ws without a valid WebSocket upgrade (Upgrade, Connection, Sec-WebSocket-Key/Version 13).'),
  SOURCE_RATE_LIMITED: refusal('STRATIX_ERR_SOURCE_RATE_LIMITED', 429, 'Too many handshakes from this source address (admission.source.handshakesPerSecond). Retry-After is set.', CloseCode.RATE_LIMITED),
  SOURCE_CONNECTIONS: refusal('STRATIX_ERR_SOURCE_CONNECTIONS', 429, 'This source address holds admission.source.maxConnections connections. Retry-After is set.', CloseCode.RATE_LIMITED),
  CLIENT_RATE_LIMITED: refusal('STRATIX_ERR_CLIENT_RATE_LIMITED', 429, 'Too many handshakes for this clientId (admission.clientId.handshakesPerSecond): a reconnect loop is slowed. Retry-After is set.', CloseCode.RATE_LIMITED),
  HEADERS_TOO_LARGE: refusal('STRATIX_ERR_HEADERS_TOO_LARGE', 431, 'The request head exceeded gateway.maxHeaderBytes.'),
  UPSTREAM_FAILED: refusal('STRATIX_ERR_UPSTREAM_FAILED', 502, 'Subprotocols offered (not stratix.v1): the upstream refused the connection, could not be reached, or answered with an invalid 101, so the upgrade cannot be answered.'),
  UPSTREAM_REJECTED: refusal('STRATIX_ERR_UPSTREAM_REJECTED', 0, "Subprotocols offered (not stratix.v1): the upstream answered the upgrade with an HTTP error; its status is passed on."),
  UPSTREAM_TIMEOUT: refusal('STRATIX_ERR_UPSTREAM_TIMEOUT', 504, 'Subprotocols offered (not stratix.v1): the upstream did not answer the upgrade within upstream.connectTimeoutMs.'),
  OVER_CAPACITY: refusal('STRATIX_ERR_OVER_CAPACITY', 503, 'gateway.maxConnections sessions are open. Retry-After is set.', CloseCode.UNAVAILABLE),
  DRAINING: refusal('STRATIX_ERR_DRAINING', 503, 'The instance is draining for shutdown. Retry-After is set; connect to another instance.', CloseCode.UNAVAILABLE),
  WORKER_UNAVAILABLE: refusal('STRATIX_ERR_WORKER_UNAVAILABLE', 503, 'The worker that owns this clientId is restarting. Retry-After is set.', CloseCode.UNAVAILABLE),
  ADMISSION_LIMITED: refusal('STRATIX_ERR_ADMISSION_LIMITED', 503, 'The instance takes admission.instance.handshakesPerSecond handshakes; more are refused. Retry-After is set, spread with jitter over the backlog.', CloseCode.UNAVAILABLE),
  OVERLOADED: refusal('STRATIX_ERR_OVERLOADED', 503, 'The instance is at its handshake capacity: the worker for this clientId has admission.instance.maxQueuedHandshakes (split between workers) handshakes it has not yet taken. Retry-After is set, spread with jitter over the backlog at the rate handshakes are being taken.', CloseCode.UNAVAILABLE),
  UPSTREAM_BUSY: refusal('STRATIX_ERR_UPSTREAM_BUSY', 503, 'admission.upstream.maxWaiting connects already wait for this upstream. Retry-After is set.', CloseCode.UNAVAILABLE),
  AUTH_UNAVAILABLE: refusal('STRATIX_ERR_AUTH_UNAVAILABLE', 503, 'No key can check the token now: the JWKS endpoint is down and no key set younger than auth.jwt.jwks.maxStaleMs is held. Retry-After is set.', CloseCode.UNAVAILABLE),
  NONCE_CACHE_FULL: refusal('STRATIX_ERR_NONCE_CACHE_FULL', 503, 'The replay cache (auth.hmac.nonceCacheEntries) is full; the handshake is refused rather than accepted unchecked. Retry-After is set.', CloseCode.UNAVAILABLE),
} as const);

export type HandshakeErrorName = keyof typeof HandshakeErrors;

/** `status` overrides the catalogue's (for UPSTREAM_REJECTED, whose status is the upstream's). */
export function handshakeError(name: HandshakeErrorName, message?: string, headers?: Record<string, string>, status?: number): HandshakeError {
  const e: HandshakeErrorInfo = HandshakeErrors[name];
  return new HandshakeError(e.code, status ?? e.status, message ?? e.meaning, headers, e.close);
}

/** Why an upstream connection could not be opened or was lost; carries the close code the client gets. */
export class UpstreamError extends StratixError {
  readonly close: CloseCodeInfo;
  constructor(code: string, close: CloseCodeInfo, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.close = close;
  }
}

export const UpstreamErrors = Object.freeze({
  REFUSED: { code: 'STRATIX_ERR_UPSTREAM_REFUSED', close: CloseCode.UPSTREAM_REFUSED },
  TIMEOUT: { code: 'STRATIX_ERR_UPSTREAM_TIMEOUT', close: CloseCode.UPSTREAM_TIMEOUT },
  UNREACHABLE: { code: 'STRATIX_ERR_UPSTREAM_UNREACHABLE', close: CloseCode.UPSTREAM_UNREACHABLE },
  REJECTED: { code: 'STRATIX_ERR_UPSTREAM_REJECTED', close: CloseCode.UPSTREAM_REJECTED },
  LOST: { code: 'STRATIX_ERR_UPSTREAM_LOST', close: CloseCode.UPSTREAM_LOST },
  PROTOCOL: { code: 'STRATIX_ERR_UPSTREAM_PROTOCOL', close: CloseCode.BAD_GATEWAY },
} as const);

export type UpstreamErrorName = keyof typeof UpstreamErrors;

export function upstreamError(name: UpstreamErrorName, message: string, cause?: unknown): UpstreamError {
  const e = UpstreamErrors[name];
  return new UpstreamError(e.code, e.close, message, cause === undefined ? undefined : { cause });
}

/** A refused or failed admin request (/admin/*). */
export class AdminError extends HttpError {
  constructor(code: string, status: number, message: string, details: Record<string, unknown> = {}, headers: Record<string, string> = {}) {
    super(code, status, message, headers, details);
  }
}

/** Admin endpoint errors, by code. docs/operations.md lists them; a test keeps the two in step. */
export const AdminErrors = Object.freeze({
  BAD_REQUEST: { code: 'STRATIX_ERR_ADMIN_BAD_REQUEST', status: 400, meaning: 'A query parameter or a session id is missing or malformed (the message names it).' },
  UNAUTHORIZED: { code: 'STRATIX_ERR_ADMIN_UNAUTHORIZED', status: 401, meaning: 'No `Authorization: Bearer <admin.token>` header, or a wrong token.' },
  DISABLED: { code: 'STRATIX_ERR_ADMIN_DISABLED', status: 403, meaning: 'admin.token is not configured, so the admin endpoints are off.' },
  NOT_FOUND: { code: 'STRATIX_ERR_ADMIN_NOT_FOUND', status: 404, meaning: 'No such admin endpoint.' },
  SESSION_NOT_FOUND: { code: 'STRATIX_ERR_SESSION_NOT_FOUND', status: 404, meaning: 'No open session has this id (it closed, or its worker restarted since).' },
  METHOD_NOT_ALLOWED: { code: 'STRATIX_ERR_ADMIN_METHOD_NOT_ALLOWED', status: 405, meaning: 'The endpoint exists but not for this method (reload and upstream marks are POST; Allow is set).' },
  RELOAD_INVALID: { code: 'STRATIX_ERR_RELOAD_INVALID', status: 422, meaning: 'The config file is invalid; `issues` names each bad setting by path. The old table stays.' },
  INTERNAL: { code: 'STRATIX_ERR_ADMIN_INTERNAL', status: 500, meaning: 'An unexpected error while serving the request (logged).' },
  RELOAD_NOT_APPLIED: { code: 'STRATIX_ERR_RELOAD_NOT_APPLIED', status: 503, meaning: 'The new table was built but not every worker reported it within routing.convergeTimeoutMs; they keep converging.' },
  UNAVAILABLE: { code: 'STRATIX_ERR_ADMIN_UNAVAILABLE', status: 503, meaning: 'The worker that must answer (explain, one session) is restarting; retry.' },
} as const);

export type AdminErrorName = keyof typeof AdminErrors;

export function adminError(name: AdminErrorName, message?: string, details?: Record<string, unknown>, headers?: Record<string, string>): AdminError {
  const e = AdminErrors[name];
  return new AdminError(e.code, e.status, message ?? e.meaning, details, headers);
}

/**
 * Why a reliable session's DATA was not delivered (`NACK`, docs/protocol.md §3.3).
 * `index` is the code's number in the message log (0 means ACK there); never reuse one.
 */
export const NackCodes = Object.freeze({
  BAD_JSON: { code: 'STRATIX_NACK_BAD_JSON', index: 1, meaning: 'The frame is not a JSON object.' },
  BAD_ENVELOPE: { code: 'STRATIX_NACK_BAD_ENVELOPE', index: 2, meaning: 'A field has the wrong type or form (type, messageId, binary, timestamp), or the type is not one a client sends.' },
  BAD_BASE64: { code: 'STRATIX_NACK_BAD_BASE64', index: 3, meaning: 'data is not strict base64 (RFC 4648 §4, padded).' },
  INVALID_UTF8: { code: 'STRATIX_NACK_INVALID_UTF8', index: 4, meaning: 'A text payload (binary absent or false) is not valid UTF-8.' },
  CLIENT_ID_MISMATCH: { code: 'STRATIX_NACK_CLIENT_ID_MISMATCH', index: 5, meaning: "The envelope's clientId differs from the URL's." },
  TOO_LARGE: { code: 'STRATIX_NACK_TOO_LARGE', index: 6, meaning: 'The decoded payload exceeds limits.maxMessageBytes.' },
  UPSTREAM_NOT_OPEN: { code: 'STRATIX_NACK_UPSTREAM_NOT_OPEN', index: 7, meaning: 'No upstream connection is open now (before upstream_open, while the gateway reconnects it, or after upstream_reset until your ACK covers its seq): nothing was sent. Wait for upstream_open or upstream_reset.' },
  UPSTREAM_LOST: { code: 'STRATIX_NACK_UPSTREAM_LOST', index: 8, meaning: 'The upstream connection closed before the write of this message completed; it may have reached the old upstream in part or whole.' },
  SESSION_ENDED: { code: 'STRATIX_NACK_SESSION_ENDED', index: 9, meaning: 'The upstream closed for good (upstream_closed was sent); the session is ending.' },
  LOG_UNAVAILABLE: { code: 'STRATIX_NACK_LOG_UNAVAILABLE', index: 10, meaning: "The gateway's message log cannot be written (e.g. a full disk), so the outcome could not be kept: nothing was sent." },
} as const);

export type NackCodeName = keyof typeof NackCodes;
export type NackCode = (typeof NackCodes)[NackCodeName];

/** The NACK code with log index `index` (1..). */
export function nackByIndex(index: number): NackCode | undefined {
  return NACK_BY_INDEX[index];
}
const NACK_BY_INDEX: Array<NackCode | undefined> = [];
for (const n of Object.values(NackCodes)) NACK_BY_INDEX[n.index] = n;
