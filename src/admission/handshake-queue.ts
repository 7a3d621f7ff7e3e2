/**
 * The instance's handshake capacity, measured instead of configured: the primary
 * counts the handshakes it has handed to each worker that the worker has not yet
 * taken (they wait in the IPC channel while the worker's event loop is busy). When
 * a worker's queue is full, new handshakes for it are refused at once with 503 and
 * a Retry-After spread over the backlog at the rate the workers actually take
 * handshakes, instead of queueing for tens of seconds (docs/security.md, "Overload").
 *
 * A fixed handshake rate (admission.instance.handshakesPerSecond) cannot know what
 * a machine sustains while it also relays traffic; the queue can. The owner (a
 * worker index) reports what it took (`taken`, batched once per event-loop turn),
 * and a dead owner's queue is forgotten (`ownerGone`).
 */
import { handshakeError, type HandshakeError } from '../errors.js';
import { RetryAfterSpread } from './retry-after.js';
import type { Clock } from './token-bucket.js';

export interface HandshakeQueueOptions {
  /** Handshakes handed to one owner and not yet taken; at the bound, 503. 0 = no bound. */
  readonly maxPerOwner: number;
  readonly retryAfterMaxSeconds: number;
  readonly now: Clock;
  readonly random?: () => number;
}

export class HandshakeQueue {
  readonly #max: number;
  readonly #now: Clock;
  readonly #queued = new Map<number, number>();
  readonly #spread: RetryAfterSpread;
  #total = 0;
  /** Handshakes taken in the current and the previous one-second window (the measured rate). */
  #windowStart = 0;
  #takenNow = 0;
  #takenBefore = 0;

  constructor(opts: HandshakeQueueOptions) {
    this.#max = opts.maxPerOwner;
    this.#now = opts.now;
    this.#spread = new RetryAfterSpread({ ratePerSecond: () => this.ratePerSecond, maxSeconds: opts.retryAfterMaxSeconds, now: opts.now, random: opts.random });
  }

  /** Handshakes handed over and not yet taken, over all owners. */
  get queued(): number {
    return this.#total;
  }

  /** Handshakes taken per second: the last full second's count, or this second's if already higher. */
  get ratePerSecond(): number {
    this.#roll();
    return Math.max(this.#takenBefore, this.#takenNow);
  }

  /** The refusal for one more handshake to `owner`, or undefined to hand it over. */
  check(owner: number): HandshakeError | undefined {
    if (this.#max === 0 || (this.#queued.get(owner) ?? 0) < this.#max) return undefined;
    return handshakeError('OVERLOADED', undefined, { 'Retry-After': String(this.#spread.next()) });
  }

  /** A handshake was handed to `owner`. */
  sent(owner: number): void {
    this.#queued.set(owner, (this.#queued.get(owner) ?? 0) + 1);
    this.#total++;
  }

  /** `owner` took `n` of the handshakes handed to it (or could not send them: the hand-off failed). */
  taken(owner: number, n: number): void {
    const held = this.#queued.get(owner) ?? 0;
    const k = Math.min(n, held);
    if (k <= 0) return;
    this.#queued.set(owner, held - k);
    this.#total -= k;
    this.#roll();
    this.#takenNow += k;
  }

  /** `owner` is gone: what it had not taken died with it. */
  ownerGone(owner: number): void {
    this.#total -= this.#queued.get(owner) ?? 0;
    this.#queued.delete(owner);
  }

  #roll(): void {
    const now = this.#now();
    const elapsed = now - this.#windowStart;
    if (elapsed < 1_000) return;
    this.#takenBefore = elapsed >= 2_000 ? 0 : this.#takenNow;
    this.#takenNow = 0;
    this.#windowStart = now;
  }
}
