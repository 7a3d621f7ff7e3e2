/**
 * Exact and prefix rules, the seed's `clientIdPrefix → openclawGateway`.
 * Lookup: the exact map, then one map per distinct prefix length, longest first,
 * then the default. Cost is one hash probe per distinct prefix length.
 */
import { createHash } from 'node:crypto';
import type { RouteMatch, RouteTable } from './route-table.js';

export interface RouteRule {
  readonly clientId?: string | undefined;
  readonly clientIdPrefix?: string | undefined;
  readonly openclawGateway: string;
}

export class PrefixRouteTable implements RouteTable {
  readonly version: string;
  readonly size: number;
  readonly #exact = new Map<string, RouteMatch>();
  /** [length, prefix → match], longest length first. */
  readonly #byLength: Array<[number, Map<string, RouteMatch>]> = [];
  readonly #fallback: RouteMatch | undefined;

  constructor(rules: readonly RouteRule[], defaultTarget?: string, version?: string) {
    const lengths = new Map<number, Map<string, RouteMatch>>();
    for (const rule of rules) {
      if (rule.clientId !== undefined) {
        // The first rule for a key wins, as in the file's order.
        if (!this.#exact.has(rule.clientId)) {
          this.#exact.set(rule.clientId, Object.freeze({ target: rule.openclawGateway, kind: 'exact', key: rule.clientId }));
        }
        continue;
      }
      const prefix = rule.clientIdPrefix ?? '';
      let m = lengths.get(prefix.length);
      if (m === undefined) lengths.set(prefix.length, (m = new Map()));
      if (!m.has(prefix)) m.set(prefix, Object.freeze({ target: rule.openclawGateway, kind: 'prefix', key: prefix }));
    }
    for (const [len, m] of [...lengths].sort((a, b) => b[0] - a[0])) this.#byLength.push([len, m]);
    this.#fallback = defaultTarget === undefined ? undefined : Object.freeze({ target: defaultTarget, kind: 'default', key: '' });
    this.size = rules.length;
    this.version = version ?? contentVersion(rules, defaultTarget);
  }

  resolve(clientId: string): RouteMatch | undefined {
    const exact = this.#exact.get(clientId);
    if (exact !== undefined) return exact;
    for (let i = 0; i < this.#byLength.length; i++) {
      const [len, m] = this.#byLength[i]!;
      if (len > clientId.length) continue;
      const hit = m.get(len === clientId.length ? clientId : clientId.slice(0, len));
      if (hit !== undefined) return hit;
    }
    return this.#fallback;
  }
}

/** A short content hash, so every worker that loads the same rules reports the same version. */
export function contentVersion(rules: readonly RouteRule[], defaultTarget?: string): string {
  const h = createHash('sha256');
  for (const r of rules) h.update(`${r.clientId ?? ''}\0${r.clientIdPrefix ?? ''}\0${r.openclawGateway}\n`);
  h.update(`default\0${defaultTarget ?? ''}`);
  return h.digest('hex').slice(0, 12);
}
