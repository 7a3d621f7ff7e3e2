/**
 * The trust topology warning. OpenClaw treats a loopback peer that sends no
 * forwarding headers as a local client (auto-pairing, local scopes). Stratix on the
 * same host as an OpenClaw gateway connects from loopback, so without auth every
 * internet client that reaches Stratix looks local to OpenClaw. The gateway warns
 * at start when a route targets a loopback upstream while auth.mode is none
 * (docs/security.md lists the safe setups). The bundled demo upstream is exempt.
 */
import { isIP } from 'node:net';
import type { Config } from '../config/schema.js';
import { parseListen } from '../config/load.js';

/** The loopback upstream URLs of the config's rules (templates are checked by their literal host, if any). */
export function loopbackTargets(config: Config): string[] {
  if (config.auth.mode !== 'none') return [];
  const demo = config.demo.enabled ? parseListen(config.demo.listen) : undefined;
  const urls: string[] = [];
  const collect = (t: { openclawGateway?: string | undefined; openclawGateways?: readonly string[] | undefined }): void => {
    if (t.openclawGateway !== undefined) urls.push(t.openclawGateway);
    for (const u of t.openclawGateways ?? []) urls.push(u);
  };
  for (const r of config.routes) collect(r as never);
  if (config.defaultRoute !== undefined) collect(config.defaultRoute as never);
  return [...new Set(urls)].filter((u) => {
    const host = hostOf(u);
    if (host === undefined || !isLoopback(host)) return false;
    return !(demo !== undefined && Number(portOf(u)) === demo.port);
  });
}

export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  return h === '::1' || h.startsWith('::ffff:127.');
}

function hostOf(url: string): string | undefined {
  const m = /^wss?:\/\/(\[[^\]]+\]|[^/:?#]+)/i.exec(url);
  return m?.[1];
}

function portOf(url: string): string | undefined {
  return /^wss?:\/\/(?:\[[^\]]+\]|[^/:?#]+):(\d+)/i.exec(url)?.[1];
}

export const LOOPBACK_WARNING =
  'auth.mode is "none" and routes target a loopback upstream: OpenClaw treats loopback peers without forwarding headers as local clients (auto-pairing, local scopes), so every client of this gateway looks local to it. Turn on auth (auth.mode hmac or jwt) or see docs/security.md for safe setups.';
