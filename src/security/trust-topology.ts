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
import { parseListen } from '../config/listen-address.js';

type Targets = { openclawGateway?: string | undefined; openclawGateways?: readonly string[] | undefined };

/**
 * The loopback upstream URLs of the config's rules (templates are checked by their literal
 * host, if any). `rules`: where the rules are when not in `config.routes` (a packed set).
 */
export function loopbackTargets(config: Config, rules: Iterable<Targets> = config.routes): string[] {
  if (config.auth.mode !== 'none') return [];
  const demo = config.demo.enabled ? parseListen(config.demo.listen) : undefined;
  const found = new Set<string>();
  const check = (u: string): void => {
    const host = hostOf(u);
    if (host === undefined || !isLoopback(host) || (demo !== undefined && Number(portOf(u)) === demo.port)) return;
    found.add(u);
  };
  const collect = (t: Targets): void => {
    if (t.openclawGateway !== undefined) check(t.openclawGateway);
    for (const u of t.openclawGateways ?? []) check(u);
  };
  for (const r of rules) collect(r);
  if (config.defaultRoute !== undefined) collect(config.defaultRoute as never);
  return [...found];
}

const LOWER = 0x20;
const LOCALHOST = Buffer.from('localhost');

/**
 * Whether the target spec in bytes [start, end) may name a loopback host (a pool's
 * list, '[', always may): false only when `loopbackTargets` would certainly find none
 * in it, so that a million rules are checked without a string each. The host (as
 * hostOf takes it) must start with '[' or "127.", or end with "localhost" (any case).
 */
export function mayTargetLoopback(bytes: Buffer, start: number, end: number): boolean {
  if (bytes[start] === 0x5b) return true;
  let h = start;
  if ((bytes[h]! | LOWER) !== 0x77 || (bytes[h + 1]! | LOWER) !== 0x73) return false;
  h += 2;
  if ((bytes[h]! | LOWER) === 0x73) h++;
  if (bytes[h] !== 0x3a || bytes[h + 1] !== 0x2f || bytes[h + 2] !== 0x2f) return false;
  h += 3;
  if (bytes[h] === 0x5b) return true;
  let e = h;
  while (e < end && bytes[e] !== 0x2f && bytes[e] !== 0x3a && bytes[e] !== 0x3f && bytes[e] !== 0x23) e++;
  if (e - h >= 4 && bytes[h] === 0x31 && bytes[h + 1] === 0x32 && bytes[h + 2] === 0x37 && bytes[h + 3] === 0x2e) return true;
  if (e - h < LOCALHOST.length) return false;
  for (let i = 0; i < LOCALHOST.length; i++) if ((bytes[e - LOCALHOST.length + i]! | LOWER) !== LOCALHOST[i]) return false;
  return true;
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
