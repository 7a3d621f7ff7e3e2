/**
 * What a Stratix instance under test says about itself, read from its /metrics
 * (Prometheus text): why sessions ended, and where its messages went. The scale
 * phases log these beside their own counts, so that a session the harness found
 * wanting (closed, or a first message without its echo) can be placed: did the
 * gateway receive the message, send it on, get its echo, send that back?
 */
import { randomBytes } from 'node:crypto';

/**
 * The admin token of every Stratix instance the scale benchmark starts (scale-proxy.ts): the
 * per-session counts of `GET /admin/sessions` place a lost message in one session.
 */
export const ADMIN_TOKEN = randomBytes(16).toString('hex');

/** Series that say why sessions ended: closes by code, ping timeouts, duplicate clientIds, failed upstream connects. */
const CLOSE_SERIES = /^(stratix_client_closes_total|stratix_ping_timeouts_total|stratix_duplicate_client_ids_total|stratix_upstream_connect_failures_total)(\{[^}]*\})? (\S+)$/;
/** Series that say where messages went: received and sent each way, failed by reason, native hand-backs. */
const MESSAGE_SERIES = /^(stratix_messages_received_total|stratix_messages_sent_total|stratix_messages_failed_total|stratix_native_handbacks_total)(\{[^}]*\})? (\S+)$/;

async function account(wsUrl: string, series: RegExp, none: string): Promise<string> {
  const url = new URL(wsUrl);
  try {
    const res = await fetch(`http://${url.host}/metrics?format=prometheus`, { signal: AbortSignal.timeout(10_000) });
    const lines = (await res.text()).split('\n').filter((l) => series.test(l) && !l.endsWith(' 0'));
    return lines.length === 0 ? none : lines.join('; ');
  } catch (err) {
    return `metrics not read (${(err as Error).message})`;
  }
}

export function closeAccount(wsUrl: string): Promise<string> {
  return account(wsUrl, CLOSE_SERIES, 'no closes, ping timeouts or duplicates counted');
}

export function messageAccount(wsUrl: string): Promise<string> {
  return account(wsUrl, MESSAGE_SERIES, 'no messages counted');
}

/**
 * The gateway's own counts for the sessions of these clientIds (admin API): messages each way,
 * state, upstream. A native-path session's counts are those of its last hand-back.
 */
export async function sessionAccount(wsUrl: string, clientIds: readonly string[]): Promise<string> {
  const url = new URL(wsUrl);
  const parts: string[] = [];
  for (const id of clientIds) {
    try {
      const res = await fetch(`http://${url.host}/admin/sessions?prefix=${encodeURIComponent(id)}&limit=5`, {
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
        signal: AbortSignal.timeout(10_000),
      });
      const body = (await res.json()) as { sessions?: { clientId: string; state: string; upstream: string; messages: unknown; worker: number }[] };
      const own = (body.sessions ?? []).filter((s) => s.clientId === id);
      parts.push(`${id}: ${own.length === 0 ? `no session (HTTP ${res.status})` : own.map((s) => `${s.state} worker ${s.worker} ${s.upstream} messages ${JSON.stringify(s.messages)}`).join(' | ')}`);
    } catch (err) {
      parts.push(`${id}: not read (${(err as Error).message})`);
    }
  }
  return parts.join('; ');
}
