/**
 * A scripted stratix.v1 server for the SDK's tests that need exact frames, exact
 * timing or behaviour the real gateway never shows (an ACK it does not count, a
 * close right after the WELCOME): a real WebSocket server on 127.0.0.1:0 that
 * selects stratix.v1, records every envelope each connection sends with the time it
 * arrived, and hands each HELLO to the test's script.
 */
import { once } from 'node:events';
import { Buffer } from 'node:buffer';
import { WebSocketServer, WebSocket } from 'ws';
import type { WebSocketLike } from '@stratix/client';

export const SESSION_ID = 'q3Z6gC3r0s9vQnJxk0H1Xw';

/** One envelope a client sent, with when it arrived (Date.now()). */
export interface Sent {
  readonly at: number;
  readonly e: { type: number; seq?: number; sessionId?: string; lastSeq?: number; messageId?: string; data?: string; ack?: number };
}

export interface ScriptedConnection {
  readonly ws: WebSocket;
  /** 0, 1, 2 … in connection order. */
  readonly index: number;
  readonly openedAt: number;
  readonly received: Sent[];
  /** When the connection closed (0 while open), and the client's close code and reason. */
  closedAt: number;
  closeCode: number;
  closeReason: string;
}

export type HelloScript = (c: ScriptedConnection, hello: Sent['e']) => void;

export class ScriptedGateway {
  readonly connections: ScriptedConnection[] = [];
  readonly #wss: WebSocketServer;
  /** Called for each envelope that is not a HELLO (default: nothing). */
  onEnvelope: (c: ScriptedConnection, e: Sent['e']) => void = () => undefined;

  private constructor(wss: WebSocketServer, onHello: HelloScript) {
    this.#wss = wss;
    wss.on('connection', (ws) => {
      const c: ScriptedConnection = { ws, index: this.connections.length, openedAt: Date.now(), received: [], closedAt: 0, closeCode: 0, closeReason: '' };
      this.connections.push(c);
      ws.on('close', (code, reason) => {
        c.closedAt = Date.now();
        c.closeCode = code;
        c.closeReason = reason.toString();
      });
      ws.on('message', (raw) => {
        const e = JSON.parse(raw.toString()) as Sent['e'];
        c.received.push({ at: Date.now(), e });
        if (e.type === 2) onHello(c, e);
        else this.onEnvelope(c, e);
      });
    });
  }

  static async start(onHello: HelloScript): Promise<ScriptedGateway> {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: (p) => (p.has('stratix.v1') ? 'stratix.v1' : false) });
    await once(wss, 'listening');
    return new ScriptedGateway(wss, onHello);
  }

  get url(): string {
    return `ws://127.0.0.1:${(this.#wss.address() as { port: number }).port}/ws`;
  }

  async close(): Promise<void> {
    for (const c of this.connections) c.ws.terminate();
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
  }
}

export function welcome(o: { recovered?: boolean; resume?: string; firstSeq?: number; lastSeq?: number; heartbeatMs?: number } = {}): string {
  const recovered = o.recovered ?? false;
  return JSON.stringify({
    type: 2,
    sessionId: SESSION_ID,
    recovered,
    resume: o.resume ?? (recovered ? 'recovered' : 'new'),
    firstSeq: o.firstSeq ?? 1,
    lastSeq: o.lastSeq ?? 0,
    resumeWindowMs: 60_000,
    heartbeatMs: o.heartbeatMs ?? 25_000,
  });
}

export function dataFrame(seq: number, text: string, timestamp = '1764582000123456789'): string {
  return `{"type":0,"seq":${seq},"messageId":"${seq}","timestamp":${timestamp},"data":"${Buffer.from(text).toString('base64')}"}`;
}

export function eventFrame(seq: number, event: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ type: 4, seq, event, ...extra });
}

/** The ACKs (cumulative seqs) a connection sent, with their arrival times. */
export function acks(c: ScriptedConnection): Array<{ seq: number; at: number }> {
  return c.received.filter((s) => s.e.type === 1).map((s) => ({ seq: s.e.seq!, at: s.at }));
}

/**
 * The browser's WebSocket as the SDK sees it: no terminate(), so a connection is
 * given up with close(code, reason), which (like a browser's) throws for a reason
 * over 123 bytes. Built on the ws client.
 */
export class BrowserLikeWebSocket implements WebSocketLike {
  readonly #ws: WebSocket;
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;

  constructor(url: string, protocols?: string | string[]) {
    this.#ws = new WebSocket(url, protocols);
    this.#ws.on('open', () => this.onopen?.({}));
    this.#ws.on('message', (d, isBinary) => this.onmessage?.({ data: isBinary ? d : d.toString() }));
    this.#ws.on('close', (code, reason) => this.onclose?.({ code, reason: reason.toString() }));
    this.#ws.on('error', () => this.onerror?.({}));
  }

  get readyState(): number {
    return this.#ws.readyState;
  }

  get protocol(): string {
    return this.#ws.protocol;
  }

  send(data: string): void {
    this.#ws.send(data);
  }

  close(code?: number, reason?: string): void {
    if (reason !== undefined && Buffer.byteLength(reason) > 123) throw new SyntaxError('The close reason must not be greater than 123 UTF-8 bytes');
    this.#ws.close(code, reason);
  }
}
