/**
 * The route source interface: where the rules come from (etcd today, the config
 * file later) and how changes reach the gateway. A source hands out one full set
 * at start, then a stream of changes; the consumer applies a `delta` to its table
 * without rebuilding it, and rebuilds only on a `full` set (a source sends one when
 * it could not follow the changes, e.g. after etcd compacted the revisions it missed).
 *
 * A source never throws after `start()` resolved: losing its backend is a `status`
 * change to 'degraded', and the last set keeps serving.
 */
import type { DefaultRouteConfig, RouteRuleConfig } from '../config/route-schema.js';
import type { PackedRules } from '../routing/packed-rules.js';

/** Where a set came from. */
export type RouteSetOrigin = 'etcd' | 'snapshot' | 'file';

export interface RouteSet {
  /**
   * Every valid rule and the `default` key's route, packed (no two rules share a key,
   * route-key.ts). A copy the receiver owns: the source never changes it.
   */
  readonly rules: PackedRules;
  /** The etcd revision the set reflects (0 for a source without revisions). */
  readonly revision: number;
  readonly origin: RouteSetOrigin;
  /** Keys whose value failed validation and were left out (logged with the key). */
  readonly invalid: number;
}

/**
 * One change. `key` is the rule key (route-key.ts), e.g. `exact/client-7`.
 * A `delete` carries the rule as it was, so the consumer can find it without a lookup.
 * The `default` key changes the default route (undefined = removed).
 */
export type RouteChange =
  | { readonly type: 'put'; readonly key: string; readonly rule: RouteRuleConfig }
  | { readonly type: 'delete'; readonly key: string; readonly rule: RouteRuleConfig }
  | { readonly type: 'default'; readonly key: string; readonly defaultRoute: DefaultRouteConfig | undefined };

/**
 * What the 'change' event carries. A `delta` holds the net effect of one etcd watch
 * response (a transaction's puts arrive together), already coalesced per key and with
 * no-ops dropped; apply its changes in order.
 */
export type RouteSourceChange =
  | {
      readonly kind: 'delta';
      readonly changes: readonly RouteChange[];
      readonly revision: number;
      /** The version (route-digest.ts) and rule count of the source's set after these changes. */
      readonly version: string;
      readonly size: number;
    }
  | { readonly kind: 'full'; readonly set: RouteSet };

export type RouteSourceState = 'starting' | 'ok' | 'degraded' | 'closed';

export interface RouteSourceStatus {
  readonly state: RouteSourceState;
  /** Why the source is degraded, e.g. "etcd unreachable: …"; undefined when ok. */
  readonly reason: string | undefined;
  /** The revision of the last change applied. */
  readonly revision: number;
  /** When `state` was entered (ms since the epoch, from the injected clock). */
  readonly since: number;
  /** Keys currently left out because their value is invalid. */
  readonly invalidKeys: number;
}

export interface RouteSourceEvents {
  change: [RouteSourceChange];
  status: [RouteSourceStatus];
}

export interface RouteSource {
  /** Loads the initial set. Rejects (with a RouteSourceError) only when no set can be had at all. */
  start(): Promise<RouteSet>;
  readonly status: RouteSourceStatus;
  on<E extends keyof RouteSourceEvents>(event: E, listener: (...args: RouteSourceEvents[E]) => void): this;
  off<E extends keyof RouteSourceEvents>(event: E, listener: (...args: RouteSourceEvents[E]) => void): this;
  /** Stops watching and retrying, writes a pending snapshot, releases the connection. */
  close(): Promise<void>;
}
