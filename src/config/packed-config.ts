/**
 * Loads a config file for a process that routes nothing but must know the rules (the
 * primary): the settings as `loadConfigFileAsync` validates them, and the rules packed
 * (routing/packed-rules.ts, ~60 bytes a rule) instead of as objects. `config.routes` of
 * the result is empty; `rules` holds them and the default route.
 *
 * The file is read as bytes and the `routes` array found without parsing the file
 * (route-array-scanner.ts); the rest of the file is parsed as usual, and each rule
 * alone, validated (route-rule-check.ts: by hand when it is certainly valid — the
 * seed's form straight in the bytes, copied into the pack without a string — else by
 * routeRuleSchema), in time slices, and packed (the first rule for a key wins, as in the route table). So a million rules never exist as a million
 * objects, nor the file as one string. The errors are those of `loadConfigFileAsync`,
 * word for word: a file the scanner is not sure of, or a rule that is not JSON, is
 * loaded that way instead (its whole-file JSON.parse then names the error).
 */
import { readFile } from 'node:fs/promises';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { ConfigError } from '../errors.js';
import { PackedRules } from '../routing/packed-rules.js';
import { deepFreeze, formatIssues, MAX_ROUTES, parseConfigAsync, parseJson, parseJsonc, unreadable } from './load.js';
import { scanRouteArray, type RouteArrayLayout } from './route-array-scanner.js';
import { plainRuleAt, quickRule } from './route-rule-check.js';
import { routeRuleSchema } from './route-schema.js';
import { configSchema, ETCD_SOURCE_ROUTES_MESSAGE, type Config } from './schema.js';

export interface PackedConfig {
  /** The validated, frozen settings, with `routes` empty. */
  readonly config: Config;
  /** The rules and the default route. */
  readonly rules: PackedRules;
}

/** Packed bytes per file byte, to reserve the arena once (a seed-style rule: ~54-60 of ~90-95; trimmed after). */
const PACKED_PER_FILE_BYTE = 0.7;

export async function loadPackedConfigFile(path: string, sliceMs = 8): Promise<PackedConfig> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw unreadable(path, err);
  }
  const layout = scanRouteArray(bytes);
  const packed = layout === undefined ? undefined : await packRules(bytes, layout, path, sliceMs);
  return packed ?? packParsed(await parseConfigAsync(parseJson(path, bytes.toString('utf8')), path, sliceMs));
}

/** A config whose rules came as objects (a file loaded whole, or a Config in hand). */
export function packParsed(config: Config): PackedConfig {
  const rules = PackedRules.from(config.routes, config.defaultRoute);
  return { config: Object.freeze({ ...config, routes: Object.freeze([]) as unknown as Config['routes'] }), rules };
}

/** undefined: something only the whole-file parse can name; the caller does that. */
async function packRules(bytes: Buffer, layout: RouteArrayLayout, path: string, sliceMs: number): Promise<PackedConfig | undefined> {
  let input: unknown;
  try {
    input = parseJsonc(bytes.toString('utf8', 0, layout.open) + '[]' + bytes.toString('utf8', layout.close + 1));
  } catch {
    return undefined;
  }
  if (input === null || typeof input !== 'object' || Array.isArray(input)) return undefined;
  const rest = configSchema.safeParse(input);
  const lines = rest.success ? [] : formatIssues(rest.error.issues);
  const rules = new PackedRules({ bytes: bytes.length * PACKED_PER_FILE_BYTE, rules: layout.count });
  const spans = new Int32Array(5);
  let deadline = performance.now() + sliceMs;
  for (let i = 0; i < layout.count; i++) {
    if ((i & 255) === 0 && performance.now() >= deadline) {
      await nextTurn();
      deadline = performance.now() + sliceMs;
    }
    const start = layout.starts[i]!;
    const end = layout.ends[i]!;
    if (plainRuleAt(bytes, start, end, spans)) {
      rules.addBytes(spans[0] === 1, bytes, spans[1]!, spans[2]!, spans[3]!, spans[4]!);
      continue;
    }
    let value: unknown;
    try {
      value = parseJsonc(bytes.toString('utf8', start, end));
    } catch {
      return undefined;
    }
    const sure = quickRule(value);
    if (sure !== undefined) {
      rules.add(sure);
      continue;
    }
    const r = routeRuleSchema.safeParse(value);
    if (r.success) rules.add(r.data);
    else lines.push(...formatIssues(r.error.issues.map((issue) => ({ ...issue, path: ['routes', i, ...issue.path] }))));
  }
  if (layout.count > MAX_ROUTES) lines.push(`routes: Too big: expected array to have <=${MAX_ROUTES} items`);
  if (rest.success && rest.data.routeSource.type === 'etcd' && layout.count > 0) lines.push(`routes: ${ETCD_SOURCE_ROUTES_MESSAGE}`);
  if (lines.length > 0) throw new ConfigError(path, lines);
  const config = deepFreeze(rest.data!);
  rules.setDefault(config.defaultRoute);
  rules.trim();
  return { config, rules };
}
