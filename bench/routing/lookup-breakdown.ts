/**
 * Lookup cost per kind of clientId (exact hit, prefix hit, template, pool, miss) on
 * the benchmark's rule mix, to see where the time goes.
 *
 *   npx tsc -p . && node --expose-gc dist/bench/routing/lookup-breakdown.js [rules] [kind|all] [hash|packed]
 *
 * `hash`: HashRouteTable (standalone gateways, the routes CLI); `packed`: PackedRouteTable,
 * what a worker holds (rules looked up in place in their packed bytes).
 */
import { buildRouteTable, type RouteRule } from '../../src/routing/index.js';
import { PackedRouteTable } from '../../src/routing/packed-route-table.js';
import { PackedRules } from '../../src/routing/packed-rules.js';
import { workload } from './route-workload.js';

const n = Number(process.argv[2] ?? 1_000_000);
const { rulesJson, idsJson } = workload(n);
const rules = JSON.parse(rulesJson) as RouteRule[];
const fallback = { openclawGateway: 'ws://default.internal:18789/ws' };
const table = process.argv[4] === 'packed' ? new PackedRouteTable(PackedRules.from(rules, fallback)) : buildRouteTable(rules, fallback);
const ids = JSON.parse(idsJson) as string[];
const groups = new Map<string, string[]>();
for (const id of ids) {
  const m = table.resolve(id);
  const t = m === undefined ? 'undefined' : m.kind === 'prefix' ? (m.member >= 0 ? 'pool' : m.target.includes('cell-') ? 'template' : 'prefix') : m.kind;
  if (!groups.has(t)) groups.set(t, []);
  groups.get(t)!.push(id);
}
// Start clean: the build's garbage must not be collected inside a timed loop.
(globalThis as { gc?: () => void }).gc?.();
let sink = 0;
const only = process.argv[3] === 'all' ? undefined : process.argv[3];
for (const [kind, list] of groups) {
  if (only !== undefined && kind !== only) continue;
  for (let r = 0; r < 3; r++) for (const id of list) sink += table.resolve(id)?.target.length ?? 0;
  const rounds = Math.max(1, Math.floor(500_000 / list.length));
  const t0 = process.hrtime.bigint();
  for (let r = 0; r < rounds; r++) for (const id of list) sink += table.resolve(id)?.target.length ?? 0;
  const ns = Number(process.hrtime.bigint() - t0) / (rounds * list.length);
  console.log(`${kind.padEnd(10)} ${String(list.length).padStart(6)} ids  ${ns.toFixed(0)} ns/lookup`);
}
console.log(`prefix lengths ${table.prefixLengths}; sink ${sink}`);
