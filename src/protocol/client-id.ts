/**
 * The clientId: 1–128 characters of `A–Z a–z 0–9 . _ : @ -`, taken from the
 * `clientId` query parameter after percent-decoding. The charset keeps ids safe
 * in logs, metrics, etcd keys and URL templates.
 */
export const CLIENT_ID_MAX_LENGTH = 128;
const CLIENT_ID_RE = /^[A-Za-z0-9._:@-]{1,128}$/;

export function isValidClientId(id: string): boolean {
  return CLIENT_ID_RE.test(id);
}
