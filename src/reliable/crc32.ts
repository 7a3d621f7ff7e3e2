/**
 * CRC-32 (ISO-HDLC, zlib's) of a byte range, in JavaScript: for the log's small
 * record bodies, where a call of `zlib.crc32` costs more than the bytes (and needs a
 * subarray to say which bytes). Long runs go to zlib's, continuing from this one.
 */
const TABLE = (() => {
  const t = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  return t;
})();

/** The CRC-32 of `buf[start, end)`, continuing from `crc` (a previous result; 0 to start). */
export function crc32Of(buf: Uint8Array, start: number, end: number, crc = 0): number {
  let c = ~crc;
  for (let i = start; i < end; i++) c = TABLE[(c ^ buf[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}
