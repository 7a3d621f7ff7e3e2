/**
 * A load process of the storm benchmark (forked by run.ts, driven over IPC). It
 * holds `count` clients spread over source addresses; `connect` opens them all
 * (bounded concurrency), `storm` drops them all at once and reconnects each at a
 * uniform random moment of the window. A refused attempt (429/503) is retried after
 * its Retry-After (plus up to 1 s of jitter); every attempt has a deadline, and the
 * whole phase one too, so nobody waits forever and the process always answers.
 */
import { createHmac, randomBytes } from 'node:crypto';
import WebSocket from 'ws';

export interface StormRequest {
  kind: 'connect' | 'storm' | 'close';
  url: string;
  clientIdPrefix: string;
  first: number;
  count: number;
  sourceAddresses: string[];
  windowMs: number;
  concurrency: number;
  attemptTimeoutMs: number;
  deadlineMs: number;
  /** Sign each handshake (auth.mode hmac). */
  hmac?: { kid: string; secret: string };
}

export interface StormResult {
  /** Handshake time (attempt start → 101) of each successful attempt, ms. */
  handshakeMs: number[];
  /** Time from the client's planned reconnect moment to its session being open (retries included), ms. */
  connectedMs: number[];
  refused503: number;
  refused429: number;
  otherFailures: number;
  /** Clients without a session when the phase's deadline passed. */
  notConnected: number;
  attempts: number;
  /** Failed attempts without an HTTP answer, by error message (a few kinds). */
  errors: Record<string, number>;
}

const clients: Array<WebSocket | undefined> = [];

function signed(url: string, clientId: string, h: StormRequest['hmac']): string {
  const base = `${url}?clientId=${clientId}`;
  if (h === undefined) return base;
  const ts = String(Date.now());
  const nonce = randomBytes(16).toString('base64url');
  const sig = createHmac('sha256', h.secret).update(`stratix-v1\n${h.kid}\n${clientId}\n${ts}\n${nonce}`).digest('base64url');
  return `${base}&kid=${h.kid}&ts=${ts}&nonce=${nonce}&sig=${sig}`;
}

type Outcome = { ok: true; ws: WebSocket; ms: number } | { ok: false; status: number; retryAfterS: number; error?: string };

function attempt(r: StormRequest, i: number): Promise<Outcome> {
  const id = `${r.clientIdPrefix}${r.first + i}`;
  const started = performance.now();
  return new Promise((resolve) => {
    const ws = new WebSocket(signed(r.url, id, r.hmac), { perMessageDeflate: false, handshakeTimeout: r.attemptTimeoutMs, localAddress: r.sourceAddresses[i % r.sourceAddresses.length] });
    ws.on('error', (err: NodeJS.ErrnoException) => resolve({ ok: false, status: 0, retryAfterS: 1, error: err.code ?? err.message.slice(0, 60) }));
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      ws.terminate();
      resolve({ ok: false, status: res.statusCode ?? 0, retryAfterS: Number(res.headers['retry-after'] ?? 1) || 1 });
    });
    ws.once('open', () => resolve({ ok: true, ws, ms: performance.now() - started }));
  });
}

async function bring(r: StormRequest, i: number, plannedAt: number, end: number, out: StormResult): Promise<void> {
  while (performance.now() < end) {
    out.attempts++;
    const o = await attempt(r, i);
    if (o.ok) {
      clients[i] = o.ws;
      o.ws.on('error', () => {});
      out.handshakeMs.push(o.ms);
      out.connectedMs.push(performance.now() - plannedAt);
      return;
    }
    if (o.status === 503) out.refused503++;
    else if (o.status === 429) out.refused429++;
    else {
      out.otherFailures++;
      const key = o.error ?? `HTTP ${o.status}`;
      out.errors[key] = (out.errors[key] ?? 0) + 1;
    }
    await new Promise((res) => setTimeout(res, o.retryAfterS * 1000 + Math.random() * 1000));
  }
  out.notConnected++;
}

async function run(r: StormRequest): Promise<StormResult> {
  const out: StormResult = { handshakeMs: [], connectedMs: [], refused503: 0, refused429: 0, otherFailures: 0, notConnected: 0, attempts: 0, errors: {} };
  const t0 = performance.now();
  const end = t0 + r.deadlineMs;
  if (r.kind === 'connect') {
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < r.count) {
        const i = next++;
        await bring(r, i, performance.now(), end, out);
      }
    };
    await Promise.all(Array.from({ length: r.concurrency }, lane));
  } else if (r.kind === 'storm') {
    for (const ws of clients) ws?.terminate();
    clients.fill(undefined);
    await Promise.all(
      Array.from({ length: r.count }, (_, i) => {
        const delay = Math.random() * r.windowMs;
        return new Promise<void>((res) => setTimeout(() => void bring(r, i, performance.now(), end, out).then(res), delay));
      }),
    );
  } else {
    for (const ws of clients) ws?.terminate();
    clients.length = 0;
  }
  return out;
}

process.on('message', (msg: { id: number; request: StormRequest }) => {
  run(msg.request).then(
    (result) => process.send!({ id: msg.id, ok: true, result }),
    (err: Error) => process.send!({ id: msg.id, ok: false, error: err.message }),
  );
});
process.on('disconnect', () => process.exit(0));
