/**
 * `GET /admin/status` and `GET /admin/metrics`: the instance's state on the admin
 * listener, for `stratix-gateway status` and the dashboard (the admin listener serves
 * only /admin/*, so the dashboard cannot read /metrics or /readyz from the main port).
 */
import { negotiateMetricsFormat, renderMetrics, seedMetrics, type MetricsSnapshot, type RenderedMetrics } from '../metrics/metrics-format.js';
import { gatewayVersion } from '../version.js';
import type { OpsAdminApi } from './admin-endpoints.js';
import type { OpsSource } from './ops-endpoints.js';

export function opsAdmin(source: Pick<OpsSource, 'snapshots' | 'uptimeSeconds' | 'readiness'>): OpsAdminApi {
  return {
    async status() {
      const snapshots: MetricsSnapshot[] = await source.snapshots();
      const r = source.readiness();
      return {
        version: gatewayVersion(),
        pid: process.pid,
        node: process.version,
        uptimeSeconds: Math.floor(source.uptimeSeconds()),
        ready: r.ready,
        ...r.details,
        totals: seedMetrics(snapshots, source.uptimeSeconds()),
      };
    },
    async metrics(accept: string | undefined, format: string | null): Promise<RenderedMetrics> {
      return renderMetrics(negotiateMetricsFormat(accept, format), await source.snapshots(), source.uptimeSeconds());
    },
  };
}
