/**
 * The IPC messages between the primary and its workers (structured-clone
 * serialization, so Buffers cross as Buffers).
 *
 * Requests carry an `id`; the worker answers each with one `reply` of that id.
 * A full route set travels as `routes-begin`, `routes-chunk`s of at most
 * ROUTE_CHUNK_RULES rules and `routes-end` (answered with the new table's version),
 * all tied by `load`. Each chunk is acknowledged before the next is sent: a worker
 * then never has more than one chunk to deserialize in one turn of its event loop
 * (with 10k-rule chunks sent back to back, a worker took several per turn and
 * stalled its sessions for 40-80 ms while a million rules arrived).
 */
import type { DefaultRouteConfig, RouteRuleConfig } from '../config/route-schema.js';
import type { RouteChangePolicy } from '../config/schema.js';
import type { RouteChange } from '../sources/route-source.js';

/** Rules per `routes-chunk` (~250 KB; a couple of ms to deserialize). */
export const ROUTE_CHUNK_RULES = 2_500;

export type ToWorker =
  /** First message: the validated config without its rules (re-validated by the worker) and its place. */
  /** `generation`/`orphans`: where this process's reliable log goes, and the logs it must recover first. */
  | { t: 'init'; config: unknown; index: number; workers: number; generation: string; orphans: string[] }
  /** A client socket (sent as the handle) and the request head already read from it. */
  | { t: 'conn'; head: Buffer }
  | { t: 'metrics'; id: number }
  | { t: 'drain' }
  | { t: 'routes-begin'; id: number; load: number; count: number; defaultRoute: DefaultRouteConfig | undefined; revision: number }
  | { t: 'routes-chunk'; id: number; load: number; rules: readonly RouteRuleConfig[] }
  | { t: 'routes-end'; id: number; load: number; policy: RouteChangePolicy }
  | { t: 'routes-delta'; id: number; changes: readonly RouteChange[]; revision: number; policy: RouteChangePolicy }
  | { t: 'upstream-mark'; id: number; url: string; down: boolean }
  | { t: 'explain'; id: number; clientId: string }
  | { t: 'upstreams'; id: number };

export type ToPrimary =
  /** Up (after its recovery): `recovered` lists the orphan logs it has read. */
  | { t: 'ready'; recovered: string[] }
  | { t: 'reply'; id: number; ok: true; value: unknown }
  | { t: 'reply'; id: number; ok: false; error: string }
  | { t: 'drained' };
