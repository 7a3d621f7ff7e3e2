/**
 * Rule sets and lookup ids for the route table benchmark (deterministic).
 */
import type { RouteRule } from '../../src/routing/index.js';

export const LOOKUP_IDS = 100_000;


/** A deterministic PRNG (mulberry32). */
export function prng(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) % n) as number;
  };
}

const LETTERS = 'abcdefghijklmnopqrstuvwxyz0123456789';
export const TEMPLATES = Array.from({ length: 16 }, (_, k) => `ws://oc-{suffix}.cell-${k}.tenants.internal:18789/ws`);
export const POOLS = Array.from({ length: 1000 }, (_, p) =>
  Array.from({ length: 3 + (p % 6) }, (_, m) => `ws://gw-${p}-${m}.pools.internal:18789/ws`),
);

export interface Workload {
  /** The rules as JSON text (parsed per build, like a config file or etcd values). */
  readonly rulesJson: string;
  /** clientIds to look up, as JSON text. */
  readonly idsJson: string;
}

/**
 * The mix: per tenant one rule. 45% exact (clientId = tenant device id), 40% prefix
 * ("<tenant>."), 10% template prefix ("<tenant>-" → one of 16 templates), 5% pool
 * prefix ("<tenant>@" → one of 1000 pools of 3-8 members). Static targets: 70% a
 * per-tenant host, 30% one of 2000 shared hosts. Tenant names are 6-30 chars, so
 * prefixes come in ~25 distinct lengths. Lookups: 35% exact hits, 30% prefix hits,
 * 10% template hits, 5% pool hits, 20% misses (to the default route).
 */
export function workload(n: number): Workload {
  const rand = prng(n);
  const name = (i: number) => {
    let s = `t${i.toString(36)}`;
    const len = 6 + rand(25);
    while (s.length < len) s += LETTERS[rand(LETTERS.length)];
    return s;
  };
  const staticTarget = (tenant: string) =>
    rand(10) < 7 ? `ws://oc-${tenant}.tenants.internal:18789/ws` : `ws://oc-shared-${rand(2000)}.tenants.internal:18789/ws`;
  const rules: string[] = [];
  const ids: string[] = [];
  const idEvery = Math.max(1, Math.floor(n / LOOKUP_IDS));
  for (let i = 0; i < n; i++) {
    const tenant = name(i);
    const k = rand(100);
    const device = `d${rand(1000)}`;
    let rule: RouteRule;
    let id: string;
    if (k < 45) {
      id = `${tenant}:${device}`;
      rule = { clientId: id, openclawGateway: staticTarget(tenant) };
    } else if (k < 85) {
      rule = { clientIdPrefix: `${tenant}.`, openclawGateway: staticTarget(tenant) };
      id = `${tenant}.${device}`;
    } else if (k < 95) {
      rule = { clientIdPrefix: `${tenant}-`, openclawGateway: TEMPLATES[rand(TEMPLATES.length)]! };
      id = `${tenant}-${device}`;
    } else {
      rule = { clientIdPrefix: `${tenant}@`, openclawGateways: POOLS[rand(POOLS.length)]! };
      id = `${tenant}@${device}`;
    }
    rules.push(JSON.stringify(rule));
    if (i % idEvery === 0 && ids.length < LOOKUP_IDS) ids.push(rand(5) === 0 ? `zz-miss-${tenant}${device}` : id);
  }
  while (ids.length < LOOKUP_IDS) ids.push(ids[ids.length % Math.max(1, ids.length)]!);
  // Shuffle the lookups so that consecutive ids are unrelated.
  for (let i = ids.length - 1; i > 0; i--) {
    const j = rand(i + 1);
    [ids[i], ids[j]] = [ids[j]!, ids[i]!];
  }
  return { rulesJson: flat(rules), idsJson: JSON.stringify(ids) };
}

/** 1M prefix rules of every length 1..128 (128 distinct lengths); 128-char ids that miss or hit deep. */
export function lengthsWorkload(n: number): Workload {
  const rand = prng(99);
  const rules: string[] = [];
  const ids: string[] = [];
  const randomId = (len: number) => {
    let s = '';
    for (let c = 0; c < len; c++) s += LETTERS[rand(LETTERS.length)];
    return s;
  };
  for (let i = 0; i < n; i++) {
    const p = `${i.toString(36)}.${randomId(128)}`.slice(0, 1 + (i % 128));
    rules.push(JSON.stringify({ clientIdPrefix: p, openclawGateway: `ws://oc-${i % 5000}.internal/ws` }));
    if (i % Math.max(1, Math.floor(n / LOOKUP_IDS)) === 0 && ids.length < LOOKUP_IDS) {
      // Half miss every rule (all 128 lengths probed), half hit a prefix.
      ids.push(rand(2) === 0 ? `Z${randomId(127)}` : (p + randomId(128)).slice(0, 128));
    }
  }
  return { rulesJson: flat(rules), idsJson: JSON.stringify(ids) };
}

/**
 * The rules as one flat JSON string. (A concatenation would be a cons string that
 * JSON.parse flattens later, freeing the pieces and spoiling the heap baseline.)
 */
function flat(rules: string[]): string {
  return ['[', rules.join(','), ']'].join('');
}

