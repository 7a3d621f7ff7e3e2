/**
 * Base64 (RFC 4648 §4, padded), the encoding of `data` in stratix.v1 envelopes,
 * written here because no platform API covers every runtime the SDK runs on
 * (`Uint8Array.toBase64` is too new, `btoa` takes binary strings, Buffer is Node's).
 * Table-driven; the output is built as ASCII bytes and decoded once, which is fast
 * for a 25 MiB payload too.
 */
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const ENC = new Uint8Array(64);
const DEC = new Int16Array(128).fill(-1);
for (let i = 0; i < 64; i++) {
  ENC[i] = ALPHABET.charCodeAt(i);
  DEC[ALPHABET.charCodeAt(i)] = i;
}
const PAD = 0x3d; // '='
const ascii = new TextDecoder();

export function encodeBase64(bytes: Uint8Array): string {
  const n = bytes.length;
  const out = new Uint8Array(Math.ceil(n / 3) * 4);
  let o = 0;
  let i = 0;
  for (; i + 2 < n; i += 3) {
    const v = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out[o++] = ENC[v >>> 18]!;
    out[o++] = ENC[(v >>> 12) & 63]!;
    out[o++] = ENC[(v >>> 6) & 63]!;
    out[o++] = ENC[v & 63]!;
  }
  if (i < n) {
    const two = i + 1 < n;
    const v = (bytes[i]! << 16) | (two ? bytes[i + 1]! << 8 : 0);
    out[o++] = ENC[v >>> 18]!;
    out[o++] = ENC[(v >>> 12) & 63]!;
    out[o++] = two ? ENC[(v >>> 6) & 63]! : PAD;
    out[o++] = PAD;
  }
  return ascii.decode(out);
}

/** Decodes strict base64; throws a TypeError on anything else (a wrong length, a character outside the alphabet, misplaced padding). */
export function decodeBase64(s: string): Uint8Array {
  const n = s.length;
  if (n % 4 !== 0) throw new TypeError('base64 length is not a multiple of 4');
  if (n === 0) return new Uint8Array(0);
  const pad = s.charCodeAt(n - 1) === PAD ? (s.charCodeAt(n - 2) === PAD ? 2 : 1) : 0;
  const out = new Uint8Array((n / 4) * 3 - pad);
  let o = 0;
  const full = pad === 0 ? n : n - 4;
  for (let i = 0; i < full; i += 4) {
    const v = (sextet(s, i) << 18) | (sextet(s, i + 1) << 12) | (sextet(s, i + 2) << 6) | sextet(s, i + 3);
    out[o++] = v >>> 16;
    out[o++] = (v >>> 8) & 255;
    out[o++] = v & 255;
  }
  if (pad > 0) {
    const v = (sextet(s, full) << 18) | (sextet(s, full + 1) << 12) | (pad === 1 ? sextet(s, full + 2) << 6 : 0);
    out[o++] = v >>> 16;
    if (pad === 1) out[o++] = (v >>> 8) & 255;
  }
  return out;
}

function sextet(s: string, i: number): number {
  const c = s.charCodeAt(i);
  const v = c < 128 ? DEC[c]! : -1;
  if (v < 0) throw new TypeError(`invalid base64 character at ${i}`);
  return v;
}
