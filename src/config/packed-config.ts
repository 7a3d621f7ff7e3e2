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

/** A config whose settings are valid, with its rules still being packed (openPackedConfigFile). */
export interface OpeningConfig {
  readonly config: Config;
  /** Rejects with the ConfigError `loadPackedConfigFile` would throw (bad rules). */
  readonly rules: Promise<PackedRules>;
}

/** Packed bytes per file byte, to reserve the arena once (a seed-style rule: ~54-60 of ~90-95; trimmed after). */
const PACKED_PER_FILE_BYTE = 0.7;

export async function loadPackedConfigFile(path: string, sliceMs = 8): Promise<PackedConfig> {
  const { config, rules } = await openPackedConfigFile(path, sliceMs);
  return { config, rules: await rules };
}

/**
 * As `loadPackedConfigFile`, but resolves once the settings are known to be valid, the
 * rules still being packed (in time slices): a primary starts its workers meanwhile. A
 * file with a bad setting is packed whole first, so that its error lists the bad rules
 * too, word for word as `loadPackedConfigFile`'s.
 */
export async function openPackedConfigFile(path: string, sliceMs = 8): Promise<OpeningConfig> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw unreadable(path, err);
  }
  const layout = scanRouteArray(bytes);
  const settings = layout === undefined ? undefined : settingsAround(bytes, layout);
  if (layout === undefined || settings === undefined) return opened(await loadWhole(bytes, path, sliceMs));
  const lines = settings.success ? [] : formatIssues(settings.error.issues);
  const late = lateLines(layout.count, settings.success ? settings.data : undefined);
  const pack = async (): Promise<PackedConfig> => {
    const packed = await packRules(bytes, layout, sliceMs);
    if (packed === undefined) return loadWhole(bytes, path, sliceMs);
    const all = [...lines, ...packed.lines, ...late];
    if (all.length > 0) throw new ConfigError(path, all);
    const config = deepFreeze(settings.data!);
    packed.rules.setDefault(config.defaultRoute);
    packed.rules.trim();
    return { config, rules: packed.rules };
  };
  if (lines.length > 0 || late.length > 0) return opened(await pack());
  const rules = pack().then((p) => p.rules);
  rules.catch(() => undefined);
  return { config: deepFreeze(settings.data!), rules };
}

function opened({ config, rules }: PackedConfig): OpeningConfig {
  return { config, rules: Promise.resolve(rules) };
}

/** A config whose rules came as objects (a file loaded whole, or a Config in hand). */
export function packParsed(config: Config): PackedConfig {
  const rules = PackedRules.from(config.routes, config.defaultRoute);
  return { config: Object.freeze({ ...config, routes: Object.freeze([]) as unknown as Config['routes'] }), rules };
}

/** The file parsed as one document: what names an error only that parse can place. */
async function loadWhole(bytes: Buffer, path: string, sliceMs: number): Promise<PackedConfig> {
  return packParsed(await parseConfigAsync(parseJson(path, bytes.toString('utf8')), path, sliceMs));
}

/** The settings: the file with an empty `routes`, validated; undefined if that is not JSON. */
function settingsAround(bytes: Buffer, layout: RouteArrayLayout): ReturnType<typeof configSchema.safeParse> | undefined {
  let input: unknown;
  try {
    input = parseJsonc(bytes.toString('utf8', 0, layout.open) + '[]' + bytes.toString('utf8', layout.close + 1));
  } catch {
    return undefined;
  }
  if (input === null || typeof input !== 'object' || Array.isArray(input)) return undefined;
  return configSchema.safeParse(input);
}

/** What is wrong with the rules as a whole (after each rule's own errors). */
function lateLines(count: number, settings: Config | undefined): string[] {
  const lines: string[] = [];
  if (count > MAX_ROUTES) lines.push(`routes: Too big: expected array to have <=${MAX_ROUTES} items`);
  if (settings !== undefined && settings.routeSource.type === 'etcd' && count > 0) lines.push(`routes: ${ETCD_SOURCE_ROUTES_MESSAGE}`);
  return lines;
}

/** The rules packed and each bad rule's errors; undefined: a rule that is not JSON (only the whole-file parse names it). */
async function packRules(bytes: Buffer, layout: RouteArrayLayout, sliceMs: number): Promise<{ rules: PackedRules; lines: string[] } | undefined> {
  const lines: string[] = [];
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
  return { rules, lines };
}
