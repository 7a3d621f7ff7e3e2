/**
 * `stratix-gateway sessions list|show|close`: the running instance's sessions, through
 * its admin API (GET /admin/sessions, GET /admin/sessions/{id}, POST …/close).
 *
 *   sessions list  [--prefix P] [--upstream URL] [--state S[,S]] [--limit N] [--cursor C] [--all]
 *   sessions show  ID
 *   sessions close ID [--code C] [--end]
 *   sessions close --prefix P [--rate N] [--code C] [--end]
 *
 * `--all` follows the cursor to the last page. Exit status 0 done, 1 failed (e.g. no
 * such session), 2 bad command line.
 */
import { parseArgs } from 'node:util';
import type { PrefixClose, SessionListing } from '../server/session-admin.js';
import type { SessionInfo } from '../server/session-view.js';
import { formatSession, formatSessions } from '../ops/report-format.js';
import type { AdminClient } from '../ops/admin-client.js';
import { ADMIN_OPTIONS, ADMIN_OPTIONS_USAGE, adminClientFor, reportFailure, usageError, type CommandIo } from './admin-options.js';

const USAGE = `usage:
  stratix-gateway sessions list  [--prefix P] [--upstream URL] [--state S[,S...]] [--limit N] [--cursor C] [--all]
  stratix-gateway sessions show  ID
  stratix-gateway sessions close ID [--code C] [--end]
  stratix-gateway sessions close --prefix P [--rate N] [--code C] [--end]
  states: connecting, open, closing, detached; --all follows the pages to the end;
  --code defaults to 1012 (reconnect soon); --end also ends a reliable session's upstream;
  --rate: closes per second for the whole instance (default routing.migrateRatePerSecond)
${ADMIN_OPTIONS_USAGE}
`;

const OPTIONS = {
  ...ADMIN_OPTIONS,
  prefix: { type: 'string' },
  upstream: { type: 'string' },
  state: { type: 'string' },
  limit: { type: 'string' },
  cursor: { type: 'string' },
  all: { type: 'boolean' },
  code: { type: 'string' },
  end: { type: 'boolean' },
  rate: { type: 'string' },
} as const;

type Flags = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

export async function runSessionsCommand(args: string[], io: CommandIo, env: NodeJS.ProcessEnv): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args, strict: true, allowPositionals: true, options: OPTIONS });
  } catch (err) {
    return usageError(io, USAGE, (err as Error).message);
  }
  const { values: flags, positionals } = parsed;
  if (flags.help === true) {
    io.stdout.write(USAGE);
    return 0;
  }
  const [verb, id, ...extra] = positionals;
  if (extra.length > 0) return usageError(io, USAGE, `unexpected argument: ${extra[0]}`);
  const client = adminClientFor(flags, env);
  if (client instanceof Error) return usageError(io, USAGE, client.message);
  try {
    switch (verb) {
      case 'list':
        if (id !== undefined) return usageError(io, USAGE, `unexpected argument: ${id}`);
        return await list(client, flags, io);
      case 'show': {
        if (id === undefined) return usageError(io, USAGE, 'sessions show needs a session ID (see sessions list)');
        const s = await client.get<SessionInfo>(`/admin/sessions/${encodeURIComponent(id)}`);
        io.stdout.write(flags.json === true ? JSON.stringify(s, null, 2) + '\n' : formatSession(s));
        return 0;
      }
      case 'close':
        return await close(client, id, flags, io);
      default:
        return usageError(io, USAGE, verb === undefined ? 'missing subcommand (list, show, close)' : `unknown subcommand: ${verb}`);
    }
  } catch (err) {
    return reportFailure(io, err);
  }
}

async function list(client: AdminClient, flags: Flags, io: CommandIo): Promise<number> {
  const query = { prefix: flags.prefix, upstream: flags.upstream, state: flags.state, limit: flags.limit, cursor: flags.cursor };
  let page = await client.get<SessionListing>('/admin/sessions', query);
  if (flags.all === true) {
    const all = page;
    while (page.nextCursor !== null) {
      page = await client.get<SessionListing>('/admin/sessions', { ...query, cursor: page.nextCursor });
      all.sessions.push(...page.sessions);
      all.total = page.total;
      all.nextCursor = page.nextCursor;
      all.unavailable = [...new Set([...all.unavailable, ...page.unavailable])];
    }
    page = all;
  }
  if (flags.json === true) io.stdout.write(JSON.stringify(page, null, 2) + '\n');
  else io.stdout.write(formatSessions(page) + (page.nextCursor === null ? '' : `more: --cursor ${page.nextCursor}\n`));
  return 0;
}

async function close(client: AdminClient, id: string | undefined, flags: Flags, io: CommandIo): Promise<number> {
  const common = { code: flags.code, end: flags.end === true ? 'true' : undefined };
  if (id !== undefined) {
    if (flags.prefix !== undefined) return usageError(io, USAGE, 'give a session ID or --prefix, not both');
    if (flags.rate !== undefined) return usageError(io, USAGE, '--rate goes with --prefix');
    const s = await client.post<SessionInfo & { code: number }>(`/admin/sessions/${encodeURIComponent(id)}/close`, common);
    io.stdout.write(flags.json === true ? JSON.stringify(s, null, 2) + '\n' : `closed ${s.id} (${s.clientId}) with ${s.code}\n`);
    return 0;
  }
  if (flags.prefix === undefined) return usageError(io, USAGE, 'sessions close needs a session ID or --prefix P');
  const r = await client.post<PrefixClose>('/admin/sessions/close', { ...common, prefix: flags.prefix, rate: flags.rate });
  if (flags.json === true) io.stdout.write(JSON.stringify(r, null, 2) + '\n');
  else {
    const seconds = r.queued / r.ratePerSecond;
    io.stdout.write(`closing ${r.queued} sessions with clientId prefix ${JSON.stringify(r.prefix)} with ${r.code}, ${r.ratePerSecond}/s (about ${seconds.toFixed(1)} s)` +
      `${r.unavailable.length > 0 ? `; workers not answering: ${r.unavailable.join(', ')}` : ''}\n`);
  }
  return 0;
}
