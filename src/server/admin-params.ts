/**
 * The query parameters of the session endpoints, checked once: a bad or unknown
 * parameter is a 400 STRATIX_ERR_ADMIN_BAD_REQUEST that names it.
 */
import { adminError } from '../errors.js';
import { parseSessionId, SESSION_STATES, type SessionQuery, type SessionStateName } from './session-view.js';

export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 1_000;
/** What a client gets when the operator closes it, unless `code` says otherwise: reconnect soon. */
export const DEFAULT_ADMIN_CLOSE_CODE = 1012;
const MAX_PREFIX_LENGTH = 128;
const MAX_RATE = 1_000_000;

export function parseSessionQuery(q: URLSearchParams): SessionQuery {
  onlyKnown(q, ['prefix', 'upstream', 'state', 'limit', 'cursor']);
  const prefix = single(q, 'prefix') ?? '';
  if (prefix.length > MAX_PREFIX_LENGTH) throw bad(`prefix: at most ${MAX_PREFIX_LENGTH} characters`);
  const upstream = single(q, 'upstream');
  const stateText = single(q, 'state');
  let states: SessionStateName[] | undefined;
  if (stateText !== undefined) {
    states = stateText.split(',').map((s) => s.trim()) as SessionStateName[];
    const wrong = states.find((s) => !SESSION_STATES.includes(s));
    if (wrong !== undefined) throw bad(`state: ${JSON.stringify(wrong)} is not one of ${SESSION_STATES.join(', ')} (a comma-separated list)`);
  }
  const limit = integer(q, 'limit', 1, MAX_PAGE_SIZE) ?? DEFAULT_PAGE_SIZE;
  const cursorText = single(q, 'cursor');
  let after;
  if (cursorText !== undefined && cursorText !== '') {
    after = parseSessionId(cursorText);
    if (after === undefined) throw bad('cursor: not a cursor (pass the nextCursor of the previous page)');
  }
  return { prefix, upstream: upstream === '' ? undefined : upstream, states, limit, after };
}

export function parseCloseParams(q: URLSearchParams, extra: readonly string[] = []): { code: number; end: boolean } {
  onlyKnown(q, ['code', 'end', ...extra]);
  const code = integer(q, 'code', 1000, 4999) ?? DEFAULT_ADMIN_CLOSE_CODE;
  if (!isOperatorCloseCode(code)) throw bad('code: 1000, 1001, 1008, 1011, 1012, 1013, 3000-3999 or 4100-4999');
  const endText = single(q, 'end');
  if (endText !== undefined && endText !== 'true' && endText !== 'false') throw bad('end: true or false');
  return { code, end: endText === 'true' };
}

export function parsePrefixCloseParams(q: URLSearchParams): { prefix: string; code: number; end: boolean; ratePerSecond: number | undefined } {
  const { code, end } = parseCloseParams(q, ['prefix', 'rate']);
  const prefix = single(q, 'prefix');
  if (prefix === undefined || prefix === '') throw bad('prefix: required and not empty (closing every session is a drain: send SIGTERM)');
  if (prefix.length > MAX_PREFIX_LENGTH) throw bad(`prefix: at most ${MAX_PREFIX_LENGTH} characters`);
  return { prefix, code, end, ratePerSecond: integer(q, 'rate', 1, MAX_RATE) };
}

/**
 * Close codes an operator may send: the standard ones that tell a client something true,
 * and the private ranges, but not 4000-4099 (OpenClaw's client uses 4000 for its own tick
 * timeout, and docs/protocol.md promises the gateway never sends that range).
 */
export function isOperatorCloseCode(code: number): boolean {
  return code === 1000 || code === 1001 || code === 1008 || code === 1011 || code === 1012 || code === 1013 || (code >= 3000 && code <= 3999) || (code >= 4100 && code <= 4999);
}

function bad(message: string): Error {
  return adminError('BAD_REQUEST', message);
}

function onlyKnown(q: URLSearchParams, known: readonly string[]): void {
  for (const key of q.keys()) if (!known.includes(key)) throw bad(`${key.slice(0, 32)}: unknown parameter (known: ${known.join(', ')})`);
}

function single(q: URLSearchParams, name: string): string | undefined {
  const values = q.getAll(name);
  if (values.length > 1) throw bad(`${name}: given more than once`);
  return values[0];
}

function integer(q: URLSearchParams, name: string, min: number, max: number): number | undefined {
  const text = single(q, name);
  if (text === undefined) return undefined;
  const n = /^\d{1,10}$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isInteger(n) || n < min || n > max) throw bad(`${name}: an integer from ${min} to ${max}`);
  return n;
}
