/**
 * The route table interface. Everything that resolves a clientId to an upstream
 * goes through it: the handshake path, `/admin/routes/explain`, the `routes` CLI.
 * Implementations are immutable snapshots; a reload builds a new one off to the
 * side and swaps one reference (see `RouteTableHolder`).
 */

/** How a rule matched. Precedence: exact, then the longest prefix, then the default. */
export type MatchKind = 'exact' | 'prefix' | 'default';

export interface RouteMatch {
  /** The resolved upstream URL. */
  readonly target: string;
  readonly kind: MatchKind;
  /** The matched rule's key: the exact clientId, the prefix, or "" for the default. */
  readonly key: string;
}

export interface RouteTable {
  /** Identifies the snapshot (e.g. a content hash or an etcd revision). */
  readonly version: string;
  /** Number of rules, the default route excluded. */
  readonly size: number;
  /** The upstream for a clientId, or undefined when nothing matches and there is no default. */
  resolve(clientId: string): RouteMatch | undefined;
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
