/**
 * Builds a route table from a list of rules (the config file's `routes`, or a full
 * etcd read). Rules must have passed `routeRuleSchema`; the first rule for a key wins
 * (the others are counted in `table.duplicates`). Equal upstream URL strings are
 * stored once.
 *
 * `buildRouteTable` is synchronous: fine at startup and for small configs.
 * `buildRouteTableAsync` works in time slices and yields to the event loop between
 * them, so a reload of a million rules never stalls the connections being served for
 * more than about one slice; swap it in with `RouteTableHolder.swap` when it resolves.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { HashRouteTable, UrlInterner, type RouteTableOptions } from './hash-route-table.js';
import { PackedRules } from './packed-rules.js';
import type { DefaultRoute, RouteRule } from './route-table.js';

export interface AsyncBuildOptions extends RouteTableOptions {
  /** Longest stretch of work between two yields to the event loop. Default 8 ms. */
  readonly sliceMs?: number | undefined;
  /** Abandons the build (the promise rejects with the signal's reason). */
  readonly signal?: AbortSignal | undefined;
}

/** How many rules are added between two looks at the clock. */
const CLOCK_EVERY = 32;

export function buildRouteTable(
  rules: readonly RouteRule[],
  defaultRoute?: DefaultRoute,
  opts: RouteTableOptions = {},
): HashRouteTable {
  const table = new HashRouteTable(sized(rules, opts));
  const intern = new UrlInterner();
  for (let i = 0; i < rules.length; i++) table.add(rules[i]!, intern);
  if (defaultRoute !== undefined) table.setDefault(defaultRoute);
  return table;
}

/** `rules`: a list, or a packed set (read in order, one rule object at a time). */
export async function buildRouteTableAsync(
  rules: readonly RouteRule[] | PackedRules,
  defaultRoute?: DefaultRoute,
  opts: AsyncBuildOptions = {},
): Promise<HashRouteTable> {
  const sliceMs = opts.sliceMs ?? 8;
  const signal = opts.signal;
  signal?.throwIfAborted();
  const table = new HashRouteTable(sized(rules, opts));
  const intern = new UrlInterner();
  // Allocate the index memory first, in slices too.
  for (let more = true; more; ) {
    const deadline = performance.now() + sliceMs;
    while ((more = table.prepareStep()) && performance.now() < deadline);
    await nextTurn();
    signal?.throwIfAborted();
  }
  const it = rules instanceof PackedRules ? rules.rules() : rules.values();
  for (let done = false; !done; ) {
    const deadline = performance.now() + sliceMs;
    do {
      for (let k = 0; k < CLOCK_EVERY; k++) {
        const next = it.next();
        if (next.done === true) {
          done = true;
          break;
        }
        table.add(next.value, intern);
      }
    } while (!done && performance.now() < deadline);
    await nextTurn();
    signal?.throwIfAborted();
  }
  if (defaultRoute !== undefined) table.setDefault(defaultRoute);
  return table;
}

/** Counts the kinds so that the indexes are allocated once, at their final size. */
function sized(rules: readonly RouteRule[] | PackedRules, opts: RouteTableOptions): RouteTableOptions {
  if (opts.expectedExact !== undefined || opts.expectedPrefix !== undefined) return opts;
  if (rules instanceof PackedRules) return { ...opts, expectedExact: rules.exactCount, expectedPrefix: rules.size - rules.exactCount };
  let exact = 0;
  for (let i = 0; i < rules.length; i++) if (rules[i]!.clientId !== undefined) exact++;
  return { ...opts, expectedExact: exact, expectedPrefix: rules.length - exact };
}
