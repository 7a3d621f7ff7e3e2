/**
 * What a connect request's log line says beyond the count: the failures by reason,
 * the sessions that opened only after a refusal's Retry-After, and those whose first
 * probe needed a second one (lost or late). Shared by bench/relay and bench/scale.
 */
import type { ConnectResult } from './generator-protocol.js';

export function failureList(result: ConnectResult): string {
  return Object.entries(result.failures).map(([why, n]) => `${why} x${n}`).join(', ');
}

export function connectNotes(result: ConnectResult): string {
  return (result.failed > 0 ? `; failed: ${failureList(result)}` : '') +
    (result.retried > 0 ? `; ${result.retried} opened when retried after a refusal's Retry-After` : '') +
    (result.reprobed > 0 ? `; WARNING: ${result.reprobed} sessions relayed only a re-sent probe (${result.firstLost} first messages lost, the rest late)` : '') +
    (result.lostClientIds.length > 0 ? ` (lost: ${result.lostClientIds.join(' ')})` : '') +
    (result.foreignEchoes.length > 0 ? `; WARNING: another session's echo came first: ${result.foreignEchoes.join('; ')}` : '');
}
