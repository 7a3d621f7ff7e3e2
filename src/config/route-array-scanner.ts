/**
 * Finds the top-level `routes` array of a config file in its bytes, and the byte span
 * of each of its elements, without parsing the file: so that a million rules are
 * parsed one rule at a time (a few hundred bytes each) instead of as one JSON.parse of
 * the whole file, which holds the file as a string and every rule as an object at once.
 *
 * It understands just enough JSON (strings with escapes, nesting, `//` and block
 * comments as parseJsonc allows) to find the structure; anything it is not sure of
 * (not an object, no `routes` or two of them, `routes` not an array, a trailing or
 * double comma, unbalanced brackets) answers undefined, and the caller parses the
 * whole file the usual way, which reports the exact error.
 */

export interface RouteArrayLayout {
  /** Offset of the array's `[` and of its `]`. */
  readonly open: number;
  readonly close: number;
  /** Element i spans bytes [starts[i], ends[i]) (leading whitespace skipped). */
  readonly starts: Uint32Array;
  readonly ends: Uint32Array;
  readonly count: number;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const SLASH = 0x2f;
const STAR = 0x2a;
const NL = 0x0a;
const ROUTES = Buffer.from('"routes"');

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/** Offset just after the string that opens at `i`, or -1 when it never closes. */
function stringEnd(b: Buffer, i: number): number {
  for (let j = i + 1; ; ) {
    const q = b.indexOf(QUOTE, j);
    if (q === -1) return -1;
    let slashes = 0;
    for (let k = q - 1; k > i && b[k] === BACKSLASH; k--) slashes++;
    if (slashes % 2 === 0) return q + 1;
    j = q + 1;
  }
}

/** Offset after the comment at `i` (b[i] is '/'), or -1 when it is not a comment. */
function commentEnd(b: Buffer, i: number): number {
  if (b[i + 1] === SLASH) {
    const nl = b.indexOf(NL, i + 2);
    return nl === -1 ? b.length : nl + 1;
  }
  if (b[i + 1] === STAR) {
    const end = b.indexOf('*/', i + 2);
    return end === -1 ? -1 : end + 2;
  }
  return -1;
}

export function scanRouteArray(b: Buffer): RouteArrayLayout | undefined {
  let starts = new Uint32Array(1024);
  let ends = new Uint32Array(1024);
  let count = 0;
  let depth = 0;
  let expectKey = false;
  let routesKey = false;
  let open = -1;
  let close = -1;
  /** Inside the routes array: an element may start (after '[' or ','), or one is open since `started`. */
  let inRoutes = false;
  let pending = false;
  let afterComma = false;
  let started = -1;
  let top = false;
  const endElement = (at: number): void => {
    if (count === starts.length) {
      const s = new Uint32Array(count * 2);
      s.set(starts);
      starts = s;
      const e = new Uint32Array(count * 2);
      e.set(ends);
      ends = e;
    }
    starts[count] = started;
    ends[count] = at;
    count++;
    started = -1;
  };
  for (let i = 0; i < b.length; ) {
    const c = b[i]!;
    if (isSpace(c)) {
      i++;
      continue;
    }
    if (c === SLASH) {
      const end = commentEnd(b, i);
      if (end === -1) return undefined;
      i = end;
      continue;
    }
    if (depth === 0) {
      if (c !== 0x7b || top) return undefined; // not an object, or something after it
      top = true;
    }
    if (inRoutes && depth === 2 && pending) {
      if (c === 0x2c || c === 0x5d) {
        if (c === 0x2c || afterComma) return undefined; // `[,` `,,` or a trailing comma
      } else {
        started = i;
        pending = false;
        afterComma = false;
      }
    }
    if (c === QUOTE) {
      const end = stringEnd(b, i);
      if (end === -1) return undefined;
      if (depth === 1 && expectKey) {
        const isRoutes = end - i === ROUTES.length && b.compare(ROUTES, 0, ROUTES.length, i, end) === 0;
        if (isRoutes && open !== -1) return undefined; // two `routes`: JSON.parse would keep the last
        routesKey = isRoutes;
        expectKey = false;
      }
      i = end;
      continue;
    }
    if (c === 0x7b || c === 0x5b) {
      if (depth === 1 && routesKey) {
        if (c !== 0x5b) return undefined;
        open = i;
        inRoutes = true;
        pending = true;
        routesKey = false;
      } else if (depth === 1 && c === 0x7b && expectKey) return undefined;
      depth++;
      if (depth === 1) expectKey = true;
      i++;
      continue;
    }
    if (c === 0x7d || c === 0x5d) {
      if (inRoutes && depth === 2) {
        if (c !== 0x5d) return undefined;
        if (started !== -1) endElement(i);
        close = i;
        inRoutes = false;
      }
      depth--;
      if (depth < 0) return undefined;
      i++;
      continue;
    }
    if (c === 0x2c) {
      if (depth === 1) expectKey = true;
      else if (inRoutes && depth === 2) {
        endElement(i);
        pending = true;
        afterComma = true;
      }
      i++;
      continue;
    }
    if (c === 0x3a) {
      i++; // the value follows: `routes`' is checked when it opens
      continue;
    }
    // A literal (number, true, false, null): only its first byte matters here.
    if (depth === 1 && routesKey) return undefined; // `routes` is not an array
    i++;
  }
  if (depth !== 0 || open === -1 || close === -1) return undefined;
  return { open, close, starts, ends, count };
}
