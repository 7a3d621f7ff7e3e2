/**
 * Reading and validating the config: once, at the boundary. The result is deeply
 * frozen; nothing downstream re-checks a setting. Every problem is reported with
 * the dotted path of the bad setting (`gateway.maxConnections: …`).
 */
import { readFileSync } from 'node:fs';
import type { z } from 'zod';
import { ConfigError } from '../errors.js';
import { configSchema, type Config } from './schema.js';

export type { Config } from './schema.js';

/** Where the CLI looks when neither `--config` nor STRATIX_CONFIG is given. */
export const DEFAULT_CONFIG_PATH = 'config/route.json';
export const CONFIG_ENV_VAR = 'STRATIX_CONFIG';

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
    const e = err as NodeJS.ErrnoException;
    throw new ConfigError(path, [`(file): cannot read: ${e.code ?? e.message}`], { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(path, [`(file): not valid JSON: ${(err as Error).message}`], { cause: err });
  }
  return parseConfig(json, path);
}

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

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as object)) deepFreeze(v);
  }
  return value;
}

/** `":8080"` → {host: undefined, port: 8080}; `"[::1]:9"` → {host: "::1", port: 9}. */
export function parseListen(listen: string): { host: string | undefined; port: number } {
  const i = listen.lastIndexOf(':');
  const port = Number(i === -1 ? listen : listen.slice(i + 1));
  let host = i <= 0 ? undefined : listen.slice(0, i);
  if (host?.startsWith('[')) host = host.slice(1, -1);
  return { host, port };
}
