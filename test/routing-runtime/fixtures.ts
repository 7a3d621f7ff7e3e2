/**
 * Fixtures for the routing runtime suites: named echo upstreams (the first message a
 * client gets names the upstream it reached), a standalone Gateway started from a
 * real config file, admin requests, and clients that keep traffic flowing.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { WebSocketServer } from 'ws';
import { shardOf } from '../../src/cluster/shard.js';
import { loadConfigFile } from '../../src/config/load.js';
import { Gateway } from '../../src/server/gateway.js';
import { connectClient, until, type TestClient } from '../helpers/gateway.js';

export const TOKEN = 'test-admin-token-0123456789';

export interface NamedUpstream {
  readonly name: string;
  readonly url: string;
  readonly port: number;
  /** Connections accepted so far. */
  accepted: number;
  close(): Promise<void>;
}

/** An echo upstream that first sends its own name to every connection. */
export async function startNamedUpstream(name: string): Promise<NamedUpstream> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  await once(wss, 'listening');
  const port = (wss.address() as { port: number }).port;
  const up: NamedUpstream = {
    name,
    port,
    url: `ws://127.0.0.1:${port}/${name}`,
    accepted: 0,
    async close() {
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
  wss.on('connection', (ws) => {
    up.accepted++;
    ws.send(name);
    ws.on('message', (data: Buffer, isBinary: boolean) => ws.send(data, { binary: isBinary }));
  });
  return up;
}

/** A temp dir with a config file; `write` replaces the file atomically (rename), as deploy tools do. */
export class ConfigFile {
  readonly dir = mkdtempSync(join(tmpdir(), 'stratix-routing-'));
  readonly path = join(this.dir, 'route.json');
  #n = 0;
  constructor(config: Record<string, unknown>) {
    this.write(config);
  }
  write(config: Record<string, unknown>): void {
    const tmp = join(this.dir, `.route.json.${++this.#n}.tmp`);
    writeFileSync(tmp, JSON.stringify(config, null, 2));
    renameSync(tmp, this.path);
  }
  /** Rewrites in place (an editor saving over the file). */
  writeInPlace(text: string): void {
    writeFileSync(this.path, text);
  }
  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A standalone Gateway started from `file` (as the CLI would load it), with reloads enabled. */
export async function startFromFile(file: ConfigFile): Promise<Gateway> {
  return Gateway.start(loadConfigFile(file.path), { configPath: file.path });
}

export interface StandaloneEnv {
  readonly a: NamedUpstream;
  readonly b: NamedUpstream;
  readonly file: ConfigFile;
  readonly gw: Gateway;
}

/**
 * Registers before/after hooks of the enclosing describe: upstreams "A" and "B", a
 * config file made by `config(env)` (env.a and env.b are set by then), and a
 * standalone gateway started from it. All torn down after.
 */
export function useStandalone(config: (env: StandaloneEnv) => Record<string, unknown>): StandaloneEnv {
  const env = {} as { a: NamedUpstream; b: NamedUpstream; file: ConfigFile; gw: Gateway };
  before(async () => {
    env.a = await startNamedUpstream('A');
    env.b = await startNamedUpstream('B');
    env.file = new ConfigFile(config(env));
    env.gw = await startFromFile(env.file);
  });
  after(async () => {
    await env.gw?.close();
    await env.a?.close();
    await env.b?.close();
    env.file?.cleanup();
  });
  return env;
}

export function gatewayConfig(extra: Record<string, unknown>): Record<string, unknown> {
  const gateway = (extra['gateway'] ?? {}) as Record<string, unknown>;
  return { ...extra, gateway: { listen: '127.0.0.1:0', ...gateway }, log: { level: 'silent' } };
}

export interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

/** An admin request with `Authorization: Bearer <token>` (`null`: no Authorization header). */
export async function admin(port: number, method: string, path: string, token: string | null = TOKEN): Promise<Answer> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    method,
    headers: token === null ? {} : { Authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(60_000),
  });
  const text = await res.text();
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    body = { text };
  }
  return { status: res.status, headers: res.headers, body };
}

export async function readyz(port: number): Promise<Record<string, any>> {
  const res = await fetch(`http://127.0.0.1:${port}/readyz`);
  return (await res.json()) as Record<string, any>;
}

/** Opens a client and waits for the upstream's greeting; resolves with the upstream's name. */
export async function openNamed(port: number, clientId: string, onSocket?: (ws: TestClient['ws']) => void): Promise<{ client: TestClient; upstream: string }> {
  const client = connectClient(port, clientId);
  onSocket?.(client.ws);
  await once(client.ws, 'open');
  await within(client.waitFor(1), 10_000, `${clientId}: the upstream's greeting`);
  return { client, upstream: client.messages[0]!.data.toString() };
}

/** Which upstream a new handshake for `clientId` reaches (opens, reads the greeting, closes). */
export async function routedTo(port: number, clientId: string): Promise<string> {
  const { client, upstream } = await openNamed(port, clientId);
  client.ws.terminate();
  return upstream;
}

/** `${prefix}${i}` clientIds, `perShard` of them on each of `workers` workers. */
export function idsPerShard(prefix: string, perShard: number, workers = 2): string[][] {
  const shards: string[][] = Array.from({ length: workers }, () => []);
  for (let i = 0; shards.some((s) => s.length < perShard); i++) {
    const id = `${prefix}${i}`;
    const s = shards[shardOf(id, workers)]!;
    if (s.length < perShard) s.push(id);
  }
  return shards;
}

/** As openNamed, and which worker took the client (X-Stratix-Worker on the 101). */
export async function openOn(port: number, clientId: string): Promise<{ client: TestClient; upstream: string; worker: number }> {
  let worker = -1;
  const opened = await openNamed(port, clientId, (ws) => ws.once('upgrade', (res: IncomingMessage) => (worker = Number(res.headers['x-stratix-worker']))));
  return { ...opened, worker };
}

/** Polls until a new handshake for `clientId` reaches `upstream` (a deadline, not a timing assertion). */
export async function untilRoutedTo(port: number, clientId: string, upstream: string, deadlineMs = 10_000): Promise<void> {
  const end = Date.now() + deadlineMs;
  let last = '';
  for (;;) {
    last = await routedTo(port, clientId).catch((err: Error) => `(failed: ${err.message})`);
    if (last === upstream) return;
    if (Date.now() > end) assert.fail(`${clientId} still routed to ${last}, expected ${upstream}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Clients that each keep one message in flight: send, wait for the echo, send again.
 * `stop()` ends the loop and resolves with how many round trips each completed.
 */
export function keepTalking(clients: TestClient[]): { rounds: number[]; stop(): Promise<number[]> } {
  const rounds = clients.map(() => 0);
  let running = true;
  const loops = clients.map(async (c, i) => {
    while (running && c.ws.readyState === c.ws.OPEN) {
      const want = c.messages.length + 1;
      c.ws.send(`ping ${i} ${rounds[i]}`);
      const ok = await Promise.race([c.waitFor(want).then(() => true), c.closed.then(() => false)]);
      if (!ok) return;
      rounds[i]!++;
    }
  });
  return {
    rounds,
    async stop() {
      running = false;
      await Promise.all(loops);
      return rounds;
    },
  };
}

export { until };
