/**
 * The key layout of route rules in etcd (and in the local snapshot). One key per
 * rule, so no value ever holds more than one rule however large the table, and the
 * key is the rule's identity (two rules for one clientId cannot coexist):
 *
 *   <prefix>exact/<clientId>         {"clientId":"<clientId>","openclawGateway":"ws://…"}
 *   <prefix>prefix/<clientIdPrefix>  {"clientIdPrefix":"<clientIdPrefix>","openclawGateway":"ws://…"}
 *   <prefix>default                  {"openclawGateway":"ws://…"}
 *
 * `<prefix>` is configurable (default `/stratix/routes/`). The value is the rule's
 * JSON as in route-schema.ts (any target form it allows: a URL, a template, a pool),
 * and its clientId / clientIdPrefix must repeat what the
 * key says: a value that disagrees with its key, a key of no known shape, or a value
 * the schema rejects is invalid — the source skips it, logs it with the key and counts
 * it. `prefix/` with nothing after it is the empty prefix: a prefix rule matching
 * every clientId (the `default` key is still consulted only when nothing matches).
 */
import { quickRule, type RuleSpans } from '../config/route-rule-check.js';
import { defaultRouteSchema, routeRuleSchema, type DefaultRouteConfig, type RouteRuleConfig } from '../config/route-schema.js';
import { formatIssues } from '../config/load.js';

export const DEFAULT_ROUTE_PREFIX = '/stratix/routes/';
export const DEFAULT_KEY = 'default';
const EXACT = 'exact/';
const PREFIX = 'prefix/';

export type RouteEntry =
  | { readonly kind: 'rule'; readonly key: string; readonly rule: RouteRuleConfig }
  | { readonly kind: 'default'; readonly key: string; readonly defaultRoute: DefaultRouteConfig };

export type ParsedRouteEntry = RouteEntry | { readonly kind: 'invalid'; readonly key: string; readonly reason: string };

/** The rule a key names (relative to the prefix): undefined for the default key or a key of no known shape. */
export function routeKeyOf(key: string): { clientId: string } | { clientIdPrefix: string } | undefined {
  if (key.startsWith(EXACT)) return { clientId: key.slice(EXACT.length) };
  if (key.startsWith(PREFIX)) return { clientIdPrefix: key.slice(PREFIX.length) };
  return undefined;
}

const EXACT_BYTES = Buffer.from(EXACT);
const PREFIX_BYTES = Buffer.from(PREFIX);

/**
 * Whether the key bytes from `at` (after the prefix) to `end` are the key of the rule that
 * `plainRuleAt` found in `rule` (`spans`): `exact/<clientId>` or `prefix/<clientIdPrefix>`,
 * byte for byte. So a full load checks a seed-style value against its key in place;
 * false: check it the usual way (parseRouteEntry), which names what is wrong.
 */
export function keyNamesRule(key: Buffer, at: number, rule: Buffer, spans: RuleSpans, end = key.length): boolean {
  const kind = spans[0] === 1 ? EXACT_BYTES : PREFIX_BYTES;
  const start = spans[1]!;
  const length = spans[2]! - start;
  if (end - at !== kind.length + length) return false;
  for (let i = 0; i < kind.length; i++) if (key[at + i] !== kind[i]) return false;
  const k = at + kind.length;
  for (let i = 0; i < length; i++) if (key[k + i] !== rule[start + i]) return false;
  return true;
}

/** The key of a rule, relative to the prefix. */
export function ruleKey(rule: { clientId?: string | undefined; clientIdPrefix?: string | undefined }): string {
  return rule.clientId !== undefined ? EXACT + rule.clientId : PREFIX + (rule.clientIdPrefix ?? '');
}

/** Validates one key/value pair (key relative to the prefix, value as stored). Never throws. */
export function parseRouteEntry(key: string, value: string): ParsedRouteEntry {
  let json: unknown;
  try {
    json = JSON.parse(value);
  } catch (err) {
    return { kind: 'invalid', key, reason: `value is not JSON: ${(err as Error).message}` };
  }
  return routeEntryFromJson(key, json);
}

/** As parseRouteEntry, for an already-parsed value. */
export function routeEntryFromJson(key: string, json: unknown): ParsedRouteEntry {
  if (key === DEFAULT_KEY) {
    const r = defaultRouteSchema.safeParse(json);
    if (!r.success) return { kind: 'invalid', key, reason: formatIssues(r.error.issues).join('; ') };
    return { kind: 'default', key, defaultRoute: r.data };
  }
  if (!key.startsWith(EXACT) && !key.startsWith(PREFIX)) {
    return { kind: 'invalid', key, reason: `key must be "${EXACT}<clientId>", "${PREFIX}<clientIdPrefix>" or "${DEFAULT_KEY}"` };
  }
  const sure = quickRule(json);
  const r = sure !== undefined ? { success: true as const, data: sure } : routeRuleSchema.safeParse(json);
  if (!r.success) return { kind: 'invalid', key, reason: formatIssues(r.error.issues).join('; ') };
  if (ruleKey(r.data) !== key) {
    return { kind: 'invalid', key, reason: `value is the rule for key "${ruleKey(r.data)}", not for its own key` };
  }
  return { kind: 'rule', key, rule: r.data };
}

/** What the source keeps per key: the validated rule, or the default route under DEFAULT_KEY. */
export type RouteValue = RouteRuleConfig | DefaultRouteConfig;

export function entryValue(entry: RouteEntry): RouteValue {
  return entry.kind === 'default' ? entry.defaultRoute : entry.rule;
}

/** Two validated values route the same way (zod emits keys in schema order, so JSON compares). */
export function sameValue(a: RouteValue | undefined, b: RouteValue | undefined): boolean {
  return a === b || (a !== undefined && b !== undefined && JSON.stringify(a) === JSON.stringify(b));
}

/**
 * The keys that can match a clientId, most specific first: the exact key, every
 * prefix key from the whole id down to the empty prefix, then the default. Lets
 * `routes explain` fetch a handful of keys instead of the whole table.
 */
export function candidateKeys(clientId: string): string[] {
  const keys = [EXACT + clientId];
  for (let len = clientId.length; len >= 0; len--) keys.push(PREFIX + clientId.slice(0, len));
  keys.push(DEFAULT_KEY);
  return keys;
}

/** `[prefix, end)` covers every key that starts with `prefix` (etcd's range convention). */
export function prefixRangeEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]!++;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]); // all 0xff: to the end of the keyspace
}
