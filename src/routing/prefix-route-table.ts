/**
 * @deprecated The first, simple table (exact + prefix). Kept so that existing callers
 * compile; it is now a `HashRouteTable`. New code: `buildRouteTable` from `./index.js`.
 */
import { buildRouteTable } from './build-route-table.js';
import { HashRouteTable } from './hash-route-table.js';
import type { RouteRule } from './route-table.js';

export type { RouteRule } from './route-table.js';

export class PrefixRouteTable extends HashRouteTable {
  constructor(rules: readonly RouteRule[], defaultTarget?: string, revision?: string) {
    super({ revision });
    for (const rule of rules) this.add(rule);
    if (defaultTarget !== undefined) this.setDefault({ openclawGateway: defaultTarget });
  }
}

/** The table's version for these rules (the digest `HashRouteTable.version` reports). */
export function contentVersion(rules: readonly RouteRule[], defaultTarget?: string): string {
  return buildRouteTable(rules, defaultTarget === undefined ? undefined : { openclawGateway: defaultTarget }).version;
}
