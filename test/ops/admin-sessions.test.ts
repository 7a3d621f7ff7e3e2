/**
 * The session admin API on a standalone Gateway: listing with every filter, pages and
 * their cursor, one session in full, closing one (the client gets the code), closing by
 * prefix (paced), every bad parameter answered 400 naming it, unknown ids 404, and the
 * audit line of every action (who, what, when).
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { parseConfig } from '../../src/config/load.js';
import { Gateway } from '../../src/server/gateway.js';
import { openClient, until, type TestClient } from '../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { admin, TOKEN } from '../routing-runtime/fixtures.js';

interface Listed {
  id: string;
  clientId: string;
  worker: number;
  kind: string;
  upstream: string;
  state: string;
  since: string;
  messages: { clientToUpstream: number; upstreamToClient: number };
  bytes: { clientToUpstream: number; upstreamToClient: number };
  paused: boolean;
  slow: boolean;
  bufferDepth: number | null;
  buffered?: { toClient: number | null; toUpstream: number | null };
  ageSeconds?: number;
}

interface Listing {
  sessions: Listed[];
  total: number;
  nextCursor: string | null;
  unavailable: number[];
}

/** Captures pino's JSON lines. */
function captureLogs(): { logger: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines };
}

async function list(port: number, query = ''): Promise<Listing> {
  const res = await admin(port, 'GET', `/admin/sessions${query}`);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body as unknown as Listing;
}

describe('session admin API (standalone)', () => {
  let a: TestUpstream;
  let b: TestUpstream;
  let gw: Gateway;
  let logs: ReturnType<typeof captureLogs>;
  const clients = new Map<string, TestClient>();

  before(async () => {
    a = await startUpstream();
    b = await startUpstream();
    logs = captureLogs();
    const config = parseConfig({
      gateway: { listen: '127.0.0.1:0' },
      routes: [{ clientIdPrefix: 'beta-', openclawGateway: b.url }],
      defaultRoute: { openclawGateway: a.url },
      admin: { token: TOKEN },
      routing: { watchConfigFile: false },
    });
    gw = await Gateway.start(config, { logger: logs.logger });
    for (const id of ['alpha-1', 'alpha-2', 'alpha-3', 'beta-1', 'beta-2']) {
      const c = await openClient(gw.port, id);
      clients.set(id, c);
    }
    // alpha-1 sends three messages of 10 bytes; each is echoed.
    const c = clients.get('alpha-1')!;
    for (let i = 0; i < 3; i++) c.ws.send('0123456789');
    await c.waitFor(3);
    await until(() => gw.sessions.size === 5 && [...gw.sessions].every((s) => s.stateName === 'open'), 'five open sessions');
  });
  after(async () => {
    for (const c of clients.values()) c.ws.terminate();
    await gw?.close();
    await a?.close();
    await b?.close();
  });

  it('lists every session with its id, clientId, worker, upstream, state, since, counters each way', async () => {
    const page = await list(gw.port);
    assert.equal(page.total, 5);
    assert.equal(page.nextCursor, null);
    assert.deepEqual(page.unavailable, []);
    assert.deepEqual(page.sessions.map((s) => s.clientId), ['alpha-1', 'alpha-2', 'alpha-3', 'beta-1', 'beta-2']);
    assert.equal(new Set(page.sessions.map((s) => s.id)).size, 5);
    for (const s of page.sessions) {
      assert.match(s.id, /^0-1-\d+$/);
      assert.equal(s.worker, 0);
      assert.equal(s.kind, 'verbatim');
      assert.equal(s.state, 'open');
      assert.equal(s.bufferDepth, null);
      assert.equal(s.paused, false);
      assert.equal(s.slow, false);
      assert.equal(s.upstream, s.clientId.startsWith('beta-') ? b.url : a.url);
      const since = Date.parse(s.since);
      assert.ok(since <= Date.now() && since > Date.now() - 60_000, s.since);
    }
    const first = page.sessions[0]!;
    assert.deepEqual(first.messages, { clientToUpstream: 3, upstreamToClient: 3 });
    assert.deepEqual(first.bytes, { clientToUpstream: 30, upstreamToClient: 30 });
    assert.deepEqual(page.sessions[1]!.messages, { clientToUpstream: 0, upstreamToClient: 0 });
  });

  it('filters by prefix, upstream and state', async () => {
    assert.deepEqual((await list(gw.port, '?prefix=beta-')).sessions.map((s) => s.clientId), ['beta-1', 'beta-2']);
    const byUpstream = await list(gw.port, `?upstream=${encodeURIComponent(a.url)}`);
    assert.deepEqual(byUpstream.sessions.map((s) => s.clientId), ['alpha-1', 'alpha-2', 'alpha-3']);
    assert.equal((await list(gw.port, '?state=open')).total, 5);
    assert.equal((await list(gw.port, '?state=connecting,closing')).total, 0);
    assert.equal((await list(gw.port, '?prefix=nobody')).total, 0);
  });

  it('pages with limit and cursor: each session once, in id order, nextCursor null on the last page', async () => {
    const seen: string[] = [];
    let cursor: string | null = '';
    let pages = 0;
    while (cursor !== null) {
      const page: Listing = await list(gw.port, `?limit=2${cursor === '' ? '' : `&cursor=${cursor}`}`);
      assert.ok(page.sessions.length <= 2);
      assert.equal(page.total, 5);
      seen.push(...page.sessions.map((s) => s.clientId));
      cursor = page.nextCursor;
      pages++;
    }
    assert.equal(pages, 3);
    assert.deepEqual(seen, ['alpha-1', 'alpha-2', 'alpha-3', 'beta-1', 'beta-2']);
  });

  it('GET /admin/sessions/{id} shows one in full; an unknown id is 404, a malformed one 400', async () => {
    const listed = (await list(gw.port, '?prefix=alpha-1')).sessions[0]!;
    const one = await admin(gw.port, 'GET', `/admin/sessions/${listed.id}`);
    assert.equal(one.status, 200);
    const full = one.body as unknown as Listed;
    assert.equal(full.clientId, 'alpha-1');
    assert.deepEqual(full.buffered, { toClient: 0, toUpstream: 0 });
    assert.equal(typeof full.ageSeconds, 'number');
    const missing = await admin(gw.port, 'GET', '/admin/sessions/0-1-999999');
    assert.equal(missing.status, 404);
    assert.equal(missing.headers.get('x-stratix-error'), 'STRATIX_ERR_SESSION_NOT_FOUND');
    const otherGeneration = await admin(gw.port, 'GET', `/admin/sessions/0-7-1`);
    assert.equal(otherGeneration.status, 404);
    const malformed = await admin(gw.port, 'GET', '/admin/sessions/alpha-1');
    assert.equal(malformed.status, 400);
    assert.equal(malformed.headers.get('x-stratix-error'), 'STRATIX_ERR_ADMIN_BAD_REQUEST');
    assert.equal((await admin(gw.port, 'POST', `/admin/sessions/${listed.id}`)).status, 405);
    assert.equal((await admin(gw.port, 'GET', `/admin/sessions/${listed.id}/close`)).status, 405);
  });

  it('answers 400 naming the parameter for every bad one', async () => {
    const cases: Array<[string, string, RegExp]> = [
      ['GET', '/admin/sessions?limit=0', /^limit: /],
      ['GET', '/admin/sessions?limit=1001', /^limit: /],
      ['GET', '/admin/sessions?limit=ten', /^limit: /],
      ['GET', '/admin/sessions?state=sleeping', /^state: "sleeping"/],
      ['GET', '/admin/sessions?cursor=nope', /^cursor: /],
      ['GET', '/admin/sessions?prefix=a&prefix=b', /^prefix: given more than once/],
      ['GET', '/admin/sessions?colour=red', /^colour: unknown parameter/],
      ['POST', '/admin/sessions/0-1-1/close?code=1006', /^code: /],
      ['POST', '/admin/sessions/0-1-1/close?code=2000', /^code: /],
      ['POST', '/admin/sessions/0-1-1/close?code=4000', /^code: .*4100-4999/],
      ['POST', '/admin/sessions/0-1-1/close?end=yes', /^end: /],
      ['POST', '/admin/sessions/close', /^prefix: required/],
      ['POST', '/admin/sessions/close?prefix=', /^prefix: required/],
      ['POST', '/admin/sessions/close?prefix=a&rate=0', /^rate: /],
    ];
    for (const [method, path, message] of cases) {
      const res = await admin(gw.port, method, path);
      assert.equal(res.status, 400, `${method} ${path}: ${JSON.stringify(res.body)}`);
      assert.match((res.body['error'] as { message: string }).message, message, path);
    }
    // Still nothing closed.
    assert.equal((await list(gw.port)).total, 5);
  });

  it('needs the token for every session endpoint', async () => {
    for (const [method, path] of [
      ['GET', '/admin/sessions'],
      ['GET', '/admin/sessions/0-1-1'],
      ['POST', '/admin/sessions/0-1-1/close'],
      ['POST', '/admin/sessions/close?prefix=alpha-'],
      ['GET', '/admin/workers'],
      ['GET', '/admin/status'],
      ['GET', '/admin/metrics'],
    ] as const) {
      assert.equal((await admin(gw.port, method, path, null)).status, 401, path);
    }
    assert.equal((await list(gw.port)).total, 5);
  });

  it('POST /admin/sessions/{id}/close closes that client with the code; the action is logged with who, what, when', async () => {
    const target = (await list(gw.port, '?prefix=alpha-2')).sessions[0]!;
    const before = logs.lines.length;
    const res = await fetch(`http://127.0.0.1:${gw.port}/admin/sessions/${target.id}/close?code=4321`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${TOKEN}`, 'X-Stratix-Operator': 'alice', 'User-Agent': 'test-agent' },
    });
    assert.equal(res.status, 200);
    const body = (await res.json()) as Listed & { closed: boolean; code: number; end: boolean };
    assert.equal(body.closed, true);
    assert.equal(body.code, 4321);
    assert.equal(body.clientId, 'alpha-2');
    const closed = await clients.get('alpha-2')!.closed;
    assert.deepEqual(closed, { code: 4321, reason: 'closed by the operator' });
    await until(() => gw.sessions.size === 4, 'the session gone');
    assert.deepEqual((await list(gw.port, '?prefix=alpha-')).sessions.map((s) => s.clientId), ['alpha-1', 'alpha-3']);
    const audit = logs.lines.slice(before).find((l) => l['msg'] === 'admin action');
    assert.ok(audit, 'an audit line');
    assert.equal(audit['level'], 30, 'at info');
    assert.equal(audit['action'], `POST /admin/sessions/${target.id}/close`);
    assert.deepEqual(audit['params'], { code: '4321' });
    assert.deepEqual(audit['who'], { remote: '127.0.0.1', operator: 'alice', userAgent: 'test-agent' });
    assert.equal(audit['status'], 200);
    assert.equal(typeof audit['time'], 'number');
    // The same id again: gone.
    const again = await admin(gw.port, 'POST', `/admin/sessions/${target.id}/close`);
    assert.equal(again.status, 404);
    const failed = logs.lines.filter((l) => l['msg'] === 'admin action').at(-1)!;
    assert.equal(failed['status'], 404);
    assert.equal(failed['code'], 'STRATIX_ERR_SESSION_NOT_FOUND');
    // Reads are not logged as actions.
    const actions = logs.lines.filter((l) => l['msg'] === 'admin action').length;
    await list(gw.port);
    assert.equal(logs.lines.filter((l) => l['msg'] === 'admin action').length, actions);
  });

  it('POST /admin/sessions/close?prefix= closes the matching sessions paced at rate, with the default code 1012', async () => {
    const res = await admin(gw.port, 'POST', '/admin/sessions/close?prefix=beta-&rate=20');
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(res.body, { prefix: 'beta-', code: 1012, end: false, queued: 2, ratePerSecond: 20, unavailable: [] });
    const startedAt = performance.now();
    const closes = await Promise.all([clients.get('beta-1')!.closed, clients.get('beta-2')!.closed]);
    const elapsed = performance.now() - startedAt;
    for (const c of closes) assert.deepEqual(c, { code: 1012, reason: 'closed by the operator' });
    // Two closes at 20/s (gaps uniform in 25–75 ms): the first half a gap after the call, the
    // second a gap later, so at least 37.5 ms after the call (less the answer's trip back).
    assert.ok(elapsed >= 30, `paced, not at once (${elapsed.toFixed(0)} ms)`);
    await until(() => gw.sessions.size === 2, 'only the alpha sessions left');
    assert.deepEqual((await list(gw.port)).sessions.map((s) => s.clientId), ['alpha-1', 'alpha-3']);
  });

  it('GET /admin/workers and /admin/status describe the process', async () => {
    const w = await admin(gw.port, 'GET', '/admin/workers');
    assert.equal(w.status, 200);
    const workers = w.body['workers'] as Array<Record<string, any>>;
    assert.equal(workers.length, 1);
    const me = workers[0]!;
    assert.equal(me['worker'], 0);
    assert.equal(me['pid'], process.pid);
    assert.equal(me['sessions'], 2);
    assert.equal(me['restarts'], 0);
    assert.equal(me['generation'], 1);
    assert.ok(me['rssBytes'] > 0);
    for (const k of ['meanMs', 'p50Ms', 'p99Ms', 'maxMs', 'windowSeconds']) assert.equal(typeof me['eventLoopDelay'][k], 'number', k);
    const s = await admin(gw.port, 'GET', '/admin/status');
    assert.equal(s.status, 200);
    assert.equal(s.body['ready'], true);
    assert.equal((s.body['totals'] as Record<string, number>)['connectionsActive'], 2);
    assert.equal(typeof (s.body['routeTable'] as Record<string, unknown>)['version'], 'string');
  });
});
