/**
 * Test fixtures for the gateway: an in-process standalone Gateway with config
 * overrides, and a WebSocket client that collects what it gets.
 */
import { once } from 'node:events';
import WebSocket from 'ws';
import { parseConfig } from '../../src/config/load.js';
import { Gateway } from '../../src/server/gateway.js';
import { Session } from '../../src/relay/session.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * relay.dataPath for the suites' gateways when their config does not set it:
 * STRATIX_TEST_DATA_PATH (scripts/test.mjs runs every suite with "native", then the
 * relay, abuse, conformance and interop suites a second time with "js"). Unset, the
 * schema's default: "auto".
 */
export function testDataPath(config: Record<string, unknown>): Record<string, unknown> {
  const path = process.env.STRATIX_TEST_DATA_PATH;
  if (path === undefined || path === '' || config.relay !== undefined) return config;
  return { ...config, relay: { dataPath: path } };
}

/**
 * A standalone gateway on 127.0.0.1:0. Its reliable-session log goes to a fresh
 * temp directory unless the config names one.
 */
export async function startGateway(given: Record<string, unknown>, opts: Parameters<typeof Gateway.start>[1] = {}): Promise<Gateway> {
  const config = testDataPath(given);
  const gateway = (config.gateway ?? {}) as Record<string, unknown>;
  const reliable = (config.reliable ?? {}) as Record<string, unknown>;
  const log = (reliable.log ?? {}) as Record<string, unknown>;
  const dir = (log.dir as string | undefined) ?? join(mkdtempSync(join(tmpdir(), 'stratix-log-')), 'reliable');
  return Gateway.start(parseConfig({ ...config, gateway: { listen: '127.0.0.1:0', ...gateway }, reliable: { ...reliable, log: { ...log, dir } } }), opts);
}

/** The verbatim session of `clientId` (the gateway holds reliable ones too). */
export function relaySession(gw: Gateway, clientId: string): Session {
  const s = [...gw.sessions].find((x): x is Session => x instanceof Session && x.clientId === clientId);
  if (s === undefined) throw new Error(`no verbatim session for ${clientId}`);
  return s;
}

/** Whether a verbatim session of `clientId` exists with its upstream open. */
export function relayOpen(gw: Gateway, clientId: string): boolean {
  return [...gw.sessions].some((x) => x instanceof Session && x.clientId === clientId && x.upstream !== null);
}

export interface Closed {
  code: number;
  reason: string;
}

export interface TestClient {
  readonly ws: WebSocket;
  readonly messages: Array<{ data: Buffer; isBinary: boolean }>;
  readonly closed: Promise<Closed>;
  /** Resolves when `n` messages have arrived in total. */
  waitFor(n: number): Promise<void>;
}

export function connectClient(port: number, clientId: string, opts: WebSocket.ClientOptions = {}): TestClient {
  return connectUrl(`ws://127.0.0.1:${port}/ws?clientId=${encodeURIComponent(clientId)}`, opts);
}

/** A client for any URL (a signed query, a token, wss://). */
export function connectUrl(url: string, opts: WebSocket.ClientOptions = {}, protocols?: string[]): TestClient {
  const ws = new WebSocket(url, protocols, { perMessageDeflate: false, maxPayload: 64 * 1024 * 1024, ...opts });
  const messages: Array<{ data: Buffer; isBinary: boolean }> = [];
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    messages.push({ data, isBinary });
    for (let i = waiters.length - 1; i >= 0; i--) {
      if (messages.length >= waiters[i]!.n) waiters.splice(i, 1)[0]!.resolve();
    }
  });
  ws.on('error', () => {});
  const closed = new Promise<Closed>((resolve) => ws.once('close', (code: number, reason: Buffer) => resolve({ code, reason: reason.toString() })));
  return {
    ws,
    messages,
    closed,
    waitFor: (n) => (messages.length >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve }))),
  };
}

export async function openClient(port: number, clientId: string, opts?: WebSocket.ClientOptions): Promise<TestClient> {
  const c = connectClient(port, clientId, opts);
  await once(c.ws, 'open');
  return c;
}

/** Opens `url` and waits for the echo of one message: the session reached its upstream. */
export async function openRelayed(url: string, opts?: WebSocket.ClientOptions): Promise<TestClient> {
  const c = connectUrl(url, opts);
  await once(c.ws, 'open');
  c.ws.send('probe');
  await c.waitFor(1);
  return c;
}

/** Opens `url` expecting an HTTP refusal; resolves with its status (rejects if the upgrade succeeds). */
export async function refusedStatus(url: string, opts?: WebSocket.ClientOptions): Promise<{ status: number; code: string | undefined; headers: Record<string, string | string[] | undefined> }> {
  const c = connectUrl(url, opts);
  const result = await new Promise<{ status: number; code: string | undefined; headers: Record<string, string | string[] | undefined> }>((resolve, reject) => {
    c.ws.once('open', () => reject(new Error(`expected ${url} to be refused, but it opened`)));
    c.ws.once('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode ?? 0, code: res.headers['x-stratix-error'] as string | undefined, headers: res.headers });
      res.resume();
    });
  });
  c.ws.terminate();
  return result;
}

/** Polls `cond` until true (a deadline for waiting, not a timing assertion). */
export async function until(cond: () => boolean, what: string, deadlineMs = 10_000): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** As `until`, for an async condition. */
export async function untilAsync(cond: () => Promise<boolean>, what: string, deadlineMs = 10_000): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
