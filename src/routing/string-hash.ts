/**
 * Fast non-cryptographic 32-bit hashes for the route table and rendezvous hashing.
 * Nothing here is a security boundary: every hash hit is verified by comparing strings.
 *
 * FNV-1a is used because its state after the first L characters IS the hash of the
 * L-character prefix, so one pass over a clientId yields the hash of every prefix.
 */

export const FNV_OFFSET = 0x811c9dc5 | 0;
export const FNV_PRIME = 0x01000193;

/** A second, independent lane (different offset and multiplier), for 64-bit digests. */
const ALT_OFFSET = 0x9747b28c | 0;
const ALT_PRIME = 0x5bd1e995;

/** FNV-1a over UTF-16 code units (clientIds are ASCII). */
export function fnv1a(s: string): number {
  let h = FNV_OFFSET;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), FNV_PRIME);
  return h;
}

/** The second lane; only used for table version digests, never on the lookup path. */
export function altHash(s: string): number {
  let h = ALT_OFFSET;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), ALT_PRIME) ^ (h >>> 15);
  return h;
}

/**
 * FNV-1a over `s`, with the state after each of its first `states.length - 1` chars in
 * `states` (states[L] = the hash of the L-char prefix): one pass for every prefix probe.
 */
export function fnv1aPrefixes(s: string, states: Int32Array): number {
  const n = s.length;
  const upto = Math.min(n, states.length - 1);
  let h = FNV_OFFSET;
  states[0] = h;
  for (let i = 0; i < upto; i++) {
    h = Math.imul(h ^ s.charCodeAt(i), FNV_PRIME);
    states[i + 1] = h;
  }
  for (let i = upto; i < n; i++) h = Math.imul(h ^ s.charCodeAt(i), FNV_PRIME);
  return h;
}

/** Both lanes in one pass: out[0] = fnv1a(s), out[1] = altHash(s). */
export function hashBoth(s: string, out: Int32Array): void {
  let a = FNV_OFFSET;
  let b = ALT_OFFSET;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    a = Math.imul(a ^ c, FNV_PRIME);
    b = Math.imul(b ^ c, ALT_PRIME) ^ (b >>> 15);
  }
  out[0] = a;
  out[1] = b;
}

/** MurmurHash3's finaliser: a bijection on 32 bits with full avalanche. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h;
}

/** 8 lowercase hex digits of a 32-bit value. */
export function hex32(h: number): string {
  return (h >>> 0).toString(16).padStart(8, '0');
}

/** `hashBoth` of the bytes [start, end) read as one char each (latin1: for ASCII text, the same as the string's). */
export function hashBothBytes(b: Uint8Array, start: number, end: number, out: Int32Array): void {
  let a = FNV_OFFSET;
  let h = ALT_OFFSET;
  for (let i = start; i < end; i++) {
    const c = b[i]!;
    a = Math.imul(a ^ c, FNV_PRIME);
    h = Math.imul(h ^ c, ALT_PRIME) ^ (h >>> 15);
  }
  out[0] = a;
  out[1] = h;
}
