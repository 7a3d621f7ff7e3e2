/**
 * Fuzz: upgrade requests (fast-check). Two properties against one gateway:
 * - a valid upgrade with at most one fault from a list (wrong path, method, no
 *   Host, clientId missing, doubled, invalid or "..", no Upgrade or Connection, a bad version or
 *   key, a malformed subprotocol offer, an oversized head, a broken header line, a
 *   head cut short) gets exactly that fault's documented status and error code (or
 *   the 101 when there is none), and a refused upgrade says Connection: close and
 *   is closed within 2 s (without Upgrade or Connection it is a plain request, whose
 *   426 may be kept alive as HTTP/1.1 allows);
 * - the same requests mutated (bytes flipped, set, inserted, deleted, cut), random
 *   bytes, and a TLS ClientHello get a documented answer: a 101 (after which the
 *   session ends with a documented close code once the client closes), or an HTTP
 *   status whose JSON error code is in the catalogue (src/errors.ts) with that
 *   status, or an operations endpoint's 200; never silence, and a response that
 *   says `Connection: close` is followed by the close within 2 s.
 * At the end, /metrics shows every buffer-bound metric within its bound and no
 * connection left. FUZZ_RUNS / FUZZ_SEED as in frames.test.ts.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import fc from 'fast-check';
import type { Gateway } from '../../src/server/gateway.js';
import { AdminErrors, HandshakeErrors, type HandshakeErrorName } from '../../src/errors.js';
import { CloseCode } from '../../src/protocol/close-codes.js';
import { startGateway, until } from '../helpers/gateway.js';
import { parseResponse, type RawResponse } from '../helpers/raw-http.js';
import { startTappedUpstream, type TappedUpstream } from '../helpers/tapped-upstream.js';
import { C, FrameReader, OP } from '../helpers/ws-wire.js';
import { checkBufferBounds, fuzzParameters, type BufferSettings } from './fuzz-settings.js';

const KiB = 1024;
const SETTINGS: BufferSettings = { highWaterMarkBytes: 1024 * KiB, preOpenQueueBytes: 1024 * KiB };
const HANDSHAKE_TIMEOUT_MS = 150;
const MAX_HEADER_BYTES = 2 * KiB;
const { runs, seed } = fuzzParameters(150);

// --- Requests ------------------------------------------------------------------

type Fault =
  | 'none'
  | 'path'
  | 'method'
  | 'no-host'
  | 'dot-client-id'
  | 'no-client-id'
  | 'empty-client-id'
  | 'two-client-ids'
  | 'bad-client-id'
  | 'long-client-id'
  | 'no-upgrade'
  | 'no-connection'
  | 'version'
  | 'no-version'
  | 'key'
  | 'no-key'
  | 'protocol'
  | 'huge-head'
  | 'bad-header-line'
  | 'cut-head';

/** The documented answer to each fault (status, error code); 'none' is the 101. */
const EXPECTED: Record<Exclude<Fault, 'none'>, HandshakeErrorName> = {
  path: 'NOT_FOUND',
  method: 'METHOD_NOT_ALLOWED',
  'no-host': 'BAD_REQUEST',
  // The route's target puts the clientId in a path segment, which may not be "." or "..".
  'dot-client-id': 'NO_ROUTE',
  'no-client-id': 'CLIENT_ID_MISSING',
  'empty-client-id': 'CLIENT_ID_MISSING',
  'two-client-ids': 'CLIENT_ID_MISSING',
  'bad-client-id': 'CLIENT_ID_INVALID',
  'long-client-id': 'CLIENT_ID_INVALID',
  'no-upgrade': 'UPGRADE_REQUIRED',
  'no-connection': 'UPGRADE_REQUIRED',
  version: 'UPGRADE_REQUIRED',
  'no-version': 'UPGRADE_REQUIRED',
  key: 'BAD_REQUEST',
  'no-key': 'BAD_REQUEST',
  protocol: 'BAD_REQUEST',
  'huge-head': 'HEADERS_TOO_LARGE',
  'bad-header-line': 'BAD_REQUEST',
  'cut-head': 'HANDSHAKE_TIMEOUT',
};

const idChar = fc.constantFrom(...'abcXYZ019._:@-');
const clientId = fc.string({ unit: idChar, minLength: 1, maxLength: 40 }).filter((id) => id !== '.' && id !== '..');
const badIdChar = fc.constantFrom('%20', '/', '%E2%82%AC', '%00', '+', '<', '%25', '!', '~');

const request = fc.record({
  fault: fc.constantFrom<Fault>('none', 'none', 'none', 'path', 'method', 'no-host', 'dot-client-id', 'no-client-id', 'empty-client-id', 'two-client-ids', 'bad-client-id', 'long-client-id', 'no-upgrade', 'no-connection', 'version', 'no-version', 'key', 'no-key', 'protocol', 'huge-head', 'bad-header-line', 'cut-head'),
  clientId,
  bad: badIdChar,
  path: fc.constantFrom('/', '/ws/', '/wss', '/WS', '/ws/x', '/socket'),
  method: fc.constantFrom('POST', 'PUT', 'DELETE', 'PATCH'),
  version: fc.constantFrom('8', '12', '14', 'thirteen', ''),
  key: fc.constantFrom('short', 'dGhlIHNhbXBsZSBub25jZQ', '!!!!!!!!!!!!!!!!!!!!!!==', 'dGhlIHNhbXBsZSBub25jZQ==x'),
  protocol: fc.constantFrom('a,,b', 'chat v1', ',', 'a;b', '"quoted"'),
  extra: fc.array(fc.constantFrom('X-Test: 1', 'Origin: file://', 'Accept: */*', 'User-Agent: fuzz', 'Sec-WebSocket-Extensions: permessage-deflate'), { maxLength: 3 }),
  upgradeCase: fc.constantFrom('websocket', 'WebSocket', 'WEBSOCKET'),
  connection: fc.constantFrom('Upgrade', 'upgrade', 'keep-alive, Upgrade'),
});
type Request = typeof request extends fc.Arbitrary<infer T> ? T : never;

function requestBytes(r: Request): Buffer {
  const id = r.clientId;
  const query =
    r.fault === 'no-client-id' ? '?other=1' : r.fault === 'empty-client-id' ? '?clientId=' : r.fault === 'two-client-ids' ? `?clientId=${id}&clientId=${id}x` : r.fault === 'bad-client-id' ? `?clientId=${id}${r.bad}` : r.fault === 'long-client-id' ? `?clientId=${id}${'a'.repeat(129)}` : r.fault === 'dot-client-id' ? '?clientId=..' : `?clientId=${id}`;
  const lines = [`${r.fault === 'method' ? r.method : 'GET'} ${r.fault === 'path' ? r.path : '/ws'}${query} HTTP/1.1`];
  if (r.fault !== 'no-host') lines.push('Host: 127.0.0.1');
  if (r.fault !== 'no-upgrade') lines.push(`Upgrade: ${r.upgradeCase}`);
  if (r.fault !== 'no-connection') lines.push(`Connection: ${r.connection}`);
  if (r.fault !== 'no-key') lines.push(`Sec-WebSocket-Key: ${r.fault === 'key' ? r.key : randomBytes(16).toString('base64')}`);
  if (r.fault !== 'no-version') lines.push(`Sec-WebSocket-Version: ${r.fault === 'version' ? r.version : '13'}`);
  if (r.fault === 'protocol') lines.push(`Sec-WebSocket-Protocol: ${r.protocol}`);
  if (r.fault === 'huge-head') lines.push(`X-Padding: ${'p'.repeat(MAX_HEADER_BYTES)}`);
  if (r.fault === 'bad-header-line') lines.push('this is not a header');
  lines.push(...r.extra);
  const text = `${lines.join('\r\n')}\r\n\r\n`;
  return Buffer.from(r.fault === 'cut-head' ? text.slice(0, text.length - 2) : text, 'latin1');
}

const mutation = fc.record({ op: fc.constantFrom('flip', 'set', 'insert', 'delete', 'cut'), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) });

/** What the second property sends. */
const anyInput = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(request, fc.array(mutation, { minLength: 1, maxLength: 4 })).map(([r, ms]) => mutate(requestBytes(r), ms)) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 300 }).map((a) => Buffer.from(a)) },
  // A TLS ClientHello's record header, then random bytes: a TLS client on the plain port.
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]), Buffer.from(a)])) },
);

function mutate(b0: Buffer, ms: ReadonlyArray<{ op: string; at: number; value: number }>): Buffer {
  let b = b0;
  for (const m of ms) {
    if (b.length === 0) break;
    const at = m.at % b.length;
    if (m.op === 'flip') b[at] = b[at]! ^ (1 << (m.value & 7));
    else if (m.op === 'set') b[at] = m.value;
    else if (m.op === 'insert') b = Buffer.concat([b.subarray(0, at), Buffer.from([m.value]), b.subarray(at)]);
    else if (m.op === 'delete') b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1)]);
    else b = b.subarray(0, Math.max(1, at));
  }
  return b;
}

// --- The exchange --------------------------------------------------------------------

interface Answer {
  readonly response: RawResponse | undefined;
  /** Bytes after the response head (frames, after a 101). */
  readonly rest: Buffer;
  readonly socket: Socket;
  /** The server closed (or reset) the connection. */
  readonly closed: Promise<void>;
  readonly isClosed: () => boolean;
}

/** Writes `bytes` and resolves once a whole response has arrived, or the connection closed, within `deadlineMs`. */
function exchange(port: number, bytes: Buffer, deadlineMs: number): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => {});
    let buf = Buffer.alloc(0);
    let closedFlag = false;
    const closed = new Promise<void>((r) =>
      socket.once('close', () => {
        closedFlag = true;
        r();
      }),
    );
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${deadlineMs} ms; got ${JSON.stringify(buf.toString('latin1').slice(0, 200))}`));
    }, deadlineMs);
    const done = (): void => {
      clearTimeout(timer);
      socket.removeListener('data', onData);
      const end = buf.indexOf('\r\n\r\n');
      const response = parseResponse(buf);
      const bodyLength = response === undefined || response.status === 101 ? 0 : Number(response.headers['content-length'] ?? 0);
      resolve({ response, rest: end === -1 ? Buffer.alloc(0) : buf.subarray(end + 4 + bodyLength), socket, closed, isClosed: () => closedFlag });
    };
    const onData = (d: Buffer): void => {
      buf = Buffer.concat([buf, d]);
      const r = parseResponse(buf);
      if (r === undefined) return;
      const end = buf.indexOf('\r\n\r\n');
      const length = r.headers['content-length'];
      // Complete: a 101, a body of its Content-Length, or a chunked body's last chunk (else: when it closes).
      if (r.status === 101 || (length !== undefined && buf.length - end - 4 >= Number(length)) || (/chunked/i.test(r.headers['transfer-encoding'] ?? '') && buf.subarray(end).includes('\r\n0\r\n\r\n'))) done();
    };
    socket.on('data', onData);
    socket.once('close', () => done());
    socket.on('connect', () => socket.write(bytes));
  });
}

const CATALOGUE = new Map<string, number>([...Object.values(HandshakeErrors), ...Object.values(AdminErrors)].map((e) => [e.code, e.status]));
const CLOSE_CODES = new Set<number>([1000, 1001, 1002, 1005, 1007, 1009, ...Object.values(CloseCode).map((c) => (c as { code: number }).code)]);

/** After a 101: the client closes; the session ends with a documented close code and TCP ends. */
async function closeSession(a: Answer): Promise<void> {
  const reader = new FrameReader();
  if (a.rest.length > 0) reader.push(a.rest);
  a.socket.on('data', (d: Buffer) => reader.push(d));
  if (!a.isClosed()) a.socket.write(C.close(1000));
  await Promise.race([a.closed, new Promise((_, reject) => setTimeout(() => reject(new Error('the session did not end within 5 s of the client close')), 5_000))]);
  const close = reader.frames.find((f) => f.opcode === OP.CLOSE);
  if (close !== undefined) {
    const code = close.payload.length >= 2 ? close.payload.readUInt16BE(0) : 1005;
    assert.ok(CLOSE_CODES.has(code), `close code ${code} is documented`);
  }
}

/** A documented HTTP answer: a catalogued error with its status, or an operations endpoint's 200. */
function assertDocumented(r: RawResponse, input: Buffer): void {
  const what = JSON.stringify(input.toString('latin1').slice(0, 120));
  if (r.status === 200) return; // /healthz, /readyz, /metrics
  const code = r.headers['x-stratix-error'];
  assert.ok(code !== undefined, `HTTP ${r.status} without X-Stratix-Error for ${what}`);
  const status = CATALOGUE.get(code);
  assert.ok(status !== undefined, `${code} is in the catalogue (src/errors.ts)`);
  if (status !== 0) assert.equal(r.status, status, `${code} answers with its catalogued status`); // 0: the upstream's own status

  assert.equal((JSON.parse(r.body) as { error: { code: string } }).error.code, code, 'the JSON body names the same code');
}

describe('fuzz: upgrade requests', () => {
  let upstream: TappedUpstream;
  let gw: Gateway;
  before(async () => {
    upstream = await startTappedUpstream();
    gw = await startGateway({
      gateway: { handshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS, maxHeaderBytes: MAX_HEADER_BYTES, closeTimeoutMs: 30_000 },
      defaultRoute: { openclawGateway: `${upstream.url}/{clientId}` },
    });
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  test(`${runs} upgrades with at most one fault: exactly its documented answer`, { timeout: 600_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const bytes = requestBytes(r);
        const a = await exchange(gw.port, bytes, HANDSHAKE_TIMEOUT_MS + 5_000);
        try {
          assert.ok(a.response !== undefined, `an HTTP answer to ${r.fault}`);
          if (r.fault === 'none') {
            assert.equal(a.response.status, 101, a.response.body);
            await closeSession(a);
            return;
          }
          const e = HandshakeErrors[EXPECTED[r.fault]];
          assert.equal(a.response.status, e.status, `${r.fault}: ${a.response.body}`);
          assert.equal(a.response.headers['x-stratix-error'], e.code, r.fault);
          assertDocumented(a.response, bytes);
          // Without Upgrade and Connection it is a plain HTTP request: its 426 may keep the connection alive.
          if (r.fault === 'no-upgrade' || r.fault === 'no-connection') return;
          assert.match(a.response.headers.connection ?? '', /close/i, `${r.fault}: a refused upgrade says Connection: close`);
          await Promise.race([a.closed, new Promise((_, reject) => setTimeout(() => reject(new Error(`${r.fault}: the refused connection is still open after 2 s`)), 2_000))]);
        } catch (err) {
          process.stderr.write(`# fuzz failure: ${(err as Error).message}\n`);
          throw err;
        } finally {
          a.socket.destroy();
        }
      }),
      { numRuns: runs, ...(seed === undefined ? {} : { seed }) },
    );
  });

  test(`${runs} mutated requests, random bytes and TLS ClientHellos: a documented answer each`, { timeout: 600_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(anyInput, async (bytes) => {
        const a = await exchange(gw.port, bytes, HANDSHAKE_TIMEOUT_MS + 5_000);
        try {
          assert.ok(a.response !== undefined, `an HTTP answer to ${JSON.stringify(bytes.toString('latin1').slice(0, 120))}`);
          if (a.response.status === 101) {
            await closeSession(a);
            return;
          }
          assertDocumented(a.response, bytes);
          if (/close/i.test(a.response.headers.connection ?? '')) {
            await Promise.race([a.closed, new Promise((_, reject) => setTimeout(() => reject(new Error('"Connection: close", but the connection is still open after 2 s')), 2_000))]);
          }
        } catch (err) {
          process.stderr.write(`# fuzz failure: ${(err as Error).message}\n`);
          throw err;
        } finally {
          a.socket.destroy();
        }
      }),
      { numRuns: runs, ...(seed === undefined ? {} : { seed }) },
    );
  });

  test('the buffer-bound metrics stayed within their bounds; no connection is left', async () => {
    await until(() => gw.sessions.size === 0, 'every session to end');
    await checkBufferBounds(gw.port, SETTINGS);
  });
});
