/**
 * The operations endpoints, shared by the primary (cluster mode) and a
 * standalone Gateway: `GET /metrics`, `GET /healthz`, `GET /readyz`, and `/admin/*`
 * when the admin endpoints are served on this port. Anything else gets a JSON 404
 * (or 426 for a plain GET /ws).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { handshakeError, type HandshakeError } from '../errors.js';
import { errorBody, WS_PATH } from '../protocol/handshake.js';
import { negotiateMetricsFormat, renderMetrics, type MetricsSnapshot } from '../metrics/metrics-format.js';
import { isAdminPath, type AdminHandler } from './admin-endpoints.js';

export interface OpsSource {
  /** One metrics snapshot per process to sum. */
  snapshots(): Promise<MetricsSnapshot[]>;
  uptimeSeconds(): number;
  readiness(): { ready: boolean; details: Record<string, unknown> };
  /** Serves /admin/* here (absent when admin.listen moves them to their own port). */
  admin?: AdminHandler | undefined;
}

export function handleOpsRequest(
  req: IncomingMessage,
  res: ServerResponse,
  source: OpsSource,
  onRefusal: (err: HandshakeError) => void,
): void {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  const get = req.method === 'GET' || req.method === 'HEAD';
  if (req.headers.host === undefined && req.httpVersion === '1.1') {
    // RFC 9112 §3.2 (the servers are made with requireHostHeader off, so this answer has its code and body).
    refuse(res, handshakeError('BAD_REQUEST', 'missing Host header'), onRefusal);
  } else if (path === '/healthz' && get) {
    sendJson(res, 200, { status: 'ok' });
  } else if (path === '/readyz' && get) {
    const r = source.readiness();
    sendJson(res, r.ready ? 200 : 503, { ready: r.ready, ...r.details });
  } else if (path === '/metrics' && get) {
    const format = negotiateMetricsFormat(req.headers.accept, new URLSearchParams(q === -1 ? '' : url.slice(q + 1)).get('format'));
    source
      .snapshots()
      .then((snaps) => renderMetrics(format, snaps, source.uptimeSeconds()))
      .then(
        (m) => {
          res.writeHead(200, { 'Content-Type': m.contentType, 'Cache-Control': 'no-store' });
          res.end(m.body);
        },
        (err: Error) => sendJson(res, 500, { error: { code: 'STRATIX_ERR_METRICS', message: err.message } }),
      );
  } else if (source.admin !== undefined && isAdminPath(path)) {
    source.admin(req, res);
  } else {
    const err = path === WS_PATH ? handshakeError('UPGRADE_REQUIRED', undefined, { Upgrade: 'websocket' }) : handshakeError('NOT_FOUND', `no such path: ${path.slice(0, 64)}`);
    refuse(res, err, onRefusal);
  }
}

function refuse(res: ServerResponse, err: HandshakeError, onRefusal: (err: HandshakeError) => void): void {
  onRefusal(err);
  res.writeHead(err.status, { 'Content-Type': 'application/json', 'X-Stratix-Error': err.code, ...err.headers });
  res.end(errorBody(err));
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
  res.end(text);
}
