/**
 * Raw-socket HTTP for tests that send what a well-behaved client never would
 * (half a request head, garbage bytes, an oversized header block) and read the
 * refusal byte for byte; plus a plain GET for the operations endpoints and a
 * reader for one sample of Prometheus text.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { request } from 'node:http';

export interface RawResponse {
  status: number;
  /** Header names lower-cased. */
  headers: Record<string, string>;
  body: string;
}

export interface RawExchange {
  /** Every byte the server wrote before the connection ended. */
  raw: Buffer;
  /** The parsed response, when the server wrote a complete head. */
  response: RawResponse | undefined;
}

export interface RawOptions {
  /** Give up (reject) if the server keeps the connection open this long (a deadline, not a timing check). */
  deadlineMs?: number;
  /** Slowloris: write one byte every `dribbleMs` instead of everything at once. */
  dribbleMs?: number;
}

/**
 * Connects to 127.0.0.1:`port`, writes `bytes` and nothing more, and resolves
 * with what the server wrote once it ends the connection.
 */
export function rawExchange(port: number, bytes: string | Buffer, opts: RawOptions = {}): Promise<RawExchange> {
  const deadlineMs = opts.deadlineMs ?? 10_000;
  const data = typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes;
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    let dribble: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      clearInterval(dribble);
      socket.destroy();
      reject(new Error(`server kept the connection open for ${deadlineMs} ms; got: ${JSON.stringify(Buffer.concat(chunks).toString('latin1'))}`));
    }, deadlineMs);
    socket.on('connect', () => {
      if (opts.dribbleMs === undefined) {
        socket.write(data);
        return;
      }
      let at = 0;
      dribble = setInterval(() => {
        if (at >= data.length || socket.destroyed) clearInterval(dribble);
        else socket.write(data.subarray(at, ++at));
      }, opts.dribbleMs);
    });
    socket.on('data', (d: Buffer) => chunks.push(d));
    // A reset after the answer still counts as "answered, then closed".
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      clearInterval(dribble);
      const raw = Buffer.concat(chunks);
      resolve({ raw, response: parseResponse(raw) });
    });
  });
}

/** Parses one HTTP/1.1 response (head + Content-Length body); undefined if the head is incomplete. */
export function parseResponse(raw: Buffer): RawResponse | undefined {
  const text = raw.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  if (end === -1) return undefined;
  const [statusLine, ...lines] = text.slice(0, end).split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? '');
  if (m === null) return undefined;
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  const rest = raw.subarray(end + 4);
  let body: Buffer;
  if (headers['transfer-encoding']?.toLowerCase() === 'chunked') body = dechunk(rest);
  else if (headers['content-length'] !== undefined) body = rest.subarray(0, Number(headers['content-length']));
  else body = rest;
  return { status: Number(m[1]), headers, body: body.toString('utf8') };
}

/** Decodes a chunked body (as far as it arrived). */
function dechunk(bytes: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = bytes.indexOf('\r\n', at);
    if (eol === -1) break;
    const size = parseInt(bytes.toString('latin1', at, eol), 16);
    if (!(size > 0)) break;
    parts.push(bytes.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
  return Buffer.concat(parts);
}

/** A valid WebSocket upgrade request head for `target` (e.g. `/ws?clientId=a`), with extra header lines. */
export function upgradeRequest(target: string, extraHeaders: string[] = [], method = 'GET'): string {
  return (
    `${method} ${target} HTTP/1.1\r\n` +
    'Host: 127.0.0.1\r\n' +
    'Upgrade: websocket\r\n' +
    'Connection: Upgrade\r\n' +
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n' +
    'Sec-WebSocket-Version: 13\r\n' +
    extraHeaders.map((h) => `${h}\r\n`).join('') +
    '\r\n'
  );
}

/**
 * Sends `bytes` and asserts the gateway refused them with `status`, the JSON
 * error body `{"error":{"code":…}}` and the X-Stratix-Error header, then closed.
 */
export async function expectRefusal(port: number, bytes: string | Buffer, status: number, code: string, opts?: RawOptions): Promise<RawResponse> {
  const { raw, response } = await rawExchange(port, bytes, opts);
  assert.ok(response, `expected an HTTP ${status} answer, got ${JSON.stringify(raw.toString('latin1'))}`);
  assert.equal(response.status, status, response.body);
  assert.equal(response.headers['x-stratix-error'], code);
  assert.equal((JSON.parse(response.body) as { error: { code: string } }).error.code, code);
  return response;
}

/** GET over a fresh connection (no keep-alive), body read as text. */
export function httpGet(port: number, path: string, headers: Record<string, string> = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => {
        const h: Record<string, string> = {};
        for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) h[k] = Array.isArray(v) ? v.join(', ') : v;
        resolve({ status: res.statusCode ?? 0, headers: h, body });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * The value of `name` in Prometheus/OpenMetrics text, summed over the series
 * whose labels include every pair in `labels`; undefined when no series matches.
 */
export function promSample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  let sum: number | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)/.exec(line);
    if (m === null || m[1] !== name) continue;
    const have = new Map<string, string>();
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) have.set(l[1]!, l[2]!);
    if (Object.entries(labels).every(([k, v]) => have.get(k) === v)) sum = (sum ?? 0) + Number(m[3]);
  }
  return sum;
}

/** Scrapes `/metrics` as Prometheus text and reads one sample (0 when absent). */
export async function scrapeSample(port: number, name: string, labels: Record<string, string> = {}): Promise<number> {
  const res = await httpGet(port, '/metrics', { Accept: 'text/plain' });
  assert.equal(res.status, 200);
  return promSample(res.body, name, labels) ?? 0;
}
