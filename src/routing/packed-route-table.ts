/**
 * A route table that looks rules up in place in their packed bytes (packed-rules.ts):
 * what a worker holds, with the contract of `route-table.ts` and exactly the decisions
 * and explanations of HashRouteTable (property tests hold them equal).
 *
 * Loading it costs a pass over the bytes, not an object per rule: a worker that gets
 * a million rules as one buffer (a file the primary wrote) counts, digests and indexes
 * them (~70 bytes a rule in all) instead of building a table of strings and slots.
 *
 * Lookup: one FNV-1a pass over the clientId gives the state after every prefix
 * length; then one probe of the pack's index for the exact rule, one per distinct
 * prefix length (longest first, only lengths <= the clientId's), then the default.
 * A static target is the spec itself (one string made per lookup); templates and pools
 * are compiled on first use and kept in a bounded cache by spec.
 *
 * Changes (etcd deltas) go to the pack (`put`, `delete`, `setDefault`: O(1)); the
 * version is the pack's digest, equal to a HashRouteTable's with the same rules.
 */
import type { DefaultRoute, MatchKind, MutableRouteTable, RouteExplanation, RouteKey, RouteMatch, RouteRule } from './route-table.js';
import { MAX_CLIENT_ID_LENGTH } from './client-id.js';
import type { ChangeOptions } from './hash-route-table.js';
import { ruleIdentity } from './hash-route-table.js';
import { PackedRules, targetSpec } from './packed-rules.js';
import { explainRoute } from './route-explain.js';
import { matchTarget, PoolTarget, Resolution, TemplateTarget, usesSuffix, type RouteTarget } from './route-target.js';
import { fnv1a, fnv1aPrefixes } from './string-hash.js';
import { compileTarget, CompiledTemplate, TemplateError } from './target-template.js';
import type { UpstreamHealthView } from './upstream-health.js';

export interface PackedRouteTableOptions {
  /** Marks pool members down; without it no member is ever skipped. */
  readonly health?: UpstreamHealthView | undefined;
  /** An external revision to report (e.g. the etcd revision the rules were read at). */
  readonly revision?: string | number | undefined;
}

/** Compiled templates and pools kept at once (a table with more distinct ones compiles again). */
const MAX_COMPILED = 4096;
const SUFFIX_ON_EXACT = '{suffix} is not allowed on an exact rule (it would be empty); use {clientId}';

export class PackedRouteTable implements MutableRouteTable {
  readonly #rules: PackedRules;
  readonly #health: UpstreamHealthView | undefined;
  #revision: string | undefined;
  /** Prefix rules per prefix length, and the lengths in use, longest first. */
  readonly #lengthCount = new Int32Array(MAX_CLIENT_ID_LENGTH + 1);
  #lengths = new Int32Array(0);
  readonly #compiled = new Map<string, TemplateTarget | PoolTarget>();
  #default: RouteTarget | undefined;
  /** Scratch: FNV state after each prefix length of the clientId being resolved. */
  readonly #prefixHashes = new Int32Array(MAX_CLIENT_ID_LENGTH + 1);
  readonly #resolution = new Resolution();

  /** Takes `rules` (and their default route) as they are: the table owns them from now on. */
  constructor(rules: PackedRules, opts: PackedRouteTableOptions = {}) {
    this.#rules = rules;
    this.#health = opts.health;
    this.#revision = opts.revision === undefined ? undefined : String(opts.revision);
    rules.countPrefixLengths(this.#lengthCount);
    this.#updateLengths();
    const d = rules.defaultRoute;
    this.#default = d === undefined ? undefined : this.#target(targetSpec(d));
  }

  get version(): string {
    return this.#rules.version;
  }

  get size(): number {
    return this.#rules.size;
  }

  get revision(): string | undefined {
    return this.#revision;
  }

  /** Distinct prefix lengths in use: one probe each on a lookup that reaches them. */
  get prefixLengths(): number {
    return this.#lengths.length;
  }

  /** Bytes of the packed rules (arena and index). */
  get byteLength(): number {
    return this.#rules.byteLength;
  }

  resolve(clientId: string): RouteMatch | undefined {
    const n = clientId.length;
    const hashes = this.#prefixHashes;
    const h = fnv1aPrefixes(clientId, hashes);
    const rules = this.#rules;
    if (n <= MAX_CLIENT_ID_LENGTH) {
      const at = rules.find(true, h, clientId, n);
      if (at >= 0) return this.#match(this.#target(rules.specAt(at)), 'exact', clientId, clientId, '', h);
    }
    const lengths = this.#lengths;
    for (let k = 0; k < lengths.length; k++) {
      const len = lengths[k]!;
      if (len > n) continue;
      const at = rules.find(false, hashes[len]!, clientId, len);
      if (at < 0) continue;
      const t = this.#target(rules.specAt(at));
      return this.#match(t, 'prefix', clientId.slice(0, len), clientId, usesSuffix(t) ? clientId.slice(len) : '', h);
    }
    const d = this.#default;
    return d === undefined ? undefined : this.#match(d, 'default', '', clientId, clientId, h);
  }

  #match(t: RouteTarget, kind: MatchKind, key: string, clientId: string, suffix: string, clientHash: number): RouteMatch | undefined {
    return matchTarget(t, kind, key, clientId, suffix, clientHash, this.#health, this.#resolution);
  }


  explain(clientId: string): RouteExplanation {
    const rules = this.#rules;
    const lookup = (exact: boolean, key: string): RouteTarget | undefined => {
      const at = rules.find(exact, fnv1a(key), key, key.length);
      return at < 0 ? undefined : this.#target(rules.specAt(at));
    };
    return explainRoute(
      {
        version: this.version,
        revision: this.#revision,
        health: this.#health,
        prefixLengths: this.#lengths,
        exactTarget: (id) => (id.length <= MAX_CLIENT_ID_LENGTH ? lookup(true, id) : undefined),
        prefixTarget: (key) => lookup(false, key),
        defaultTarget: this.#default,
      },
      clientId,
    );
  }

  /**
   * Adds or replaces one rule (last write wins). Checks the rule's key and target and
   * throws `TypeError` or `TemplateError` (as HashRouteTable.put does) before changing
   * anything.
   */
  put(rule: RouteRule, opts: ChangeOptions = {}): 'added' | 'replaced' {
    const { kind } = ruleIdentity(rule);
    this.#check(rule, kind);
    const previous = this.#rules.put(rule);
    if (previous === undefined && kind === 'prefix') this.#countLength(rule.clientIdPrefix!.length, 1);
    this.#changed(opts);
    return previous === undefined ? 'added' : 'replaced';
  }

  /** Removes one rule; false when there was none. */
  delete(routeKey: RouteKey, opts: ChangeOptions = {}): boolean {
    const { kind, key } = ruleIdentity(routeKey);
    const previous = this.#rules.delete(kind === 'exact' ? { clientId: key } : { clientIdPrefix: key });
    if (previous !== undefined && kind === 'prefix') this.#countLength(key.length, -1);
    this.#changed(opts);
    return previous !== undefined;
  }

  /** Sets (or, with undefined, removes) the default route. */
  setDefault(route: DefaultRoute | undefined, opts: ChangeOptions = {}): void {
    const next = route === undefined ? undefined : this.#check(route, 'default');
    this.#rules.setDefault(route);
    this.#default = next;
    this.#changed(opts);
  }

  /** The target a rule of `kind` with these fields has; throws as HashRouteTable does for a bad one. */
  #check(spec: DefaultRoute, kind: MatchKind): RouteTarget {
    if ((spec.openclawGateway === undefined) === (spec.openclawGateways === undefined)) {
      throw new TypeError('a route needs exactly one of "openclawGateway" or "openclawGateways"');
    }
    const single = spec.openclawGateway;
    if (single !== undefined && !single.includes('{') && !single.includes('}')) return compileTarget(single) as string;
    const t = this.#target(targetSpec(spec));
    if (kind === 'exact' && usesSuffix(t)) throw new TemplateError(SUFFIX_ON_EXACT);
    return t;
  }

  /** The target a stored spec stands for (a URL string, or the compiled template or pool). */
  #target(spec: string): RouteTarget {
    const pool = spec.startsWith('[');
    if (!pool && !spec.includes('{') && !spec.includes('}')) return spec;
    let t = this.#compiled.get(spec);
    if (t === undefined) {
      t = pool ? new PoolTarget(JSON.parse(spec) as string[]) : new TemplateTarget(compileTarget(spec) as CompiledTemplate);
      if (this.#compiled.size >= MAX_COMPILED) this.#compiled.clear();
      this.#compiled.set(spec, t);
    }
    return t;
  }

  #changed(opts: ChangeOptions): void {
    if (opts.revision !== undefined) this.#revision = String(opts.revision);
  }

  #countLength(len: number, delta: 1 | -1): void {
    const before = this.#lengthCount[len]!;
    this.#lengthCount[len] = before + delta;
    if ((before === 0) === (delta === 1)) this.#updateLengths();
  }

  #updateLengths(): void {
    const lengths: number[] = [];
    for (let l = MAX_CLIENT_ID_LENGTH; l >= 0; l--) if (this.#lengthCount[l]! > 0) lengths.push(l);
    this.#lengths = Int32Array.from(lengths);
  }
}

