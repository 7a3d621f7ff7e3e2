/**
 * The admin endpoints (`/admin/*`), served by the primary (cluster) or a standalone
 * Gateway, on the main port or on `admin.listen`:
 *
 *   POST /admin/reload                    re-read the config file (see RouteController)
 *   GET  /admin/routes/explain?clientId=  how that clientId is routed, and why
 *   GET  /admin/upstreams                 operator marks, and what each worker has down
 *   POST /admin/upstreams/down?url=       take an upstream out of every pool listing it
 *   POST /admin/upstreams/up?url=         put it back (and forget its failures)
 *
 * Every request needs `Authorization: Bearer <admin.token>` (compared in constant
 * time: both sides are hashed to 32 bytes first, so neither the content nor the length
 * leaks). No token configured: 403 STRATIX_ERR_ADMIN_DISABLED for every admin path
 * (the endpoints exist, they are switched off, and the answer says how to switch them
 * on). Authentication comes before routing, so an anonymous caller learns nothing
 * about which admin paths exist. Errors are `{"error":{"code","message",…}}`
 * (src/errors.ts, AdminErrors).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { parseListen } from '../config/load.js';
import { AdminError, adminError } from '../errors.js';

export const ADMIN_PREFIX = '/admin/';

/** What the admin endpoints act on (a RouteController). Methods throw AdminError for a known failure. */
export interface AdminApi {
  reload(trigger: 'admin'): Promise<unknown>;
  explain(clientId: string): Promise<unknown>;
  markUpstream(url: string, down: boolean): Promise<unknown>;
  upstreams(): Promise<unknown>;
}

export type AdminHandler = (req: IncomingMessage, res: ServerResponse) => void;

interface Endpoint {
  readonly method: 'GET' | 'POST';
  run(api: AdminApi, query: URLSearchParams): Promise<unknown>;
}

const MAX_URL_LENGTH = 2_048;

const ENDPOINTS: ReadonlyMap<string, Endpoint> = new Map<string, Endpoint>([
  ['/admin/reload', { method: 'POST', run: (api) => api.reload('admin') }],
  ['/admin/routes/explain', { method: 'GET', run: (api, q) => api.explain(requiredParam(q, 'clientId')) }],
  ['/admin/upstreams', { method: 'GET', run: (api) => api.upstreams() }],
  ['/admin/upstreams/down', { method: 'POST', run: (api, q) => api.markUpstream(upstreamParam(q), true) }],
  ['/admin/upstreams/up', { method: 'POST', run: (api, q) => api.markUpstream(upstreamParam(q), false) }],
]);

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
    if (!authorized(req.headers.authorization, expected)) {
      sendError(res, adminError('UNAUTHORIZED', undefined, undefined, { 'WWW-Authenticate': 'Bearer realm="stratix-admin"' }));
      return;
    }
    const endpoint = ENDPOINTS.get(path);
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
    if (endpoint.method === 'POST') logger.info({ path, query: Object.fromEntries(query), remote: req.socket.remoteAddress }, 'admin request');
    Promise.resolve()
      .then(() => endpoint.run(api, query))
      .then(
        (body) => send(res, 200, body, {}),
        (err: unknown) => {
          if (err instanceof AdminError) {
            sendError(res, err);
          } else {
            logger.error({ err, path }, 'admin request failed');
            sendError(res, adminError('INTERNAL', (err as Error).message));
          }
        },
      );
  };
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

function requiredParam(q: URLSearchParams, name: string): string {
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
