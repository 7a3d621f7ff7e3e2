/**
 * Writing short ASCII into a Buffer in place: decimal digits of a non-negative
 * integer, a constant's bytes, a string's characters. A JavaScript loop over a few
 * dozen bytes costs less than a call into `Buffer.write` and builds no string
 * (`String(n)`, a template literal) on the way.
 */

/** The number of decimal digits of `n` (a non-negative safe integer). */
export function digitCount(n: number): number {
  let d = 1;
  for (let p = 10; p <= n; p *= 10) d++; // powers of ten are exact doubles this far
  return d;
}

/** Writes the `digits` (= digitCount(n)) decimal digits of `n` at `at`; returns the offset after them. */
export function writeDigits(out: Buffer, at: number, n: number, digits: number): number {
  let i = at + digits;
  // Eight digits at a time in integer arithmetic while n does not fit in an int32.
  while (n > 0x7fffffff) {
    const high = Math.floor(n / 1e8);
    let low = n - high * 1e8;
    for (let k = 0; k < 8; k++) {
      const q = (low / 10) | 0;
      out[--i] = 0x30 + low - q * 10;
      low = q;
    }
    n = high;
  }
  while (i > at) {
    const q = (n / 10) | 0;
    out[--i] = 0x30 + n - q * 10;
    n = q;
  }
  return at + digits;
}

/** Copies the bytes of `bytes` at `at`; returns the offset after them. */
export function writeBytes(out: Buffer, at: number, bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length; i++) out[at + i] = bytes[i]!;
  return at + bytes.length;
}

/** Writes `s`, whose characters are all below 0x100 (ASCII by construction), one byte each; returns the offset after it. */
export function writeLatin1(out: Buffer, at: number, s: string): number {
  for (let i = 0; i < s.length; i++) out[at + i] = s.charCodeAt(i);
  return at + s.length;
}
