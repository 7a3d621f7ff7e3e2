/**
 * Which worker owns a clientId: FNV-1a (32-bit) of its UTF-16 code units,
 * modulo the worker count. Stable across restarts for a fixed worker count, so a
 * client that reconnects lands on the worker that holds its state.
 */
export function fnv1a32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export function shardOf(clientId: string, workers: number): number {
  return fnv1a32(clientId) % workers;
}
