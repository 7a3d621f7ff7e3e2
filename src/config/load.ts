/**
 * Reading and validating the config: once, at the boundary. The result is deeply
 * frozen; nothing downstream re-checks a setting. Every problem is reported with
 * the dotted path of the bad setting (`gateway.maxConnections: …`).
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { stripComments } from 'jsonc-parser';
import type { z } from 'zod';
import { ConfigError } from '../errors.js';
import { deepFreeze } from './deep-freeze.js';
import { quickRule } from './route-rule-check.js';
import { routeRuleSchema, type RouteRuleConfig } from './route-schema.js';
import { configSchema, ETCD_SOURCE_ROUTES_MESSAGE, type Config } from './schema.js';

export type { Config } from './schema.js';

export { CONFIG_ENV_VAR, DEFAULT_CONFIG_PATH } from './config-location.js';
export { deepFreeze } from './deep-freeze.js';
export { parseListen } from './listen-address.js';

/** Validates an already-parsed object. Throws ConfigError listing every bad setting. */
export function parseConfig(input: unknown, source = '<inline>'): Config {
  const result = configSchema.safeParse(input);
  if (!result.success) throw new ConfigError(source, formatIssues(result.error.issues));
  return deepFreeze(result.data);
}

/** Reads, parses and validates a JSON config file. */
export function loadConfigFile(path: string): Config {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw unreadable(path, err);
  }
  return parseConfig(parseJson(path, text), path);
}

export function unreadable(path: string, err: unknown): ConfigError {
  const e = err as NodeJS.ErrnoException;
  return new ConfigError(path, [`(file): cannot read: ${e.code ?? e.message}`], { cause: err });
}

/**
 * JSON, or JSON with comments (`//` line and block comments, as `stratix-gateway default-config`
 * writes): plain JSON is parsed as it is (fast for a million rules); only a file that
 * fails is tried again without its comments (each comment character replaced by a
 * space, so the error's position still points into the file). Trailing commas are not
 * allowed.
 */
export function parseJsonc(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    if (!text.includes('/')) throw err;
    return JSON.parse(stripComments(text, ' '));
  }
}

export function parseJson(path: string, text: string): unknown {
  try {
    return parseJsonc(text);
  } catch (err) {
    throw new ConfigError(path, [`(file): not valid JSON (comments are allowed): ${(err as Error).message}`], { cause: err });
  }
}

/**
 * Reads, parses and validates a JSON config file without holding the event loop for
 * long: for hot reloads in a process that serves while it reloads. The result and the
 * messages are the same as `loadConfigFile`'s; only the rules are validated (and
 * frozen) in slices of about `sliceMs`. JSON.parse itself is one step (~1 s per 100 MB);
 * the primary uses packed-config.ts instead, which parses the rules one at a time.
 */
export async function loadConfigFileAsync(path: string, sliceMs = 8): Promise<Config> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw unreadable(path, err);
  }
  return parseConfigAsync(parseJson(path, text), path, sliceMs);
}

/** As `parseConfig`, validating `routes` in time slices (see loadConfigFileAsync). */
export async function parseConfigAsync(input: unknown, source = '<inline>', sliceMs = 8): Promise<Config> {
  const routes = (input as { routes?: unknown } | null)?.routes;
  if (input === null || typeof input !== 'object' || Array.isArray(input) || !Array.isArray(routes)) return parseConfig(input, source);
  const rest = configSchema.safeParse({ ...input, routes: [] });
  const lines = rest.success ? [] : formatIssues(rest.error.issues);
  const checked: RouteRuleConfig[] = new Array<RouteRuleConfig>(routes.length);
  let deadline = performance.now() + sliceMs;
  for (let i = 0; i < routes.length; i++) {
    if ((i & 255) === 0 && performance.now() >= deadline) {
      await nextTurn();
      deadline = performance.now() + sliceMs;
    }
    const sure = quickRule(routes[i]);
    if (sure !== undefined) {
      checked[i] = Object.freeze(sure);
      continue;
    }
    const r = routeRuleSchema.safeParse(routes[i]);
    if (r.success) checked[i] = deepFreeze(r.data);
    else lines.push(...formatIssues(r.error.issues.map((issue) => ({ ...issue, path: ['routes', i, ...issue.path] }))));
  }
  if (routes.length > MAX_ROUTES) lines.push(`routes: Too big: expected array to have <=${MAX_ROUTES} items`);
  if (rest.success && rest.data.routeSource.type === 'etcd' && routes.length > 0) lines.push(`routes: ${ETCD_SOURCE_ROUTES_MESSAGE}`);
  if (lines.length > 0) throw new ConfigError(source, lines);
  const config = { ...rest.data!, routes: Object.freeze(checked) as RouteRuleConfig[] };
  for (const key of Object.keys(config) as Array<keyof Config>) if (key !== 'routes') deepFreeze(config[key]);
  return Object.freeze(config);
}

/** configSchema's bound on `routes` (kept in step by a test). */
export const MAX_ROUTES = 10_000_000;

export function formatIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  const lines: string[] = [];
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) lines.push(`${formatPath([...issue.path, key])}: unknown setting`);
      continue;
    }
    if (issue.code === 'invalid_union' && issue.errors.length > 0) {
      // Report the branch that got furthest, rather than "invalid input".
      const best = issue.errors.reduce((a, b) => (b.length < a.length ? b : a));
      lines.push(...formatIssues(best.map((i) => ({ ...i, path: [...issue.path, ...i.path] }))));
      continue;
    }
    lines.push(`${formatPath(issue.path)}: ${issue.message}`);
  }
  return lines;
}

function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(root)';
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out === '' ? String(p) : `.${String(p)}`;
  }
  return out;
}

