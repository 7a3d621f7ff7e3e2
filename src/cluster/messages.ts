/**
 * The IPC messages between the primary and its workers (structured-clone
 * serialization, so Buffers cross as Buffers).
 */
import type { MetricsSnapshot } from '../metrics/metrics-format.js';

export type ToWorker =
  /** First message: the validated config (re-validated by the worker) and its place. */
  | { t: 'init'; config: unknown; index: number; workers: number }
  /** A client socket (sent as the handle) and the request head already read from it. */
  | { t: 'conn'; head: Buffer }
  | { t: 'metrics'; id: number }
  | { t: 'drain' };

export type ToPrimary =
  | { t: 'ready' }
  | { t: 'metrics'; id: number; snapshot: MetricsSnapshot }
  | { t: 'drained' };
