/**
 * `routeRuleSchema` without its per-rule cost for the rules that are certainly valid:
 * a million rules in a file or in etcd are checked by hand in a fraction of a
 * microsecond each; anything this check is not sure of goes to the schema, which
 * accepts or names the error. So the errors are the schema's, word for word, and an
 * accepted rule is what the schema would return (property tests hold both).
 *
 * Sure means: a plain object with only the known fields, exactly one key (`clientId`
 * 1-128 or `clientIdPrefix` 0-128 clientId characters) and a single `openclawGateway`
 * that is a plain URL of the simplest shape — `ws://` or `wss://`, dot-separated
 * labels of letters, digits and `-` whose last one starts with a letter (so the URL
 * parser reads no IPv4 address, and no `xn--` label asks for IDNA), an optional port
 * up to 65535, an optional path of unreserved characters — or a template that
 * compiles. Pools, and everything else, go to the schema.
 *
 * `plainRuleAt` checks such a rule straight in the file's bytes, as the seed writes it
 * (`{"clientIdPrefix": "…", "openclawGateway": "ws://…"}`: two plain ASCII strings
 * without escapes), and says where its key and URL are, so that the primary packs it
 * without a string or an object; anything else (escapes, comments, other fields, a
 * template, a pool) is parsed as JSON and checked as above.
 */
import { CLIENT_ID_CHARS, MAX_CLIENT_ID_LENGTH } from '../routing/client-id.js';
import { compileTarget, MAX_TARGET_LENGTH, TemplateError } from '../routing/target-template.js';
import type { RouteRuleConfig } from './route-schema.js';

const FIELDS = new Set(['clientId', 'clientIdPrefix', 'openclawGateway', 'openclawGateways']);

/** True when `s` is a static URL `compileTarget` certainly accepts (false: ask it). */
export function isPlainUrl(s: string): boolean {
  if (s.length > MAX_TARGET_LENGTH) return false;
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7e) return false;
  return plainUrlAt(Buffer.from(s, 'latin1'), 0, s.length);
}

const enum Char {
  Letter = 1,
  Digit = 2,
  Dash = 4,
  /** Unreserved in a path: letters, digits, "-", ".", "_", "~", "/". */
  Path = 8,
  /** A clientId character. */
  Key = 16,
}

const CLASS = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c);
  let k = 0;
  if (/[A-Za-z]/.test(ch)) k |= Char.Letter | Char.Path;
  if (/[0-9]/.test(ch)) k |= Char.Digit | Char.Path;
  if (ch === '-') k |= Char.Dash | Char.Path;
  if ('._~/'.includes(ch)) k |= Char.Path;
  if (CLIENT_ID_CHARS.test(ch)) k |= Char.Key;
  CLASS[c] = k;
}

function is(b: Uint8Array, i: number, kind: Char): boolean {
  const c = b[i]!;
  return c < 128 && (CLASS[c]! & kind) !== 0;
}

/**
 * Whether bytes [start, end) are a plain URL: `ws://` or `wss://`, labels of letters,
 * digits and "-" (each starting with a letter or digit, none with `xn--`, the last
 * starting with a letter) separated by single dots, an optional port of 1-5 digits up
 * to 65535, and an optional path of letters, digits and "-._~/" starting with "/".
 */
export function plainUrlAt(b: Uint8Array, start: number, end: number): boolean {
  if (end - start > MAX_TARGET_LENGTH || end - start < 6 || b[start] !== 0x77 || b[start + 1] !== 0x73) return false; // "ws"
  let i = start + 2;
  if (b[i] === 0x73) i++; // "wss"
  if (b[i] !== 0x3a || b[i + 1] !== 0x2f || b[i + 2] !== 0x2f) return false; // "://"
  i += 3;
  for (;;) {
    // One label.
    const labelStart = i;
    if (i >= end || !is(b, i, Char.Letter | Char.Digit)) return false;
    if (isIdna(b, i, end)) return false;
    while (i < end && is(b, i, Char.Letter | Char.Digit | Char.Dash)) i++;
    if (i < end && b[i] === 0x2e) {
      i++;
      continue;
    }
    if (!is(b, labelStart, Char.Letter)) return false; // the last label: not a number
    break;
  }
  if (i < end && b[i] === 0x3a) {
    const portStart = ++i;
    let port = 0;
    while (i < end && i - portStart < 6 && is(b, i, Char.Digit)) port = port * 10 + b[i++]! - 0x30;
    if (i === portStart || i - portStart > 5 || port > 65535) return false;
  }
  if (i === end) return true;
  if (b[i] !== 0x2f) return false;
  for (; i < end; i++) if (!is(b, i, Char.Path)) return false;
  return true;
}

/** "xn--" (any case) at i. */
function isIdna(b: Uint8Array, i: number, end: number): boolean {
  return end - i >= 4 && (b[i]! | 0x20) === 0x78 && (b[i + 1]! | 0x20) === 0x6e && b[i + 2] === 0x2d && b[i + 3] === 0x2d;
}

function isKey(v: unknown, min: number): v is string {
  return typeof v === 'string' && v.length >= min && v.length <= MAX_CLIENT_ID_LENGTH && CLIENT_ID_CHARS.test(v);
}

/** The target is a plain URL or a template that compiles (and, on an exact rule, has no {suffix}). */
function isSureTarget(s: unknown, exact: boolean): s is string {
  if (typeof s !== 'string') return false;
  if (isPlainUrl(s)) return true;
  if (!s.includes('{') || (exact && s.includes('{suffix}'))) return false;
  try {
    return typeof compileTarget(s) !== 'string';
  } catch (err) {
    if (err instanceof TemplateError) return false;
    throw err;
  }
}

/** What `routeRuleSchema.parse(value)` returns when `value` is certainly valid; undefined: ask the schema. */
export function quickRule(value: unknown): RouteRuleConfig | undefined {
  if (value === null || typeof value !== 'object' || Object.getPrototypeOf(value) !== Object.prototype) return undefined;
  const v = value as Record<string, unknown>;
  let fields = 0;
  for (const k of Object.keys(v)) {
    if (!FIELDS.has(k)) return undefined;
    fields++;
  }
  if (fields !== 2 || v.openclawGateways !== undefined) return undefined;
  const url = v.openclawGateway;
  if (v.clientIdPrefix !== undefined) {
    return isKey(v.clientIdPrefix, 0) && isSureTarget(url, false) ? { clientIdPrefix: v.clientIdPrefix, openclawGateway: url } : undefined;
  }
  return isKey(v.clientId, 1) && isSureTarget(url, true) ? { clientId: v.clientId, openclawGateway: url } : undefined;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

function skipSpace(b: Buffer, i: number, end: number): number {
  while (i < end) {
    const c = b[i]!;
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
    i++;
  }
  return i;
}

/** End (the closing quote's offset) of a plain string whose opening quote is at i - 1, or -1. */
function plainStringEnd(b: Buffer, i: number, end: number): number {
  for (; i < end; i++) {
    const c = b[i]!;
    if (c === QUOTE) return i;
    if (c === BACKSLASH || c < 0x20 || c >= 0x7f) return -1;
  }
  return -1;
}

const KEY_PREFIX = Buffer.from('clientIdPrefix');
const KEY_EXACT = Buffer.from('clientId');
const KEY_URL = Buffer.from('openclawGateway');

function named(b: Buffer, start: number, end: number, name: Buffer): boolean {
  if (end - start !== name.length) return false;
  for (let i = 0; i < name.length; i++) if (b[start + i] !== name[i]) return false;
  return true;
}

/** Where `plainRuleAt` puts what it found: [kind (1 exact, 0 prefix), key start, key end, URL start, URL end]. */
export type RuleSpans = Int32Array;

/**
 * Whether the JSON text in bytes [start, end) is a rule the hand check is sure of, in
 * the seed's form, read straight from the bytes: an object of exactly two plain ASCII
 * strings (no escapes), `clientIdPrefix` or `clientId` and `openclawGateway`, in either
 * order, the key valid and the URL plain (`plainUrlAt`). On true, `spans` says where
 * the key and the URL are. False: parse it as JSON and check it the usual way.
 */
export function plainRuleAt(b: Buffer, start: number, end: number, spans: RuleSpans): boolean {
  let i = skipSpace(b, start, end);
  if (b[i] !== 0x7b) return false;
  let key = -1;
  let url = -1;
  i = skipSpace(b, i + 1, end);
  for (let field = 0; field < 2; field++) {
    if (field === 1) {
      if (b[i] !== 0x2c) return false;
      i = skipSpace(b, i + 1, end);
    }
    if (b[i] !== QUOTE) return false;
    const ne = plainStringEnd(b, i + 1, end);
    if (ne < 0) return false;
    const ns = i + 1;
    i = skipSpace(b, ne + 1, end);
    if (b[i] !== 0x3a) return false;
    i = skipSpace(b, i + 1, end);
    if (b[i] !== QUOTE) return false;
    const ve = plainStringEnd(b, i + 1, end);
    if (ve < 0) return false;
    const vs = i + 1;
    i = skipSpace(b, ve + 1, end);
    if (named(b, ns, ne, KEY_URL) && url === -1) {
      url = field;
      spans[3] = vs;
      spans[4] = ve;
    } else if (key === -1 && (named(b, ns, ne, KEY_PREFIX) || named(b, ns, ne, KEY_EXACT))) {
      key = field;
      spans[0] = ne - ns === KEY_EXACT.length ? 1 : 0;
      spans[1] = vs;
      spans[2] = ve;
    } else {
      return false;
    }
  }
  if (b[i] !== 0x7d || skipSpace(b, i + 1, end) !== end) return false;
  const keyLength = spans[2]! - spans[1]!;
  if (keyLength > MAX_CLIENT_ID_LENGTH || (spans[0] === 1 && keyLength === 0)) return false;
  for (let k = spans[1]!; k < spans[2]!; k++) if (!is(b, k, Char.Key)) return false;
  return plainUrlAt(b, spans[3]!, spans[4]!);
}
