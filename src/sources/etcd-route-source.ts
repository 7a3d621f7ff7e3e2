/**
 * etcd as the source of routes.
 *
 * start(): loads every key under the prefix (in windows at one revision, see EtcdRouteStore; a progress
 * line every `progressEveryKeys`), validates each value (route-key.ts; an invalid one
 * is skipped, logged with its key and counted, never fatal), writes the local snapshot
 * and resolves the full set. Then it watches the prefix from revision+1 and emits one
 * 'change' per watch response: the net puts/deletes of that response, so one change in
 * etcd costs one small delta, not a rebuild.
 *
 * With a snapshot etcd vouches for (#warmStart: same cluster, its revision S not compacted,
 * etcd's count of the prefix at S the snapshot's), start() hands out the snapshot's set at
 * S instead of reading etcd, and the watch goes on from S+1.
 *
 * Outages:
 * - etcd unreachable at start: retries for `dialTimeoutMs` (reaching etcd: a status
 *   request, O(1); the load that follows takes as long as it takes, `requestTimeoutMs`
 *   per page, so a million keys on a busy etcd do not look like an outage), then serves the snapshot
 *   (status 'degraded') and keeps retrying; on reconnect it watches from the snapshot's
 *   revision+1 and so replays exactly what it missed. No snapshot: start() rejects with
 *   STRATIX_ERR_ROUTE_SOURCE_UNAVAILABLE.
 * - etcd lost later: the table stays as it is, status 'degraded' (reason, since);
 *   reconnects with capped, jittered backoff and resumes the watch from the last
 *   applied revision+1, so the missed revisions are replayed in order.
 * - the revision to resume from was compacted, or etcd's data was replaced (cluster id
 *   changed, or its revision went backwards): a full reload, built off to the side,
 *   swapped in, and emitted as a `full` change.
 *
 * The in-memory state is the rules packed (routing/packed-rules.ts, ~60 bytes a rule,
 * no object per rule); the snapshot is written from a copy of it, throttled to one write
 * per `snapshotDebounceMs`.
 */
import { EventEmitter } from 'node:events';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { IEvent, IWatchResponse } from 'etcd3';
import type { Logger } from 'pino';
import { Backoff } from '../time/backoff.js';
import { EtcdRouteStore } from './etcd-route-store.js';
import { PackedRules } from '../routing/packed-rules.js';
import { plainRuleAt } from '../config/route-rule-check.js';
import { DEFAULT_KEY, DEFAULT_ROUTE_PREFIX, keyNamesRule, parseRouteEntry, routeKeyOf, sameValue, type RouteEntry, type RouteValue } from './route-key.js';
import { routeSourceError, RouteSourceError } from './route-source-error.js';
import { readRouteSnapshotRules, writeRouteSnapshotLines, type RouteSnapshot } from './route-snapshot.js';
import { packedSnapshotChunks } from './snapshot-lines.js';
import type {
  RouteChange,
  RouteSet,
  RouteSetOrigin,
  RouteSource,
  RouteSourceEvents,
  RouteSourceState,
  RouteSourceStatus,
} from './route-source.js';
import type { DefaultRouteConfig, RouteRuleConfig } from '../config/route-schema.js';

export interface EtcdRouteSourceOptions {
  /** etcd client URLs, e.g. ["http://127.0.0.1:2379"]. */
  endpoints: readonly string[];
  /** Key prefix of the rules. Default "/stratix/routes/". */
  prefix?: string;
  /** Where the local snapshot lives. Without it the gateway cannot start while etcd is down. */
  snapshotPath?: string | undefined;
  /**
   * Start from the snapshot when etcd vouches for it (same cluster, its revision not
   * compacted, etcd's count of the prefix at that revision the snapshot's), then watch
   * from its revision; else read etcd in full. Default true.
   */
  warmStart?: boolean;
  /** Called after each snapshot write (its copy of the set is garbage now). */
  onSnapshotWritten?: (() => void) | undefined;
  logger: Logger;
  /**
   * How long start() keeps trying to reach etcd (a status request) before it falls back
   * to the snapshot. Default 5000. The load after etcd answered is not bounded by it.
   */
  dialTimeoutMs?: number;
  /** Deadline of each etcd request (one page of the load). Default 10000. */
  requestTimeoutMs?: number;
  /** Most keys per answer of a full load (EtcdRouteStore.readAllKvs reads windows of about half). Default 50000. */
  pageSize?: number;
  /** A progress log line every this many keys loaded. Default 100000. */
  progressEveryKeys?: number;
  /** At most one snapshot write per this period after changes. Default 2000. */
  snapshotDebounceMs?: number;
  /**
   * How long the snapshot of the set loaded at start waits, unless `snapshotNow` comes
   * first (a primary: once its workers hold the set, so that serializing a million rules
   * does not compete with their start). Default 0.
   */
  firstSnapshotDelayMs?: number;
  /** Reconnect backoff: first ceiling and cap (full jitter in between). Defaults 100 and 5000. */
  reconnectInitialMs?: number;
  reconnectMaxMs?: number;
  /** gRPC keepalive interval; a dead connection is noticed within about 1.5× this. Default 10000. */
  keepaliveMs?: number;
  /** Invalid keys logged one by one during a full load; past it, one summary line. Default 100. */
  maxInvalidLogLines?: number;
  /** The clock for `status.since` and logged durations (deadlines use the real clock). Default Date.now. */
  now?: () => number;
}

/** Counters for the metrics registry (monotonic unless noted). */
export interface EtcdRouteSourceStats {
  /** Rules held now, the default route excluded (gauge). */
  readonly rules: number;
  /** Keys left out now because their value is invalid (gauge). */
  readonly invalidKeys: number;
  readonly invalidValuesTotal: number;
  readonly watchErrorsTotal: number;
  readonly fullReloadsTotal: number;
  readonly snapshotWritesTotal: number;
  readonly snapshotWriteFailuresTotal: number;
  /** Last applied etcd revision (gauge). */
  readonly revision: number;
}

type WatchOutcome = 'closed' | 'reload' | Error;

/** A watch up this long before it failed counts as healthy: the reconnect backoff starts over. */
const STABLE_WATCH_MS = 10_000;

/** Invalid keys the snapshot's header lists at most; with more, it serves only while etcd is down (no warm start). */
const MAX_SNAPSHOT_INVALID_KEYS = 10_000;

/** Keys validated between two yields to the event loop during a full load. */
const VALIDATE_SLICE = 2048;

export class EtcdRouteSource extends EventEmitter<RouteSourceEvents> implements RouteSource {
  readonly prefix: string;
  readonly #opts: Required<Omit<EtcdRouteSourceOptions, 'snapshotPath' | 'onSnapshotWritten' | 'prefix' | 'logger' | 'endpoints'>>;
  readonly #endpoints: readonly string[];
  readonly #snapshotPath: string | undefined;
  readonly #onSnapshotWritten: (() => void) | undefined;
  readonly #log: Logger;
  readonly #store: EtcdRouteStore;
  readonly #backoff: Backoff;
  readonly #abort = new AbortController();

  /** Every valid rule and the default route (the DEFAULT_KEY's), packed. */
  #rules = new PackedRules();
  #invalid = new Set<string>();
  #revision = 0;
  #clusterId = '';
  #status: RouteSourceStatus;
  /** Where start() got the set from; the set itself is not kept here (a million-rule copy). */
  #started: Promise<RouteSetOrigin> | undefined;
  /** The set start() hands out: #rules itself, shared until the first change (#own). */
  #startSet: RouteSet | undefined;
  /** #rules is also the set start() handed out (and the first snapshot's): copied before it changes. */
  #rulesShared = false;
  /** A copy of the set at this revision that the next snapshot write may take instead of making its own. */
  #snapshotCopy: { rules: PackedRules; revision: number } | undefined;
  #loop: Promise<void> | undefined;
  #closing: Promise<void> | undefined;

  #snapshotTimer: NodeJS.Timeout | undefined;
  #snapshotDirty = false;
  #snapshotChain: Promise<void> = Promise.resolve();

  #invalidValuesTotal = 0;
  #watchErrorsTotal = 0;
  #fullReloadsTotal = 0;
  #snapshotWritesTotal = 0;
  #snapshotWriteFailuresTotal = 0;

  constructor(options: EtcdRouteSourceOptions) {
    super();
    this.prefix = options.prefix ?? DEFAULT_ROUTE_PREFIX;
    this.#endpoints = options.endpoints;
    this.#snapshotPath = options.snapshotPath;
    this.#onSnapshotWritten = options.onSnapshotWritten;
    this.#log = options.logger.child({ component: 'etcd-route-source' });
    this.#opts = {
      warmStart: options.warmStart ?? true,
      dialTimeoutMs: options.dialTimeoutMs ?? 5_000,
      requestTimeoutMs: options.requestTimeoutMs ?? 10_000,
      pageSize: options.pageSize ?? 50_000,
      progressEveryKeys: options.progressEveryKeys ?? 100_000,
      snapshotDebounceMs: options.snapshotDebounceMs ?? 2_000,
      firstSnapshotDelayMs: options.firstSnapshotDelayMs ?? 0,
      reconnectInitialMs: options.reconnectInitialMs ?? 100,
      reconnectMaxMs: options.reconnectMaxMs ?? 5_000,
      keepaliveMs: options.keepaliveMs ?? 10_000,
      maxInvalidLogLines: options.maxInvalidLogLines ?? 100,
      now: options.now ?? Date.now,
    };
    this.#store = new EtcdRouteStore({
      endpoints: options.endpoints,
      prefix: this.prefix,
      requestTimeoutMs: this.#opts.requestTimeoutMs,
      reconnectMaxMs: this.#opts.reconnectMaxMs,
      keepaliveMs: this.#opts.keepaliveMs,
    });
    this.#backoff = new Backoff({ initialMs: this.#opts.reconnectInitialMs, maxMs: this.#opts.reconnectMaxMs });
    this.#status = this.#makeStatus('starting', undefined);
  }

  get status(): RouteSourceStatus {
    return { ...this.#status, revision: this.#revision, invalidKeys: this.#invalid.size };
  }

  get stats(): EtcdRouteSourceStats {
    return {
      rules: this.#rules.size,
      invalidKeys: this.#invalid.size,
      invalidValuesTotal: this.#invalidValuesTotal,
      watchErrorsTotal: this.#watchErrorsTotal,
      fullReloadsTotal: this.#fullReloadsTotal,
      snapshotWritesTotal: this.#snapshotWritesTotal,
      snapshotWriteFailuresTotal: this.#snapshotWriteFailuresTotal,
      revision: this.#revision,
    };
  }

  /** A copy of the current set (as start() or the last change left it). */
  current(origin: RouteSetOrigin = 'etcd'): RouteSet {
    return { rules: this.#rules.clone(), revision: this.#revision, origin, invalid: this.#invalid.size };
  }

  /** The value stored under a rule key (relative to the prefix). */
  #get(key: string): RouteValue | undefined {
    if (key === DEFAULT_KEY) return this.#rules.defaultRoute as DefaultRouteConfig | undefined;
    const k = routeKeyOf(key);
    return k === undefined ? undefined : (this.#rules.get(k) as RouteRuleConfig | undefined);
  }

  #delete(key: string): void {
    if (key === DEFAULT_KEY) this.#own().setDefault(undefined);
    else {
      const k = routeKeyOf(key);
      if (k !== undefined) this.#own().delete(k);
    }
  }

  start(): Promise<RouteSet> {
    this.#started ??= this.#start();
    return this.#started.then((origin) => {
      const set = this.#startSet ?? this.current(origin);
      this.#startSet = undefined;
      return set;
    });
  }

  /**
   * The set as loaded (etcd's, or the snapshot's), for start() to hand out and the first
   * snapshot to write: the source's own, not a copy (a million rules held once at start,
   * not three times); the first change copies it (#own).
   */
  #loaded(origin: RouteSetOrigin): RouteSetOrigin {
    this.#startSet = { rules: this.#rules, revision: this.#revision, origin, invalid: this.#invalid.size };
    this.#rulesShared = true;
    if (origin === 'etcd' && this.#snapshotPath !== undefined) this.#snapshotCopy = { rules: this.#rules, revision: this.#revision };
    return origin;
  }

  /** #rules, to change: copied first while another holder has it (#loaded). */
  #own(): PackedRules {
    if (this.#rulesShared) {
      this.#rules = this.#rules.clone();
      this.#rulesShared = false;
    }
    return this.#rules;
  }

  async #start(): Promise<RouteSetOrigin> {
    const signal = this.#abort.signal;
    if (signal.aborted) throw routeSourceError('CLOSED', 'the etcd route source was closed');
    const deadline = Date.now() + this.#opts.dialTimeoutMs;
    let lastError: unknown;
    for (;;) {
      try {
        await this.#store.ping(Math.max(1, Math.min(this.#opts.requestTimeoutMs, deadline - Date.now())));
        if (this.#opts.warmStart && (await this.#warmStart())) {
          this.#setStatus('ok', undefined);
          this.#loop = this.#watchLoop();
          return this.#loaded('snapshot');
        }
        await this.#loadFull();
        this.#setStatus('ok', undefined);
        this.#loaded('etcd');
        this.#scheduleSnapshot(this.#opts.firstSnapshotDelayMs);
        this.#loop = this.#watchLoop();
        return 'etcd';
      } catch (err) {
        if (signal.aborted) throw routeSourceError('CLOSED', 'the etcd route source was closed during start');
        lastError = err;
        this.#log.debug({ err: errorText(err) }, 'etcd not reachable yet');
      }
      if (Date.now() >= deadline || !(await this.#backoff.wait(signal, deadline - Date.now()))) break;
    }
    if (signal.aborted) throw routeSourceError('CLOSED', 'the etcd route source was closed during start');
    this.#backoff.reset();

    const unreachable = `etcd at ${this.#endpoints.join(',')} could not be read within ${this.#opts.dialTimeoutMs} ms (${errorText(lastError)})`;
    const read = await this.#readSnapshot();
    if (read === undefined) {
      const where = this.#snapshotPath === undefined ? 'no snapshotPath is configured' : `there is no usable snapshot at ${this.#snapshotPath}`;
      throw routeSourceError('UNAVAILABLE', `cannot load routes: ${unreachable}, and ${where}`, lastError);
    }
    const { snapshot, rules: routes } = read;
    this.#rules = routes;
    this.#revision = snapshot.revision;
    this.#clusterId = snapshot.clusterId;
    this.#invalid = new Set(snapshot.invalidKeys);
    this.#log.warn(
      { rules: routes.size, revision: snapshot.revision, writtenAt: snapshot.writtenAt, snapshotPath: this.#snapshotPath, err: errorText(lastError) },
      'etcd unreachable at start; serving routes from the local snapshot',
    );
    this.#setStatus('degraded', `${unreachable}; serving the local snapshot of revision ${snapshot.revision}`);
    this.#loop = this.#watchLoop();
    return this.#loaded('snapshot');
  }

  /**
   * A warm start: the snapshot's set at its revision S, if etcd vouches for it — the same
   * cluster, S not compacted and not ahead of etcd, and etcd's count of the prefix at S
   * the snapshot's (keys valid or not: data restored or replaced under the same cluster
   * id shows there). Then the watch goes on from S+1, as after a full read from S; a
   * compaction between this check and the watch's start makes the watch loop read etcd
   * in full (a `full` change). False: read etcd in full (why is logged).
   */
  async #warmStart(): Promise<boolean> {
    if (this.#snapshotPath === undefined) return false;
    const started = this.#opts.now();
    const read = await this.#readSnapshot();
    if (read === undefined) return false;
    const { snapshot, rules } = read;
    const from = { snapshotPath: this.#snapshotPath, revision: snapshot.revision };
    if (snapshot.keys === undefined) {
      this.#log.info(from, 'the route snapshot carries no key count (an older version wrote it): reading etcd in full');
      return false;
    }
    let at: Awaited<ReturnType<EtcdRouteStore['countAt']>>;
    try {
      at = await this.#store.countAt(snapshot.revision);
    } catch (err) {
      if (!isCompacted(err)) throw err;
      this.#log.info(from, "etcd compacted past the route snapshot's revision: reading etcd in full");
      return false;
    }
    const mismatch =
      at.clusterId !== snapshot.clusterId
        ? `etcd's cluster id is ${at.clusterId}, the snapshot's ${snapshot.clusterId}`
        : at.revision < snapshot.revision
          ? `etcd's revision ${at.revision} is behind the snapshot's`
          : at.count !== snapshot.keys
            ? `etcd held ${at.count} keys under the prefix at that revision, the snapshot ${snapshot.keys}`
            : undefined;
    if (mismatch !== undefined) {
      this.#log.warn({ ...from, mismatch }, 'the route snapshot is not what etcd held at its revision: reading etcd in full');
      return false;
    }
    rules.trim();
    this.#rules = rules;
    this.#rulesShared = false;
    this.#invalid = new Set(snapshot.invalidKeys);
    this.#revision = snapshot.revision;
    this.#clusterId = at.clusterId;
    this.#log.info(
      { rules: rules.size, invalid: this.#invalid.size, revision: snapshot.revision, current: at.revision, elapsedMs: this.#opts.now() - started },
      'routes loaded from the snapshot; the watch catches up from its revision',
    );
    return true;
  }

  async #readSnapshot(): Promise<{ snapshot: RouteSnapshot; rules: PackedRules } | undefined> {
    if (this.#snapshotPath === undefined) return undefined;
    try {
      return await readRouteSnapshotRules(this.#snapshotPath, this.prefix);
    } catch (err) {
      this.#log.warn({ err: errorText(err), code: (err as RouteSourceError).code }, 'ignoring the route snapshot');
      return undefined;
    }
  }

  /**
   * Loads the whole prefix into a new map and swaps it in. Bounded by `requestTimeoutMs`
   * per request, however long it takes in all (start() first checks that etcd answers
   * at all within `dialTimeoutMs`: a status request, whose cost does not grow with the keys).
   */
  async #loadFull(): Promise<void> {
    const started = this.#opts.now();
    const prefixBytes = Buffer.byteLength(this.prefix, 'utf8');
    const spans = new Int32Array(5);
    for (let attempt = 1; ; attempt++) {
      let routes: PackedRules | undefined;
      const invalid = new Set<string>();
      let loaded = 0;
      let nextProgress = this.#opts.progressEveryKeys;
      try {
        const res = await this.#store.readAllKvs(this.#opts.pageSize, async (page, revision, total) => {
          routes ??= new PackedRules({ bytes: total * 64, rules: total });
          const { buf, offsets } = page;
          for (let i = 0; i < page.size; i++) {
            // Validation costs ~1-2 µs a key: yield now and then, so that a big page does
            // not hold up the process that serves connections while it reloads.
            if (i > 0 && i % VALIDATE_SLICE === 0) await nextTurn();
            const ks = offsets[4 * i]! + prefixBytes;
            const ke = offsets[4 * i + 1]!;
            const vs = offsets[4 * i + 2]!;
            const ve = offsets[4 * i + 3]!;
            // A value in the seed's form that its key names: checked and copied in place, no string made (as the file loader does).
            if (plainRuleAt(buf, vs, ve, spans) && keyNamesRule(buf, ks, buf, spans, ke)) {
              routes.addBytes(spans[0] === 1, buf, spans[1]!, spans[2]!, spans[3]!, spans[4]!);
              continue;
            }
            const key = buf.toString('utf8', ks, ke);
            const entry = parseRouteEntry(key, buf.toString('utf8', vs, ve));
            if (entry.kind === 'invalid') {
              invalid.add(key);
              if (invalid.size <= this.#opts.maxInvalidLogLines) {
                this.#log.warn({ key: this.prefix + key, reason: entry.reason, revision }, 'skipping invalid route value');
              }
            } else {
              putEntry(routes, entry);
            }
          }
          loaded += page.size;
          if (loaded >= nextProgress) {
            nextProgress += this.#opts.progressEveryKeys;
            this.#log.info({ loaded, total, revision, elapsedMs: this.#opts.now() - started }, 'loading routes from etcd');
          }
        });
        if (invalid.size > this.#opts.maxInvalidLogLines) {
          this.#log.warn({ invalid: invalid.size, logged: this.#opts.maxInvalidLogLines }, 'more invalid route values were skipped');
        }
        this.#invalidValuesTotal += invalid.size;
        routes ??= new PackedRules();
        routes.trim();
        this.#rules = routes;
        this.#rulesShared = false;
        this.#invalid = invalid;
        this.#revision = res.revision;
        this.#clusterId = res.clusterId;
        this.#log.info(
          { rules: routes.size, invalid: invalid.size, revision: res.revision, pageSize: this.#opts.pageSize, elapsedMs: this.#opts.now() - started },
          'routes loaded from etcd',
        );
        return;
      } catch (err) {
        // A compaction overtook the paged read: start over at a newer revision.
        if (isCompacted(err) && attempt < 3) continue;
        throw err;
      }
    }
  }

  async #watchLoop(): Promise<void> {
    const signal = this.#abort.signal;
    let needFullReload = false;
    while (!signal.aborted) {
      if (needFullReload) {
        try {
          await this.#loadFull();
          needFullReload = false;
          this.#fullReloadsTotal++;
          this.#scheduleSnapshot(0);
          this.#emitChange({ kind: 'full', set: this.current('etcd') });
        } catch (err) {
          if (signal.aborted) break;
          this.#degrade(`full reload from etcd failed: ${errorText(err)}`);
          if (!(await this.#backoff.wait(signal))) break;
          continue;
        }
      }
      const outcome = await this.#watchOnce(signal);
      if (outcome === 'closed') break;
      if (outcome === 'reload') {
        needFullReload = true;
        continue;
      }
      this.#watchErrorsTotal++;
      this.#degrade(`etcd watch lost: ${errorText(outcome)}`);
      if (!(await this.#backoff.wait(signal))) break;
    }
  }

  /** One watch stream, from the last applied revision+1 until it fails or the source closes. */
  #watchOnce(signal: AbortSignal): Promise<WatchOutcome> {
    return new Promise<WatchOutcome>((resolve) => {
      const startRevision = this.#revision + 1;
      let stream: Awaited<ReturnType<EtcdRouteStore['watch']>> | undefined;
      let done = false;
      let fragments: IEvent[] = [];
      let createdAt = 0;
      const finish = (outcome: WatchOutcome) => {
        if (done) return;
        done = true;
        // A watch that stayed up a while earns a fresh backoff; one that flaps does not.
        if (createdAt !== 0 && Date.now() - createdAt >= STABLE_WATCH_MS) this.#backoff.reset();
        signal.removeEventListener('abort', onAbort);
        try {
          stream?.cancel();
        } catch {
          /* already gone */
        }
        resolve(outcome);
      };
      const onAbort = () => finish('closed');
      signal.addEventListener('abort', onAbort, { once: true });

      const onData = (res: IWatchResponse) => {
        if (done) return;
        if (res.canceled) {
          if (Number(res.compact_revision) > 0) {
            this.#log.warn({ from: startRevision, compactRevision: Number(res.compact_revision) }, 'etcd compacted the revisions to catch up from; reloading all routes');
            finish('reload');
          } else {
            finish(new Error(`etcd cancelled the watch: ${res.cancel_reason || 'no reason given'}`));
          }
          return;
        }
        if (res.created) {
          const current = Number(res.header.revision);
          if ((this.#clusterId !== '' && res.header.cluster_id !== this.#clusterId) || current < this.#revision) {
            this.#log.warn(
              { clusterId: res.header.cluster_id, expectedClusterId: this.#clusterId, revision: current, applied: this.#revision },
              'etcd is not the cluster (or data) the routes came from; reloading all routes',
            );
            finish('reload');
            return;
          }
          this.#clusterId = res.header.cluster_id;
          createdAt = Date.now();
          this.#log.info({ from: startRevision, current }, 'watching etcd routes');
          this.#setStatus('ok', undefined);
          return;
        }
        if (res.fragment) {
          for (const ev of res.events) fragments.push(ev);
          return;
        }
        const events = fragments.length === 0 ? res.events : fragments.concat(res.events);
        fragments = [];
        if (events.length === 0) {
          // A progress notification: every event up to header.revision was delivered.
          // (Keeps the resume point fresh on a quiet prefix, so a compaction does not force a reload.)
          const progress = Number(res.header.revision) - 1;
          if (progress > this.#revision) this.#revision = progress;
          return;
        }
        this.#applyEvents(events);
      };

      this.#store.watch(startRevision).then(
        (s) => {
          stream = s;
          s.on('data', onData);
          s.on('error', (err: Error) => finish(err));
          s.on('end', () => finish(new Error('etcd ended the watch stream')));
          if (done) s.cancel();
        },
        (err: unknown) => finish(err instanceof Error ? err : new Error(String(err))),
      );
    });
  }

  /** Applies one watch response's events and emits their net effect. */
  #applyEvents(events: readonly IEvent[]): void {
    const before = new Map<string, RouteValue | undefined>();
    const applied = this.#revision;
    let revision = applied;
    for (const ev of events) {
      const modRevision = Number(ev.kv.mod_revision);
      if (modRevision <= applied) continue; // replayed after a reconnect
      const key = this.#store.relativeKey(ev.kv.key);
      if (key === undefined) continue;
      if (!before.has(key)) before.set(key, this.#get(key));
      if (modRevision > revision) revision = modRevision;
      if (ev.type === 'Delete') {
        this.#delete(key);
        this.#invalid.delete(key);
        continue;
      }
      const entry = parseRouteEntry(key, ev.kv.value.toString('utf8'));
      if (entry.kind === 'invalid') {
        // The key now routes nothing, exactly as a full load would have it.
        this.#delete(key);
        this.#invalid.add(key);
        this.#invalidValuesTotal++;
        this.#log.warn({ key: this.prefix + key, reason: entry.reason, revision: modRevision }, 'skipping invalid route value');
      } else {
        putEntry(this.#own(), entry);
        this.#invalid.delete(key);
      }
    }
    if (revision === applied) return;
    this.#revision = revision;
    const changes: RouteChange[] = [];
    for (const [key, was] of before) {
      const now = this.#get(key);
      if (sameValue(now, was)) continue;
      if (key === DEFAULT_KEY) changes.push({ type: 'default', key, defaultRoute: now as DefaultRouteConfig | undefined });
      else if (now === undefined) changes.push({ type: 'delete', key, rule: was as RouteRuleConfig });
      else changes.push({ type: 'put', key, rule: now as RouteRuleConfig });
    }
    this.#scheduleSnapshot(this.#opts.snapshotDebounceMs);
    if (changes.length > 0) this.#emitChange({ kind: 'delta', changes, revision, version: this.#rules.version, size: this.#rules.size });
  }

  #emitChange(change: RouteSourceEvents['change'][0]): void {
    try {
      this.emit('change', change);
    } catch (err) {
      // A listener's bug must not stop the watch.
      this.#log.error({ err: errorText(err) }, 'a route change listener threw');
    }
  }

  #makeStatus(state: RouteSourceState, reason: string | undefined): RouteSourceStatus {
    return { state, reason, revision: this.#revision, since: this.#opts.now(), invalidKeys: this.#invalid.size };
  }

  #setStatus(state: RouteSourceState, reason: string | undefined): void {
    const previous = this.#status;
    if (previous.state === state) {
      // Same state: keep `since`, refresh the reason silently.
      if (previous.reason !== reason) this.#status = { ...previous, reason };
      return;
    }
    this.#status = this.#makeStatus(state, reason);
    if (state === 'ok' && previous.state === 'degraded') {
      this.#log.info({ degradedMs: this.#status.since - previous.since, revision: this.#revision }, 'etcd route source recovered');
    }
    try {
      this.emit('status', this.status);
    } catch (err) {
      this.#log.error({ err: errorText(err) }, 'a route status listener threw');
    }
  }

  #degrade(reason: string): void {
    if (this.#abort.signal.aborted) return;
    if (this.#status.state !== 'degraded') {
      this.#log.warn({ reason, revision: this.#revision }, 'config source degraded: keeping the last routes');
    } else {
      this.#log.debug({ reason }, 'etcd still unreachable');
    }
    this.#setStatus('degraded', reason);
  }

  #scheduleSnapshot(delayMs: number): void {
    if (this.#snapshotPath === undefined || this.#abort.signal.aborted) return;
    this.#snapshotDirty = true;
    if (this.#snapshotTimer !== undefined) return; // one write per window; it will take the latest state
    this.#snapshotTimer = setTimeout(() => {
      this.#snapshotTimer = undefined;
      void this.#flushSnapshot();
    }, delayMs);
    this.#snapshotTimer.unref();
  }

  /** A snapshot write that is waiting (the first one's delay, or the debounce) happens now. */
  snapshotNow(): void {
    if (this.#snapshotTimer === undefined) return;
    clearTimeout(this.#snapshotTimer);
    this.#snapshotTimer = undefined;
    void this.#flushSnapshot();
  }

  /** Writes the snapshot if something changed since the last write; writes never overlap. */
  #flushSnapshot(): Promise<void> {
    this.#snapshotChain = this.#snapshotChain.then(async () => {
      const shared = this.#snapshotCopy;
      this.#snapshotCopy = undefined;
      if (!this.#snapshotDirty || this.#snapshotPath === undefined) return;
      this.#snapshotDirty = false;
      // A copy (one memcpy of the packed set): the write yields, and changes go on meanwhile.
      // The one start() made serves if nothing changed since.
      const copy = shared !== undefined && shared.revision === this.#revision ? shared.rules : this.#rules.clone();
      const count = copy.size + (copy.defaultRoute === undefined ? 0 : 1);
      // What a warm start checks against etcd (#warmStart): every key the prefix held at this revision.
      const checkable = this.#invalid.size <= MAX_SNAPSHOT_INVALID_KEYS ? { keys: count + this.#invalid.size, invalidKeys: [...this.#invalid] } : {};
      const header = { prefix: this.prefix, revision: this.#revision, clusterId: this.#clusterId, ...checkable };
      const started = this.#opts.now();
      try {
        await writeRouteSnapshotLines(this.#snapshotPath, header, packedSnapshotChunks(copy), count);
        this.#snapshotWritesTotal++;
        this.#onSnapshotWritten?.();
        this.#log.debug({ path: this.#snapshotPath, entries: count, revision: header.revision, elapsedMs: this.#opts.now() - started }, 'route snapshot written');
      } catch (err) {
        this.#snapshotWriteFailuresTotal++;
        this.#log.warn({ path: this.#snapshotPath, err: errorText(err) }, 'cannot write the route snapshot');
      }
    });
    return this.#snapshotChain;
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#abort.abort();
    if (this.#snapshotTimer !== undefined) {
      clearTimeout(this.#snapshotTimer);
      this.#snapshotTimer = undefined;
    }
    await this.#started?.catch(() => undefined);
    await this.#loop;
    await this.#flushSnapshot();
    this.#store.close();
    this.#setStatus('closed', undefined);
  }
}

function putEntry(rules: PackedRules, entry: RouteEntry): void {
  if (entry.kind === 'default') rules.setDefault(entry.defaultRoute);
  else rules.put(entry.rule);
}

function isCompacted(err: unknown): boolean {
  return err instanceof Error && err.message.includes('required revision has been compacted');
}

function errorText(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
