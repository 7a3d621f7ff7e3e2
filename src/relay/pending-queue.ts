/**
 * Client messages that arrive before the upstream is open. Bounded by count and
 * bytes; when full the session pauses the client's reads instead of dropping.
 * Lives only while the upstream connects, then is dropped.
 */
export class PendingQueue {
  readonly #maxMessages: number;
  readonly #maxBytes: number;
  readonly #data: Buffer[] = [];
  readonly #binary: boolean[] = [];
  #bytes = 0;

  constructor(maxMessages: number, maxBytes: number) {
    this.#maxMessages = maxMessages;
    this.#maxBytes = maxBytes;
  }

  get length(): number {
    return this.#data.length;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** True once either bound is reached; the caller stops reading. */
  get full(): boolean {
    return this.#data.length >= this.#maxMessages || this.#bytes >= this.#maxBytes;
  }

  /**
   * Adds a message. The caller pauses reads when `full` turns true, so at most one
   * message more than the bound (the one already being parsed) can arrive.
   */
  push(data: Buffer, isBinary: boolean): void {
    this.#data.push(data);
    this.#binary.push(isBinary);
    this.#bytes += data.length;
  }

  dataAt(i: number): Buffer {
    return this.#data[i]!;
  }

  binaryAt(i: number): boolean {
    return this.#binary[i]!;
  }
}
