/**
 * The routes one gateway process serves with: the live table (swapped whole on a
 * full load, changed in place by deltas), the pool health of this process, and the
 * route-change policy for the sessions it holds. It is the process's RouteReplica:
 * a RouteController drives it directly (standalone) or through IPC (a worker).
 *
 * Health: a session whose upstream is a pool member reports each connect attempt
 * (`outcome`); `routing.health.failuresToMarkDown` failures in a row take the member
 * out of its pools for `downCooldownMs` (per process: each worker judges what it
 * sees). Operator marks come from the controller and reach every process.
 *
 * Route changes and live sessions (`routing.onRouteChange`):
 * - `keep`: nothing happens to them; new handshakes use the new table.
 * - `migrate`: the sessions whose route changed are closed with 4307 ROUTE_CHANGED,
 *   paced at migrateRatePerSecond (this process's share) with jitter. "Changed" after
 *   a full load: the old and the new table resolve the clientId to different targets
 *   and the session is not already on the new one (so pool health alone does not move
 *   it). After a delta: a changed rule covers the clientId and the new target differs
 *   from the session's (a session on a pool member that is down meanwhile moves too,
 *   if such a rule changed). Finding them costs one pass over the sessions, in time
 *   slices; `keep` costs nothing.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Logger } from 'pino';
import { Counter, Gauge } from 'prom-client';
import type { Config, RouteChangePolicy } from '../config/schema.js';
import type { RouteSetData, RouteReplica } from '../control/route-replica.js';
import type { GatewayMetrics } from '../metrics/gateway-metrics.js';
import { buildRouteTable } from '../routing/build-route-table.js';
import { PackedRouteTable } from '../routing/packed-route-table.js';
import { PackedRules } from '../routing/packed-rules.js';
import { RouteTableHolder, type MutableRouteTable, type RouteExplanation, type RouteMatch, type RouteTable } from '../routing/route-table.js';
import { UpstreamHealth, type UpstreamStatus } from '../routing/upstream-health.js';
import type { Session } from '../relay/session.js';
import type { GatewaySession } from './gateway-session.js';
import type { RouteChange } from '../sources/route-source.js';
import { PacedCloses } from './paced-closes.js';

export interface LiveRoutesHost {
  readonly sessions: ReadonlySet<GatewaySession>;
  readonly logger: Logger;
  readonly metrics: GatewayMetrics;
}

export interface LiveRoutesOptions {
  /** A table to start with; default: built from config.routes (or empty with `deferred`). */
  readonly initial?: RouteTable | undefined;
  /** Start empty: the rules arrive with the first loadRoutes() (from a RouteController). */
  readonly deferred?: boolean | undefined;
  /** Worker processes of the instance: the migrate rate is split between them. */
  readonly workers?: number | undefined;
}

/** Sessions checked between two looks at the clock while searching for affected ones. */
const SCAN_BATCH = 256;
const SCAN_SLICE_MS = 8;
export { ROUTE_CHANGED_REASON } from '../relay/session.js';

export class LiveRoutes implements RouteReplica {
  readonly label = 'local';
  readonly available = true;
  readonly holder: RouteTableHolder;
  readonly health: UpstreamHealth;
  readonly #host: LiveRoutesHost;
  readonly #workers: number;
  /** The live table when it can take deltas. */
  #table: MutableRouteTable | undefined;
  /** Sessions whose target is a pool member: their connect outcomes feed `health`. */
  readonly #pooled = new WeakSet<Session>();
  readonly #migrations: PacedCloses<GatewaySession>;
  #chain: Promise<unknown> = Promise.resolve();

  constructor(host: LiveRoutesHost, config: Config, opts: LiveRoutesOptions = {}) {
    this.#host = host;
    this.#workers = Math.max(1, opts.workers ?? 1);
    const h = config.routing.health;
    this.health = new UpstreamHealth({ failureThreshold: h.failuresToMarkDown, cooldownMs: h.downCooldownMs, maxTracked: h.maxTracked });
    let initial = opts.initial;
    if (initial === undefined) {
      initial = opts.deferred ? buildRouteTable([], undefined, { health: this.health }) : buildRouteTable(config.routes, config.defaultRoute, { health: this.health });
    }
    this.#table = 'put' in initial ? (initial as MutableRouteTable) : undefined;
    this.holder = new RouteTableHolder(initial);
    host.metrics.setRouteTable(initial.version, initial.size);

    const registers = [host.metrics.registry];
    const migrated = new Counter({ name: 'stratix_route_migrations_total', help: 'Sessions closed with 4307 ROUTE_CHANGED because their route changed (routing.onRouteChange "migrate").', registers });
    this.#migrations = new PacedCloses<GatewaySession>({
      ratePerSecond: config.routing.migrateRatePerSecond / this.#workers,
      close: (s) => {
        if (!s.live) return;
        migrated.inc();
        s.routeChanged(this.holder.current.resolve(s.clientId)?.target);
      },
    });
    const migrations = this.#migrations;
    const health = this.health;
    new Gauge({ name: 'stratix_route_migrations_pending', help: 'Sessions waiting to be closed with 4307 ROUTE_CHANGED.', registers, collect() { this.set(migrations.pending); } });
    new Gauge({
      name: 'stratix_upstreams_down',
      help: 'Pool members skipped now, by why (operator mark, or repeated connect failures).',
      labelNames: ['reason'],
      registers,
      collect() {
        let operator = 0;
        let failures = 0;
        for (const s of health.list()) if (s.down) s.reason === 'operator' ? operator++ : failures++;
        this.set({ reason: 'operator' }, operator);
        this.set({ reason: 'failures' }, failures);
      },
    });
  }

  get current(): RouteTable {
    return this.holder.current;
  }

  /** A session was opened on `match`'s target. */
  opened(session: Session, match: RouteMatch): void {
    if (match.member >= 0) this.#pooled.add(session);
  }

  /** One connect attempt of a session ended: `opened` or failed. */
  outcome(session: Session, opened: boolean): void {
    if (!this.#pooled.has(session)) return;
    if (opened) {
      this.health.recordSuccess(session.target);
    } else if (this.health.recordFailure(session.target)) {
      this.#host.logger.warn(
        { target: session.target, failures: this.health.failureThreshold, cooldownMs: this.health.cooldownMs },
        'pool member marked down after repeated connect failures',
      );
    }
  }

  /** A connect to `match`'s target ended before any session existed (negotiated subprotocols). */
  recordOutcome(match: RouteMatch, opened: boolean): void {
    if (match.member < 0) return;
    if (opened) this.health.recordSuccess(match.target);
    else this.health.recordFailure(match.target);
  }

  /** A session is gone: it no longer waits for a migration. */
  closed(session: GatewaySession): void {
    this.#migrations.delete(session);
  }

  /** The drain closes everyone anyway. */
  stopMigrations(): void {
    this.#migrations.clear();
  }

  loadRoutes(set: RouteSetData, policy: RouteChangePolicy): Promise<string> {
    return this.#serial(async () => {
      const rules = await PackedRules.adoptSliced(set.rules.copyRecords(), set.rules.defaultRoute);
      const next = new PackedRouteTable(rules, { health: this.health, revision: set.revision > 0 ? set.revision : undefined });
      return this.#swapIn(next, policy);
    });
  }

  /**
   * As loadRoutes, for a table already built (by a worker, from the bytes of a full set;
   * build it with `health` as its health view).
   */
  loadTable(next: MutableRouteTable, policy: RouteChangePolicy): Promise<string> {
    return this.#serial(() => this.#swapIn(next, policy));
  }

  async #swapIn(next: MutableRouteTable, policy: RouteChangePolicy): Promise<string> {
    const previous = this.holder.swap(next);
    this.#table = next;
    this.#host.metrics.setRouteTable(next.version, next.size);
    if (policy.onRouteChange === 'migrate' && previous.version !== next.version) {
      await this.#migrate(policy, (s) => {
        const now = next.resolve(s.clientId)?.target;
        return now !== s.target && previous.resolve(s.clientId)?.target !== now;
      });
    }
    return next.version;
  }

  applyRouteChanges(changes: readonly RouteChange[], revision: number, policy: RouteChangePolicy): Promise<string> {
    return this.#serial(async () => {
      const table = this.#table;
      if (table === undefined) throw new Error('the live route table does not take changes');
      const opts = { revision };
      for (const c of changes) {
        if (c.type === 'put') table.put(c.rule, opts);
        else if (c.type === 'delete') table.delete(c.rule, opts);
        else table.setDefault(c.defaultRoute, opts);
      }
      this.#host.metrics.setRouteTable(table.version, table.size);
      if (policy.onRouteChange === 'migrate') {
        await this.#migrate(policy, (s) => covers(changes, s.clientId) && table.resolve(s.clientId)?.target !== s.target);
      }
      return table.version;
    });
  }

  async markUpstream(url: string, down: boolean): Promise<void> {
    if (down) this.health.markDown(url);
    else this.health.markUp(url);
  }

  async explainRoute(clientId: string): Promise<RouteExplanation> {
    return this.holder.current.explain(clientId);
  }

  async upstreams(): Promise<UpstreamStatus[]> {
    return this.health.list();
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#chain.then(fn);
    this.#chain = run.catch(() => undefined);
    return run;
  }

  /** Queues the sessions `affected` picks for a paced 4307 close; the search yields every few ms. */
  async #migrate(policy: RouteChangePolicy, affected: (s: GatewaySession) => boolean): Promise<void> {
    const picked: GatewaySession[] = [];
    let deadline = performance.now() + SCAN_SLICE_MS;
    let n = 0;
    for (const s of [...this.#host.sessions]) {
      if (++n % SCAN_BATCH === 0 && performance.now() >= deadline) {
        await nextTurn();
        deadline = performance.now() + SCAN_SLICE_MS;
      }
      if (s.live && affected(s)) picked.push(s);
    }
    if (picked.length === 0) return;
    const rate = policy.migrateRatePerSecond / this.#workers;
    this.#migrations.ratePerSecond = rate;
    const added = this.#migrations.add(picked);
    this.#host.logger.info({ sessions: added, waiting: this.#migrations.pending, ratePerSecond: rate }, 'migrating sessions whose route changed');
  }
}

/** Whether one of `changes` is a rule that can match `clientId` (the default covers everyone). */
function covers(changes: readonly RouteChange[], clientId: string): boolean {
  for (const c of changes) {
    if (c.type === 'default') return true;
    const r = c.rule;
    if (r.clientId !== undefined ? r.clientId === clientId : clientId.startsWith(r.clientIdPrefix ?? '')) return true;
  }
  return false;
}
