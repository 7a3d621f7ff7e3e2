/**
 * Text the CLI prints for the admin API's answers: aligned tables for people; the
 * commands print the JSON itself with --json.
 */
import type { SessionInfo } from '../server/session-view.js';
import type { SessionListing, WorkersAnswer } from '../server/session-admin.js';

export function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: readonly string[]): string => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`;
}

function flagsOf(s: SessionInfo): string {
  return [s.slow ? 'slow' : '', s.paused && !s.slow ? 'paused' : ''].filter(Boolean).join(',') || '-';
}

export function formatSessions(listing: SessionListing): string {
  const rows = listing.sessions.map((s) => [
    s.id,
    s.clientId,
    String(s.worker),
    s.state,
    s.since.replace('T', ' ').replace(/\.\d+Z$/, 'Z'),
    `${s.messages.clientToUpstream}/${s.messages.upstreamToClient}`,
    `${bytes(s.bytes.clientToUpstream)}/${bytes(s.bytes.upstreamToClient)}`,
    flagsOf(s),
    s.bufferDepth === null ? '-' : String(s.bufferDepth),
    s.upstream,
  ]);
  let out = table(['ID', 'CLIENT ID', 'W', 'STATE', 'SINCE', 'MSGS C→U/U→C', 'BYTES C→U/U→C', 'FLAGS', 'BUF', 'UPSTREAM'], rows);
  out += `${listing.sessions.length} shown of ${listing.total}`;
  if (listing.unavailable.length > 0) out += `; workers not answering: ${listing.unavailable.join(', ')}`;
  return out + '\n';
}

export function formatSession(s: SessionInfo): string {
  const lines: Array<[string, string]> = [
    ['id', s.id],
    ['clientId', s.clientId],
    ['worker', String(s.worker)],
    ['kind', s.kind],
    ['state', s.state],
    ['since', `${s.since}${s.ageSeconds === undefined ? '' : ` (${s.ageSeconds} s ago)`}`],
    ['upstream', s.upstream],
    ['messages', `client→upstream ${s.messages.clientToUpstream}, upstream→client ${s.messages.upstreamToClient}`],
    ['bytes', `client→upstream ${s.bytes.clientToUpstream}, upstream→client ${s.bytes.upstreamToClient}`],
    ['paused', String(s.paused)],
    ['slow', String(s.slow)],
    ['bufferDepth', s.bufferDepth === null ? '- (verbatim session)' : String(s.bufferDepth)],
  ];
  if (s.buffered !== undefined) lines.push(['buffered', `to client ${s.buffered.toClient ?? '-'} B, to upstream ${s.buffered.toUpstream ?? '-'} B`]);
  const w = Math.max(...lines.map(([k]) => k.length));
  return lines.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n') + '\n';
}

export interface StatusAnswer {
  version: string;
  pid: number;
  node: string;
  uptimeSeconds: number;
  ready: boolean;
  draining: boolean;
  routeTable: { version: string; rules: number; converged?: boolean };
  routeSource?: { type: string; state: string; reason: string | null };
  totals: Record<string, number>;
}

export function formatStatus(status: StatusAnswer, workers: WorkersAnswer): string {
  const t = status.totals;
  const src = status.routeSource;
  let out = `stratix-gateway ${status.version} (node ${status.node}), pid ${status.pid}, up ${status.uptimeSeconds} s\n`;
  out += `ready: ${status.ready ? 'yes' : 'NO'}${status.draining ? ' (draining)' : ''}\n`;
  out += `route table: version ${status.routeTable.version}, ${status.routeTable.rules} rules, ${status.routeTable.converged === false ? 'NOT converged' : 'converged'}\n`;
  if (src !== undefined) out += `route source: ${src.type} ${src.state}${src.reason === null ? '' : ` (${src.reason})`}\n`;
  out += `sessions: ${t['connectionsActive']} open, ${t['connectionsTotal']} since start; messages received ${t['messagesReceived']}, sent ${t['messagesSent']}, failed ${t['messagesFailed']}\n\n`;
  const rows = workers.workers.map((w) => [
    String(w.worker),
    w.pid === null ? '-' : String(w.pid),
    w.ready ? 'up' : 'DOWN',
    w.sessions === undefined ? '-' : String(w.sessions),
    w.slowSessions === undefined ? '-' : String(w.slowSessions),
    w.eventLoopDelay === undefined ? '-' : `${w.eventLoopDelay.p99Ms} ms`,
    w.rssBytes === undefined ? '-' : bytes(w.rssBytes),
    String(w.restarts),
  ]);
  if (workers.primary !== null) {
    const p = workers.primary;
    rows.push(['primary', String(p.pid), 'up', '-', '-', `${p.eventLoopDelay.p99Ms} ms`, bytes(p.rssBytes), '-']);
  }
  return out + table(['WORKER', 'PID', 'STATE', 'SESSIONS', 'SLOW', 'LOOP p99', 'RSS', 'RESTARTS'], rows);
}
