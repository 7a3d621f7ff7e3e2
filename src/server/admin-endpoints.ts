/**
 * The admin endpoints (`/admin/*`), served by the primary (cluster) or a standalone
 * Gateway, on the main port or on `admin.listen`:
 *
 *   POST /admin/reload                    re-read the config file (see RouteController)
 *   GET  /admin/routes/explain?clientId=  how that clientId is routed, and why
 *   GET  /admin/upstreams                 operator marks, and what each worker has down
 *   POST /admin/upstreams/down?url=       take an upstream out of every pool listing it
 *   POST /admin/upstreams/up?url=         put it back (and forget its failures)
 *   GET  /admin/sessions?prefix=&upstream=&state=&limit=&cursor=    sessions, a page at a time
 *   GET  /admin/sessions/{id}             one session in full
 *   POST /admin/sessions/{id}/close?code=&end=                      close one session
 *   POST /admin/sessions/close?prefix=&code=&end=&rate=             close by clientId prefix, paced
 *   GET  /admin/workers                   each worker: pid, sessions, event-loop delay, RSS, restarts
 *   GET  /admin/status                    readiness, route table and source, totals
 *   GET  /admin/metrics                   the metrics (as GET /metrics), for the dashboard
 *   GET  /admin/ui                        the live dashboard (static files; its data calls need the token)
 *
 * Every request but the dashboard's static files needs `Authorization: Bearer
 * <admin.token>` (compared in constant time: both sides are hashed to 32 bytes first, so
 * neither the content nor the length leaks). No token configured: 403
 * STRATIX_ERR_ADMIN_DISABLED for every admin path (the endpoints exist, they are switched
 * off, and the answer says how to switch them on). Authentication comes before routing,
 * so an anonymous caller learns nothing about which admin paths exist. Errors are
 * `{"error":{"code","message",…}}` (src/errors.ts, AdminErrors). Every POST (everything
 * that changes something) is logged at info once answered: who (address, user agent, the
 * optional X-Stratix-Operator header), what (path, parameters, status), when (the line's time).
 *
 * A cross-site page cannot act here: actions are POSTs that need the Authorization
 * header, which a form cannot send, and no CORS header is ever given, so a script on
 * another origin cannot send it either.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { parseListen } from '../config/listen-address.js';
import { AdminError, adminError } from '../errors.js';
import type { RenderedMetrics } from '../metrics/metrics-format.js';
import { isDashboardPath, serveDashboard } from './dashboard.js';
import type { SessionAdminApi } from './session-admin.js';
import { parseCloseParams, parsePrefixCloseParams, parseSessionQuery } from './admin-params.js';

export const ADMIN_PREFIX = '/admin/';

/** The routes' half (a RouteController). Methods throw AdminError for a known failure. */
export interface RouteAdminApi {
  reload(trigger: 'admin'): Promise<unknown>;
  explain(clientId: string): Promise<unknown>;
  markUpstream(url: string, down: boolean): Promise<unknown>;
  upstreams(): Promise<unknown>;
}

/** The instance's state, for `status` and the dashboard. */
export interface OpsAdminApi {
  status(): Promise<unknown>;
  /** `format`: as negotiated for GET /metrics. */
  metrics(accept: string | undefined, format: string | null): Promise<RenderedMetrics>;
}

/** What the admin endpoints act on. */
export interface AdminApi {
  readonly routes: RouteAdminApi;
  readonly sessions: SessionAdminApi;
  readonly ops: OpsAdminApi;
}

export type AdminHandler = (req: IncomingMessage, res: ServerResponse) => void;

interface Endpoint {
  readonly method: 'GET' | 'POST';
  run(api: AdminApi, query: URLSearchParams, req: IncomingMessage): Promise<unknown>;
}

const MAX_URL_LENGTH = 2_048;

const ENDPOINTS: ReadonlyMap<string, Endpoint> = new Map<string, Endpoint>([
  ['/admin/reload', { method: 'POST', run: (api) => api.routes.reload('admin') }],
  ['/admin/routes/explain', { method: 'GET', run: (api, q) => api.routes.explain(requiredParam(q, 'clientId')) }],
  ['/admin/upstreams', { method: 'GET', run: (api) => api.routes.upstreams() }],
  ['/admin/upstreams/down', { method: 'POST', run: (api, q) => api.routes.markUpstream(upstreamParam(q), true) }],
  ['/admin/upstreams/up', { method: 'POST', run: (api, q) => api.routes.markUpstream(upstreamParam(q), false) }],
  ['/admin/sessions', { method: 'GET', run: (api, q) => api.sessions.sessions(parseSessionQuery(q)) }],
  [
    '/admin/sessions/close',
    {
      method: 'POST',
      run: (api, q) => {
        const p = parsePrefixCloseParams(q);
        return api.sessions.closeSessions(p.prefix, p.code, p.end, p.ratePerSecond);
      },
    },
  ],
  ['/admin/workers', { method: 'GET', run: (api) => api.sessions.workers() }],
  ['/admin/status', { method: 'GET', run: (api) => api.ops.status() }],
  ['/admin/metrics', { method: 'GET', run: (api, q, req) => api.ops.metrics(req.headers.accept, q.get('format')).then(raw) }],
]);

/** `/admin/sessions/{id}` and `/admin/sessions/{id}/close`. */
function sessionEndpoint(path: string): Endpoint | undefined {
  const m = /^\/admin\/sessions\/([^/]+)(\/close)?$/.exec(path);
  if (m === null || m[1] === 'close') return undefined;
  let id: string;
  try {
    id = decodeURIComponent(m[1]!);
  } catch {
    id = m[1]!;
  }
  if (m[2] === undefined) return { method: 'GET', run: (api) => api.sessions.session(id) };
  return {
    method: 'POST',
    run: (api, q) => {
      const p = parseCloseParams(q);
      return api.sessions.closeSession(id, p.code, p.end);
    },
  };
}

/** A body already rendered (the metrics), sent as it is. */
class RawBody {
  constructor(readonly rendered: RenderedMetrics) {}
}
function raw(rendered: RenderedMetrics): RawBody {
  return new RawBody(rendered);
}

export function isAdminPath(path: string): boolean {
  return path.startsWith(ADMIN_PREFIX) || path === '/admin';
}

export function createAdminHandler(api: AdminApi | undefined, token: string | undefined, logger: Logger): AdminHandler {
  const expected = token === undefined ? undefined : digest(token);
  return (req, res) => {
    req.resume(); // no endpoint reads a body
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    if (expected === undefined || api === undefined) {
      sendError(res, adminError('DISABLED', 'the admin endpoints are disabled: set admin.token in the config'));
      return;
    }
    if (isDashboardPath(path)) {
      serveDashboard(req, res, path);
      return;
    }
    if (!authorized(req.headers.authorization, expected)) {
      sendError(res, adminError('UNAUTHORIZED', undefined, undefined, { 'WWW-Authenticate': 'Bearer realm="stratix-admin"' }));
      return;
    }
    const endpoint = ENDPOINTS.get(path) ?? sessionEndpoint(path);
    if (endpoint === undefined) {
      sendError(res, adminError('NOT_FOUND', `no admin endpoint ${path.slice(0, 64)}`));
      return;
    }
    const method = req.method === 'HEAD' ? 'GET' : req.method;
    if (method !== endpoint.method) {
      sendError(res, adminError('METHOD_NOT_ALLOWED', `${path} takes ${endpoint.method}`, undefined, { Allow: endpoint.method }));
      return;
    }
    let query: URLSearchParams;
    try {
      query = new URLSearchParams(q === -1 ? '' : url.slice(q + 1));
    } catch {
      sendError(res, adminError('BAD_REQUEST', 'the query string cannot be decoded'));
      return;
    }
    const startedAt = performance.now();
    const audit = endpoint.method === 'POST' ? (status: number, code?: string) => logAction(logger, req, path, query, status, code, startedAt) : undefined;
    Promise.resolve()
      .then(() => endpoint.run(api, query, req))
      .then(
        (body) => {
          if (body instanceof RawBody) {
            res.writeHead(200, { 'Content-Type': body.rendered.contentType, 'Cache-Control': 'no-store' });
            res.end(body.rendered.body);
          } else {
            send(res, 200, body, {});
          }
          audit?.(200);
        },
        (err: unknown) => {
          if (err instanceof AdminError) {
            sendError(res, err);
            audit?.(err.status, err.code);
          } else {
            logger.error({ err, path }, 'admin request failed');
            sendError(res, adminError('INTERNAL', (err as Error).message));
            audit?.(500, 'STRATIX_ERR_ADMIN_INTERNAL');
          }
        },
      );
  };
}

/** The audit line of an action: who, what, when (pino's `time`), and how it ended. */
function logAction(logger: Logger, req: IncomingMessage, path: string, query: URLSearchParams, status: number, code: string | undefined, startedAt: number): void {
  const operator = req.headers['x-stratix-operator'];
  logger.info(
    {
      audit: true,
      action: `${req.method ?? 'POST'} ${path}`,
      params: Object.fromEntries(query),
      who: {
        remote: req.socket.remoteAddress ?? null,
        operator: typeof operator === 'string' ? operator.slice(0, 128) : null,
        userAgent: typeof req.headers['user-agent'] === 'string' ? req.headers['user-agent'].slice(0, 256) : null,
      },
      status,
      ...(code === undefined ? {} : { code }),
      elapsedMs: Math.round(performance.now() - startedAt),
    },
    'admin action',
  );
}

/** A server for `admin.listen`: only /admin/*, with the same timeouts as the operations port. */
export async function listenAdmin(listen: string, handler: AdminHandler, gateway: Config['gateway']): Promise<Server> {
  const timeout = gateway.handshakeTimeoutMs;
  const server = createServer({ headersTimeout: timeout, requestTimeout: timeout + 1_000, maxHeaderSize: gateway.maxHeaderBytes }, (req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0]!;
    if (isAdminPath(path)) handler(req, res);
    else sendError(res, adminError('NOT_FOUND', `the admin listener serves only ${ADMIN_PREFIX}*`));
  });
  const { host, port } = parseListen(listen);
  server.listen({ host, port });
  await once(server, 'listening');
  return server;
}

function sendError(res: ServerResponse, err: AdminError): void {
  send(res, err.status, { error: { code: err.code, message: err.message, ...err.details } }, { 'X-Stratix-Error': err.code, ...err.headers });
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string>): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', ...headers });
  res.end(text);
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

function authorized(header: string | undefined, expected: Buffer): boolean {
  if (header === undefined) return false;
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  // Hash even a malformed header, so a refusal costs the same either way.
  return timingSafeEqual(digest(m?.[1] ?? ''), expected) && m !== null;
}

export function requiredParam(q: URLSearchParams, name: string): string {
  const values = q.getAll(name);
  if (values.length !== 1 || values[0] === '') throw adminError('BAD_REQUEST', `exactly one non-empty ${name} query parameter is required`);
  return values[0]!;
}

function upstreamParam(q: URLSearchParams): string {
  const url = requiredParam(q, 'url');
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (url.length > MAX_URL_LENGTH || parsed === undefined || (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:')) {
    throw adminError('BAD_REQUEST', 'url must be a ws:// or wss:// URL, as a pool member resolves to (see /admin/routes/explain)');
  }
  return url;
}
