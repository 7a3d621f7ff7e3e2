/**
 * Why a handshake's credentials were refused: one reason per failure, each with
 * the refusal the client gets (errors.ts). The reason labels
 * stratix_auth_refusals_total; the code is what clients key on.
 */
import { handshakeError, type HandshakeError, type HandshakeErrorName } from '../errors.js';

export const AUTH_REASONS = {
  /** No credentials at all. */
  missing: 'AUTH_REQUIRED',
  /** Some signed parameters absent, repeated or ill-formed; a token that is not a JWS; two token sources. */
  malformed: 'AUTH_INVALID',
  /** HMAC: no active key has this kid. JWT: no key matches the token's header. */
  unknown_kid: 'AUTH_INVALID',
  /** The signature does not verify. */
  bad_signature: 'AUTH_INVALID',
  /** HMAC ts outside the skew window; JWT exp passed or nbf not reached. */
  expired: 'AUTH_EXPIRED',
  /** HMAC nonce seen before within the window. */
  replayed: 'AUTH_REPLAYED',
  /** HMAC replay cache full: refused, not accepted unchecked. */
  nonce_cache_full: 'NONCE_CACHE_FULL',
  /** JWT with a wrong or missing iss. */
  wrong_issuer: 'AUTH_INVALID',
  /** JWT with a wrong or missing aud. */
  wrong_audience: 'AUTH_INVALID',
  /** JWT without a required claim (exp, the clientId claim) or with an algorithm not allowed. */
  bad_claims: 'AUTH_INVALID',
  /** JWT valid, but its clientId claim names another clientId. */
  wrong_client: 'AUTH_FORBIDDEN',
  /** JWT: the JWKS is unavailable and no usable key set is held. */
  keys_unavailable: 'AUTH_UNAVAILABLE',
  /** The Origin is not allowed. */
  origin: 'ORIGIN_FORBIDDEN',
} as const satisfies Record<string, HandshakeErrorName>;

export type AuthReason = keyof typeof AUTH_REASONS;

/** Seconds a client is told to wait after a 503 of the auth layer. */
const AUTH_RETRY_AFTER_S = '5';

export class AuthRefusal {
  readonly reason: AuthReason;
  readonly error: HandshakeError;
  constructor(reason: AuthReason, message?: string) {
    this.reason = reason;
    const name = AUTH_REASONS[reason];
    const headers: Record<string, string> = {};
    if (name === 'AUTH_EXPIRED') headers.Date = new Date().toUTCString();
    if (name === 'AUTH_UNAVAILABLE' || name === 'NONCE_CACHE_FULL') headers['Retry-After'] = AUTH_RETRY_AFTER_S;
    this.error = handshakeError(name, message, headers);
  }
}

/** What a handshake carries for the authenticator. */
export interface Credentials {
  readonly clientId: string;
  readonly query: URLSearchParams;
  /** The Authorization header, if any. */
  readonly authorization: string | undefined;
}

/** Checks a handshake's credentials. Resolves undefined when they are good. */
export interface Authenticator {
  verify(c: Credentials): AuthRefusal | undefined | Promise<AuthRefusal | undefined>;
  /** Re-reads key files (SIGHUP, a file change). Keeps the old keys when the new ones are bad. */
  reload(): Promise<void>;
  close(): void;
}
