/**
 * The clientId: 1–128 characters of `A–Z a–z 0–9 . _ : @ -`, taken from the
 * `clientId` query parameter after percent-decoding. The handshake rejects
 * anything else (STRATIX_ERR_CLIENT_ID_INVALID) before routing, so route keys,
 * etcd keys, logs and template values only ever see these characters; templates
 * still check every value they substitute.
 */
export const MAX_CLIENT_ID_LENGTH = 128;

/** 1-128 chars of [A-Za-z0-9._:@-]. */
export const CLIENT_ID_PATTERN = /^[A-Za-z0-9._:@-]{1,128}$/;

/** The characters a route key (clientId or clientIdPrefix) may hold. */
export const CLIENT_ID_CHARS = /^[A-Za-z0-9._:@-]*$/;

export function isValidClientId(id: string): boolean {
  return CLIENT_ID_PATTERN.test(id);
}
