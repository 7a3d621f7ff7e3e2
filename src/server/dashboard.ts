/**
 * The live dashboard, `GET /admin/ui` on the admin listener: static files only (an HTML
 * page, its script and style, uPlot), served without the token so a browser can open the
 * page; everything it shows comes from the admin API, called with the token in the
 * Authorization header (the page asks for it once and keeps it in sessionStorage, for
 * the tab only; never in a URL). The page's Content-Security-Policy lets it load nothing
 * but its own files and call nothing but this origin, and no frame may embed it.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { dashboardAsset } from './dashboard-assets.js';

export const DASHBOARD_PATH = '/admin/ui';

const SECURITY_HEADERS = {
  'Content-Security-Policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-cache',
};

export function isDashboardPath(path: string): boolean {
  return path === DASHBOARD_PATH || path.startsWith(`${DASHBOARD_PATH}/`);
}

export function serveDashboard(req: IncomingMessage, res: ServerResponse, path: string): void {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { Allow: 'GET', 'Content-Type': 'application/json', ...SECURITY_HEADERS });
    res.end(JSON.stringify({ error: { code: 'STRATIX_ERR_ADMIN_METHOD_NOT_ALLOWED', message: `${DASHBOARD_PATH} takes GET` } }));
    return;
  }
  const asset = dashboardAsset(path.slice(DASHBOARD_PATH.length));
  if (asset === undefined) {
    res.writeHead(404, { 'Content-Type': 'application/json', 'X-Stratix-Error': 'STRATIX_ERR_ADMIN_NOT_FOUND', ...SECURITY_HEADERS });
    res.end(JSON.stringify({ error: { code: 'STRATIX_ERR_ADMIN_NOT_FOUND', message: `no dashboard file ${path.slice(0, 64)}` } }));
    return;
  }
  res.writeHead(200, { 'Content-Type': asset.contentType, 'Content-Length': asset.body.length, ...SECURITY_HEADERS });
  res.end(req.method === 'HEAD' ? undefined : asset.body);
}
