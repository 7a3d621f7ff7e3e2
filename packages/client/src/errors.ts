/**
 * The SDK's errors: one class per failure, each with a stable `code` (the
 * catalogue below; docs/client-sdk.md lists the same codes, a test keeps them in
 * step). A NACK from the gateway is a `NackError` whose `code` is the gateway's
 * own NACK code (docs/protocol.md §3.3).
 */

/** Every code the SDK itself produces, with what it means. */
export const ClientErrorCodes = Object.freeze({
  BAD_OPTION: { code: 'STRATIX_CLIENT_ERR_BAD_OPTION', meaning: 'An option passed to new StratixClient() is invalid; the message names it.' },
  NO_WEBSOCKET: { code: 'STRATIX_CLIENT_ERR_NO_WEBSOCKET', meaning: 'This runtime has no global WebSocket (Node 20): pass one, e.g. { WebSocket } from the ws package.' },
  CLOSED: { code: 'STRATIX_CLIENT_ERR_CLOSED', meaning: 'The client was closed (close(), or a fatal error) before the message was acknowledged; or send() was called after.' },
  QUEUE_FULL: { code: 'STRATIX_CLIENT_ERR_QUEUE_FULL', meaning: 'The send queue holds queue.maxMessages messages or queue.maxBytes bytes not yet acknowledged; the message was not queued.' },
  TOO_LARGE: { code: 'STRATIX_CLIENT_ERR_TOO_LARGE', meaning: 'The payload is larger than maxPayloadBytes; it was not sent.' },
  BAD_PAYLOAD: { code: 'STRATIX_CLIENT_ERR_BAD_PAYLOAD', meaning: 'send() takes a string (sent as text) or an ArrayBuffer or typed array (sent as binary), nothing else.' },
  BAD_MESSAGE_ID: { code: 'STRATIX_CLIENT_ERR_BAD_MESSAGE_ID', meaning: 'The messageId given to send() is not 1-128 printable ASCII characters without " and \\, or is already waiting for its answer.' },
  UPSTREAM_RESET: { code: 'STRATIX_CLIENT_ERR_UPSTREAM_RESET', meaning: 'The upstream connection was replaced (upstream_reset) before the message was acknowledged: it may have reached the old upstream, never the new one.' },
  SESSION_LOST: { code: 'STRATIX_CLIENT_ERR_SESSION_LOST', meaning: 'The session could not be resumed (recovered:false, a gap) before the message was acknowledged: it may have reached the old upstream, never the new one.' },
  SESSION_ENDED: { code: 'STRATIX_CLIENT_ERR_SESSION_ENDED', meaning: 'The upstream closed for good (upstream_closed) or the gateway ended the session (close 1000); the client is closed.' },
  TAKEN_OVER: { code: 'STRATIX_CLIENT_ERR_TAKEN_OVER', meaning: 'Another connection (another window or device with this clientId) took the session over (close 4410); the client is closed and does not reconnect.' },
  REFUSED: { code: 'STRATIX_CLIENT_ERR_REFUSED', meaning: 'The gateway closed with a code whose advice is "no" (e.g. 4400, 4403, 4404), or did not select stratix.v1; the client is closed.' },
  CREDENTIALS: { code: 'STRATIX_CLIENT_ERR_CREDENTIALS', meaning: 'The credentials callback threw, returned something other than an object of strings, or did not settle within connectTimeoutMs; the client retries with backoff.' },
  PROTOCOL: { code: 'STRATIX_CLIENT_ERR_PROTOCOL', meaning: 'The gateway sent something stratix.v1 does not allow (not JSON, a binary frame, a seq out of order); the client drops the connection and resumes.' },
  STORAGE: { code: 'STRATIX_CLIENT_ERR_STORAGE', meaning: 'The storage adapter threw while loading or saving the resume state; delivery goes on, but a reload may repeat or miss what was not stored.' },
});

export type ClientErrorCode = (typeof ClientErrorCodes)[keyof typeof ClientErrorCodes]['code'];

/** The NACK codes of docs/protocol.md §3.3 (the gateway's catalogue; a test compares the two). */
export const NACK_CODES = Object.freeze([
  'STRATIX_NACK_BAD_JSON',
  'STRATIX_NACK_BAD_ENVELOPE',
  'STRATIX_NACK_BAD_BASE64',
  'STRATIX_NACK_INVALID_UTF8',
  'STRATIX_NACK_CLIENT_ID_MISMATCH',
  'STRATIX_NACK_TOO_LARGE',
  'STRATIX_NACK_UPSTREAM_NOT_OPEN',
  'STRATIX_NACK_UPSTREAM_LOST',
  'STRATIX_NACK_SESSION_ENDED',
  'STRATIX_NACK_LOG_UNAVAILABLE',
] as const);

export type NackCode = (typeof NACK_CODES)[number];

/** The base of every error the SDK gives you: key on `code`. */
export class StratixError extends Error {
  readonly code: string;

  constructor(code: string, message: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
  }
}

/** An option is invalid (thrown by the constructor). */
export class OptionError extends StratixError {
  constructor(message: string, code: ClientErrorCode = ClientErrorCodes.BAD_OPTION.code) {
    super(code, message);
  }
}

/** The gateway answered a message with NACK: it was not delivered and never will be. */
export class NackError extends StratixError {
  declare readonly code: NackCode;
  readonly messageId: string;
  /** The gateway's human-readable reason. */
  readonly reason: string;

  constructor(code: NackCode, messageId: string, reason: string) {
    super(code, `message ${messageId} was refused: ${code} (${reason})`);
    this.messageId = messageId;
    this.reason = reason;
  }
}

/** A message was not acknowledged and will not be: the client was closed, the session or its upstream was replaced. */
export class NotDeliveredError extends StratixError {
  readonly messageId: string;

  constructor(code: ClientErrorCode, messageId: string, why: string) {
    super(code, `message ${messageId} was not acknowledged: ${why}`);
    this.messageId = messageId;
  }
}

/** send() refused the message before queueing it (queue full, too large, bad messageId). */
export class SendRefusedError extends StratixError {
  constructor(code: ClientErrorCode, message: string) {
    super(code, message);
  }
}

/** The client stopped because of the gateway's close (taken over, refused, session ended). */
export class ClosedByGatewayError extends StratixError {
  /** The WebSocket close code (undefined when the gateway did not select stratix.v1). */
  readonly closeCode: number | undefined;
  readonly closeReason: string;

  constructor(code: ClientErrorCode, closeCode: number | undefined, closeReason: string, message: string) {
    super(code, message);
    this.closeCode = closeCode;
    this.closeReason = closeReason;
  }
}

/** The session ended because its upstream closed for good (upstream_closed, then close 1000). */
export class SessionEndedError extends ClosedByGatewayError {
  /** The upstream's close code and reason from upstream_closed (undefined when only the close 1000 came). */
  readonly upstreamCode: number | undefined;
  readonly upstreamReason: string;

  constructor(upstreamCode: number | undefined, upstreamReason: string, closeCode: number | undefined, closeReason: string) {
    super(
      ClientErrorCodes.SESSION_ENDED.code,
      closeCode,
      closeReason,
      upstreamCode === undefined ? `the gateway ended the session (${closeCode ?? 'no close code'} ${closeReason})` : `the upstream closed for good: ${upstreamCode} ${upstreamReason}`,
    );
    this.upstreamCode = upstreamCode;
    this.upstreamReason = upstreamReason;
  }
}

/** Something went wrong that the client recovers from by itself (credentials, storage, a protocol breach): it is reported, the client goes on. */
export class RecoverableError extends StratixError {
  override readonly cause: unknown;

  constructor(code: ClientErrorCode, message: string, cause?: unknown) {
    super(code, message);
    this.cause = cause;
  }
}
