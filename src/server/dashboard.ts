/**
 * The live dashboard, `/admin/ui` (placeholder; filled in by the dashboard commit).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

export function isDashboardPath(path: string): boolean {
  return path === '/admin/ui' || path.startsWith('/admin/ui/');
}

export function serveDashboard(_req: IncomingMessage, res: ServerResponse, _path: string): void {
  res.writeHead(404).end();
}
