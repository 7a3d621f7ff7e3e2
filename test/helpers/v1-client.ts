/**
 * A minimal `stratix.v1` client for tests, written from docs/protocol.md §3: it
 * opens the WebSocket with the subprotocol, sends envelopes, and records every
 * envelope the gateway sends (parsed, and the raw text) with helpers to wait for
 * them. It does not ack or resume on its own: each test does what it asserts.
 */
import { once } from 'node:events';
import WebSocket from 'ws';

export interface Envelope {
  type: number;
  seq?: number;
  messageId?: string | null;
  data?: string;
  binary?: boolean;
  event?: string;
  code?: number | string;
  reason?: string;
  sessionId?: string;
  recovered?: boolean;
  resume?: string;
  firstSeq?: number;
  lastSeq?: number;
  resumeWindowMs?: number;
  heartbeatMs?: number;
  retryAfterMs?: number;
  timestamp?: number;
}

export class V1Client {
  readonly ws: WebSocket;
  readonly envelopes: Envelope[] = [];
  readonly raw: string[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  #waiters: Array<{ test: () => boolean; resolve: () => void }> = [];

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on('message', (d: Buffer, binary: boolean) => {
      if (binary) throw new Error('the gateway sent a binary frame');
      const text = d.toString();
      this.raw.push(text);
      this.envelopes.push(JSON.parse(text) as Envelope);
      this.#check();
    });
    ws.on('error', () => {});
    this.closed = new Promise((resolve) => ws.once('close', (code: number, reason: Buffer) => {
      resolve({ code, reason: reason.toString() });
      this.#check();
    }));
  }

  static async open(port: number, clientId: string, opts: WebSocket.ClientOptions = {}): Promise<V1Client> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws?clientId=${encodeURIComponent(clientId)}`, ['stratix.v1'], { perMessageDeflate: false, ...opts });
    const c = new V1Client(ws);
    await once(ws, 'open');
    return c;
  }

  /** Opens a connection, says HELLO and waits for upstream_open: a new session, ready for DATA. */
  static async session(port: number, clientId: string): Promise<V1Client> {
    const c = await V1Client.open(port, clientId);
    await c.hello();
    await c.upstreamOpen();
    return c;
  }

  upstreamOpen(): Promise<void> {
    return this.until(() => this.sequenced.some((e) => e.event === 'upstream_open'), 'upstream_open');
  }

  send(envelope: Record<string, unknown> | string): void {
    this.ws.send(typeof envelope === 'string' ? envelope : JSON.stringify(envelope));
  }

  /** HELLO and the WELCOME that answers it. */
  async hello(sessionId?: string, lastSeq?: number): Promise<Envelope> {
    const before = this.envelopes.length;
    this.send(sessionId === undefined ? { type: 2 } : { type: 2, sessionId, lastSeq });
    await this.until(() => this.envelopes.slice(before).some((e) => e.type === 2), 'WELCOME');
    return this.envelopes.slice(before).find((e) => e.type === 2)!;
  }

  /** DATA with `payload` (base64-encoded here). */
  data(messageId: string, payload: string | Buffer, binary = false): void {
    const b = typeof payload === 'string' ? Buffer.from(payload) : payload;
    this.send(binary ? { type: 0, messageId, data: b.toString('base64'), binary: true } : { type: 0, messageId, data: b.toString('base64') });
  }

  ack(seq: number): void {
    this.send({ type: 1, seq });
  }

  /** Gateway envelopes with a seq (DATA and EVENT), in arrival order. */
  get sequenced(): Envelope[] {
    return this.envelopes.filter((e) => e.seq !== undefined && (e.type === 0 || e.type === 4));
  }

  /** Payloads of the DATA envelopes received, decoded. */
  get payloads(): string[] {
    return this.envelopes.filter((e) => e.type === 0).map((e) => Buffer.from(e.data!, 'base64').toString());
  }

  answers(messageId: string): Envelope[] {
    return this.envelopes.filter((e) => (e.type === 1 || e.type === 3) && e.messageId === messageId);
  }

  until(test: () => boolean, what: string, ms = 10_000): Promise<void> {
    if (test()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.envelopes.slice(-5))}`)), ms);
      this.#waiters.push({
        test,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }

  #check(): void {
    this.#waiters = this.#waiters.filter((w) => {
      if (!w.test()) return true;
      w.resolve();
      return false;
    });
  }
}
