/**
 * Credentials never reach the logs: request targets are logged with the values of
 * the credential parameters (sig, token, nonce) replaced, and anything after a
 * parse failure dropped.
 */
const SECRET_PARAMS = new Set(['sig', 'token', 'nonce', 'access_token']);

export function redactTarget(target: string): string {
  const q = target.indexOf('?');
  if (q === -1) return target;
  let params: URLSearchParams;
  try {
    params = new URLSearchParams(target.slice(q + 1));
  } catch {
    return `${target.slice(0, q)}?[unparsable]`;
  }
  const out: string[] = [];
  for (const [k, v] of params) out.push(`${encodeURIComponent(k)}=${SECRET_PARAMS.has(k) ? '[redacted]' : encodeURIComponent(v)}`);
  return `${target.slice(0, q)}?${out.join('&')}`;
}
