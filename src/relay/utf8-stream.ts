/**
 * Validates a text message as UTF-8 piece by piece, as its frames (and the
 * socket chunks they arrive in) come, without holding the message: a code point
 * cut between two pieces is carried over (at most 3 bytes, packed in a number,
 * so an idle leg holds no buffer for it).
 */
import { isUtf8 } from 'node:buffer';

const scratch = Buffer.alloc(4);

export class Utf8Stream {
  /** Up to 3 pending bytes, big-endian in the low 24 bits. */
  #carry = 0;
  #carryLen = 0;
  #carryNeed = 0;

  reset(): void {
    this.#carryLen = 0;
  }

  /** Validates the next piece; `last` ends the message. False once invalid. */
  push(piece: Buffer, last: boolean): boolean {
    let data = piece;
    if (this.#carryLen > 0) {
      const need = this.#carryNeed - this.#carryLen;
      const take = Math.min(need, data.length);
      for (let i = 0; i < take; i++) {
        if ((data[i]! & 0xc0) !== 0x80) return false;
        this.#carry = (this.#carry << 8) | data[i]!;
        this.#carryLen++;
      }
      data = data.subarray(take);
      if (take < need) return !last;
      const n = this.#carryLen;
      for (let i = 0; i < n; i++) scratch[i] = (this.#carry >>> (8 * (n - 1 - i))) & 0xff;
      this.#carryLen = 0;
      this.#carry = 0;
      if (!isUtf8(scratch.subarray(0, n))) return false;
    }
    const split = completeLength(data);
    if (split < data.length) {
      if (last) return false;
      this.#carryNeed = seqLength(data[split]!);
      for (let i = split; i < data.length; i++) {
        this.#carry = (this.#carry << 8) | data[i]!;
        this.#carryLen++;
      }
    }
    return split === 0 || isUtf8(split === data.length ? data : data.subarray(0, split));
  }
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
