/**
 * Strict base64 (RFC 4648 §4, padded, canonical) for the `data` of client DATA
 * envelopes, decoded straight into the upstream frame, from a string (an envelope
 * read with JSON.parse) or from the envelope's own bytes (read by the scanner).
 *
 * Node's decoder is lenient: it skips characters it does not know (and, on Node 22+,
 * whitespace), takes base64url's `-` and `_`, stops at an inner `=`, and on a
 * two-byte string may read only the low byte of each character. So, besides the
 * decoded length (anything skipped or cut makes it shorter), a string must be ASCII
 * (its UTF-8 length is its length), hold no `-`, `_` or inner `=`, and end in
 * canonical padding bits. Bytes are decoded here, character by character, up to
 * `NATIVE_FROM_CHARS`; longer runs go through Node's decoder with the same checks.
 *
 * Gateway envelopes are encoded the other way (`encodeBase64Into`) into their frame.
 */

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const PAD = 0x3d; // '='

/** The 6-bit value of each byte (255: not a base64 character, `=` included). */
const VALUE = (() => {
  const t = new Uint8Array(256).fill(255);
  for (let i = 0; i < 64; i++) t[ALPHABET.charCodeAt(i)] = i;
  return t;
})();

const CHAR = (() => {
  const t = new Uint8Array(64);
  for (let i = 0; i < 64; i++) t[i] = ALPHABET.charCodeAt(i);
  return t;
})();

/** From this many characters on, Node's native decoder is faster than the loop below. */
const NATIVE_FROM_CHARS = 4096;
/** From this many bytes on, Node's native encoder (and one copy) is faster than the loop below. */
const NATIVE_FROM_BYTES = 3072;

/** How many `=` end string `s` (0, 1 or 2: only the last two count). */
function padOfString(s: string): number {
  const n = s.length;
  if (n === 0 || s.charCodeAt(n - 1) !== PAD) return 0;
  return s.charCodeAt(n - 2) === PAD ? 2 : 1;
}

/** The same for the characters `src[start, end)`. */
function padOfBytes(src: Buffer, start: number, end: number): number {
  if (end === start || src[end - 1] !== PAD) return 0;
  return src[end - 2] === PAD ? 2 : 1;
}

/**
 * The decoded length of base64 `s` (from its length and padding), or -1 when its
 * length is not a multiple of 4. Whether it is strict base64 is decided by
 * `decodeBase64Into`.
 */
export function base64DecodedLength(s: string): number {
  const n = s.length;
  if (n % 4 !== 0) return -1;
  return (n / 4) * 3 - padOfString(s);
}

/** The same for the characters `src[start, end)`. */
export function base64DecodedLengthOf(src: Buffer, start: number, end: number): number {
  const n = end - start;
  if (n % 4 !== 0) return -1;
  return (n / 4) * 3 - padOfBytes(src, start, end);
}

/**
 * Decodes `s` into `out` at `offset` and checks it is the strict, canonical base64
 * of exactly `length` bytes (see the file's comment). No copy of `s` is made.
 */
export function decodeBase64Into(s: string, out: Buffer, offset: number, length: number): boolean {
  const n = s.length;
  if (length === 0) return n === 0;
  if (Buffer.byteLength(s, 'utf8') !== n) return false;
  const pad = padOfString(s);
  const eq = s.indexOf('=');
  if (eq !== -1 && eq < n - pad) return false;
  if (s.indexOf('-') !== -1 || s.indexOf('_') !== -1) return false;
  if (pad > 0 && (VALUE[s.charCodeAt(n - pad - 1)]! & (pad === 2 ? 0x0f : 0x03)) !== 0) return false;
  return out.write(s, offset, length, 'base64') === length;
}

/** `decodeBase64BytesInto`'s answers besides INVALID: the bytes are all ASCII (so valid UTF-8), or maybe not. */
export const DECODED_ASCII = 1;
export const DECODED = 0;
export const INVALID = -1;

/**
 * The same for the characters `src[start, end)` (whose decoded length, from
 * `base64DecodedLengthOf`, is `length`): every character must be in the alphabet,
 * `=` only as the last one or two, with canonical padding bits. Returns INVALID,
 * DECODED_ASCII when every decoded byte is below 0x80, else DECODED.
 */
export function decodeBase64BytesInto(src: Buffer, start: number, end: number, out: Buffer, offset: number, length: number): number {
  const n = end - start;
  if (length === 0) return n === 0 ? DECODED_ASCII : INVALID;
  if (n % 4 !== 0) return INVALID;
  if (n >= NATIVE_FROM_CHARS) return decodeBase64Into(src.toString('latin1', start, end), out, offset, length) ? DECODED : INVALID;
  const pad = padOfBytes(src, start, end);
  const full = end - (pad === 0 ? 0 : 4);
  let o = offset;
  let high = 0;
  for (let i = start; i < full; i += 4) {
    const a = VALUE[src[i]!]!;
    const b = VALUE[src[i + 1]!]!;
    const c = VALUE[src[i + 2]!]!;
    const d = VALUE[src[i + 3]!]!;
    if ((a | b | c | d) > 63) return INVALID;
    // The three bytes' top bits: a's 0x20, b's 0x08, c's 0x02.
    high |= (a & 0x20) | (b & 0x08) | (c & 0x02);
    out[o++] = (a << 2) | (b >> 4);
    out[o++] = ((b & 0x0f) << 4) | (c >> 2);
    out[o++] = ((c & 0x03) << 6) | d;
  }
  if (pad === 0) return high === 0 ? DECODED_ASCII : DECODED;
  const a = VALUE[src[full]!]!;
  const b = VALUE[src[full + 1]!]!;
  if ((a | b) > 63) return INVALID;
  high |= (a & 0x20) | (b & 0x08);
  out[o++] = (a << 2) | (b >> 4);
  if (pad === 2) return (b & 0x0f) !== 0 ? INVALID : high === 0 ? DECODED_ASCII : DECODED;
  const c = VALUE[src[full + 2]!]!;
  if (c > 63 || (c & 0x03) !== 0) return INVALID;
  out[o] = ((b & 0x0f) << 4) | (c >> 2);
  return high === 0 ? DECODED_ASCII : DECODED;
}

/** The base64 length of `n` bytes (padded). */
export function base64EncodedLength(n: number): number {
  return 4 * Math.ceil(n / 3);
}

/** Writes the base64 of `src` (padded) into `out` at `offset`; returns the offset after it. */
export function encodeBase64Into(src: Buffer, out: Buffer, offset: number): number {
  const n = src.length;
  if (n >= NATIVE_FROM_BYTES) return offset + out.write(src.toString('base64'), offset, 'latin1');
  let o = offset;
  const whole = n - (n % 3);
  for (let i = 0; i < whole; i += 3) {
    const v = (src[i]! << 16) | (src[i + 1]! << 8) | src[i + 2]!;
    out[o++] = CHAR[v >> 18]!;
    out[o++] = CHAR[(v >> 12) & 63]!;
    out[o++] = CHAR[(v >> 6) & 63]!;
    out[o++] = CHAR[v & 63]!;
  }
  if (whole === n) return o;
  const a = src[whole]!;
  const b = whole + 1 < n ? src[whole + 1]! : 0;
  out[o++] = CHAR[a >> 2]!;
  out[o++] = CHAR[((a & 0x03) << 4) | (b >> 4)]!;
  out[o++] = whole + 1 < n ? CHAR[(b & 0x0f) << 2]! : PAD;
  out[o++] = PAD;
  return o;
}
