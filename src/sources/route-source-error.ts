/**
 * Errors of the route sources and the `routes` command, each with a stable code.
 * (Candidates for the catalogue in src/errors.ts.)
 */
import { StratixError } from '../errors.js';

export const RouteSourceErrors = Object.freeze({
  UNAVAILABLE: {
    code: 'STRATIX_ERR_ROUTE_SOURCE_UNAVAILABLE',
    meaning: 'etcd could not be reached at start (within routeSource.etcd.dialTimeoutMs) and there is no usable local snapshot.',
  },
  SNAPSHOT_INVALID: {
    code: 'STRATIX_ERR_ROUTE_SNAPSHOT_INVALID',
    meaning: 'The local route snapshot is unreadable, truncated, or was written for another key prefix; it is ignored.',
  },
  CLOSED: { code: 'STRATIX_ERR_ROUTE_SOURCE_CLOSED', meaning: 'start() was called on a source that was closed.' },
  IMPORT_INVALID: {
    code: 'STRATIX_ERR_ROUTE_IMPORT_INVALID',
    meaning: 'The file given to `routes import` is not JSON/JSON lines or holds invalid rules; nothing was written.',
  },
  USAGE: { code: 'STRATIX_ERR_USAGE', meaning: 'The command line of `stratix-gateway routes` is wrong.' },
  ETCD: { code: 'STRATIX_ERR_ETCD', meaning: 'An etcd request of the `routes` command failed.' },
} as const);

export type RouteSourceErrorName = keyof typeof RouteSourceErrors;

export class RouteSourceError extends StratixError {}

export function routeSourceError(name: RouteSourceErrorName, message: string, cause?: unknown): RouteSourceError {
  return new RouteSourceError(RouteSourceErrors[name].code, message, cause === undefined ? undefined : { cause });
}
