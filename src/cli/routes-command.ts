/**
 * `stratix-gateway routes …`: the route rules, against etcd or a file.
 *
 *   routes import FILE   [--etcd URL[,URL…] [--prefix P] | --file OUT | --config OUT] [--prune] [--dry-run]
 *   routes export        [--etcd URL[,URL…] [--prefix P] | --file FILE | --config FILE] [--format json|jsonl]
 *   routes explain ID    [--etcd URL[,URL…] [--prefix P] | --file FILE | --config FILE]
 *
 * import: FILE is `{"routes":[…]}` (a routes file or the whole config file), a JSON
 *   array of rules, or JSON lines (route-file.ts). Every rule is validated first;
 *   one bad rule and nothing is written. Into etcd: one key per rule (route-key.ts),
 *   only the keys whose value changes, in transactions of ≤128 operations. Into a
 *   file: the rules are merged into its `routes` (by key; the file's other settings
 *   are kept) and the file is replaced atomically. `--prune` also removes the rules
 *   that are not in FILE. Prints one line of counts.
 * export: every rule as `{"routes":[…],"defaultRoute":…}` (or JSON lines), which
 *   `routes import` reads back.
 * explain: how the gateway routes clientId ID, decided by the real route table
 *   (src/routing); from etcd only the keys that can match ID are read. Exit status 1
 *   when nothing matches (like grep).
 *
 * Exit status: 0 done, 1 failed (or no match), 2 bad command line.
 */
import { once } from 'node:events';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { applyEdits, modify } from 'jsonc-parser';
import { parseJsonc } from '../config/load.js';
import { Progress, type ProgressStream } from '../ops/progress.js';
import type { Writable } from 'node:stream';
import type { DefaultRouteConfig, RouteRuleConfig } from '../config/route-schema.js';
import { buildRouteTable } from '../routing/index.js';
import { isValidClientId } from '../protocol/client-id.js';
import { StratixError } from '../errors.js';
import type { EtcdRouteStore } from '../sources/etcd-route-store.js';
import { readRouteFile, type RouteFileContent } from '../sources/route-file.js';
import {
  candidateKeys,
  DEFAULT_KEY,
  DEFAULT_ROUTE_PREFIX,
  entryValue,
  parseRouteEntry,
  ruleKey,
  sameValue,
  type RouteValue,
} from '../sources/route-key.js';
import { routeSourceError } from '../sources/route-source-error.js';

export interface RoutesCommandIo {
  stdout: Writable;
  stderr: Writable;
}

export interface RoutesCommandOptions {
  /**
   * Used when the command line names no target: the gateway's configured source
   * (the lead's main.ts fills it from the config's routeSource).
   */
  defaultTarget?: { etcd: { endpoints: readonly string[]; prefix?: string } } | { file: string };
  /** Deadline of each etcd request. Default 10000. */
  requestTimeoutMs?: number;
  /** Keys per page when reading etcd. Default 50000. */
  pageSize?: number;
}

const USAGE = `usage:
  stratix-gateway routes import FILE  [--etcd URL[,URL...] [--prefix P] | --file OUT | --config OUT] [--prune] [--dry-run]
  stratix-gateway routes export       [--etcd URL[,URL...] [--prefix P] | --file FILE | --config FILE] [--format json|jsonl]
  stratix-gateway routes explain ID   [--etcd URL[,URL...] [--prefix P] | --file FILE | --config FILE]
Default prefix: ${DEFAULT_ROUTE_PREFIX}`;

type EtcdTarget = { kind: 'etcd'; endpoints: string[]; prefix: string };
type Target = EtcdTarget | { kind: 'file'; path: string };

/** The rules of a target, keyed as in etcd. */
interface RuleSet {
  values: Map<string, RouteValue>;
  /** Keys whose stored value is invalid (etcd only). */
  invalid: string[];
}

export async function runRoutesCommand(args: string[], io: RoutesCommandIo, options: RoutesCommandOptions = {}): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: {
        etcd: { type: 'string' },
        prefix: { type: 'string' },
        file: { type: 'string' },
        config: { type: 'string' },
        format: { type: 'string' },
        prune: { type: 'boolean' },
        'dry-run': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    return usage(io, (err as Error).message);
  }
  const { values: flags, positionals } = parsed;
  if (flags.help === true) {
    io.stdout.write(USAGE + '\n');
    return 0;
  }
  const [verb, operand, ...extra] = positionals;
  if (extra.length > 0) return usage(io, `unexpected argument: ${extra[0]}`);

  const sources = [flags.etcd, flags.file, flags.config].filter((v) => v !== undefined);
  if (sources.length > 1) return usage(io, 'give only one of --etcd URL, --file FILE or --config FILE');
  if (flags.prefix !== undefined && flags.etcd === undefined) return usage(io, '--prefix goes with --etcd');
  let target: Target;
  if (flags.etcd !== undefined) {
    target = {
      kind: 'etcd',
      endpoints: flags.etcd.split(',').map((s) => s.trim()).filter((s) => s !== ''),
      prefix: flags.prefix ?? DEFAULT_ROUTE_PREFIX,
    };
  } else if (sources.length === 1) {
    target = { kind: 'file', path: (flags.file ?? flags.config)! };
  } else if (options.defaultTarget !== undefined) {
    const d = options.defaultTarget;
    target = 'file' in d ? { kind: 'file', path: d.file } : { kind: 'etcd', endpoints: [...d.etcd.endpoints], prefix: d.etcd.prefix ?? DEFAULT_ROUTE_PREFIX };
  } else {
    return usage(io, 'give one of --etcd URL, --file FILE or --config FILE');
  }
  if (target.kind === 'etcd' && target.endpoints.length === 0) return usage(io, '--etcd needs at least one URL');

  try {
    switch (verb) {
      case 'import':
        if (operand === undefined) return usage(io, 'routes import needs a FILE');
        return await importRoutes(operand, target, { prune: flags.prune === true, dryRun: flags['dry-run'] === true }, io, options);
      case 'export': {
        if (operand !== undefined) return usage(io, `unexpected argument: ${operand}`);
        const format = flags.format ?? 'json';
        if (format !== 'json' && format !== 'jsonl') return usage(io, '--format is json or jsonl');
        return await exportRoutes(target, format, io, options);
      }
      case 'explain':
        if (operand === undefined) return usage(io, 'routes explain needs a clientId');
        if (!isValidClientId(operand)) return usage(io, `not a valid clientId: ${JSON.stringify(operand)}`);
        return await explainRoute(operand, target, io, options);
      default:
        return usage(io, verb === undefined ? 'missing subcommand' : `unknown subcommand: ${verb}`);
    }
  } catch (err) {
    // etcd's errors arrive as STRATIX_ERR_ETCD (withStore); a file system error keeps its errno code.
    const code = err instanceof StratixError ? err.code : String((err as { code?: unknown }).code ?? 'UNKNOWN');
    io.stderr.write(`error: ${(err as Error).message} (${code})\n`);
    return 1;
  }
}

function usage(io: RoutesCommandIo, message: string): number {
  io.stderr.write(`error: ${message} (${routeSourceError('USAGE', '').code})\n${USAGE}\n`);
  return 2;
}

// --- import ---------------------------------------------------------------------

async function importRoutes(
  file: string,
  target: Target,
  opts: { prune: boolean; dryRun: boolean },
  io: RoutesCommandIo,
  options: RoutesCommandOptions,
): Promise<number> {
  const reading = stepProgress(io, `validating ${file}`);
  const input = await readRouteFile(file, (done, total) => reading.update(done, total));
  reading.finish();
  const wanted = toValues(input);
  if (input.duplicates > 0) io.stderr.write(`warning: ${input.duplicates} rules repeat an earlier rule's key and were skipped (the first is kept)\n`);

  const current = await readTarget(target, options, true, target.kind === 'etcd' ? stepProgress(io, `reading etcd prefix ${target.prefix}`) : undefined);
  const puts: Array<readonly [string, RouteValue]> = [];
  let added = 0;
  let changed = 0;
  for (const [key, value] of wanted) {
    const was = current.values.get(key);
    if (sameValue(was, value)) continue;
    if (was === undefined) added++;
    else changed++;
    puts.push([key, value]);
  }
  const deletes: string[] = [];
  if (opts.prune) {
    for (const key of current.values.keys()) if (!wanted.has(key)) deletes.push(key);
    for (const key of current.invalid) if (!wanted.has(key)) deletes.push(key);
  }
  const unchanged = wanted.size - added - changed;

  let where: string;
  let revision = '';
  if (target.kind === 'etcd') {
    where = `etcd ${target.endpoints.join(',')} prefix ${target.prefix}`;
    if (!opts.dryRun && (puts.length > 0 || deletes.length > 0)) {
      const writing = stepProgress(io, 'writing to etcd', 'keys');
      const res = await withStore(target, options, (store) =>
        store.write(
          puts.map(([k, v]) => [k, JSON.stringify(v)] as const),
          deletes,
          { onProgress: (done, total) => writing.update(done, total) },
        ),
      );
      writing.finish();
      revision = ` (revision ${res.revision})`;
    }
  } else {
    where = target.path;
    if (!opts.dryRun && (puts.length > 0 || deletes.length > 0)) {
      const next = new Map(current.values);
      for (const k of deletes) next.delete(k);
      for (const [k, v] of puts) next.set(k, v);
      await writeRulesIntoFile(target.path, next);
    }
  }
  const counts = `${added} added, ${changed} changed, ${unchanged} unchanged, ${deletes.length} deleted`;
  io.stdout.write(`${opts.dryRun ? 'would import' : 'imported'} ${wanted.size} routes into ${where}: ${counts}${revision}\n`);
  return 0;
}

function toValues(content: RouteFileContent): Map<string, RouteValue> {
  const values = new Map<string, RouteValue>();
  for (const rule of content.rules) values.set(ruleKey(rule), rule);
  if (content.defaultRoute !== undefined) values.set(DEFAULT_KEY, content.defaultRoute);
  return values;
}

/** Merges into a file's `routes`/`defaultRoute`, keeping its other settings; atomic replace. */
async function writeRulesIntoFile(path: string, values: Map<string, RouteValue>): Promise<void> {
  let text: string | undefined;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const { rules, defaultRoute } = splitValues(values);
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  await writeFile(tmp, text === undefined ? JSON.stringify({ routes: rules }, null, 2) + '\n' : mergeRules(text, rules, defaultRoute));
  await rename(tmp, path);
}

/**
 * The file's text with `routes` and `defaultRoute` replaced. Plain JSON is rewritten
 * (fast for a million rules); a file with comments (JSONC, as default-config writes) is
 * edited in place, so its comments and layout survive.
 */
function mergeRules(text: string, rules: RouteRuleConfig[], defaultRoute: DefaultRouteConfig | undefined): string {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    doc = undefined;
  }
  if (doc !== undefined) {
    const obj: Record<string, unknown> = doc !== null && typeof doc === 'object' && !Array.isArray(doc) ? (doc as Record<string, unknown>) : {};
    obj['routes'] = rules;
    if (defaultRoute !== undefined) obj['defaultRoute'] = defaultRoute;
    else delete obj['defaultRoute'];
    return JSON.stringify(obj, null, 2) + '\n';
  }
  parseJsonc(text); // not even JSONC: fail with JSON's message, the file untouched
  const formattingOptions = { insertSpaces: true, tabSize: 2 };
  let out = applyEdits(text, modify(text, ['routes'], rules, { formattingOptions }));
  out = applyEdits(out, modify(out, ['defaultRoute'], defaultRoute, { formattingOptions }));
  return out;
}

// --- export ---------------------------------------------------------------------

async function exportRoutes(target: Target, format: 'json' | 'jsonl', io: RoutesCommandIo, options: RoutesCommandOptions): Promise<number> {
  const { values, invalid } = await readTarget(target, options, false);
  const { rules, defaultRoute } = splitValues(values);
  const out = new ChunkedWriter(io.stdout);
  if (format === 'jsonl') {
    for (const r of rules) await out.write(JSON.stringify(r) + '\n');
    if (defaultRoute !== undefined) await out.write(JSON.stringify({ defaultRoute }) + '\n');
  } else {
    await out.write('{"routes":[');
    for (let i = 0; i < rules.length; i++) await out.write((i === 0 ? '\n' : ',\n') + JSON.stringify(rules[i]));
    await out.write(rules.length === 0 ? ']' : '\n]');
    if (defaultRoute !== undefined) await out.write(`,\n"defaultRoute":${JSON.stringify(defaultRoute)}`);
    await out.write('}\n');
  }
  await out.flush();
  if (invalid.length > 0) io.stderr.write(`warning: ${invalid.length} keys hold invalid values and were left out, e.g. ${invalid[0]}\n`);
  return 0;
}

/** Joins small writes into ~64 KiB chunks and waits for 'drain' (a million rules stay bounded in memory). */
class ChunkedWriter {
  readonly #stream: Writable;
  #buffer = '';
  constructor(stream: Writable) {
    this.#stream = stream;
  }
  async write(s: string): Promise<void> {
    this.#buffer += s;
    if (this.#buffer.length >= 65_536) await this.flush();
  }
  async flush(): Promise<void> {
    if (this.#buffer === '') return;
    const chunk = this.#buffer;
    this.#buffer = '';
    if (!this.#stream.write(chunk)) await once(this.#stream, 'drain');
  }
}

// --- explain --------------------------------------------------------------------

async function explainRoute(clientId: string, target: Target, io: RoutesCommandIo, options: RoutesCommandOptions): Promise<number> {
  let values: Map<string, RouteValue>;
  let revision: number | undefined;
  if (target.kind === 'etcd') {
    // Only the keys that can match: the exact key, each prefix of the id, the default.
    const res = await withStore(target, options, (store) => store.getMany(candidateKeys(clientId)));
    revision = res.revision;
    values = new Map();
    for (const [key, raw] of res.values) {
      const entry = parseRouteEntry(key, raw);
      if (entry.kind === 'invalid') io.stderr.write(`warning: ${target.prefix}${key} holds an invalid value and is ignored: ${entry.reason}\n`);
      else values.set(key, entryValue(entry));
    }
  } else {
    values = toValues(await readRouteFile(target.path));
  }
  const { rules, defaultRoute } = splitValues(values);
  const table = buildRouteTable(rules, defaultRoute);
  const explanation = table.explain(clientId);
  const matchedKey = explanation.rule === undefined ? undefined : keyOfExplained(explanation.rule);
  const where =
    target.kind === 'etcd'
      ? { etcd: target.endpoints, revision, key: matchedKey === undefined ? undefined : target.prefix + matchedKey }
      : { file: target.path, key: matchedKey };
  io.stdout.write(JSON.stringify({ ...explanation, source: where }, null, 2) + '\n');
  return explanation.matched ? 0 : 1;
}

function keyOfExplained(rule: { kind: string; key: string }): string {
  if (rule.kind === 'default') return DEFAULT_KEY;
  return rule.kind === 'exact' ? ruleKey({ clientId: rule.key }) : ruleKey({ clientIdPrefix: rule.key });
}

// --- shared ---------------------------------------------------------------------

/** Runs `fn` with a store for the target; etcd's errors become STRATIX_ERR_ETCD naming the endpoints. */
async function withStore<T>(target: EtcdTarget, options: RoutesCommandOptions, fn: (store: EtcdRouteStore) => Promise<T>): Promise<T> {
  const { EtcdRouteStore } = await import('../sources/etcd-route-store.js'); // only this command needs the etcd client
  const store = new EtcdRouteStore({ endpoints: target.endpoints, prefix: target.prefix, requestTimeoutMs: options.requestTimeoutMs ?? 10_000 });
  try {
    return await fn(store);
  } catch (err) {
    throw err instanceof StratixError ? err : routeSourceError('ETCD', `etcd at ${target.endpoints.join(',')}: ${(err as Error).message}`, err);
  } finally {
    store.close();
  }
}

/** Every rule of a target. `missingOk`: a file that does not exist yet is empty (import into a new file). */
async function readTarget(target: Target, options: RoutesCommandOptions, missingOk: boolean, progress?: StepProgress): Promise<RuleSet> {
  if (target.kind === 'file') {
    try {
      return { values: toValues(await readRouteFile(target.path)), invalid: [] };
    } catch (err) {
      if (missingOk && (err as { cause?: NodeJS.ErrnoException }).cause?.code === 'ENOENT') return { values: new Map(), invalid: [] };
      throw err;
    }
  }
  const values = new Map<string, RouteValue>();
  const invalid: string[] = [];
  await withStore(target, options, (store) =>
    store.readAll(options.pageSize ?? 50_000, (pairs) => {
      progress?.update(values.size + invalid.length + pairs.length);
      for (const [key, raw] of pairs) {
        const entry = parseRouteEntry(key, raw);
        if (entry.kind === 'invalid') invalid.push(target.prefix + key);
        else values.set(key, entryValue(entry));
      }
    }),
  );
  progress?.finish();
  return { values, invalid };
}

/** Below this many, a step shows no progress (a small import prints only its result). */
const PROGRESS_MIN = 10_000;

interface StepProgress {
  update(done: number, total?: number): void;
  finish(): void;
}

/** A progress bar on stderr for one step of a large import (src/ops/progress.ts). */
function stepProgress(io: RoutesCommandIo, label: string, unit = 'rules'): StepProgress {
  const bar = new Progress(io.stderr as ProgressStream, { label, unit, quietBelow: PROGRESS_MIN });
  return {
    update(done, total) {
      bar.total = total;
      bar.update(done);
    },
    finish() {
      bar.finish();
    },
  };
}

function splitValues(values: Map<string, RouteValue>): { rules: RouteRuleConfig[]; defaultRoute: DefaultRouteConfig | undefined } {
  const rules: RouteRuleConfig[] = [];
  let defaultRoute: DefaultRouteConfig | undefined;
  for (const [key, value] of values) {
    if (key === DEFAULT_KEY) defaultRoute = value as DefaultRouteConfig;
    else rules.push(value as RouteRuleConfig);
  }
  return { rules, defaultRoute };
}
