/**
 * Every WebSocket close code the gateway sends to a client, in one table.
 * `docs/protocol.md` carries the same table for client authors; a test keeps the two in step.
 *
 * Standard codes are used where one exists. The gateway's own codes live in 4xxx and
 * read like the HTTP status they resemble (4408 ~ 408, 4502 ~ 502); the upstream
 * connect failures follow the well-known 52x origin errors (521 refused, 522 timed
 * out, 523 unreachable). OpenClaw's own client uses 4000 for its tick timeout, so the
 * gateway never sends 4000–4099.
 */

/** What a client should do after receiving the code. */
export type ReconnectAdvice =
  /** Reconnect at once (with a small random delay when many clients get it together). */
  | 'immediately'
  /** Reconnect with capped exponential backoff and jitter (1 s, 2 s, 4 s … 30 s). */
  | 'backoff'
  /** Do not reconnect until the cause (config, message content, client bug) is fixed. */
  | 'no';

export interface CloseCodeInfo {
  readonly code: number;
  readonly name: string;
  readonly reconnect: ReconnectAdvice;
  readonly meaning: string;
}

function def(code: number, name: string, reconnect: ReconnectAdvice, meaning: string): CloseCodeInfo {
  return Object.freeze({ code, name, reconnect, meaning });
}

export const CloseCode = Object.freeze({
  NORMAL: def(1000, 'NORMAL', 'no', 'Normal closure; relayed from the other leg when it closed normally.'),
  GOING_AWAY: def(1001, 'GOING_AWAY', 'backoff', 'Relayed from the upstream when it went away; sent upstream when the client vanished.'),
  PROTOCOL_ERROR: def(1002, 'PROTOCOL_ERROR', 'no', 'The client broke the WebSocket protocol (e.g. an unmasked frame, a bad opcode).'),
  UNSUPPORTED_DATA: def(1003, 'UNSUPPORTED_DATA', 'no', 'stratix.v1: the client sent a binary frame (every envelope is a JSON text frame).'),
  INVALID_PAYLOAD: def(1007, 'INVALID_PAYLOAD', 'no', 'A text message was not valid UTF-8.'),
  POLICY_VIOLATION: def(1008, 'POLICY_VIOLATION', 'no', 'Relayed from the upstream (OpenClaw uses it for handshake and auth failures).'),
  MESSAGE_TOO_BIG: def(1009, 'MESSAGE_TOO_BIG', 'no', 'A message exceeded limits.maxMessageBytes (limits.preOpenMaxMessageBytes before the upstream is open).'),
  INTERNAL_ERROR: def(1011, 'INTERNAL_ERROR', 'backoff', 'An unexpected error inside the gateway.'),
  SERVICE_RESTART: def(1012, 'SERVICE_RESTART', 'immediately', 'The gateway is draining for a restart or redeploy, or the upstream restarted (OpenClaw sends 1012). Reconnect after a random 0–5 s delay.'),
  TRY_AGAIN_LATER: def(1013, 'TRY_AGAIN_LATER', 'backoff', 'The gateway is overloaded; relayed from the upstream too.'),
  BAD_GATEWAY: def(1014, 'BAD_GATEWAY', 'backoff', 'The upstream broke the WebSocket protocol (bad frame, invalid UTF-8, a message over the limit).'),
  ROUTE_CHANGED: def(4307, 'ROUTE_CHANGED', 'immediately', 'The route for this clientId changed (routing.onRouteChange "migrate"); reconnect now to reach the new upstream.'),
  BAD_REQUEST: def(4400, 'BAD_REQUEST', 'no', 'stratix.v1: the upgrade was refused as a bad request (clientId missing or invalid; HTTP 400 for other clients), or the first envelope was not a valid HELLO within reliable.helloTimeoutMs.'),
  UNAUTHORIZED: def(4401, 'UNAUTHORIZED', 'backoff', 'stratix.v1: credentials missing, invalid or expired (HTTP 401 for other clients). Get fresh credentials for the next attempt.'),
  FORBIDDEN: def(4403, 'FORBIDDEN', 'no', 'stratix.v1: the credentials do not allow this clientId, or the Origin is not allowed (HTTP 403 for other clients).'),
  NOT_FOUND: def(4404, 'NOT_FOUND', 'no', 'stratix.v1: no route matches the clientId, or the path is not /ws (HTTP 404 for other clients).'),
  CLIENT_ID_IN_USE: def(4409, 'CLIENT_ID_IN_USE', 'backoff', 'stratix.v1: another connection holds this clientId and the duplicate policy is reject (HTTP 409 for other clients).'),
  TAKEN_OVER: def(4410, 'TAKEN_OVER', 'no', 'A newer connection took this session (or this clientId, under the takeover duplicate policy) over. Do not reconnect: two windows with one clientId would take it from each other forever.'),
  SLOW_CLIENT: def(4408, 'SLOW_CLIENT', 'backoff', 'The client read too slowly: its outgoing buffer stayed above backpressure.highWaterMarkBytes for backpressure.slowClientTimeoutMs.'),
  RATE_LIMITED: def(4429, 'RATE_LIMITED', 'backoff', 'Too many handshakes (stratix.v1; HTTP 429 for other clients; the retry_after EVENT before the close gives the delay), or the connection stayed over its message or byte rate (`admission.client`, docs/security.md) for `admission.client.pausedTimeoutMs`; reason `message rate limit exceeded`. Before that, the gateway only stops reading: nothing is dropped.'),
  UPSTREAM_REJECTED: def(4502, 'UPSTREAM_REJECTED', 'backoff', 'The upstream answered the WebSocket upgrade with an HTTP error (the reason names the status, e.g. 403).'),
  UNAVAILABLE: def(4503, 'UNAVAILABLE', 'backoff', 'stratix.v1: the instance is over capacity, draining, or the worker for this clientId is restarting (HTTP 503 for other clients); the retry_after EVENT before the close gives the delay.'),
  LOG_UNAVAILABLE: def(4507, 'LOG_UNAVAILABLE', 'backoff', 'Reliable session: the message log could not be written (e.g. a full disk) for reliable.log.failureTimeoutMs; the session ended.'),
  UPSTREAM_LOST: def(4520, 'UPSTREAM_LOST', 'backoff', 'The upstream connection dropped without a close frame.'),
  UPSTREAM_REFUSED: def(4521, 'UPSTREAM_REFUSED', 'backoff', 'The upstream refused the TCP connection (nothing listening, or reset during connect).'),
  UPSTREAM_TIMEOUT: def(4522, 'UPSTREAM_TIMEOUT', 'backoff', 'The upstream did not complete TCP connect + upgrade within upstream.connectTimeoutMs.'),
  UPSTREAM_UNREACHABLE: def(4523, 'UPSTREAM_UNREACHABLE', 'backoff', 'The upstream host could not be resolved or reached (DNS failure, no route).'),
});

export type CloseCodeName = keyof typeof CloseCode;

export const closeCodeTable: readonly CloseCodeInfo[] = Object.freeze(
  Object.values(CloseCode).sort((a, b) => a.code - b.code),
);

/** Codes that may legally be put on the wire in a close frame (RFC 6455 §7.4). */
export function isSendableCloseCode(code: number): boolean {
  return (
    (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) ||
    (code >= 3000 && code <= 4999)
  );
}

/** Standard codes a peer may send (RFC 6455 §7.4.1): relayed codes are counted under their own label. */
const STANDARD = new Set([1000, 1001, 1002, 1003, 1005, 1006, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 1015]);
const OWN = new Set(closeCodeTable.map((c) => c.code));

/**
 * The metric label of a close code: the code itself when it is standard or one of
 * the gateway's own, else its range (`3xxx`, `4xxx`, `other`), so that a peer
 * cannot grow the label set.
 */
export function closeCodeLabel(code: number): string {
  return STANDARD.has(code) || OWN.has(code) ? String(code) : code >= 4000 ? '4xxx' : code >= 3000 ? '3xxx' : 'other';
}
