/**
 * The messages sent and not yet answered, in send order: queued while offline,
 * written on a connection, re-written after a resume that recovered the session.
 * Bounded in messages and payload bytes; past a bound, send() is refused at once
 * (nothing already queued is dropped).
 */
import { ClientErrorCodes, SendRefusedError } from './errors.js';

export interface Pending {
  readonly messageId: string;
  /** The DATA envelope, built once. */
  readonly text: string;
  /** Payload bytes (what the bound counts). */
  readonly bytes: number;
  /** The connection it was last written on (0: none yet). */
  sentOn: number;
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
}

export class Outbox {
  readonly maxMessages: number;
  readonly maxBytes: number;
  readonly #entries = new Map<string, Pending>();
  #bytes = 0;

  constructor(maxMessages: number, maxBytes: number) {
    this.maxMessages = maxMessages;
    this.maxBytes = maxBytes;
  }

  get size(): number {
    return this.#entries.size;
  }

  get bytes(): number {
    return this.#bytes;
  }

  has(messageId: string): boolean {
    return this.#entries.has(messageId);
  }

  /** Why a message of `bytes` cannot be queued now, or undefined when it can. */
  refusal(bytes: number): SendRefusedError | undefined {
    if (this.#entries.size >= this.maxMessages) {
      return new SendRefusedError(ClientErrorCodes.QUEUE_FULL.code, `the send queue is full: ${this.#entries.size} messages not yet acknowledged (queue.maxMessages ${this.maxMessages})`);
    }
    if (this.#bytes + bytes > this.maxBytes) {
      return new SendRefusedError(ClientErrorCodes.QUEUE_FULL.code, `the send queue is full: ${this.#bytes} + ${bytes} payload bytes would exceed queue.maxBytes ${this.maxBytes}`);
    }
    return undefined;
  }

  add(p: Pending): void {
    this.#entries.set(p.messageId, p);
    this.#bytes += p.bytes;
  }

  /** Takes the message `messageId` out (its answer came); undefined if it is not waiting. */
  take(messageId: string): Pending | undefined {
    const p = this.#entries.get(messageId);
    if (p === undefined) return undefined;
    this.#entries.delete(messageId);
    this.#bytes -= p.bytes;
    return p;
  }

  /** Every waiting message, in send order. */
  values(): IterableIterator<Pending> {
    return this.#entries.values();
  }

  /** Takes every message out (to reject them). */
  drain(): Pending[] {
    const all = [...this.#entries.values()];
    this.#entries.clear();
    this.#bytes = 0;
    return all;
  }
}
