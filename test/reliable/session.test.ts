/**
 * Reliable sessions end to end on a standalone gateway with a real `ws` upstream:
 * HELLO/WELCOME, upstream_open, DATA both ways with ACKs, resume after a dropped
 * connection with nothing lost and nothing repeated (the upstream saw one
 * connection), resume outcomes (expired, out of range, unknown), take-over.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { WebSocket } from 'ws';
import { startGateway, until } from '../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { V1Client } from '../helpers/v1-client.js';
import type { Gateway } from '../../src/server/gateway.js';

describe('reliable sessions: the basics', () => {
  let upstream: TestUpstream;
  let gw: Gateway;
  before(async () => {
    upstream = await startUpstream();
    gw = await startGateway({ defaultRoute: { openclawGateway: upstream.url }, reliable: { resumeWindowMs: 1_500 } });
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  test('HELLO → WELCOME, then upstream_open (seq 1); DATA is ACKed and the echo comes back as DATA seq 2', async () => {
    const c = await V1Client.open(gw.port, 'basic-1');
    assert.equal(c.ws.protocol, 'stratix.v1');
    const w = await c.hello();
    assert.equal(w.recovered, false);
    assert.equal(w.resume, 'new');
    assert.match(w.sessionId!, /^[A-Za-z0-9_-]{22}$/);
    assert.deepEqual([w.firstSeq, w.lastSeq, w.resumeWindowMs, w.heartbeatMs], [1, 0, 1_500, 25_000]);
    await c.until(() => c.sequenced.length === 1, 'upstream_open');
    assert.deepEqual(c.sequenced[0], { type: 4, seq: 1, event: 'upstream_open' });
    c.data('m-1', 'hello ✓');
    await c.until(() => c.payloads.length === 1, 'the echo');
    assert.deepEqual(c.answers('m-1'), [{ type: 1, messageId: 'm-1' }]);
    const echo = c.sequenced[1]!;
    assert.equal(echo.seq, 2);
    assert.equal(echo.messageId, '2');
    assert.equal(c.payloads[0], 'hello ✓');
    // The timestamp is written as exact nanosecond digits.
    assert.match(c.raw.find((r) => r.includes('"seq":2'))!, /"timestamp":\d{19},/);
    assert.equal(upstream.received.at(-1)!.data.toString(), 'hello ✓');
    assert.equal(upstream.received.at(-1)!.isBinary, false);
    c.ws.close(1000);
    await c.closed;
  });

  test('an idle session drops its empty ring and outbox before a collection (dropIdleStructures) and keeps its sequence and duplicates', async () => {
    const c = await V1Client.open(gw.port, 'idle-drop-1');
    const w = await c.hello();
    await c.until(() => c.sequenced.length === 1, 'upstream_open');
    c.data('d-1', 'idle-one');
    await c.until(() => c.payloads.length === 1, 'the first echo');
    c.ack(2);
    const s = gw.reliable!.sessions.get(w.sessionId!)!;
    await until(() => s.ackedSeq === 2 && s.ring!.count === 0, 'the ack to be taken');
    gw.reliable!.dropIdleStructures();
    assert.equal(s.ring, null, 'the empty ring is dropped');
    assert.notEqual(s.dups, null, 'the duplicate cache holds d-1 for the window: kept');
    c.data('d-1', 'idle-one'); // a duplicate: answered from the cache, not sent upstream again
    await c.until(() => c.answers('d-1').length === 2, 'the duplicate answered');
    c.data('d-2', 'idle-two');
    await c.until(() => c.payloads.length === 2, 'the second echo');
    assert.deepEqual(c.sequenced.map((e) => e.seq), [1, 2, 3], 'the sequence goes on after the drop');
    assert.deepEqual(upstream.received.map((m) => m.data.toString()).filter((d) => d.startsWith('idle-')), ['idle-one', 'idle-two'], 'the duplicate went upstream once');
    c.ws.close(1000);
    await c.closed;
  });

  test('binary payloads go upstream as binary and come back with "binary": true', async () => {
    const c = await V1Client.open(gw.port, 'basic-bin');
    await c.hello();
    await c.until(() => c.sequenced.length === 1, 'upstream_open');
    c.data('b-1', Buffer.from([0, 255, 1, 254]), true);
    await c.until(() => c.payloads.length === 1, 'the echo');
    assert.equal(upstream.received.at(-1)!.isBinary, true);
    assert.deepEqual(upstream.received.at(-1)!.data, Buffer.from([0, 255, 1, 254]));
    assert.equal(c.sequenced[1]!.binary, true);
    c.ws.close(1000);
    await c.closed;
  });

  test('a dropped connection resumes within the window: every missed message once, in order; the upstream saw one connection', async () => {
    const conn = upstream.nextConnection();
    const c = await V1Client.open(gw.port, 'resume-1');
    const w = await c.hello();
    const server = (await conn) as WebSocket;
    await c.until(() => c.sequenced.length === 1, 'upstream_open');
    const connectionsBefore = upstream.upgradeHeaders.length;
    c.ack(1);
    c.ws.terminate(); // no close frame: the session is detached
    await until(() => gw.reliable!.attachedCount === 0, 'the session to be detached');
    for (let i = 0; i < 50; i++) server.send(`tick-${i}`);
    await until(() => gw.reliable!.sessions.get(w.sessionId!)!.lastSeq === 51, 'the upstream messages to be logged');
    const c2 = await V1Client.open(gw.port, 'resume-1');
    const w2 = await c2.hello(w.sessionId!, 1);
    assert.deepEqual([w2.recovered, w2.resume, w2.sessionId, w2.firstSeq, w2.lastSeq], [true, 'recovered', w.sessionId, 2, 51]);
    await c2.until(() => c2.sequenced.length === 50, 'the replay');
    assert.deepEqual(c2.sequenced.map((e) => e.seq), Array.from({ length: 50 }, (_, i) => i + 2));
    assert.deepEqual(c2.payloads, Array.from({ length: 50 }, (_, i) => `tick-${i}`));
    // Live traffic continues on the same upstream connection.
    c2.data('after-resume', 'still the same upstream');
    await c2.until(() => c2.payloads.length === 51, 'the echo');
    assert.equal(upstream.upgradeHeaders.length, connectionsBefore, 'no new upstream connection');
    c2.ws.close(1000);
    await c2.closed;
    await once(server, 'close');
  });

  test('a resume after the window: resume "expired", a new session', async () => {
    const c = await V1Client.open(gw.port, 'late-1');
    const w = await c.hello();
    c.ws.terminate();
    await until(() => !gw.reliable!.sessions.has(w.sessionId!), 'the window to pass', 10_000);
    const c2 = await V1Client.open(gw.port, 'late-1');
    const w2 = await c2.hello(w.sessionId!, 0);
    assert.equal(w2.recovered, false);
    assert.equal(w2.resume, 'expired');
    assert.notEqual(w2.sessionId, w.sessionId);
    assert.deepEqual([w2.firstSeq, w2.lastSeq], [1, 0]);
    await c2.until(() => c2.sequenced.some((e) => e.event === 'upstream_open'), 'a new upstream');
    c2.ws.close(1000);
    await c2.closed;
  });

  test('lastSeq out of range: resume "out_of_range" with firstSeq/lastSeq, and everything kept is sent', async () => {
    const c = await V1Client.open(gw.port, 'range-1');
    const w = await c.hello();
    await c.until(() => c.sequenced.length === 1, 'upstream_open');
    c.data('r-1', 'one');
    await c.until(() => c.payloads.length === 1, 'echo');
    c.ack(2);
    c.data('r-2', 'two');
    await c.until(() => c.payloads.length === 2, 'echo');
    c.ws.terminate();
    await until(() => gw.reliable!.attachedCount === 0, 'detached');
    for (const lastSeq of [0, 9]) {
      const c2 = await V1Client.open(gw.port, 'range-1');
      const w2 = await c2.hello(w.sessionId!, lastSeq);
      assert.deepEqual([w2.recovered, w2.resume, w2.firstSeq, w2.lastSeq], [false, 'out_of_range', 3, 3], `lastSeq ${lastSeq}`);
      await c2.until(() => c2.sequenced.length === 1, 'what is kept');
      assert.deepEqual(c2.payloads, ['two']);
      c2.ws.terminate();
      await until(() => gw.reliable!.attachedCount === 0, 'detached');
    }
  });

  test('an unknown sessionId (or one of another clientId): resume "unknown", a new session', async () => {
    const a = await V1Client.open(gw.port, 'owner-1');
    const wa = await a.hello();
    const b = await V1Client.open(gw.port, 'intruder-1');
    const wb = await b.hello(wa.sessionId!, 0);
    assert.deepEqual([wb.recovered, wb.resume], [false, 'unknown']);
    assert.notEqual(wb.sessionId, wa.sessionId);
    const c = await V1Client.open(gw.port, 'owner-1');
    const wc = await c.hello('AAAAAAAAAAAAAAAAAAAAAA', 0);
    assert.equal(wc.resume, 'unknown');
    for (const x of [a, b, c]) {
      x.ws.close(1000);
      await x.closed;
    }
  });

  test('a resume while the old connection still looks open takes the session over: the old one gets 4410', async () => {
    const a = await V1Client.open(gw.port, 'takeover-1');
    const w = await a.hello();
    const b = await V1Client.open(gw.port, 'takeover-1');
    const wb = await b.hello(w.sessionId!, 0);
    assert.equal(wb.recovered, true);
    assert.deepEqual(await a.closed, { code: 4410, reason: 'taken over by a newer connection' });
    b.ws.close(1000);
    await b.closed;
  });

  test('a client close with 1000 ends the session and its upstream', async () => {
    const conn = upstream.nextConnection();
    const c = await V1Client.open(gw.port, 'end-1');
    const w = await c.hello();
    const server = (await conn) as WebSocket;
    c.ws.close(1000);
    const [code] = (await once(server, 'close')) as [number];
    assert.equal(code, 1000);
    await until(() => !gw.reliable!.sessions.has(w.sessionId!), 'the session to be gone');
  });
});
