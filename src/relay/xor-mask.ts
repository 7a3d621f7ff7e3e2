/**
 * XOR of a byte range with a 32-bit WebSocket masking key, in place. The key is
 * given already rotated to the range's phase (see `rotateKey`). Native
 * (bufferutil) for larger ranges, a plain loop below the call's break-even.
 */
import bufferutil from 'bufferutil';

const NATIVE_MIN = 32;
const scratch = Buffer.alloc(4);

export function xorInPlace(buf: Buffer, start: number, end: number, key: number): void {
  if (key === 0 || end <= start) return;
  if (end - start < NATIVE_MIN) {
    const k0 = key >>> 24;
    const k1 = (key >>> 16) & 0xff;
    const k2 = (key >>> 8) & 0xff;
    const k3 = key & 0xff;
    for (let i = start, j = 0; i < end; i++, j++) {
      const m = j & 3;
      buf[i]! ^= m === 0 ? k0 : m === 1 ? k1 : m === 2 ? k2 : k3;
    }
    return;
  }
  scratch.writeUInt32BE(key >>> 0, 0);
  bufferutil.unmask(buf.subarray(start, end), scratch);
}

/** The key as seen from payload byte `phase` on (the mask repeats every 4 bytes). */
export function rotateKey(key: number, phase: number): number {
  const r = (phase & 3) * 8;
  return r === 0 ? key >>> 0 : ((key << r) | (key >>> (32 - r))) >>> 0;
}
