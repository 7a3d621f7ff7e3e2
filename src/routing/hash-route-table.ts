/**
 * The route table for up to millions of rules (the contract is in `route-table.ts`).
 *
 * Layout: two `KeyIndex`es (exact clientIds; prefixes of every length), whose values
 * are the rule's target: the URL string itself for a static rule, or an interned
 * template/pool object shared by every rule with the same spec. There is no object
 * per rule.
 *
 * Lookup: one FNV-1a pass over the clientId gives the hash of every prefix of it;
 * then one probe in the exact index, then one probe per distinct prefix length
 * (longest first, only lengths <= the clientId's), then the default. Probes compare
 * stored 32-bit hashes before strings, so a probe for an absent length costs a few
 * array reads.
 *
 * Version: the sum, per lane, of a 2 x 32-bit digest of every rule (kind, key,
 * target) and of the default route. It is updated in O(1) by put/delete, does not
 * depend on the order rules were added in, and so is the same on every worker and
 * every instance that holds the same rules.
 */
import type {
  DefaultRoute,
  MatchKind,
  RouteExplanation,
  RouteKey,
  RouteMatch,
  RouteRule,
  RouteTable,
} from './route-table.js';
import { MAX_CLIENT_ID_LENGTH } from './client-id.js';
import { KeyIndex } from './key-index.js';
import { explainRoute, targetFields } from './route-explain.js';
import { matchTarget, PoolTarget, Resolution, TemplateTarget, usesSuffix, type RouteTarget } from './route-target.js';
import { RouteDigest } from './route-digest.js';
import { fnv1a, fnv1aPrefixes, hashBoth } from './string-hash.js';
import { compileTarget, CompiledTemplate, TemplateError } from './target-template.js';
import type { UpstreamHealthView } from './upstream-health.js';

export interface RouteTableOptions {
  /** Marks pool members down; without it no member is ever skipped. */
  readonly health?: UpstreamHealthView | undefined;
  /** An external revision to report (e.g. the etcd revision the rules were read at). */
  readonly revision?: string | number | undefined;
  /** Size hints: exact and prefix rules expected, so that loading them never grows the indexes. */
  readonly expectedExact?: number | undefined;
  readonly expectedPrefix?: number | undefined;
}

export interface ChangeOptions {
  /** The external revision this change brings the table to (e.g. the etcd revision). */
  readonly revision?: string | number | undefined;
}

type Index = KeyIndex<RouteTarget>;

export class HashRouteTable implements RouteTable {
  readonly #exact: Index;
  readonly #prefix: Index;
  /** Prefix rules per prefix length. */
  readonly #lengthCount = new Int32Array(MAX_CLIENT_ID_LENGTH + 1);
  /** Distinct prefix lengths in use, longest first. */
  #lengths = new Int32Array(0);
  #default: RouteTarget | undefined = undefined;
  readonly #shared = new Map<string, TemplateTarget | PoolTarget>();
  readonly #health: UpstreamHealthView | undefined;
  #revision: string | undefined;
  readonly #sum = new RouteDigest();
  #version: string | undefined = undefined;
  #duplicates = 0;
  /** Scratch: FNV state after each prefix length of the clientId being resolved. */
  readonly #prefixHashes = new Int32Array(MAX_CLIENT_ID_LENGTH + 1);
  readonly #resolution = new Resolution();
  /** Scratch for the two hash lanes of a key / of a target URL. */
  readonly #lanes = new Int32Array(2);
  readonly #targetLanes = new Int32Array(2);

  constructor(opts: RouteTableOptions = {}) {
    this.#exact = new KeyIndex(opts.expectedExact ?? 0);
    this.#prefix = new KeyIndex(opts.expectedPrefix ?? 0);
    this.#health = opts.health;
    this.#revision = opts.revision === undefined ? undefined : String(opts.revision);
  }

  get version(): string {
    return (this.#version ??= this.#sum.version);
  }

  get size(): number {
    return this.#exact.size + this.#prefix.size;
  }

  get revision(): string | undefined {
    return this.#revision;
  }

  /**
   * Allocates one block of index memory ahead of the inserts that would allocate it
   * on the fly; false when there is nothing left to allocate. Time-sliced builders
   * call it between yields, so a million-rule build never allocates in one burst.
   */
  prepareStep(): boolean {
    return this.#exact.prepareStep() || this.#prefix.prepareStep();
  }

  /** True while an index is moving into a bigger generation (256 old slots per change, so for slots/256 changes). */
  get growing(): boolean {
    return this.#exact.growing || this.#prefix.growing;
  }

  /** Rules skipped while building because an earlier rule had the same key. */
  get duplicates(): number {
    return this.#duplicates;
  }

  /** Distinct templates and pools in use (shared by all their rules). */
  get sharedTargets(): number {
    return this.#shared.size;
  }

  /** Distinct prefix lengths in use: one probe each on a lookup that reaches them. */
  get prefixLengths(): number {
    return this.#lengths.length;
  }

  get hasDefault(): boolean {
    return this.#default !== undefined;
  }

  resolve(clientId: string): RouteMatch | undefined {
    const n = clientId.length;
    const hashes = this.#prefixHashes;
    const h = fnv1aPrefixes(clientId, hashes);

    if (n <= MAX_CLIENT_ID_LENGTH) {
      const t = this.#exact.get(h, clientId);
      if (t !== undefined) return this.#match(t, 'exact', clientId, clientId, '', h);
    }
    const lengths = this.#lengths;
    const prefix = this.#prefix;
    for (let k = 0; k < lengths.length; k++) {
      const len = lengths[k]!;
      if (len > n) continue;
      const t = prefix.getPrefix(hashes[len]!, clientId, len);
      if (t !== undefined) return this.#match(t, 'prefix', prefix.foundKey, clientId, usesSuffix(t) ? clientId.slice(len) : '', h);
    }
    const d = this.#default;
    return d === undefined ? undefined : this.#match(d, 'default', '', clientId, clientId, h);
  }

  #match(t: RouteTarget, kind: MatchKind, key: string, clientId: string, suffix: string, clientHash: number): RouteMatch | undefined {
    return matchTarget(t, kind, key, clientId, suffix, clientHash, this.#health, this.#resolution);
  }


  explain(clientId: string): RouteExplanation {
    const exact = this.#exact;
    const prefix = this.#prefix;
    return explainRoute(
      {
        version: this.version,
        revision: this.#revision,
        health: this.#health,
        prefixLengths: this.#lengths,
        exactTarget: (id) => exact.get(fnv1a(id), id),
        prefixTarget: (key) => prefix.get(fnv1a(key), key),
        defaultTarget: this.#default,
      },
      clientId,
    );
  }

  /**
   * Adds or replaces one rule (last write wins) in O(1). Checks the rule's target
   * (URL, template or pool) and throws `TemplateError` or `TypeError` before changing
   * anything. Returns whether the rule was added or replaced another.
   */
  put(rule: RouteRule, opts: ChangeOptions = {}): 'added' | 'replaced' {
    const { kind, key } = ruleIdentity(rule);
    const target = this.#acquire(rule, kind, true, undefined);
    const lanes = this.#lanes;
    hashBoth(key, lanes);
    const h = lanes[0]!;
    const kb = lanes[1]!;
    const previous = this.#index(kind).set(h, key, target);
    if (previous === undefined) {
      if (kind === 'prefix') this.#countLength(key.length, 1);
    } else {
      this.#digest(kind, h, kb, previous, -1);
      this.#release(previous);
    }
    this.#digest(kind, h, kb, target, 1);
    this.#changed(opts);
    return previous === undefined ? 'added' : 'replaced';
  }

  /**
   * Adds a rule unless one with its key exists (first wins, as in a config file);
   * returns false for such a duplicate. For builders: static URLs are assumed checked
   * by `routeRuleSchema` (only their scheme is checked again); `intern` dedupes equal
   * URL strings across rules.
   */
  add(rule: RouteRule, intern?: UrlInterner): boolean {
    const exact = rule.clientId !== undefined;
    const kind = exact ? 'exact' : 'prefix';
    const key = exact ? rule.clientId : rule.clientIdPrefix;
    if (key === undefined || (exact && rule.clientIdPrefix !== undefined) || key.length > MAX_CLIENT_ID_LENGTH) {
      return ruleIdentity(rule) === undefined; // throws the precise error
    }
    const lanes = this.#lanes;
    hashBoth(key, lanes);
    const h = lanes[0]!;
    const kb = lanes[1]!;
    const target = this.#acquire(rule, kind, false, intern);
    const present = this.#index(kind).setIfAbsent(h, key, target);
    if (present !== undefined) {
      this.#release(target);
      this.#duplicates++;
      return false;
    }
    if (!exact) this.#countLength(key.length, 1);
    this.#digest(kind, h, kb, target, 1);
    return true;
  }

  /** Removes one rule in O(1); returns false when there was none. */
  delete(routeKey: RouteKey, opts: ChangeOptions = {}): boolean {
    const { kind, key } = ruleIdentity(routeKey);
    const lanes = this.#lanes;
    hashBoth(key, lanes);
    const previous = this.#index(kind).delete(lanes[0]!, key);
    if (previous !== undefined) {
      if (kind === 'prefix') this.#countLength(key.length, -1);
      this.#digest(kind, lanes[0]!, lanes[1]!, previous, -1);
      this.#release(previous);
    }
    this.#changed(opts);
    return previous !== undefined;
  }

  /** Sets (or, with undefined, removes) the default route. */
  setDefault(route: DefaultRoute | undefined, opts: ChangeOptions = {}): void {
    const next = route === undefined ? undefined : this.#acquire(route, 'default', true, undefined);
    const previous = this.#default;
    if (previous !== undefined) {
      this.#digest('default', 0, 0, previous, -1);
      this.#release(previous);
    }
    this.#default = next;
    if (next !== undefined) this.#digest('default', 0, 0, next, 1);
    this.#changed(opts);
  }

  /** The rule stored under a key, as it would be written in the config. */
  get(routeKey: RouteKey): RouteRule | undefined {
    const { kind, key } = ruleIdentity(routeKey);
    const t = this.#index(kind).get(fnv1a(key), key);
    return t === undefined ? undefined : toRule(kind, key, t);
  }

  /** The default route, as it would be written in the config. */
  get defaultRoute(): DefaultRoute | undefined {
    return this.#default === undefined ? undefined : targetFields(this.#default);
  }

  /** Every rule, exact rules first, in no particular order within a kind. */
  *rules(): IterableIterator<RouteRule> {
    for (const [key, t] of this.#exact.entries()) yield toRule('exact', key, t);
    for (const [key, t] of this.#prefix.entries()) yield toRule('prefix', key, t);
  }

  #index(kind: 'exact' | 'prefix'): Index {
    return kind === 'exact' ? this.#exact : this.#prefix;
  }

  #changed(opts: ChangeOptions): void {
    this.#version = undefined;
    if (opts.revision !== undefined) this.#revision = String(opts.revision);
  }

  #acquire(spec: DefaultRoute, kind: MatchKind, checkUrl: boolean, intern: UrlInterner | undefined): RouteTarget {
    const single = spec.openclawGateway;
    const pool = spec.openclawGateways;
    if ((single === undefined) === (pool === undefined)) {
      throw new TypeError('a route needs exactly one of "openclawGateway" or "openclawGateways"');
    }
    if (single !== undefined && !single.includes('{') && !single.includes('}')) {
      if (checkUrl || !(single.startsWith('ws://') || single.startsWith('wss://'))) compileTarget(single);
      return intern === undefined ? single : intern.intern(single);
    }
    const sharedKey = single ?? JSON.stringify(pool);
    let shared = this.#shared.get(sharedKey);
    if (shared === undefined) {
      shared = single !== undefined ? new TemplateTarget(compileTarget(single) as CompiledTemplate) : new PoolTarget(pool!);
      if (kind === 'exact' && usesSuffix(shared)) throw new TemplateError('{suffix} is not allowed on an exact rule (it would be empty); use {clientId}');
      this.#shared.set(sharedKey, shared);
    } else if (kind === 'exact' && usesSuffix(shared)) {
      throw new TemplateError('{suffix} is not allowed on an exact rule (it would be empty); use {clientId}');
    }
    shared.refs++;
    return shared;
  }

  #release(t: RouteTarget): void {
    if (typeof t !== 'string' && --t.refs === 0) this.#shared.delete(t.key);
  }

  #countLength(len: number, delta: 1 | -1): void {
    const before = this.#lengthCount[len]!;
    this.#lengthCount[len] = before + delta;
    if ((before === 0) === (delta === 1)) {
      const lengths: number[] = [];
      for (let l = MAX_CLIENT_ID_LENGTH; l >= 0; l--) if (this.#lengthCount[l]! > 0) lengths.push(l);
      this.#lengths = Int32Array.from(lengths);
    }
  }

  /** Adds (sign 1) or removes (sign -1) one rule's digest (key lanes ka, kb) from the version. */
  #digest(kind: MatchKind, ka: number, kb: number, t: RouteTarget, sign: 1 | -1): void {
    if (typeof t === 'string') {
      const lanes = this.#targetLanes;
      hashBoth(t, lanes);
      this.#sum.apply(kind, ka, kb, lanes[0]!, lanes[1]!, sign);
    } else {
      this.#sum.apply(kind, ka, kb, t.digestA, t.digestB, sign);
    }
    this.#version = undefined;
  }
}

/**
 * Stores equal upstream URL strings once while a table is built from a list: a
 * direct-mapped cache (bounded, never rehashed), so URLs shared by many rules are
 * kept once and a million distinct URLs cost nothing extra.
 */
export class UrlInterner {
  readonly #cache: Array<string | undefined> = new Array<string | undefined>(1 << 16).fill(undefined);
  intern(url: string): string {
    const i = fnv1a(url) & 0xffff;
    const seen = this.#cache[i];
    if (seen === url) return seen;
    this.#cache[i] = url;
    return url;
  }
}


/** The kind and key of a rule or a `RouteKey`; throws `TypeError` unless it has exactly one. */
export function ruleIdentity(r: RouteKey): { kind: 'exact' | 'prefix'; key: string } {
  if ((r.clientId === undefined) === (r.clientIdPrefix === undefined)) {
    throw new TypeError('a route needs exactly one of "clientId" or "clientIdPrefix"');
  }
  const kind = r.clientId !== undefined ? 'exact' : 'prefix';
  const key = (r.clientId ?? r.clientIdPrefix)!;
  if (key.length > MAX_CLIENT_ID_LENGTH || (kind === 'exact' && key.length === 0)) {
    throw new TypeError(`a route key must be ${kind === 'exact' ? 1 : 0}-${MAX_CLIENT_ID_LENGTH} chars`);
  }
  return { kind, key };
}

function toRule(kind: 'exact' | 'prefix', key: string, t: RouteTarget): RouteRule {
  return kind === 'exact' ? { clientId: key, ...targetFields(t) } : { clientIdPrefix: key, ...targetFields(t) };
}
