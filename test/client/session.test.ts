/**
 * The SDK against the real gateway (standalone, in process) and a real `ws`
 * upstream, through a TCP proxy the tests cut: a session opens, messages go both
 * ways with their ACKs, and it survives cuts with nothing lost, nothing repeated,
 * nothing sent twice upstream.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { StratixClient } from '@stratix/client';
import { startGateway, until } from '../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import type { Gateway } from '../../src/server/gateway.js';
import { AsyncStorage, counter, MemoryStorage, reach, record, sleep, track } from './fixtures.js';

const FAST = { initialDelayMs: 50, maxDelayMs: 200, immediateMaxDelayMs: 50 };
const ADMIN_TOKEN = 'sdk-admin-token-0123456789';

/** The admin API (docs/operations.md): POST /admin/sessions/{id}/close for the one session of `clientId`. */
async function adminClose(port: number, clientId: string): Promise<void> {
  const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
  const listed = (await (await fetch(`http://127.0.0.1:${port}/admin/sessions?prefix=${clientId}`, { headers: auth })).json()) as { sessions: Array<{ id: string }> };
  assert.equal(listed.sessions.length, 1);
  const res = await fetch(`http://127.0.0.1:${port}/admin/sessions/${listed.sessions[0]!.id}/close`, { method: 'POST', headers: auth });
  assert.equal(res.status, 200, await res.text());
}

describe('StratixClient: a session through the gateway', () => {
  let upstream: TestUpstream;
  let gw: Gateway;
  let proxy: TcpProxy;
  before(async () => {
    upstream = await startUpstream();
    gw = await startGateway({ defaultRoute: { openclawGateway: upstream.url }, reliable: { resumeWindowMs: 20_000, heartbeatMs: 1_000 }, admin: { token: ADMIN_TOKEN } });
    proxy = await TcpProxy.start(gw.port);
  });
  after(async () => {
    await proxy.close();
    await gw.close();
    await upstream.close();
  });

  const clients: StratixClient[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.close(); // a failed test leaves none running
  });
  const client = (clientId: string, extra: Partial<ConstructorParameters<typeof StratixClient>[0]> = {}) => {
    const c = new StratixClient({ url: `ws://127.0.0.1:${proxy.port}/ws`, clientId, WebSocket, reconnect: FAST, ...extra });
    clients.push(c);
    return c;
  };

  test('connecting → open; send resolves on the ACK; the echo arrives as a message with its seq', async () => {
    const c = client('sdk-basic-1');
    const r = record(c);
    await reach(c, 'open');
    await c.send('hello ✓');
    await until(() => r.messages.length === 1, 'the echo');
    assert.deepEqual(r.messages[0], { data: 'hello ✓', seq: 2, binary: false });
    assert.deepEqual(r.opens, [1]);
    await c.send(new Uint8Array([0, 255, 7]));
    await until(() => r.messages.length === 2, 'the binary echo');
    assert.deepEqual(r.messages[1], { data: new Uint8Array([0, 255, 7]), seq: 3, binary: true });
    assert.equal(upstream.received.at(-1)!.isBinary, true);
    await c.close();
    assert.deepEqual(r.states, ['connecting', 'open', 'closed']);
    assert.deepEqual(r.errors, []);
  });

  test('a TCP cut: the client resumes, every upstream message once and in order, every send resolved once, the upstream saw one connection', async () => {
    const conn = upstream.nextConnection();
    const c = client('sdk-cut-1');
    const r = record(c);
    await reach(c, 'open');
    const server = await conn;
    const connections = upstream.upgradeHeaders.length;
    const stream = counter(server, 'n', 5);
    const sends = Array.from({ length: 20 }, (_, i) => track(i, c.send(`s${i}`)));
    await until(() => stream.sent.length >= 30, 'some of the stream');
    await proxy.cut();
    await until(() => r.states.includes('offline'), 'the client to notice the cut');
    const offline = Array.from({ length: 20 }, (_, i) => track(20 + i, c.send(`s${20 + i}`)));
    await new Promise((resolve) => setTimeout(resolve, 300));
    await proxy.restore();
    await reach(c, 'open', 'the resume');
    await until(() => [...sends, ...offline].every((o) => o.settled === 1), 'every send to settle');
    const sent = stream.stop();
    await until(() => r.texts().filter((t) => t.startsWith('n')).length === sent, 'the whole stream');
    assert.deepEqual(r.texts().filter((t) => t.startsWith('n')), stream.sent);
    assert.deepEqual([...sends, ...offline].map((o) => o.ok), Array(40).fill(true));
    // The upstream got each message once, in order, and echoed it once.
    const got = upstream.received.map((m) => m.data.toString()).filter((t) => /^s\d+$/.test(t) && Number(t.slice(1)) < 40);
    assert.deepEqual(got.slice(-40), Array.from({ length: 40 }, (_, i) => `s${i}`));
    assert.equal(got.filter((t) => t === 's0').length, 1);
    assert.deepEqual(r.texts().filter((t) => t.startsWith('s')), Array.from({ length: 40 }, (_, i) => `s${i}`));
    const seqs = r.messages.map((m) => m.seq);
    assert.deepEqual(seqs, Array.from({ length: seqs.length }, (_, i) => i + 2), 'seqs 2, 3, … once each');
    assert.equal(upstream.upgradeHeaders.length, connections, 'no new upstream connection');
    assert.ok(r.states.includes('resuming'));
    assert.equal(c.stats.resumes, 1);
    assert.deepEqual(r.gaps, []);
    await c.close();
  });

  test('many cuts at random moments while both sides stream: the stream once and in order, every send resolved once and sent upstream once', async (t) => {
    const conn = upstream.nextConnection();
    const c = client('sdk-soak-1');
    const r = record(c);
    await reach(c, 'open');
    const server = await conn;
    const connections = upstream.upgradeHeaders.length;
    const stream = counter(server, 'k', 2);
    const sends: ReturnType<typeof track>[] = [];
    const sender = setInterval(() => sends.push(track(sends.length, c.send(`q${sends.length}`))), 3);
    for (let cut = 0; cut < 5; cut++) {
      await new Promise((resolve) => setTimeout(resolve, 50 + Math.floor(Math.random() * 150)));
      await proxy.cut();
      await new Promise((resolve) => setTimeout(resolve, Math.floor(Math.random() * 150)));
      await proxy.restore();
      await reach(c, 'open', `the resume after cut ${cut}`);
    }
    clearInterval(sender);
    const sent = stream.stop();
    await until(() => sends.every((o) => o.settled === 1), 'every send to settle');
    await until(() => r.texts().filter((t) => t.startsWith('k')).length >= sent, 'the whole stream');
    assert.deepEqual(r.texts().filter((t) => t.startsWith('k')), stream.sent);
    assert.deepEqual(sends.filter((o) => o.ok !== true).map((o) => String(o.error)), []);
    const up = upstream.received.map((m) => m.data.toString()).filter((t) => t.startsWith('q'));
    assert.deepEqual(up, sends.map((o) => `q${o.id}`), 'upstream got each message once, in order');
    await until(() => r.texts().filter((t) => t.startsWith('q')).length === sends.length, 'every echo');
    assert.deepEqual(r.texts().filter((t) => t.startsWith('q')), up);
    assert.equal(upstream.upgradeHeaders.length, connections, 'no new upstream connection');
    assert.ok(c.stats.resumes >= 1, `resumed ${c.stats.resumes} times`);
    assert.deepEqual([r.gaps, r.errors], [[], []]);
    t.diagnostic(`${sends.length} sends, ${sent} upstream messages, ${c.stats.resumes} resumes, ${c.stats.duplicatesSkipped} replayed duplicates skipped`);
    await c.close();
  });

  test('credentials() is called before every connect; its parameters go into the query string next to clientId', async () => {
    let calls = 0;
    const c = client('sdk-creds-1', { credentials: async () => ({ token: `t${++calls}`, sig: 'a+b/c=' }) });
    await reach(c, 'open');
    const before = proxy.requestLines.length;
    await proxy.cut();
    await proxy.restore();
    await until(() => c.stats.connects === 2 && c.state === 'open', 'the resume');
    const lines = proxy.requestLines.filter((l) => l.includes('sdk-creds-1'));
    assert.ok(proxy.requestLines.length > before);
    assert.equal(lines.length, calls, 'one call per connection attempt');
    lines.forEach((l, i) => assert.equal(l, `GET /ws?token=t${i + 1}&sig=a%2Bb%2Fc%3D&clientId=sdk-creds-1 HTTP/1.1`));
    await c.close();
  });

  test('credentials() that throws is reported (STRATIX_CLIENT_ERR_CREDENTIALS) and retried with backoff', async () => {
    let calls = 0;
    const c = client('sdk-creds-2', {
      credentials: () => {
        if (++calls < 3) throw new Error('token service down');
        return { token: 'ok' };
      },
    });
    const r = record(c);
    await reach(c, 'open');
    assert.equal(calls, 3);
    assert.deepEqual(r.errors.map((e) => e.code), ['STRATIX_CLIENT_ERR_CREDENTIALS', 'STRATIX_CLIENT_ERR_CREDENTIALS']);
    assert.match(r.errors[0]!.message, /credentials\(\) failed: token service down/);
    assert.deepEqual(r.states, ['connecting', 'offline', 'connecting', 'offline', 'connecting', 'open']);
    await c.close();
  });

  test('credentials() that never settles is given up after connectTimeoutMs (STRATIX_CLIENT_ERR_CREDENTIALS) and called again', async () => {
    let calls = 0;
    const c = client('sdk-creds-3', {
      connectTimeoutMs: 300,
      credentials: () => (++calls === 1 ? new Promise<Record<string, string>>(() => undefined) : { token: 'ok' }),
    });
    const r = record(c);
    await reach(c, 'open', 'the second attempt', 5_000);
    assert.equal(calls, 2);
    assert.deepEqual(r.errors.map((e) => e.code), ['STRATIX_CLIENT_ERR_CREDENTIALS']);
    assert.match(r.errors[0]!.message, /credentials\(\) did not settle within 300 ms/);
    assert.deepEqual(r.states, ['connecting', 'offline', 'connecting', 'open']);
    await c.close();
  });

  test('send() resolves with the messageId: the one generated, or the one given', async () => {
    const c = client('sdk-msgid-1');
    await reach(c, 'open');
    const generated = await c.send('a');
    assert.match(generated.messageId, /^[A-Za-z0-9_-]{12}\.1$/);
    assert.deepEqual(await c.send('b', { messageId: 'mine-1' }), { messageId: 'mine-1' });
    await c.close();
  });

  for (const kind of ['synchronous', 'asynchronous'] as const) {
    test(`with ${kind} storage, the position is stored before the app sees a message: inside the listener, storage holds meta.seq`, async () => {
      const storage = kind === 'synchronous' ? new MemoryStorage() : new AsyncStorage(() => Math.floor(Math.random() * 4));
      const conn = upstream.nextConnection();
      const c = client(`sdk-order-${kind}`, { storage });
      const seen: Array<[number, number | undefined]> = [];
      c.on('message', (_data, meta) => {
        const raw = storage.map.get(`stratix:sdk-order-${kind}`);
        seen.push([meta.seq, raw === undefined ? undefined : (JSON.parse(raw) as { lastSeq: number }).lastSeq]);
      });
      await reach(c, 'open');
      const stream = counter(await conn, 'o', 2);
      await until(() => seen.length >= 40, 'forty messages');
      stream.stop();
      assert.deepEqual(seen.filter(([seq, stored]) => stored !== seq), [], '[seq, stored lastSeq] where they differ');
      await c.close();
    });
  }

  test('asynchronous storage through cuts and a hand-over to a new client (close({ keepSession })): every message once, in order', async () => {
    const storage = new AsyncStorage(() => Math.floor(Math.random() * 5));
    const conn = upstream.nextConnection();
    const a = client('sdk-async-1', { storage });
    const ra = record(a);
    await reach(a, 'open');
    const stream = counter(await conn, 'y', 3);
    for (let cut = 0; cut < 3; cut++) {
      await sleep(50 + Math.floor(Math.random() * 100));
      await proxy.cut();
      await sleep(Math.floor(Math.random() * 100));
      await proxy.restore();
      await reach(a, 'open', `the resume after cut ${cut}`);
    }
    await sleep(Math.floor(Math.random() * 50));
    await a.close({ keepSession: true });
    const b = client('sdk-async-1', { storage });
    const rb = record(b);
    await reach(b, 'open');
    const sent = stream.stop();
    await until(() => ra.messages.length + rb.messages.length >= sent, 'the whole stream');
    await sleep(100);
    assert.deepEqual([...ra.texts(), ...rb.texts()], stream.sent);
    assert.ok(a.stats.resumes >= 1);
    assert.deepEqual([ra.gaps, rb.gaps, ra.errors, rb.errors], [[], [], [], []]);
    await b.close();
  });

  test('an "immediately" close (1012: the operator closed the session, as a drain does) reconnects after reconnect.immediateMaxDelayMs at most, not the backoff, and resumes', async () => {
    const conn = upstream.nextConnection();
    const c = client('sdk-drain-1', { reconnect: { initialDelayMs: 5_000, maxDelayMs: 5_000, immediateMaxDelayMs: 300 }, random: () => 1 });
    const r = record(c);
    await reach(c, 'open');
    const stream = counter(await conn, 'i', 5);
    await until(() => r.messages.length >= 10, 'some messages');
    const at: Record<string, number> = {};
    c.on('state', (s) => (at[s] ??= Date.now()));
    await adminClose(gw.port, 'sdk-drain-1');
    await until(() => at['resuming'] !== undefined, 'the next attempt', 3_000);
    const waited = at['resuming']! - at['offline']!;
    assert.ok(waited >= 290 && waited < 1_500, `waited ${waited} ms (immediateMaxDelayMs 300; the backoff would be 5000)`);
    await reach(c, 'open', 'the resume');
    const sent = stream.stop();
    await until(() => r.texts().length >= sent, 'the whole stream');
    assert.deepEqual(r.texts(), stream.sent);
    assert.equal(c.stats.resumes, 1);
    await c.close();
  });

  test('the platform WebSocket is used when none is passed (Node >= 22), else the constructor says to pass one (Node 20)', async () => {
    const platform = (globalThis as { WebSocket?: unknown }).WebSocket;
    const make = () => {
      const c = new StratixClient({ url: `ws://127.0.0.1:${proxy.port}/ws`, clientId: 'sdk-platform-1', reconnect: FAST });
      clients.push(c);
      return c;
    };
    if (platform === undefined) {
      assert.throws(make, (e: unknown) => (e as { code?: string }).code === 'STRATIX_CLIENT_ERR_NO_WEBSOCKET');
      return;
    }
    const c = make();
    const r = record(c);
    await reach(c, 'open');
    await c.send('native');
    await until(() => r.texts().includes('native'), 'the echo');
    await c.close();
  });

  test('a dead path (nothing arrives, nothing closes): after two heartbeat intervals the client reconnects and resumes; nothing lost or repeated', async () => {
    const conn = upstream.nextConnection();
    const c = client('sdk-dead-1');
    const r = record(c);
    await reach(c, 'open');
    const server = await conn;
    const stream = counter(server, 'd', 10);
    await until(() => r.messages.length > 10, 'some messages');
    let offlineAt = 0;
    c.on('state', (s) => {
      if (s === 'offline' && offlineAt === 0) offlineAt = Date.now();
    });
    proxy.freeze();
    const frozenAt = Date.now();
    await until(() => offlineAt > 0, 'the client to give up on the silent connection', 5_000);
    const waited = offlineAt - frozenAt;
    await reach(c, 'open', 'the resume');
    assert.ok(waited >= 1_900, `gave up after ${waited} ms: not before two heartbeats (2 x 1000 ms) of silence`);
    const sent = stream.stop();
    await until(() => r.texts().filter((t) => t.startsWith('d')).length === sent, 'the whole stream');
    assert.deepEqual(r.texts(), stream.sent);
    assert.equal(c.stats.resumes, 1);
    await c.close();
  });

  test('a wall-clock jump (a laptop waking up: timers ran late, nothing arrived meanwhile) makes the client reconnect at once and resume', async () => {
    let offset = 0;
    const conn = upstream.nextConnection();
    const c = client('sdk-sleep-1', { clock: () => Date.now() + offset });
    const r = record(c);
    await reach(c, 'open');
    const server = await conn;
    const stream = counter(server, 'z', 10);
    await until(() => r.messages.length > 5, 'some messages');
    const lines = proxy.requestLines.length;
    proxy.freeze(); // asleep: nothing arrives ...
    offset = 60_000; // ... and the wall clock went on while the timers did not run
    let offlineAt = 0;
    c.on('state', (s) => {
      if (s === 'offline' && offlineAt === 0) offlineAt = Date.now();
    });
    const at = Date.now();
    await until(() => offlineAt > 0, 'the client to drop the connection', 1_500);
    assert.ok(offlineAt - at < 1_500, 'before two heartbeats (2 s) of silence in real time');
    await reach(c, 'open', 'the resume');
    assert.equal(proxy.requestLines.length, lines + 1, 'one new connection');
    const sent = stream.stop();
    await until(() => r.texts().length === sent, 'the whole stream');
    assert.deepEqual(r.texts(), stream.sent);
    assert.equal(c.stats.resumes, 1);
    await c.close();
  });

  test('close({ keepSession: true }) leaves the session for a client with the same storage: it resumes where the first stopped, nothing lost or repeated', async () => {
    const storage = new MemoryStorage();
    const conn = upstream.nextConnection();
    const a = client('sdk-reload-1', { storage });
    const ra = record(a);
    await reach(a, 'open');
    const server = await conn;
    const connections = upstream.upgradeHeaders.length;
    const stream = counter(server, 'r', 5);
    await until(() => ra.messages.length >= 20, 'some messages');
    await a.close({ keepSession: true });
    const stored = JSON.parse(storage.getItem('stratix:sdk-reload-1')!) as { sessionId: string; lastSeq: number };
    assert.equal(stored.sessionId, a.sessionId);
    assert.equal(stored.lastSeq, ra.messages.at(-1)!.seq, 'the position of the last message handed on');
    await new Promise((resolve) => setTimeout(resolve, 100)); // the stream goes on meanwhile
    const b = client('sdk-reload-1', { storage });
    const rb = record(b);
    await reach(b, 'open');
    assert.deepEqual(rb.states, ['resuming', 'open']);
    assert.equal(b.sessionId, a.sessionId);
    const sent = stream.stop();
    await until(() => ra.messages.length + rb.messages.length === sent, 'the whole stream');
    assert.deepEqual([...ra.texts(), ...rb.texts()], stream.sent);
    assert.equal(rb.messages[0]!.seq, stored.lastSeq + 1);
    assert.equal(upstream.upgradeHeaders.length, connections);
    await b.close();
    assert.equal(storage.getItem('stratix:sdk-reload-1'), null, 'close() ends the session and forgets it');
  });
});
