declare module 'bufferutil' {
  /** XORs `buffer` in place with the 4-byte `mask`, starting at mask byte 0. */
  export function unmask(buffer: Buffer, mask: Buffer): void;
  export function mask(source: Buffer, mask: Buffer, output: Buffer, offset: number, length: number): void;
}
