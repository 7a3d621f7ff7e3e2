/**
 * The route controller: the one place that owns where the rules come from and keeps
 * every replica (the standalone gateway, or each worker process) on the same table.
 * In cluster mode it lives in the primary; the workers only hold tables.
 *
 * Sources:
 * - `file` (routeSource.type "file"): the rules are the config file's `routes` and
 *   `defaultRoute`. A reload (POST /admin/reload, SIGHUP, the file watcher) reads and
 *   validates the whole file off to the side (`loadConfigFileAsync`, in time slices),
 *   builds the new table, and only then sends it out. An invalid file changes nothing:
 *   the error names each bad setting by path, is logged, and counts in
 *   `stratix_reload_failures_total`.
 * - `etcd`: an EtcdRouteSource loads the prefix at start (or the local snapshot when
 *   etcd is down) and then streams deltas; each delta costs O(changes) here and in
 *   every replica, never a rebuild. A reload then only re-reads the routing policy.
 *
 * Distribution: every change is an operation with a sequence number: a `full` set
 * (the start, a reload, an etcd full reload) or a `delta`. The controller keeps the
 * last full set and the deltas since (at most MAX_DELTA_LOG), and pumps each replica
 * from where it is: a replica that is fresh (a restarted worker), lagging behind the
 * log, or whose reported version disagreed gets a full set, then the deltas. Each
 * replica answers every operation with its table version; "converged" = every replica
 * that is up answered the controller's version for the latest operation.
 *
 * Memory: the controller routes nothing, so it holds no route table and no rule
 * objects: a full set is a PackedRules (~60 bytes a rule). From a file it is the one
 * the file was loaded into. From etcd the source holds the live set; a full set for a
 * replica is a copy taken at the latest sequence number (changes are numbered as the
 * source emits them, so the copy and the numbering agree), kept while replicas load it
 * and dropped once every replica has converged.
 *
 * Operator marks (`markUpstream`) go to every replica now and to every replica that
 * (re)starts later.
 */
import { isDeepStrictEqual } from 'node:util';
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Config, RouteChangePolicy } from '../config/schema.js';
import { loadPackedConfigFile } from '../config/packed-config.js';
import { adminError, ConfigError } from '../errors.js';
import { PackedRules } from '../routing/packed-rules.js';
import type { RouteExplanation } from '../routing/route-table.js';
import { UpstreamHealth, type UpstreamStatus } from '../routing/upstream-health.js';
import type { EtcdRouteSource } from '../sources/etcd-route-source.js';
import type { RouteChange, RouteSourceChange, RouteSourceStatus } from '../sources/route-source.js';
import { ConfigWatcher } from './config-watcher.js';
import type { RouteReplica, RouteSetData } from './route-replica.js';

export type ReloadTrigger = 'admin' | 'sighup' | 'watch';

export interface RouteControllerOptions {
  /** The validated config the process started with. */
  readonly config: Config;
  /** The config file: reloads read it. Without it, reload() answers that there is nothing to reload. */
  readonly configPath?: string | undefined;
  readonly replicas: readonly RouteReplica[];
  /**
   * The config's rules, packed (loadPackedConfigFile), or their promise (openPackedConfigFile:
   * start() waits for it; a rejection rejects start()); default: packed from `config.routes`.
   */
  readonly rules?: PackedRules | Promise<PackedRules> | undefined;
  /** Which replica serves a clientId (explain asks that one: pool health is per process). */
  readonly pick: (clientId: string) => number;
  readonly logger: Logger;
  /** Where the controller's metrics go. */
  readonly registry: Registry;
  /**
   * A full garbage collection, run once a full set has reached every replica (and after
   * an etcd snapshot write): the transient buffers of a big load then leave a process
   * that would not collect on its own (the primary: server/full-collection.ts).
   */
  readonly collectGarbage?: (() => void) | undefined;
}

/** What POST /admin/reload answers (200). */
export interface ReloadResult {
  readonly trigger: ReloadTrigger;
  /** The table version every replica holds now. */
  readonly version: string;
  readonly previousVersion: string;
  /** False when the file's rules give the same table (or the rules come from etcd). */
  readonly changed: boolean;
  readonly rules: number;
  readonly source: 'file' | 'etcd';
  readonly onRouteChange: RouteChangePolicy['onRouteChange'];
  /** Settings that differ from the running ones but only take effect after a restart. */
  readonly restartRequired: readonly string[];
  readonly elapsedMs: number;
}

interface FullOp {
  readonly kind: 'full';
  readonly seq: number;
  readonly set: RouteSetData;
  readonly version: string;
}

interface DeltaOp {
  readonly kind: 'delta';
  readonly seq: number;
  readonly changes: readonly RouteChange[];
  readonly revision: number;
  readonly version: string;
}

interface ReplicaState {
  readonly replica: RouteReplica;
  /** Sequence number of the last operation it applied; -1 = it holds nothing we know of. */
  synced: number;
  version: string | undefined;
  pumping: boolean;
  retry: NodeJS.Timeout | undefined;
  retryMs: number;
  lastError: string | undefined;
}

/** Deltas kept for replicas that lag (one further behind gets a full set). */
const MAX_DELTA_LOG = 10_000;
const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 30_000;
/** The etcd snapshot of the start is written once every replica holds the set, or after this long. */
const FIRST_SNAPSHOT_MAX_DELAY_MS = 30_000;

/** Settings a reload applies at once; every other change needs a restart. */
const LIVE_SETTINGS = new Set(['routes', 'defaultRoute', 'routing.onRouteChange', 'routing.migrateRatePerSecond']);

export class RouteController {
  readonly #opts: RouteControllerOptions;
  readonly #log: Logger;
  /** The config the process runs with (restart-only settings are compared with it). */
  readonly #running: Config;
  #policy: RouteChangePolicy;
  /** The latest operation's table version, rule count and source revision (0: none). */
  #version = '';
  #size = 0;
  #revision = 0;
  /** Operator marks only: the controller sees no connects. */
  readonly #health = new UpstreamHealth();
  #seq = 0;
  /** The last full set; undefined (etcd, after every replica converged) = take a copy of the source's when needed. */
  #base: FullOp | undefined;
  /** Deltas with seq #logStart, #logStart + 1, … #seq. */
  #deltas: DeltaOp[] = [];
  #logStart = 1;
  readonly #replicas: ReplicaState[];
  readonly #waiters = new Set<() => void>();
  #source: EtcdRouteSource | undefined;
  #sourceStatus: RouteSourceStatus;
  #watcher: ConfigWatcher | undefined;
  /** Reloads run one after another (etcd changes are numbered as they arrive, outside it). */
  #chain: Promise<unknown> = Promise.resolve();
  #pendingReload: Promise<ReloadResult> | undefined;
  #closed = false;
  /** The etcd source's snapshot of its start waits for the first convergence. */
  #firstSnapshotPending = true;
  /** A full set went out since the last collection. */
  #fullSinceCollect = false;
  #collectTimer: NodeJS.Timeout | undefined;
  readonly #reloadFailures: Counter;
  readonly #degraded: Gauge;

  constructor(opts: RouteControllerOptions) {
    this.#opts = opts;
    this.#log = opts.logger.child({ component: 'route-controller' });
    this.#running = opts.config;
    this.#policy = pickPolicy(opts.config);
    this.#replicas = opts.replicas.map((replica) => ({ replica, synced: -1, version: undefined, pumping: false, retry: undefined, retryMs: RETRY_MIN_MS, lastError: undefined }));
    this.#sourceStatus = { state: 'starting', reason: undefined, revision: 0, since: Date.now(), invalidKeys: 0 };
    const registers = [opts.registry];
    this.#reloadFailures = new Counter({
      name: 'stratix_reload_failures_total',
      help: 'Reloads refused because the config file was unreadable or invalid (the old table stayed).',
      registers,
    });
    this.#degraded = new Gauge({
      name: 'stratix_route_source_degraded',
      help: '1 while the route source (etcd) is unreachable and the last table keeps serving.',
      registers,
    });
    const self = this;
    new Gauge({
      name: 'stratix_route_table_converged',
      help: '1 when every worker that is up holds the route table version of the latest change.',
      registers,
      collect() {
        this.set(self.converged ? 1 : 0);
      },
    });
  }

  get sourceType(): 'file' | 'etcd' {
    return this.#running.routeSource.type;
  }

  get version(): string {
    return this.#version;
  }

  get policy(): RouteChangePolicy {
    return this.#policy;
  }

  /** Every replica that is up holds the version of the latest operation. */
  get converged(): boolean {
    const version = this.version;
    return this.#replicas.every((r) => !r.replica.available || (r.synced === this.#seq && r.version === version));
  }

  /**
   * Loads the initial rules (the config's, or etcd's / the snapshot), builds the table,
   * and brings every replica that is up onto it. Rejects when no rules can be had
   * (etcd down and no snapshot: STRATIX_ERR_ROUTE_SOURCE_UNAVAILABLE).
   * `awaitReplicas: false`: resolves once the set is out, without waiting for the
   * replicas to hold it (a primary whose workers are still starting: each worker waits
   * for its own sync, `syncReplica`).
   */
  async start({ awaitReplicas = true }: { awaitReplicas?: boolean } = {}): Promise<void> {
    const config = this.#running;
    let set: RouteSetData;
    if (config.routeSource.type === 'etcd') {
      const e = config.routeSource.etcd;
      // Loaded on demand: the etcd client (gRPC, protobufjs) costs ~10 MiB of RSS per process.
      const { EtcdRouteSource } = await import('../sources/etcd-route-source.js');
      // The start's snapshot waits until every replica holds the set (#releaseBase), at most FIRST_SNAPSHOT_MAX_DELAY_MS.
      const source = new EtcdRouteSource({
        ...e,
        snapshotPath: e.snapshotPath ?? undefined,
        logger: this.#opts.logger,
        onSnapshotWritten: () => this.#collectSoon(),
        firstSnapshotDelayMs: FIRST_SNAPSHOT_MAX_DELAY_MS,
      });
      this.#source = source;
      source.on('status', (s) => this.#onSourceStatus(s));
      try {
        set = await source.start();
      } catch (err) {
        await source.close();
        this.#source = undefined;
        throw err;
      }
      this.#onSourceStatus(source.status);
      source.on('change', (c) => this.#onSourceChange(c));
    } else {
      set = { rules: (await this.#opts.rules) ?? PackedRules.from(config.routes, config.defaultRoute), revision: 0 };
      this.#onSourceStatus({ state: 'ok', reason: undefined, revision: 0, since: Date.now(), invalidKeys: 0 });
    }
    // In the same turn as the listener above: an etcd change is numbered after this set.
    this.#install(set, 'start');
    const timeoutMs = config.routing.convergeTimeoutMs;
    if (awaitReplicas && !(await this.#waitConverged(timeoutMs))) throw new Error(`the route table did not reach every replica within ${timeoutMs} ms`);
    if (this.#opts.configPath !== undefined && config.routing.watchConfigFile) {
      this.#watcher = new ConfigWatcher(this.#opts.configPath, config.routing.watchDebounceMs, () => void this.reload('watch').catch(() => undefined), this.#log);
      this.#watcher.start();
    }
  }

  /** Brings one replica (e.g. a worker that just started) onto the current table; resolves when it is. */
  syncReplica(replica: RouteReplica): Promise<void> {
    const r = this.#replicas.find((x) => x.replica === replica);
    if (r === undefined) return Promise.reject(new Error(`unknown replica ${replica.label}`));
    r.synced = -1;
    r.version = undefined;
    return new Promise<void>((resolve, reject) => {
      const check = (): void => {
        if (r.synced === this.#seq) {
          this.#waiters.delete(check);
          resolve();
        } else if (!r.replica.available) {
          this.#waiters.delete(check);
          reject(new Error(`${replica.label} went away during its route sync`));
        }
      };
      this.#waiters.add(check);
      this.#pump(r);
      check();
    });
  }

  /**
   * Re-reads the config file and, for a file source, swaps in the new table on every
   * replica. Concurrent calls while one waits to start share it. Rejects with an
   * AdminError: RELOAD_INVALID (nothing changed) or RELOAD_NOT_APPLIED.
   */
  reload(trigger: ReloadTrigger): Promise<ReloadResult> {
    if (this.#pendingReload !== undefined) return this.#pendingReload;
    const run = this.#serial(() => {
      this.#pendingReload = undefined;
      return this.#reload(trigger);
    });
    this.#pendingReload = run;
    return run;
  }

  async #reload(trigger: ReloadTrigger): Promise<ReloadResult> {
    const started = performance.now();
    const path = this.#opts.configPath;
    const previousVersion = this.version;
    if (path === undefined) {
      throw adminError('RELOAD_INVALID', 'this gateway was started without a config file: there is nothing to reload', { issues: [], version: previousVersion });
    }
    let config: Config;
    let rules: PackedRules;
    try {
      ({ config, rules } = await loadPackedConfigFile(path));
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      this.#reloadFailures.inc();
      this.#log.error({ trigger, path, issues: err.issues, version: previousVersion }, 'reload refused: invalid config; keeping the current routes');
      throw adminError('RELOAD_INVALID', err.message, { issues: err.issues, version: previousVersion });
    }
    const restartRequired = changedSettings(this.#running, config).filter((s) => !LIVE_SETTINGS.has(s));
    if (restartRequired.length > 0) this.#log.warn({ trigger, settings: restartRequired }, 'reload: these settings changed but only take effect after a restart');
    const policyBefore = this.#policy;
    this.#policy = pickPolicy(config);
    if (!isDeepStrictEqual(policyBefore, this.#policy)) this.#log.info({ trigger, ...this.#policy }, 'route change policy updated');

    let changed = false;
    if (this.sourceType === 'file' && config.routeSource.type === 'file') {
      changed = this.#install({ rules, revision: 0 }, `reload (${trigger})`);
    }
    await this.#awaitConverged(trigger);
    const result: ReloadResult = {
      trigger,
      version: this.version,
      previousVersion,
      changed,
      rules: this.#size,
      source: this.sourceType,
      onRouteChange: this.#policy.onRouteChange,
      restartRequired,
      elapsedMs: Math.round(performance.now() - started),
    };
    this.#log.info(result, changed ? 'routes reloaded' : 'reload: routes unchanged');
    return result;
  }

  /** Makes a full set the latest operation and sends it out, unless it holds the rules every replica has. */
  #install(set: RouteSetData, why: string): boolean {
    const version = set.rules.version;
    if (this.#seq > 0 && version === this.#version) return false;
    const previous = this.#version || undefined;
    this.#base = { kind: 'full', seq: ++this.#seq, set, version };
    this.#fullSinceCollect = true;
    this.#deltas = [];
    this.#logStart = this.#seq + 1;
    this.#version = version;
    this.#size = set.rules.size;
    this.#revision = set.revision;
    this.#log.info(
      { why, version, previousVersion: previous, rules: set.rules.size, duplicates: set.rules.duplicates || undefined, revision: set.revision || undefined, packedBytes: set.rules.byteLength },
      'new route set',
    );
    this.#pumpAll();
    return true;
  }

  async #awaitConverged(trigger: ReloadTrigger): Promise<void> {
    const timeoutMs = this.#running.routing.convergeTimeoutMs;
    if (await this.#waitConverged(timeoutMs)) return;
    const lagging = this.#replicas.filter((r) => r.replica.available && (r.synced !== this.#seq || r.version !== this.version));
    const details = { version: this.version, lagging: lagging.map((r) => ({ replica: r.replica.label, version: r.version, error: r.lastError })) };
    this.#log.error({ trigger, timeoutMs, ...details }, 'reload: not every worker reported the new table in time');
    throw adminError('RELOAD_NOT_APPLIED', `not every worker reported version ${this.version} within ${timeoutMs} ms; they keep converging`, details);
  }

  #waitConverged(timeoutMs: number): Promise<boolean> {
    if (this.converged) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const check = (): void => {
        if (!this.converged) return;
        clearTimeout(timer);
        this.#waiters.delete(check);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        resolve(false);
      }, timeoutMs);
      timer.unref();
      this.#waiters.add(check);
    });
  }

  #notify(): void {
    for (const w of [...this.#waiters]) w();
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#chain.then(fn);
    this.#chain = run.catch(() => undefined);
    return run;
  }

  // --- etcd -----------------------------------------------------------------------

  #onSourceStatus(status: RouteSourceStatus): void {
    this.#sourceStatus = status;
    this.#degraded.set(status.state === 'degraded' ? 1 : 0);
  }

  /**
   * Numbered as it arrives: the source's set is then always the set at `#seq`, which
   * is what a copy for a full load must be.
   */
  #onSourceChange(change: RouteSourceChange): void {
    if (this.#closed) return;
    try {
      if (change.kind === 'full') this.#install({ rules: change.set.rules, revision: change.set.revision }, 'etcd full reload');
      else this.#addDelta(change.changes, change.revision, change.version, change.size);
    } catch (err) {
      this.#log.error({ err }, 'could not apply a route change from etcd');
    }
  }

  #addDelta(changes: readonly RouteChange[], revision: number, version: string, size: number): void {
    this.#deltas.push({ kind: 'delta', seq: ++this.#seq, changes, revision, version });
    if (this.#deltas.length > MAX_DELTA_LOG) {
      const drop = this.#deltas.length - MAX_DELTA_LOG / 2;
      this.#deltas.splice(0, drop);
      this.#logStart += drop;
    }
    this.#version = version;
    this.#size = size;
    this.#revision = revision;
    this.#log.debug({ changes: changes.length, revision, version }, 'route changes from etcd');
    this.#pumpAll();
  }

  /** The full set a replica that cannot catch up from the log gets: the last one, or a copy of the source's now. */
  #fullOp(): FullOp {
    const base = this.#base;
    if (base !== undefined && base.seq >= this.#logStart - 1) return base;
    const copy = this.#source!.current();
    this.#base = { kind: 'full', seq: this.#seq, set: { rules: copy.rules, revision: copy.revision }, version: copy.rules.version };
    this.#fullSinceCollect = true;
    return this.#base;
  }

  /**
   * Once every replica holds the latest version: etcd's copy of the source's set is not
   * needed any more, and what a full set left behind is collected.
   */
  #releaseBase(): void {
    if (!this.converged || this.#replicas.some((r) => r.pumping)) return;
    if (this.#source !== undefined) this.#base = undefined;
    if (this.#firstSnapshotPending && this.#seq > 0) {
      this.#firstSnapshotPending = false;
      this.#source?.snapshotNow();
    }
    if (this.#fullSinceCollect) {
      this.#fullSinceCollect = false;
      this.#collectSoon();
    }
  }

  /** One collection on the next turn (several requests in a row share it). */
  #collectSoon(): void {
    const collect = this.#opts.collectGarbage;
    if (collect === undefined || this.#collectTimer !== undefined || this.#closed) return;
    this.#collectTimer = setTimeout(() => {
      this.#collectTimer = undefined;
      collect();
    }, 0);
    this.#collectTimer.unref();
  }

  // --- replicas -------------------------------------------------------------------

  #pumpAll(): void {
    for (const r of this.#replicas) this.#pump(r);
  }

  /** Sends a replica the operations it misses, one at a time, until it is at the latest. */
  #pump(r: ReplicaState): void {
    if (r.pumping || this.#closed || !r.replica.available || this.#seq === 0) return;
    r.pumping = true;
    clearTimeout(r.retry);
    r.retry = undefined;
    void (async () => {
      try {
        while (r.replica.available && r.synced < this.#seq) {
          const op: FullOp | DeltaOp = r.synced < this.#logStart - 1 ? this.#fullOp() : this.#deltas[r.synced + 1 - this.#logStart]!;
          const version =
            op.kind === 'full'
              ? await this.#sendFull(r, op)
              : await r.replica.applyRouteChanges(op.changes, op.revision, this.#policy);
          r.synced = op.seq;
          r.version = version;
          r.lastError = undefined;
          r.retryMs = RETRY_MIN_MS;
          if (version !== op.version) {
            this.#log.error({ replica: r.replica.label, expected: op.version, got: version, op: op.kind, seq: op.seq }, 'replica route table diverged');
            // A delta that went wrong is repaired with the full set; a full set that differs is a bug: keep it visible (not converged).
            if (op.kind === 'delta') r.synced = -1;
          }
          this.#notify();
        }
      } catch (err) {
        r.synced = -1;
        r.lastError = (err as Error).message;
        if (r.replica.available) {
          this.#log.warn({ replica: r.replica.label, err: r.lastError, retryInMs: r.retryMs }, 'could not update a replica route table; retrying');
          r.retry = setTimeout(() => this.#pump(r), r.retryMs);
          r.retry.unref();
          r.retryMs = Math.min(RETRY_MAX_MS, r.retryMs * 2);
        }
      } finally {
        r.pumping = false;
        this.#releaseBase();
        this.#notify();
      }
    })();
  }

  async #sendFull(r: ReplicaState, op: FullOp): Promise<string> {
    const version = await r.replica.loadRoutes(op.set, this.#policy);
    for (const status of this.#health.list()) if (status.reason === 'operator') await r.replica.markUpstream(status.target, true);
    return version;
  }

  // --- admin ----------------------------------------------------------------------

  /** How the replica that serves `clientId` routes it (its table and its pool health). */
  async explain(clientId: string): Promise<RouteExplanation & { answeredBy: string; converged: boolean }> {
    const r = this.#replicas[this.#opts.pick(clientId)];
    if (r === undefined || !r.replica.available) {
      throw adminError('UNAVAILABLE', `${r?.replica.label ?? 'the replica'} serving this clientId is restarting; retry`);
    }
    const explanation = await r.replica.explainRoute(clientId);
    return { ...explanation, answeredBy: r.replica.label, converged: this.converged };
  }

  /** The operator marks `url` down (skipped by every pool that lists it) or up again. */
  async markUpstream(url: string, down: boolean): Promise<{ url: string; down: boolean; replicas: number }> {
    if (down) this.#health.markDown(url);
    else this.#health.markUp(url);
    const up = this.#replicas.filter((r) => r.replica.available);
    await Promise.all(up.map((r) => r.replica.markUpstream(url, down)));
    this.#log.info({ url, down, replicas: up.length }, down ? 'upstream marked down by the operator' : 'upstream marked up by the operator');
    return { url, down, replicas: up.length };
  }

  async upstreams(): Promise<{ operatorDown: string[]; replicas: Array<{ replica: string; upstreams: UpstreamStatus[] | null }> }> {
    const operatorDown = this.#health.list().filter((s) => s.reason === 'operator').map((s) => s.target);
    const replicas = await Promise.all(
      this.#replicas.map(async (r) => ({ replica: r.replica.label, upstreams: r.replica.available ? await r.replica.upstreams().catch(() => null) : null })),
    );
    return { operatorDown, replicas };
  }

  /** For /readyz: the table and the source. Degraded does not make the gateway unready. */
  status(): { routeTable: Record<string, unknown>; routeSource: Record<string, unknown> } {
    const s = this.#sourceStatus;
    return {
      routeTable: {
        version: this.version,
        rules: this.#size,
        revision: this.#revision > 0 ? String(this.#revision) : undefined,
        converged: this.converged,
        replicas: this.#replicas.map((r) => ({ replica: r.replica.label, up: r.replica.available, version: r.version ?? null })),
      },
      routeSource: {
        type: this.sourceType,
        state: s.state,
        reason: s.reason ?? null,
        revision: s.revision,
        since: new Date(s.since).toISOString(),
        ...(this.sourceType === 'etcd' ? { invalidKeys: s.invalidKeys } : {}),
      },
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#collectTimer);
    this.#watcher?.close();
    for (const r of this.#replicas) clearTimeout(r.retry);
    await this.#source?.close();
  }
}

function pickPolicy(config: Config): RouteChangePolicy {
  return Object.freeze({ onRouteChange: config.routing.onRouteChange, migrateRatePerSecond: config.routing.migrateRatePerSecond });
}

/** Dotted paths (two levels deep) of the settings that differ between two configs. */
function changedSettings(a: Config, b: Config): string[] {
  const out: string[] = [];
  for (const key of Object.keys(b) as Array<keyof Config>) {
    if (key === 'routes' || key === 'defaultRoute') continue;
    const x = a[key] as unknown;
    const y = b[key] as unknown;
    if (isDeepStrictEqual(x, y)) continue;
    if (x !== null && y !== null && typeof x === 'object' && typeof y === 'object' && !Array.isArray(x)) {
      const sub = new Set([...Object.keys(x), ...Object.keys(y)]);
      for (const k of sub) if (!isDeepStrictEqual((x as Record<string, unknown>)[k], (y as Record<string, unknown>)[k])) out.push(`${key}.${k}`);
    } else {
      out.push(key);
    }
  }
  return out;
}
