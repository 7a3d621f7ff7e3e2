/**
 * Reads route rules from a file, in any of the forms `routes import` accepts and
 * `routes export` writes:
 *   - a JSON object with `routes` (and optionally `defaultRoute`): a routes file or
 *     the gateway's whole config file (its other settings are ignored here);
 *   - a JSON array of rules;
 *   - JSON lines: one rule per line, and optionally one `{"defaultRoute": …}` line.
 * Every rule is validated with routeRuleSchema; all problems are reported at once,
 * each prefixed with where it is (`routes[3].openclawGateway: …`, `line 7: …`).
 * Two rules with the same key: the first is kept, as the config file does.
 */
import { readFile } from 'node:fs/promises';
import { defaultRouteSchema, routeRuleSchema, type DefaultRouteConfig, type RouteRuleConfig } from '../config/route-schema.js';
import { formatIssues, parseJsonc } from '../config/load.js';
import { ruleKey } from './route-key.js';
import { routeSourceError } from './route-source-error.js';

export type RouteFileFormat = 'json' | 'jsonl';

export interface RouteFileContent {
  readonly rules: RouteRuleConfig[];
  readonly defaultRoute: DefaultRouteConfig | undefined;
  readonly format: RouteFileFormat;
  /** Rules dropped because an earlier rule had the same key. */
  readonly duplicates: number;
}

/** At most this many problems are listed; the rest are counted. */
const MAX_ISSUES = 50;

/** Told how many rules have been validated so far, and of how many (JSON lines: undefined). */
export type RouteFileProgress = (done: number, total: number | undefined) => void;

export async function readRouteFile(path: string, onProgress?: RouteFileProgress): Promise<RouteFileContent> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw routeSourceError('IMPORT_INVALID', `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, err);
  }
  return parseRouteFile(text, path, onProgress);
}

const PROGRESS_EVERY = 10_000;

export function parseRouteFile(text: string, source: string, onProgress?: RouteFileProgress): RouteFileContent {
  const issues: string[] = [];
  const rules: RouteRuleConfig[] = [];
  const seen = new Set<string>();
  let duplicates = 0;
  let defaultRoute: DefaultRouteConfig | undefined;
  const addRule = (value: unknown, where: string) => {
    const r = routeRuleSchema.safeParse(value);
    if (!r.success) {
      issues.push(...located(where, formatIssues(r.error.issues)));
      return;
    }
    const key = ruleKey(r.data);
    if (seen.has(key)) {
      duplicates++;
      return;
    }
    seen.add(key);
    rules.push(r.data);
  };
  const setDefault = (value: unknown, where: string) => {
    const r = defaultRouteSchema.safeParse(value);
    if (!r.success) issues.push(...located(where, formatIssues(r.error.issues)));
    else defaultRoute = r.data;
  };

  let format: RouteFileFormat = 'json';
  let doc: unknown;
  let isDocument = true;
  try {
    doc = parseJsonc(text); // a config file may carry comments
  } catch {
    isDocument = false;
  }
  const each = (list: unknown[], where: (i: number) => string): void => {
    for (let i = 0; i < list.length; i++) {
      addRule(list[i], where(i));
      if (onProgress !== undefined && (i + 1) % PROGRESS_EVERY === 0) onProgress(i + 1, list.length);
    }
    onProgress?.(list.length, list.length);
  };
  if (isDocument && Array.isArray(doc)) {
    each(doc, (i) => `[${i}]`);
  } else if (isDocument && doc !== null && typeof doc === 'object' && 'routes' in doc) {
    const o = doc as { routes: unknown; defaultRoute?: unknown };
    if (!Array.isArray(o.routes)) issues.push('routes: expected an array of rules');
    else each(o.routes, (i) => `routes[${i}]`);
    if (o.defaultRoute !== undefined) setDefault(o.defaultRoute, 'defaultRoute');
  } else {
    // JSON lines (a file holding one single rule is JSON lines too).
    format = 'jsonl';
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!.trim();
      if (line === '') continue;
      let v: unknown;
      try {
        v = JSON.parse(line);
      } catch (err) {
        issues.push(`line ${i + 1}: not JSON (${(err as Error).message})`);
        continue;
      }
      if (v !== null && typeof v === 'object' && 'defaultRoute' in v && Object.keys(v).length === 1) {
        setDefault((v as { defaultRoute: unknown }).defaultRoute, `line ${i + 1}: defaultRoute`);
      } else {
        addRule(v, `line ${i + 1}:`);
      }
    }
    if (rules.length === 0 && defaultRoute === undefined && issues.length === 0) {
      issues.push('(file): no rules: expected {"routes":[…]}, a JSON array of rules, or JSON lines');
    }
  }
  if (issues.length > 0) {
    const shown = issues.slice(0, MAX_ISSUES);
    if (issues.length > MAX_ISSUES) shown.push(`… and ${issues.length - MAX_ISSUES} more`);
    throw routeSourceError('IMPORT_INVALID', `invalid routes in ${source}:\n  ${shown.join('\n  ')}`);
  }
  return { rules, defaultRoute, format, duplicates };
}

/**
 * Prefixes formatIssues lines with where the value is: a path (`routes[3]` →
 * `routes[3].openclawGateway: …`) or a line label ending in ':' (`line 7: openclawGateway: …`).
 */
function located(where: string, lines: readonly string[]): string[] {
  return lines.map((line) => {
    const root = line.startsWith('(root): ');
    if (where.endsWith(':')) return `${where} ${root ? line.slice(8) : line}`;
    if (root) return `${where}: ${line.slice(8)}`;
    return line.startsWith('[') ? where + line : `${where}.${line}`;
  });
}
