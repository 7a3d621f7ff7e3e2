/**
 * A route replica: one holder of a live route table that resolves clients at the
 * handshake. A standalone Gateway is one (in-process); in cluster mode each worker
 * process is one, driven by the primary over IPC (src/cluster/worker-handle.ts).
 * The RouteController keeps every replica on the same table version.
 *
 * Operations on one replica are sent one at a time (the controller waits for each
 * answer), so a replica applies them in order. Each answers with the version of the
 * table it now holds, which the controller compares with its own.
 */
import type { RouteChangePolicy } from '../config/schema.js';
import type { PackedRules } from '../routing/packed-rules.js';
import type { RouteExplanation } from '../routing/route-table.js';
import type { UpstreamStatus } from '../routing/upstream-health.js';
import type { RouteChange } from '../sources/route-source.js';

/** A full set of rules, validated (routeRuleSchema / defaultRouteSchema). */
export interface RouteSetData {
  /** The rules and the default route; not changed while a replica loads them. */
  readonly rules: PackedRules;
  /** The source revision (etcd), 0 for a file. */
  readonly revision: number;
}

export interface RouteReplica {
  /** For logs and /readyz, e.g. "worker 1". */
  readonly label: string;
  /** False while the replica cannot take operations (its worker process is down). */
  readonly available: boolean;
  /** Builds a new table off to the side, swaps it in, applies the policy; resolves its version. */
  loadRoutes(set: RouteSetData, policy: RouteChangePolicy): Promise<string>;
  /** Applies changes in place (O(1) each), applies the policy; resolves the new version. */
  applyRouteChanges(changes: readonly RouteChange[], revision: number, policy: RouteChangePolicy): Promise<string>;
  /** The operator takes an upstream out of its pools (down) or puts it back. */
  markUpstream(url: string, down: boolean): Promise<void>;
  explainRoute(clientId: string): Promise<RouteExplanation>;
  /** Upstreams this replica tracks as failing or marked down. */
  upstreams(): Promise<UpstreamStatus[]>;
}
