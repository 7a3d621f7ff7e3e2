/**
 * The IPC messages between the primary and its workers (structured-clone
 * serialization, so Buffers cross as Buffers).
 *
 * Requests carry an `id`; the worker answers each with one `reply` of that id.
 * A full route set travels as `routes-begin`, `routes-chunk`s of at most
 * ROUTE_CHUNK_RULES rules (each one cheap to deserialize, so a million rules never
 * hold a worker's event loop in one piece) and `routes-end`, which is the request
 * that gets the reply (the new table's version).
 */
import type { DefaultRouteConfig, RouteRuleConfig } from '../config/route-schema.js';
import type { RouteChangePolicy } from '../config/schema.js';
import type { RouteChange } from '../sources/route-source.js';

/** Rules per `routes-chunk` (~1 MB; a few ms to deserialize). */
export const ROUTE_CHUNK_RULES = 10_000;

export type ToWorker =
  /** First message: the validated config without its rules (re-validated by the worker) and its place. */
  | { t: 'init'; config: unknown; index: number; workers: number }
  /** A client socket (sent as the handle) and the request head already read from it. */
  | { t: 'conn'; head: Buffer }
  | { t: 'metrics'; id: number }
  | { t: 'drain' }
  | { t: 'routes-begin'; id: number; count: number; defaultRoute: DefaultRouteConfig | undefined; revision: number }
  | { t: 'routes-chunk'; id: number; rules: readonly RouteRuleConfig[] }
  | { t: 'routes-end'; id: number; policy: RouteChangePolicy }
  | { t: 'routes-delta'; id: number; changes: readonly RouteChange[]; revision: number; policy: RouteChangePolicy }
  | { t: 'upstream-mark'; id: number; url: string; down: boolean }
  | { t: 'explain'; id: number; clientId: string }
  | { t: 'upstreams'; id: number };

export type ToPrimary =
  | { t: 'ready' }
  | { t: 'reply'; id: number; ok: true; value: unknown }
  | { t: 'reply'; id: number; ok: false; error: string }
  | { t: 'drained' };
