/**
 * A reference UTF-8 checker for tests, written from the RFC 3629 §4 syntax
 * (no code shared with src/relay/utf8-stream.ts):
 *
 *   UTF8-1 = %x00-7F
 *   UTF8-2 = %xC2-DF UTF8-tail
 *   UTF8-3 = %xE0 %xA0-BF UTF8-tail / %xE1-EC 2( UTF8-tail ) /
 *            %xED %x80-9F UTF8-tail / %xEE-EF 2( UTF8-tail )
 *   UTF8-4 = %xF0 %x90-BF 2( UTF8-tail ) / %xF1-F3 3( UTF8-tail ) /
 *            %xF4 %x80-8F 2( UTF8-tail )
 *
 * A receiver that fails fast (RFC 6455 §8.1) must reject a text message as soon
 * as its bytes so far cannot begin any valid string; `viablePrefix` says where that is.
 */

/** The byte ranges each position of a sequence may take, by lead byte. */
function rangesFor(lead: number): Array<[number, number]> | undefined {
  const tail: [number, number] = [0x80, 0xbf];
  if (lead <= 0x7f) return [];
  if (lead >= 0xc2 && lead <= 0xdf) return [tail];
  if (lead === 0xe0) return [[0xa0, 0xbf], tail];
  if ((lead >= 0xe1 && lead <= 0xec) || lead === 0xee || lead === 0xef) return [tail, tail];
  if (lead === 0xed) return [[0x80, 0x9f], tail];
  if (lead === 0xf0) return [[0x90, 0xbf], tail, tail];
  if (lead >= 0xf1 && lead <= 0xf3) return [tail, tail, tail];
  if (lead === 0xf4) return [[0x80, 0x8f], tail, tail];
  return undefined; // 0x80-0xC1, 0xF5-0xFF never start a sequence
}

/**
 * How many leading bytes of `b` can begin a valid UTF-8 string: `b.length` when all
 * of it can (it may still end inside a sequence: see `isCompleteUtf8`), else the
 * index of the first byte that cannot.
 */
export function viablePrefix(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const ranges = rangesFor(b[i]!);
    if (ranges === undefined) return i;
    for (let k = 0; k < ranges.length; k++) {
      const at = i + 1 + k;
      if (at >= b.length) return b.length; // cut inside a sequence: viable so far
      const [lo, hi] = ranges[k]!;
      if (b[at]! < lo || b[at]! > hi) return at;
    }
    i += 1 + ranges.length;
  }
  return b.length;
}

/** Whether `b` ends on a sequence boundary (given that it is viable). */
function endsOnBoundary(b: Uint8Array): boolean {
  let i = 0;
  while (i < b.length) {
    const ranges = rangesFor(b[i]!);
    if (ranges === undefined) return false;
    i += 1 + ranges.length;
  }
  return i === b.length;
}

/** Whether `b` is a complete, valid UTF-8 string. */
export function isCompleteUtf8(b: Uint8Array): boolean {
  return viablePrefix(b) === b.length && endsOnBoundary(b);
}

/** 'valid', 'truncated' (viable, but ends inside a sequence) or 'invalid'. */
export function utf8Verdict(b: Uint8Array): 'valid' | 'truncated' | 'invalid' {
  if (viablePrefix(b) < b.length) return 'invalid';
  return endsOnBoundary(b) ? 'valid' : 'truncated';
}
