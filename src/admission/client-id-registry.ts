/**
 * Who holds each clientId in this process, and what a new connection with a held
 * clientId may do (admission.duplicateClientId). The same clientId always reaches
 * the same worker, so a per-process registry is the whole instance's view.
 *
 *   takeover  the new connection wins; the caller closes the previous holders with
 *             4410 TAKEN_OVER;
 *   reject    the new connection is refused (HTTP 409, close 4409 for stratix.v1);
 *   allow     both live; nothing is tracked (no memory spent).
 *
 * The registry only decides and remembers; closing is the caller's, so it works for
 * any kind of holder (a verbatim Session, a reliable session after its HELLO).
 * Usage:
 *
 *   const d = registry.decide(clientId);
 *   if (d.kind === 'reject') refuse(409);
 *   else {
 *     registry.register(clientId, holder);
 *     // now, or once the new holder has shown it is alive (its upstream open):
 *     if (d.kind === 'takeover') for (const old of registry.takeOver(clientId, d.previous)) old.close(4410);
 *   }
 *   … when the holder ends: registry.unregister(clientId, holder);
 *
 * `decide` has no side effect but the rejection counter; `takeOver` marks the previous
 * holders (those still holding) as taken over and counts them; `register` adds (it
 * does not remove the previous holders: they leave through `unregister` when their
 * close completes, and meanwhile `decide` lists only holders not taken over). All
 * methods are O(1) for one holder per clientId.
 */
import type { DuplicatePolicy } from '../config/security-schema.js';

export type { DuplicatePolicy };

export type DuplicateDecision<T> =
  | { readonly kind: 'admit' }
  | { readonly kind: 'reject'; readonly holder: T }
  | { readonly kind: 'takeover'; readonly previous: readonly T[] };

const ADMIT = Object.freeze({ kind: 'admit' as const });

export class ClientIdRegistry<T extends object> {
  readonly policy: DuplicatePolicy;
  /** One holder (the common case) or several (while taken-over ones finish closing). */
  readonly #holders = new Map<string, T | T[]>();
  /** Holders already taken over: they no longer count as holding. */
  readonly #takenOver = new WeakSet<T>();
  #takeovers = 0;
  #rejections = 0;

  constructor(policy: DuplicatePolicy) {
    this.policy = policy;
  }

  /** clientIds held now. */
  get size(): number {
    return this.#holders.size;
  }

  /** Connections taken over / refused since start. */
  get takeovers(): number {
    return this.#takeovers;
  }

  get rejections(): number {
    return this.#rejections;
  }

  /** What a new connection for `clientId` may do. No side effect besides the rejection counter. */
  decide(clientId: string): DuplicateDecision<T> {
    if (this.policy === 'allow') return ADMIT;
    const live = this.#live(clientId);
    if (live.length === 0) return ADMIT;
    if (this.policy === 'reject') {
      this.#rejections++;
      return { kind: 'reject', holder: live[0]! };
    }
    return { kind: 'takeover', previous: live };
  }

  /**
   * Carries out a takeover decided for `clientId`: of `previous`, those that still hold
   * it (not gone, not taken over meanwhile) no longer count and are returned, for the
   * caller to close.
   */
  takeOver(clientId: string, previous: readonly T[]): T[] {
    const live = this.#live(clientId);
    const taken = previous.filter((h) => live.includes(h));
    this.#takeovers += taken.length;
    for (const h of taken) this.#takenOver.add(h);
    return taken;
  }

  /** `holder` now holds `clientId` (after an admit or a takeover decision). */
  register(clientId: string, holder: T): void {
    if (this.policy === 'allow') return;
    const cur = this.#holders.get(clientId);
    if (cur === undefined) this.#holders.set(clientId, holder);
    else if (Array.isArray(cur)) cur.push(holder);
    else this.#holders.set(clientId, [cur, holder]);
  }

  /** `holder` no longer holds `clientId` (idempotent; other holders stay). */
  unregister(clientId: string, holder: T): void {
    const cur = this.#holders.get(clientId);
    if (cur === undefined) return;
    if (cur === holder) {
      this.#holders.delete(clientId);
    } else if (Array.isArray(cur)) {
      const i = cur.indexOf(holder);
      if (i === -1) return;
      cur.splice(i, 1);
      if (cur.length === 1) this.#holders.set(clientId, cur[0]!);
      else if (cur.length === 0) this.#holders.delete(clientId);
    }
  }

  /** The holders of `clientId` that have not been taken over. */
  holders(clientId: string): readonly T[] {
    return this.#live(clientId);
  }

  #live(clientId: string): T[] {
    const cur = this.#holders.get(clientId);
    if (cur === undefined) return [];
    const all = Array.isArray(cur) ? cur : [cur];
    return all.filter((h) => !this.#takenOver.has(h));
  }
}
