/**
 * WebSocket subprotocols (RFC 6455 §4.1 `Sec-WebSocket-Protocol`). A client that
 * offers `stratix.v1` asks for a reliable session (docs/protocol.md §5); the gateway
 * selects it itself and offers nothing upstream. Any other offer is negotiated end
 * to end with the upstream.
 */
export const STRATIX_V1 = 'stratix.v1';

/** RFC 7230 token characters: what a subprotocol name may hold. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * The offered subprotocols, in order; `undefined` when the header is absent, `null`
 * when it is malformed (an empty or non-token element, or a name offered twice).
 */
export function parseSubprotocols(header: string | readonly string[] | undefined): string[] | undefined | null {
  if (header === undefined) return undefined;
  const joined = typeof header === 'string' ? header : header.join(',');
  const out: string[] = [];
  for (const part of joined.split(',')) {
    const name = part.trim();
    if (!TOKEN.test(name) || out.includes(name)) return null;
    out.push(name);
  }
  return out;
}
