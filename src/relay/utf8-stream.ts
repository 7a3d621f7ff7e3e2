/**
 * Validates a text message as UTF-8 piece by piece, as its frames (and the
 * socket chunks they arrive in) come, without holding the message. A code point
 * cut between two pieces is carried over: at most 3 bytes, packed with their
 * count into one small integer, so a leg keeps its validator state in a plain
 * number field (no object, no buffer per leg).
 *
 * It fails fast (RFC 6455 §8.1; Autobahn 6.4): a piece is invalid as soon as the
 * bytes so far cannot begin any valid string, also when a code point is cut after
 * a byte that already rules it out (a lead byte that never starts one, or a second
 * byte outside the lead's range: overlongs, surrogates, beyond U+10FFFF; RFC 3629 §4).
 *
 * State layout (always < 2^29, a V8 small integer):
 *   bits 0-23  the pending bytes, big-endian
 *   bits 24-25 how many are pending (0-3)
 *   bits 26-28 the length of the sequence they start (2-4)
 */
import { isUtf8 } from 'node:buffer';

/** The state at the start of a message. */
export const UTF8_START = 0;
/** The state after invalid input; stays so until the next message. */
export const UTF8_INVALID = -1;

const scratch = Buffer.alloc(4);

/** Validates the next piece from `state`; `last` ends the message. Returns the new state or UTF8_INVALID. */
export function utf8Step(state: number, piece: Buffer, last: boolean): number {
  if (state < 0) return UTF8_INVALID;
  let data = piece;
  let carryLen = (state >>> 24) & 3;
  if (carryLen > 0) {
    let carry = state & 0xffffff;
    const seq = (state >>> 26) & 7;
    const need = seq - carryLen;
    const take = Math.min(need, data.length);
    for (let i = 0; i < take; i++) {
      if ((data[i]! & 0xc0) !== 0x80) return UTF8_INVALID;
      carry = (carry << 8) | data[i]!; // up to 4 bytes: the int32 wraps, the bytes stay exact
      carryLen++;
    }
    data = data.subarray(take);
    if (take < need) {
      if (last || !viableStart((carry >>> (8 * (carryLen - 1))) & 0xff, (carry >>> (8 * (carryLen - 2))) & 0xff, carryLen)) return UTF8_INVALID;
      return (seq << 26) | (carryLen << 24) | carry;
    }
    for (let i = 0; i < carryLen; i++) scratch[i] = (carry >>> (8 * (carryLen - 1 - i))) & 0xff;
    if (!isUtf8(scratch.subarray(0, carryLen))) return UTF8_INVALID;
  }
  const split = completeLength(data);
  if (split !== 0 && !isUtf8(split === data.length ? data : data.subarray(0, split))) return UTF8_INVALID;
  if (split === data.length) return UTF8_START;
  carryLen = data.length - split;
  if (last || !viableStart(data[split]!, carryLen > 1 ? data[split + 1]! : 0, carryLen)) return UTF8_INVALID;
  // An incomplete sequence at the end (at most 3 bytes) that can still become a code point: carry it over.
  let carry = 0;
  for (let i = split; i < data.length; i++) carry = (carry << 8) | data[i]!;
  return (seqLength(data[split]!) << 26) | (carryLen << 24) | carry;
}

/**
 * Whether a sequence cut short after `n` bytes (`lead`, then `second` when n ≥ 2;
 * the bytes after the lead are continuation bytes) can still become a code point.
 */
function viableStart(lead: number, second: number, n: number): boolean {
  if (lead < 0xc2 || lead > 0xf4) return false;
  if (n < 2) return true;
  if (lead === 0xe0) return second >= 0xa0; // else overlong
  if (lead === 0xed) return second <= 0x9f; // else a surrogate
  if (lead === 0xf0) return second >= 0x90; // else overlong
  if (lead === 0xf4) return second <= 0x8f; // else beyond U+10FFFF
  return true;
}

/** The sequence length announced by a lead byte (invalid leads count as 1; isUtf8 rejects them). */
function seqLength(lead: number): number {
  return lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
}

/** Bytes of `b` that end on a code point boundary (an incomplete trailing sequence is left out). */
function completeLength(b: Buffer): number {
  const end = b.length;
  let i = end - 1;
  let back = 0;
  while (i >= 0 && back < 3 && (b[i]! & 0xc0) === 0x80) {
    i--;
    back++;
  }
  if (i < 0) return end;
  const need = seqLength(b[i]!);
  return end - i < need && need > 1 ? i : end;
}
