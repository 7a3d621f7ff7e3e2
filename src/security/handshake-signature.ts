/**
 * Signed handshakes (HMAC-SHA256), the wire format of docs/protocol.md §1.1:
 *
 *   /ws?clientId=C&kid=K&ts=T&nonce=N&sig=S
 *   S = base64url, without padding, of HMAC-SHA256(secret of K, "stratix-v1\n" + K + "\n" + C + "\n" + T + "\n" + N)
 *
 * C, K, T and N are the query values after percent-decoding, exactly as sent (T is
 * the decimal string, not a re-formatted number). Shared by the verifier and the
 * `stratix-gateway sign` command, so both build the same string.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_VERSION = 'stratix-v1';
export const KID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
/** Milliseconds since the Unix epoch, decimal, no sign, no leading zero. */
export const TS_PATTERN = /^(?:0|[1-9][0-9]{0,15})$/;
export const NONCE_PATTERN = /^[A-Za-z0-9_-]{16,64}$/;
/** 32 bytes of HMAC-SHA256 in base64url without padding. */
export const SIG_PATTERN = /^[A-Za-z0-9_-]{43}$/;
/** The query parameters of a signed handshake. */
export const SIGNED_PARAMS = ['kid', 'ts', 'nonce', 'sig'] as const;

export interface SignedHandshake {
  readonly kid: string;
  readonly ts: string;
  readonly nonce: string;
  readonly sig: string;
}

/** The exact bytes that are signed. */
export function stringToSign(kid: string, clientId: string, ts: string, nonce: string): string {
  return `${SIGNATURE_VERSION}\n${kid}\n${clientId}\n${ts}\n${nonce}`;
}

export function sign(secret: Buffer, kid: string, clientId: string, ts: string, nonce: string): string {
  return createHmac('sha256', secret).update(stringToSign(kid, clientId, ts, nonce), 'utf8').digest('base64url');
}

/**
 * Constant-time check of `sig` against the expected signature. The encodings are
 * compared, not the decoded bytes, so only the canonical base64url text verifies
 * (the last character's spare bits cannot be varied).
 */
export function verifySignature(secret: Buffer, clientId: string, h: SignedHandshake): boolean {
  const expected = Buffer.from(sign(secret, h.kid, clientId, h.ts, h.nonce), 'latin1');
  const given = Buffer.from(h.sig, 'latin1');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** A fresh nonce: 16 random bytes, 22 base64url characters. */
export function newNonce(): string {
  return randomBytes(16).toString('base64url');
}

/**
 * The signed parameters of a query, or why they are unusable: `missing` when none of
 * them is present, `malformed` when some are absent, repeated or ill-formed.
 */
export function readSignedParams(query: URLSearchParams): SignedHandshake | 'missing' | 'malformed' {
  const values: string[] = [];
  let present = 0;
  for (const name of SIGNED_PARAMS) {
    const all = query.getAll(name);
    if (all.length > 0) present++;
    if (all.length !== 1) values.push('');
    else values.push(all[0]!);
  }
  if (present === 0) return 'missing';
  const [kid, ts, nonce, sig] = values as [string, string, string, string];
  if (!KID_PATTERN.test(kid) || !TS_PATTERN.test(ts) || !NONCE_PATTERN.test(nonce) || !SIG_PATTERN.test(sig)) return 'malformed';
  return { kid, ts, nonce, sig };
}

/** The query string of a signed handshake for `clientId` (what `stratix-gateway sign` prints). */
export function signedQuery(secret: Buffer, kid: string, clientId: string, ts: string, nonce: string): string {
  const sig = sign(secret, kid, clientId, ts, nonce);
  const q = new URLSearchParams({ clientId, kid, ts, nonce, sig });
  return q.toString();
}
