/**
 * `stratix-gateway sign --kid K --secret-file F [--ts MS] [--nonce N] [--url WS_URL] CLIENT_ID`:
 * prints the query string of a signed handshake (docs/protocol.md §1.1), or the
 * whole URL with --url. --ts and --nonce fix what is normally the current time and
 * a fresh random nonce (to reproduce the worked example).
 */
import { parseArgs } from 'node:util';
import type { Writable } from 'node:stream';
import { isValidClientId } from '../protocol/client-id.js';
import { KID_PATTERN, NONCE_PATTERN, TS_PATTERN, newNonce, signedQuery } from '../security/handshake-signature.js';
import { readSecret } from '../security/key-files.js';

export const SIGN_USAGE = 'usage: stratix-gateway sign --kid KID --secret-file FILE [--ts MS] [--nonce NONCE] [--url ws://HOST:PORT/ws] CLIENT_ID\n';

export function runSignCommand(argv: string[], out: Writable, err: Writable, now: () => number = Date.now): number {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { kid: { type: 'string' }, 'secret-file': { type: 'string' }, ts: { type: 'string' }, nonce: { type: 'string' }, url: { type: 'string' } },
    });
  } catch (e) {
    err.write(`${(e as Error).message}\n${SIGN_USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const fail = (msg: string): number => {
    err.write(`${msg}\n${SIGN_USAGE}`);
    return 2;
  };
  if (positionals.length !== 1) return fail('give exactly one clientId');
  const clientId = positionals[0]!;
  if (!isValidClientId(clientId)) return fail('clientId must be 1-128 characters of [A-Za-z0-9._:@-]');
  if (values.kid === undefined || !KID_PATTERN.test(values.kid)) return fail('--kid: 1-64 characters of [A-Za-z0-9._-]');
  if (values['secret-file'] === undefined) return fail('--secret-file is required');
  const ts = values.ts ?? String(now());
  if (!TS_PATTERN.test(ts)) return fail('--ts: milliseconds since the Unix epoch, decimal');
  const nonce = values.nonce ?? newNonce();
  if (!NONCE_PATTERN.test(nonce)) return fail('--nonce: 16-64 base64url characters');
  let secret: Buffer;
  try {
    secret = readSecret(values['secret-file']);
  } catch (e) {
    err.write(`${(e as Error).message}\n`);
    return 1;
  }
  const query = signedQuery(secret, values.kid, clientId, ts, nonce);
  out.write(values.url === undefined ? `${query}\n` : `${values.url}${values.url.includes('?') ? '&' : '?'}${query}\n`);
  return 0;
}
