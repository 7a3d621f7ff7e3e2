/**
 * What a clientId may look like. The handshake rejects anything else before routing
 * (STRATIX_ERR_CLIENT_ID_INVALID), so route keys and template values only ever see
 * these characters; templates still check every value they substitute.
 */

export const MAX_CLIENT_ID_LENGTH = 128;

/** 1-128 chars of [A-Za-z0-9._:@-]. */
export const CLIENT_ID_PATTERN = /^[A-Za-z0-9._:@-]{1,128}$/;

/** The characters a route key (clientId or clientIdPrefix) may hold. */
export const CLIENT_ID_CHARS = /^[A-Za-z0-9._:@-]*$/;

export function isValidClientId(s: string): boolean {
  return CLIENT_ID_PATTERN.test(s);
}
