/**
 * The version digest of a rule set: the sum, per lane, of a 2 x 32-bit digest of
 * every rule (kind, key, target) and of the default route. A sum does not depend on
 * the order rules were added in, and a rule's digest is added or subtracted in O(1),
 * so a table (hash-route-table.ts) and a packed rule set (packed-rules.ts) holding
 * the same rules show the same version, however each was built.
 *
 * A target's lanes are `hashBoth` of its spec: the URL or template string, or the
 * pool's JSON member list (`JSON.stringify(openclawGateways)`).
 */
import { fmix32, hashBoth, hex32 } from './string-hash.js';
import type { MatchKind } from './route-table.js';

const SALT_EXACT = 0x3c6ef372;
const SALT_PREFIX = 0x1b873593;
const SALT_DEFAULT = 0x7f4a7c15;

/** A running digest: add and remove rules, read the version. */
export class RouteDigest {
  a = 0;
  b = 0;
  readonly #lanes = new Int32Array(2);

  /** Adds (sign 1) or removes (sign -1) one rule: key lanes ka, kb (0, 0 for the default), target lanes ta, tb. */
  apply(kind: MatchKind, ka: number, kb: number, ta: number, tb: number, sign: 1 | -1): void {
    const salt = kind === 'exact' ? SALT_EXACT : kind === 'prefix' ? SALT_PREFIX : SALT_DEFAULT;
    const a = fmix32(Math.imul(fmix32(ka ^ salt), 0x9e3779b1) ^ ta);
    const b = fmix32(Math.imul(kb ^ salt, 0x85ebca77) ^ tb);
    this.a = (this.a + sign * a) | 0;
    this.b = (this.b + sign * b) | 0;
  }

  /** As `apply`, hashing the key (unless the default) and the target spec string here. */
  applySpec(kind: MatchKind, key: string, spec: string, sign: 1 | -1): void {
    const lanes = this.#lanes;
    let ka = 0;
    let kb = 0;
    if (kind !== 'default') {
      hashBoth(key, lanes);
      ka = lanes[0]!;
      kb = lanes[1]!;
    }
    hashBoth(spec, lanes);
    this.apply(kind, ka, kb, lanes[0]!, lanes[1]!, sign);
  }

  get version(): string {
    return hex32(this.a) + hex32(this.b);
  }
}
