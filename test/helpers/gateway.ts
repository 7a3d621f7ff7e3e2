/**
 * Test fixtures for the gateway: an in-process standalone Gateway with config
 * overrides, and a WebSocket client that collects what it gets.
 */
import { once } from 'node:events';
import WebSocket from 'ws';
import { parseConfig } from '../../src/config/load.js';
import { Gateway } from '../../src/server/gateway.js';

export async function startGateway(config: Record<string, unknown>): Promise<Gateway> {
  const gateway = (config.gateway ?? {}) as Record<string, unknown>;
  return Gateway.start(parseConfig({ ...config, gateway: { listen: '127.0.0.1:0', ...gateway } }));
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
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws?clientId=${encodeURIComponent(clientId)}`, { perMessageDeflate: false, maxPayload: 64 * 1024 * 1024, ...opts });
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

/** Polls `cond` until true (a deadline for waiting, not a timing assertion). */
export async function until(cond: () => boolean, what: string, deadlineMs = 10_000): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
