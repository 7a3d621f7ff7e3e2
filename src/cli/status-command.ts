/**
 * `stratix-gateway status`: the running instance's readiness, route table and source,
 * totals, and each worker (pid, sessions, slow clients, event-loop p99, RSS, restarts),
 * from GET /admin/status and GET /admin/workers. Exit status 0 when it is ready, 1 when
 * it is not (or cannot be asked), 2 for a bad command line.
 */
import { parseArgs } from 'node:util';
import type { WorkersAnswer } from '../server/session-admin.js';
import { formatStatus, type StatusAnswer } from '../ops/report-format.js';
import { ADMIN_OPTIONS, ADMIN_OPTIONS_USAGE, adminClientFor, reportFailure, usageError, type CommandIo } from './admin-options.js';

const USAGE = `usage: stratix-gateway status [--url URL] [--token TOKEN] [--config FILE] [--json]
${ADMIN_OPTIONS_USAGE}
`;

export async function runStatusCommand(args: string[], io: CommandIo, env: NodeJS.ProcessEnv): Promise<number> {
  let flags;
  try {
    flags = parseArgs({ args, strict: true, allowPositionals: false, options: ADMIN_OPTIONS }).values;
  } catch (err) {
    return usageError(io, USAGE, (err as Error).message);
  }
  if (flags.help === true) {
    io.stdout.write(USAGE);
    return 0;
  }
  const client = adminClientFor(flags, env);
  if (client instanceof Error) return usageError(io, USAGE, client.message);
  try {
    const [status, workers] = await Promise.all([client.get<StatusAnswer>('/admin/status'), client.get<WorkersAnswer>('/admin/workers')]);
    io.stdout.write(flags.json === true ? JSON.stringify({ status, workers }, null, 2) + '\n' : formatStatus(status, workers));
    return status.ready ? 0 : 1;
  } catch (err) {
    return reportFailure(io, err);
  }
}
