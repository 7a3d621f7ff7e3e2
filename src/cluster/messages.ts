/**
 * The IPC messages between the primary and its workers (structured-clone
 * serialization, so Buffers cross as Buffers).
 *
 * Requests carry an `id`; the worker answers each with one `reply` of that id.
 * A full route set travels as a file: the packed rules' image (route-set-files.ts:
 * written once by the primary, read by each worker, no IPC buffer per worker);
 * `routes-file` names it and is answered with the new table's version.
 */
import type { DefaultRouteConfig } from '../config/route-schema.js';
import type { RouteChangePolicy } from '../config/schema.js';
import type { RouteChange } from '../sources/route-source.js';
import type { SessionId, SessionQuery } from '../server/session-view.js';

export type ToWorker =
  /** First message: the validated config without its rules (re-validated by the worker) and its place. */
  /**
   * `generation`/`orphans`: where this process's reliable log goes, and the logs it must recover first.
   * `starts`: how many times this worker's process has been started (1, 2, …: the G of the admin API's session ids).
   */
  | { t: 'init'; config: unknown; index: number; workers: number; generation: string; orphans: string[]; starts: number }
  /**
   * A client socket (sent as the handle) and the request head already read from it;
   * `source`: the client's address the primary counted it against (admission);
   * `peer`/`secure`: set when the handle is the primary's TLS pipe.
   */
  | { t: 'conn'; head: Buffer; source?: string; peer?: string; secure?: boolean }
  /** SIGHUP: re-read auth key files. */
  | { t: 'reload-credentials' }
  | { t: 'metrics'; id: number }
  | { t: 'drain' }
  /** A full set: the `bytes` long image of packed rules at `path` (route-set-files.ts), and the default route. */
  | { t: 'routes-file'; id: number; path: string; bytes: number; defaultRoute: DefaultRouteConfig | undefined; revision: number; policy: RouteChangePolicy }
  | { t: 'routes-delta'; id: number; changes: readonly RouteChange[]; revision: number; policy: RouteChangePolicy }
  | { t: 'upstream-mark'; id: number; url: string; down: boolean }
  | { t: 'explain'; id: number; clientId: string }
  | { t: 'upstreams'; id: number }
  /** The admin API's session requests (src/server/session-admin.ts), answered by the worker's SessionDirectory. */
  | { t: 'sessions'; id: number; query: SessionQuery }
  | { t: 'session-get'; id: number; session: SessionId }
  | { t: 'session-close'; id: number; session: SessionId; code: number; end: boolean }
  | { t: 'sessions-close'; id: number; prefix: string; code: number; end: boolean; ratePerSecond: number }
  | { t: 'process-info'; id: number };

export type ToPrimary =
  /** Up (after its recovery): `recovered` lists the orphan logs it has read. */
  | { t: 'ready'; recovered: string[] }
  | { t: 'reply'; id: number; ok: true; value: unknown }
  | { t: 'reply'; id: number; ok: false; error: string }
  | { t: 'drained' }
  /** The worker took `n` handed-over sockets off its IPC channel (batched once per event-loop turn; admission/handshake-queue.ts). */
  | { t: 'taken'; n: number }
  /** Connections counted against these source addresses have ended (batched; a key repeats per connection). */
  | { t: 'sources-released'; sources: string[] };
