/**
 * The route table interface. Everything that resolves a clientId to an upstream
 * goes through it: the handshake path, `/admin/routes/explain`, the `routes` CLI.
 *
 * Matching (one rule decides; the most specific one):
 *   1. an exact rule (`clientId`) equal to the clientId;
 *   2. otherwise the prefix rule (`clientIdPrefix`) with the longest prefix of the
 *      clientId (the empty prefix "" matches every clientId, as the last prefix);
 *   3. otherwise the default route;
 *   4. otherwise a miss: the handshake answers STRATIX_ERR_NO_ROUTE (HTTP 404).
 * Ties: two rules can only tie when they have the same kind and key; the table keeps
 * one rule per (kind, key). Building from a list keeps the FIRST rule for a key (file
 * order; the others are counted in `duplicates`); `put` replaces (last write wins,
 * as an etcd put does). An exact rule and a prefix rule with the same string do not
 * tie: the exact rule wins for that clientId, the prefix rule for the longer ones.
 * A rule whose template rejects the clientId (see `target-template.ts`) is a miss
 * with a reason; the lookup does not fall through to a less specific rule, so a
 * clientId never lands somewhere its most specific rule did not send it.
 *
 * Changes: a table is built once (`buildRouteTable`, or `buildRouteTableAsync` for
 * big configs, off the hot path) and then changed one rule at a time (`put`,
 * `delete`, `setDefault`), in O(1), without a rebuild. A full reload builds a new
 * table off to the side and swaps one reference (`RouteTableHolder`). Lookups are
 * synchronous, so a lookup never sees half a change.
 */

/** How a rule matched. Precedence: exact, then the longest prefix, then the default. */
export type MatchKind = 'exact' | 'prefix' | 'default';

/**
 * One rule, as in the config file and in etcd (one rule per key); see
 * `src/config/route-schema.ts`. Exactly one of `clientId` / `clientIdPrefix`, and
 * exactly one of `openclawGateway` (URL or template) / `openclawGateways` (pool).
 */
export interface RouteRule {
  readonly clientId?: string | undefined;
  readonly clientIdPrefix?: string | undefined;
  readonly openclawGateway?: string | undefined;
  readonly openclawGateways?: readonly string[] | undefined;
}

/** The default route: a URL or template, or a pool. */
export interface DefaultRoute {
  readonly openclawGateway?: string | undefined;
  readonly openclawGateways?: readonly string[] | undefined;
}

/**
 * Names one rule: exactly one of the two fields (checked at run time). A whole
 * `RouteRule` is a `RouteKey` too, so a delete can pass the rule as it was.
 */
export interface RouteKey {
  readonly clientId?: string | undefined;
  readonly clientIdPrefix?: string | undefined;
}

export interface RouteMatch {
  /** The resolved upstream URL. */
  readonly target: string;
  readonly kind: MatchKind;
  /** The matched rule's key: the exact clientId, the prefix, or "" for the default. */
  readonly key: string;
  /** For a pool: the chosen member's index in `openclawGateways`; otherwise -1. */
  readonly member: number;
  /** For a pool: every member was down, so the best scored one was taken anyway. */
  readonly allDown: boolean;
}

/** One rule as the explain endpoint shows it. */
export interface ExplainedRule {
  readonly kind: MatchKind;
  readonly key: string;
  readonly openclawGateway?: string;
  readonly openclawGateways?: readonly string[];
}

export interface ExplainedMember {
  readonly index: number;
  readonly spec: string;
  /** The member's URL for this clientId (undefined when its template rejects it). */
  readonly target: string | undefined;
  /** Rendezvous score, unsigned 32-bit; the highest up member wins. */
  readonly score: number;
  readonly down: boolean;
  readonly downReason: 'operator' | 'failures' | undefined;
}

export interface RouteExplanation {
  readonly clientId: string;
  readonly version: string;
  /** The last external revision applied (e.g. the etcd revision), if any. */
  readonly revision: string | undefined;
  /** True when `resolve` returns a match. */
  readonly matched: boolean;
  /** The deciding rule (undefined on a plain miss). */
  readonly rule: ExplainedRule | undefined;
  /** Every rule that matches the clientId, the deciding one first. */
  readonly candidates: readonly { readonly kind: MatchKind; readonly key: string }[];
  /** The template used (for a template rule or a templated pool member). */
  readonly template: string | undefined;
  readonly target: string | undefined;
  /** Pool members, best ranked first. */
  readonly pool:
    | { readonly members: readonly ExplainedMember[]; readonly chosen: number; readonly allDown: boolean }
    | undefined;
  /** Why a template refused the clientId (a stable code and a sentence). */
  readonly rejected: { readonly code: string; readonly message: string } | undefined;
  /** One sentence: why this target. */
  readonly reason: string;
}

export interface RouteTable {
  /** Identifies the rule set (a digest of the rules: equal on every worker with the same rules). */
  readonly version: string;
  /** Number of rules, the default route excluded. */
  readonly size: number;
  /** The upstream for a clientId, or undefined when nothing matches and there is no default. */
  resolve(clientId: string): RouteMatch | undefined;
  /** The same decision as `resolve`, with the reasons (for `/admin/routes/explain`). */
  explain(clientId: string): RouteExplanation;
}

/** A table that takes changes one rule at a time (etcd deltas), each in O(1). */
export interface MutableRouteTable extends RouteTable {
  /** Adds or replaces the rule with this key (last write wins); throws on a bad rule, changing nothing. */
  put(rule: RouteRule, opts?: { readonly revision?: string | number | undefined }): 'added' | 'replaced';
  /** Removes the rule with this key; false when there was none. */
  delete(key: RouteKey, opts?: { readonly revision?: string | number | undefined }): boolean;
  /** Sets (or, with undefined, removes) the default route. */
  setDefault(route: DefaultRoute | undefined, opts?: { readonly revision?: string | number | undefined }): void;
}

/** Holds the current table; a reload swaps the reference in one assignment. */
export class RouteTableHolder {
  #current: RouteTable;
  constructor(initial: RouteTable) {
    this.#current = initial;
  }
  get current(): RouteTable {
    return this.#current;
  }
  swap(next: RouteTable): RouteTable {
    const previous = this.#current;
    this.#current = next;
    return previous;
  }
}
