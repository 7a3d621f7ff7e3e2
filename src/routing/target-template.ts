/**
 * Target templates: one rule serves many tenants, e.g.
 * `ws://oc-{clientId}.tenants.internal:18789/ws` or, on a prefix rule `acme-`,
 * `wss://{suffix}.acme.internal/ws` (the clientId after the matched prefix).
 *
 * Placeholders
 *   {clientId}  the whole clientId
 *   {suffix}    the clientId after the matched prefix (the whole clientId for the
 *               default route; not allowed on exact rules, where it would be empty)
 *
 * Where a placeholder may stand, and what a substituted value must look like
 * (a value that does not fit is never encoded or repaired: the lookup fails closed,
 * i.e. it is a miss with a reason):
 *   host label      value [a-z0-9-] only (no uppercase: `Acme` and `acme` must not
 *                   share an upstream); the whole label 1-63 chars, no leading or
 *                   trailing "-", not "xn--"; the last label not all digits or 0x…
 *                   (the URL parser would read the host as an IPv4 address); the
 *                   host <= 253 chars.
 *   path segment    value [A-Za-z0-9._~:@-]; the segment is not "." or "..".
 *   query           value [A-Za-z0-9._~:@-] (never "&", "=", "#", "%").
 *   userinfo, port, IPv6 host, fragment: never (rejected when the config loads).
 * A value is never empty. So a clientId cannot add a host, a port, a path segment,
 * userinfo or a query parameter: only the characters of its own slot.
 */

export type Placeholder = 'clientId' | 'suffix';
export const PLACEHOLDERS: readonly Placeholder[] = Object.freeze(['clientId', 'suffix']);

/** Longest accepted template or static upstream URL. */
export const MAX_TARGET_LENGTH = 2048;

/** A template or upstream URL that cannot be used; thrown when the config is checked. */
export class TemplateError extends Error {
  readonly code = 'STRATIX_ERR_ROUTE_TEMPLATE';
  constructor(message: string) {
    super(message);
    this.name = 'TemplateError';
  }
}

/** Why a clientId could not be substituted into a template. Preallocated: rendering never allocates one. */
export interface TemplateReject {
  readonly code: string;
  readonly message: string;
}

const reject = (code: string, message: string): TemplateReject => Object.freeze({ code, message });

export const TemplateRejects = Object.freeze({
  EMPTY: reject('EMPTY', 'a substituted value is empty'),
  HOST_CHARS: reject('HOST_CHARS', 'a value in the host may only hold a-z, 0-9 and "-" (no uppercase, ".", ":", "@", "_")'),
  HOST_LABEL: reject('HOST_LABEL', 'a host label must be 1-63 chars, not start or end with "-", and not start with "xn--"'),
  HOST_NUMERIC: reject('HOST_NUMERIC', 'the last host label would be numeric, which makes the host an IP address'),
  HOST_LENGTH: reject('HOST_LENGTH', 'the host would be longer than 253 chars'),
  PATH_CHARS: reject('PATH_CHARS', 'a value in the path may only hold A-Z, a-z, 0-9 and "._~:@-"'),
  PATH_DOT_SEGMENT: reject('PATH_DOT_SEGMENT', 'a path segment would be "." or ".."'),
  QUERY_CHARS: reject('QUERY_CHARS', 'a value in the query may only hold A-Z, a-z, 0-9 and "._~:@-"'),
});

const enum Slot {
  ClientId = 0,
  Suffix = 1,
}

/** Literal text or a placeholder. */
type Part = string | Slot;

interface HostUnit {
  readonly kind: 'host';
  /** One entry per label: a literal label (checked at compile time) or a list of parts. */
  readonly labels: readonly (string | readonly Part[])[];
}
interface PathUnit {
  readonly kind: 'path';
  readonly parts: readonly Part[];
}
interface QueryUnit {
  readonly kind: 'query';
  readonly parts: readonly Part[];
}
type Unit = HostUnit | PathUnit | QueryUnit;

const HOST_LITERAL = /^[a-z0-9-]*$/;
const HOST_LABEL = /^(?!-)(?!xn--)[a-z0-9-]{1,63}$/;
const NUMERIC_LABEL = /^(?:\d+|0x[0-9a-f]*)$/;
const DOT_SEGMENT = /^(?:\.|%2e){1,2}$/i;
const PLACEHOLDER = /\{([^{}]*)\}/g;

export class CompiledTemplate {
  /** The template as written in the config. */
  readonly source: string;
  /** True when the template uses {suffix}. */
  readonly usesSuffix: boolean;
  /** Literal strings and checked units, in order. */
  readonly #pieces: readonly (string | Unit)[];

  /** Use `compileTarget`. */
  constructor(source: string, pieces: readonly (string | Unit)[], usesSuffix: boolean) {
    this.source = source;
    this.#pieces = pieces;
    this.usesSuffix = usesSuffix;
  }

  /** The URL for `clientId` (`suffix` = the part after the matched prefix), or why there is none. */
  render(clientId: string, suffix: string): string | TemplateReject {
    let out = '';
    const pieces = this.#pieces;
    for (let p = 0; p < pieces.length; p++) {
      const piece = pieces[p]!;
      if (typeof piece === 'string') {
        out += piece;
        continue;
      }
      const r = renderUnit(piece, clientId, suffix);
      if (typeof r !== 'string') return r;
      out += r;
    }
    return out;
  }
}

function renderUnit(unit: Unit, clientId: string, suffix: string): string | TemplateReject {
  if (unit.kind !== 'host') {
    const text = renderParts(unit.parts, clientId, suffix, false, unit.kind === 'path' ? TemplateRejects.PATH_CHARS : TemplateRejects.QUERY_CHARS);
    return typeof text === 'string' && unit.kind === 'path' && isDotSegment(text) ? TemplateRejects.PATH_DOT_SEGMENT : text;
  }
  let host = '';
  const labels = unit.labels;
  for (let l = 0; l < labels.length; l++) {
    const spec = labels[l]!;
    if (l > 0) host += '.';
    if (typeof spec === 'string') {
      host += spec;
      continue;
    }
    const label = renderParts(spec, clientId, suffix, true, TemplateRejects.HOST_CHARS);
    if (typeof label !== 'string') return label;
    if (!isLabel(label)) return TemplateRejects.HOST_LABEL;
    if (l === labels.length - 1 && isNumericLabel(label)) return TemplateRejects.HOST_NUMERIC;
    host += label;
  }
  return host.length > 253 ? TemplateRejects.HOST_LENGTH : host;
}

/** Literal parts and substituted values, each value non-empty and of the slot's characters. */
function renderParts(parts: readonly Part[], clientId: string, suffix: string, inHost: boolean, badChars: TemplateReject): string | TemplateReject {
  let text = '';
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    if (typeof part === 'string') {
      text += part;
      continue;
    }
    const v = part === Slot.ClientId ? clientId : suffix;
    if (v.length === 0) return TemplateRejects.EMPTY;
    if (!(inHost ? isHostValue(v) : isUrlValue(v))) return badChars;
    text += v;
  }
  return text;
}

/** [a-z0-9-]+ (char loops: several times faster than a regex on these short strings). */
function isHostValue(v: string): boolean {
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (!((c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d)) return false;
  }
  return true;
}

/** [A-Za-z0-9._~:@-]+ */
function isUrlValue(v: string): boolean {
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (
      !(
        (c >= 0x61 && c <= 0x7a) ||
        (c >= 0x41 && c <= 0x5a) ||
        (c >= 0x30 && c <= 0x39) ||
        c === 0x2e || // .
        c === 0x5f || // _
        c === 0x7e || // ~
        c === 0x3a || // :
        c === 0x40 || // @
        c === 0x2d // -
      )
    ) {
      return false;
    }
  }
  return true;
}

/** A DNS label of [a-z0-9-] (its characters are already checked): 1-63 chars, no "-" at either end, not "xn--…". */
function isLabel(label: string): boolean {
  const n = label.length;
  return n >= 1 && n <= 63 && label.charCodeAt(0) !== 0x2d && label.charCodeAt(n - 1) !== 0x2d && !label.startsWith('xn--');
}

/** The URL parser reads a host whose last label is all digits or 0x-hex as IPv4. */
function isNumericLabel(label: string): boolean {
  return NUMERIC_LABEL.test(label);
}

function isDotSegment(segment: string): boolean {
  return segment.length <= 6 && DOT_SEGMENT.test(segment);
}

/**
 * Checks an upstream URL or template once, when the config is loaded or an etcd
 * value arrives. Returns the URL itself when it has no placeholder, otherwise the
 * compiled template. Throws `TemplateError` with a message fit for a config error.
 */
export function compileTarget(source: string): string | CompiledTemplate {
  if (source.length > MAX_TARGET_LENGTH) throw new TemplateError(`longer than ${MAX_TARGET_LENGTH} chars`);
  if (!source.includes('{') && !source.includes('}')) {
    checkStaticUrl(source);
    return source;
  }
  return compileTemplate(source);
}

function checkStaticUrl(source: string): void {
  // The URL parser reads "ws:///x" as host "x"; a config should say what it means.
  if (!/^wss?:\/\/[^/?#]/i.test(source)) throw new TemplateError('must be a ws:// or wss:// URL with a host');
  let u: URL;
  try {
    u = new URL(source);
  } catch {
    throw new TemplateError('not a valid URL');
  }
  if (u.protocol !== 'ws:' && u.protocol !== 'wss:') throw new TemplateError('must be a ws:// or wss:// URL');
  if (u.hostname === '') throw new TemplateError('has no host');
  if (u.hash !== '' || source.includes('#')) throw new TemplateError('must not have a #fragment');
}

function compileTemplate(source: string): CompiledTemplate {
  const scheme = /^wss?:\/\//.exec(source);
  if (scheme === null) throw new TemplateError('a template must start with "ws://" or "wss://" (lowercase)');
  if (/[#\\\s]/.test(source)) throw new TemplateError('a template must not hold "#", "\\" or whitespace');
  const stray = source.replace(PLACEHOLDER, '');
  if (stray.includes('{') || stray.includes('}')) throw new TemplateError('unbalanced "{" or "}"');
  let usesSuffix = false;
  for (const m of source.matchAll(PLACEHOLDER)) {
    const name = m[1]!;
    if (!(PLACEHOLDERS as readonly string[]).includes(name)) {
      throw new TemplateError(`unknown placeholder {${name}}; known: ${PLACEHOLDERS.map((p) => `{${p}}`).join(', ')}`);
    }
    if (name === 'suffix') usesSuffix = true;
  }

  const rest = source.slice(scheme[0].length);
  const authorityEnd = firstIndexOf(rest, '/?');
  const authority = rest.slice(0, authorityEnd);
  const pathAndQuery = rest.slice(authorityEnd);
  const at = authority.lastIndexOf('@');
  const userinfo = at < 0 ? '' : authority.slice(0, at + 1);
  const hostPort = authority.slice(at + 1);
  if (hasPlaceholder(userinfo)) throw new TemplateError('a placeholder may not stand in the userinfo');

  const pieces: (string | Unit)[] = [scheme[0] + userinfo];
  let host: string;
  let port: string;
  if (hostPort.startsWith('[')) {
    const close = hostPort.indexOf(']');
    host = hostPort.slice(0, close + 1);
    port = hostPort.slice(close + 1);
    if (hasPlaceholder(host)) throw new TemplateError('a placeholder may not stand in an IPv6 host');
  } else {
    const colon = hostPort.indexOf(':');
    host = colon < 0 ? hostPort : hostPort.slice(0, colon);
    port = colon < 0 ? '' : hostPort.slice(colon);
  }
  if (hasPlaceholder(port)) throw new TemplateError('a placeholder may not stand in the port');
  if (port !== '' && !/^:\d{1,5}$/.test(port)) throw new TemplateError('the port must be digits');
  if (hasPlaceholder(host)) {
    const labels = host.split('.').map((label): string | Part[] => {
      const parts = splitParts(label);
      if (parts.length === 0) throw new TemplateError('the host has an empty label');
      for (const part of parts) {
        if (typeof part === 'string' && !HOST_LITERAL.test(part)) {
          throw new TemplateError(`the host's literal text "${part}" may only hold a-z, 0-9 and "-" when the host has a placeholder`);
        }
      }
      if (!hasPlaceholder(label)) {
        if (!HOST_LABEL.test(label) || label.endsWith('-')) throw new TemplateError(`the host label "${label}" is not a valid DNS label`);
        return label;
      }
      return parts;
    });
    pieces.push({ kind: 'host', labels });
  } else {
    pieces.push(host);
  }
  pieces.push(port);

  const q = pathAndQuery.indexOf('?');
  const path = q < 0 ? pathAndQuery : pathAndQuery.slice(0, q);
  const query = q < 0 ? '' : pathAndQuery.slice(q);
  path.split('/').forEach((segment, i) => {
    if (i > 0) pieces.push('/');
    pieces.push(hasPlaceholder(segment) ? { kind: 'path', parts: splitParts(segment) } : segment);
  });
  if (query !== '') {
    pieces.push('?');
    query
      .slice(1)
      .split('&')
      .forEach((param, i) => {
        if (i > 0) pieces.push('&');
        pieces.push(hasPlaceholder(param) ? { kind: 'query', parts: splitParts(param) } : param);
      });
  }

  const compiled = new CompiledTemplate(source, mergeLiterals(pieces), usesSuffix);
  // The template must make a valid URL, and keep its host, for a plain value.
  const sample = compiled.render('a0', 'b1');
  if (typeof sample !== 'string') throw new TemplateError(`cannot render even a plain clientId: ${sample.message}`);
  checkStaticUrl(sample);
  return compiled;
}

function hasPlaceholder(s: string): boolean {
  return s.includes('{');
}

function firstIndexOf(s: string, chars: string): number {
  for (let i = 0; i < s.length; i++) if (chars.includes(s[i]!)) return i;
  return s.length;
}

/** "oc-{clientId}x" → ["oc-", Slot.ClientId, "x"]. */
function splitParts(text: string): Part[] {
  const parts: Part[] = [];
  let last = 0;
  for (const m of text.matchAll(PLACEHOLDER)) {
    if (m.index > last) parts.push(text.slice(last, m.index));
    parts.push(m[1] === 'clientId' ? Slot.ClientId : Slot.Suffix);
    last = m.index + m[0].length;
  }
  if (last < text.length) parts.push(text.slice(last));
  return parts;
}

function mergeLiterals(pieces: readonly (string | Unit)[]): (string | Unit)[] {
  const out: (string | Unit)[] = [];
  for (const piece of pieces) {
    const prev = out.length - 1;
    if (typeof piece === 'string') {
      if (piece === '') continue;
      if (prev >= 0 && typeof out[prev] === 'string') out[prev] += piece;
      else out.push(piece);
    } else {
      out.push(piece);
    }
  }
  return out;
}
