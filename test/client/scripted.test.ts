/**
 * The SDK against a scripted stratix.v1 server (test/client/scripted-gateway.ts),
 * for what needs exact frames or exact timing: close() while an asynchronous
 * storage write is in flight, ACK batching, the ACK before the first write after a
 * recovered WELCOME, when the backoff starts over, the retry_after delay as given,
 * the close reason's byte bound, field order in DATA.
 */
import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import WebSocket from 'ws';
import { NackError, StratixClient, type StratixClientOptions } from '@stratix/client';
import { until } from '../helpers/gateway.js';
import { AsyncStorage, reach, record, sleep } from './fixtures.js';
import { acks, BrowserLikeWebSocket, dataFrame, eventFrame, ScriptedGateway, welcome, type HelloScript, type ScriptedConnection } from './scripted-gateway.js';

const FAST = { initialDelayMs: 50, maxDelayMs: 200, immediateMaxDelayMs: 50 };

describe('StratixClient against a scripted stratix.v1 server', () => {
  const servers: ScriptedGateway[] = [];
  const clients: StratixClient[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.close({ keepSession: true });
    for (const s of servers.splice(0)) await s.close();
  });
  const server = async (onHello: HelloScript): Promise<ScriptedGateway> => {
    const s = await ScriptedGateway.start(onHello);
    servers.push(s);
    return s;
  };
  const client = (s: ScriptedGateway, extra: Partial<StratixClientOptions> = {}): StratixClient => {
    const c = new StratixClient({ url: s.url, clientId: 'scripted-1', WebSocket, reconnect: FAST, ...extra });
    clients.push(c);
    return c;
  };

  /** A session of upstream_open (seq 1) and DATA "m2" … "m<last>"; a resume gets what follows its lastSeq. */
  const session = (last: number): HelloScript => (c, hello) => {
    const from = hello.sessionId === undefined ? 1 : hello.lastSeq! + 1;
    c.ws.send(hello.sessionId === undefined ? welcome() : welcome({ recovered: true, firstSeq: from, lastSeq: last }));
    for (let seq = from; seq <= last; seq++) c.ws.send(seq === 1 ? eventFrame(1, 'upstream_open') : dataFrame(seq, `m${seq}`));
  };

  test('close({ keepSession }) while the write of a position is in flight: the message is handed on before close() resolves, the next client resumes after it; each message once', async () => {
    const s = await server(session(2));
    const storage = new AsyncStorage();
    storage.hold = (v) => (JSON.parse(v) as { lastSeq: number }).lastSeq === 2;
    const got: string[] = [];
    const a = client(s, { storage });
    a.on('message', (d, m) => got.push(`a ${m.seq} ${String(d)}`));
    await until(() => storage.heldWrites === 1, 'the write of seq 2 in flight');
    const closing = a.close({ keepSession: true });
    storage.release();
    await closing;
    assert.deepEqual(got, ['a 2 m2'], 'the message whose position was stored reached the app');
    const b = client(s, { storage });
    b.on('message', (d, m) => got.push(`b ${m.seq} ${String(d)}`));
    await reach(b, 'open');
    assert.equal(s.connections[1]!.received[0]!.e.lastSeq, 2);
    assert.deepEqual(got, ['a 2 m2'], 'each message once across both clients');
  });

  test('close() while the write of a position is in flight: the stored state is removed after that write, so it stays removed', async () => {
    const s = await server(session(2));
    const storage = new AsyncStorage();
    storage.hold = (v) => (JSON.parse(v) as { lastSeq: number }).lastSeq === 2;
    const a = client(s, { storage });
    await until(() => storage.heldWrites === 1, 'the write of seq 2 in flight');
    const closing = a.close();
    await sleep(20);
    storage.release();
    await closing;
    assert.deepEqual(storage.log.slice(-2), ['set 2', 'remove'], 'removed after the write completed');
    assert.equal(storage.map.size, 0);
  });

  test('ACKs are batched: one per ack.maxMessages messages at once, the rest ack.maxDelayMs after the first unacknowledged one; upstream_open at once', async () => {
    let burstAt = 0;
    const s = await server((c) => {
      c.ws.send(welcome());
      c.ws.send(eventFrame(1, 'upstream_open'));
      setTimeout(() => {
        burstAt = Date.now();
        for (let seq = 2; seq <= 26; seq++) c.ws.send(dataFrame(seq, `m${seq}`));
      }, 50);
    });
    const c = client(s, { ack: { maxMessages: 10, maxDelayMs: 300 } });
    const r = record(c);
    await until(() => s.connections.length > 0 && acks(s.connections[0]!).some((a) => a.seq === 26), 'the last ACK');
    const got = acks(s.connections[0]!);
    assert.deepEqual(got.map((a) => a.seq), [1, 11, 21, 26]);
    assert.ok(got[0]!.at <= burstAt, 'upstream_open acknowledged at once');
    assert.ok(got[2]!.at - burstAt < 250, `ACK 21 ${got[2]!.at - burstAt} ms after the burst: with the tenth message, not the timer`);
    assert.ok(got[3]!.at - burstAt >= 290, `ACK 26 ${got[3]!.at - burstAt} ms after the burst: the timer's 300 ms`);
    assert.equal(r.messages.length, 25);
    await sleep(400);
    assert.equal(acks(s.connections[0]!).length, 4, 'nothing more to acknowledge');
  });

  test('a DATA written while deliveries are unacknowledged carries the position in its `ack` field instead of a separate ACK frame', async () => {
    const s = await server(session(3));
    s.onEnvelope = (c, e) => {
      if (e.type === 0) c.ws.send(JSON.stringify({ type: 1, messageId: e.messageId }));
    };
    const c = client(s, { ack: { maxMessages: 100, maxDelayMs: 300 } });
    const r = record(c);
    await until(() => r.messages.length === 2, 'm2 and m3');
    await c.send('reply');
    const data = s.connections[0]!.received.filter((x) => x.e.type === 0).map((x) => x.e);
    assert.equal(data.length, 1);
    assert.equal(data[0]!.ack, 3, 'the DATA carries ack 3');
    assert.equal(Buffer.from(data[0]!.data!, 'base64').toString(), 'reply');
    await c.send('again');
    assert.equal(s.connections[0]!.received.filter((x) => x.e.type === 0)[1]!.e.ack, undefined, 'nothing new to acknowledge: no ack');
    await sleep(400);
    assert.deepEqual(acks(s.connections[0]!).map((a) => a.seq), [1], 'only upstream_open had an ACK frame (before any DATA)');
  });

  test('after a recovered WELCOME the position is acknowledged before anything is written: an upstream_reset read on the lost connection, whose ACK never counted, holds no send', async () => {
    const acked = new Map<number, number>();
    const s = await server((c, hello) => {
      if (hello.sessionId === undefined) {
        c.ws.send(welcome());
        c.ws.send(eventFrame(1, 'upstream_open'));
      } else {
        c.ws.send(welcome({ recovered: true, firstSeq: hello.lastSeq! + 1, lastSeq: 2 }));
        for (let seq = hello.lastSeq! + 1; seq <= 2; seq++) c.ws.send(seq === 1 ? eventFrame(1, 'upstream_open') : eventFrame(2, 'upstream_reset', { code: 1012, reason: 'restart' }));
      }
    });
    // The gateway's rule (protocol.md §3.4): DATA after upstream_reset (seq 2) is NACKed UPSTREAM_NOT_OPEN until an ACK covers it.
    // This one counts only ACKs on the connection the DATA came on, as if the ACK on the first had been lost.
    s.onEnvelope = (c: ScriptedConnection, e) => {
      if (e.type === 1) acked.set(c.index, Math.max(acked.get(c.index) ?? 0, e.seq!));
      if (e.type !== 0) return;
      if (c.index === 0) {
        c.ws.send(JSON.stringify({ type: 3, messageId: e.messageId, code: 'STRATIX_NACK_UPSTREAM_NOT_OPEN', reason: 'reconnecting' }));
        c.ws.send(eventFrame(2, 'upstream_reset', { code: 1012, reason: 'restart' }), () => c.ws.close(1001, 'going'));
      } else if ((acked.get(c.index) ?? 0) >= 2) {
        c.ws.send(JSON.stringify({ type: 1, messageId: e.messageId }));
      } else {
        c.ws.send(JSON.stringify({ type: 3, messageId: e.messageId, code: 'STRATIX_NACK_UPSTREAM_NOT_OPEN', reason: 'acknowledge upstream_reset (seq 2) first' }));
      }
    };
    const c = client(s);
    const r = record(c);
    await reach(c, 'open');
    await assert.rejects(c.send('m1'), (e: unknown) => e instanceof NackError && e.code === 'STRATIX_NACK_UPSTREAM_NOT_OPEN');
    await until(() => r.resets.length === 1 && s.connections.length === 2 && c.state === 'open', 'upstreamReset, then the resume');
    assert.equal(await Promise.race([c.send('m2').then(() => 'acked'), sleep(3_000).then(() => 'not answered')]), 'acked');
    await Promise.race([c.send('m3'), sleep(3_000).then(() => assert.fail('m3 was held'))]);
    const b = s.connections[1]!.received.map((x) => x.e.type);
    assert.deepEqual(b.slice(0, 2), [2, 1], 'HELLO, then an ACK before any DATA');
  });

  test('the backoff starts over only after a connection stayed up for a heartbeat interval: one welcomed and closed at once (1011) keeps doubling', async () => {
    // Connections 0-3 are closed right after their WELCOME; 4 and later stay up 450 ms, longer than the heartbeat interval (300 ms).
    const s = await server((c) => {
      c.ws.send(welcome({ heartbeatMs: 300 }));
      if (c.index < 4) return void c.ws.close(1011, 'internal error');
      const beat = setInterval(() => c.ws.send('{"type":5}'), 100);
      setTimeout(() => (clearInterval(beat), c.ws.close(1011, 'internal error')), 450);
    });
    client(s, { reconnect: { initialDelayMs: 100, maxDelayMs: 800 }, random: () => 1 });
    await until(() => s.connections.length === 7, 'seven attempts', 15_000);
    const waits = s.connections.slice(1).map((x, i) => x.openedAt - s.connections[i]!.closedAt);
    const expect = [100, 200, 400, 800, 100, 100];
    waits.forEach((w, i) => assert.ok(w >= expect[i]! - 20 && w < expect[i]! + 300, `wait ${i + 1}: ${w} ms, expected ~${expect[i]} (all: ${waits.join(', ')})`));
  });

  test('retry_after: OVERLOADED and ADMISSION_LIMITED are waited as given (already spread by the gateway); other codes get jitter on top', async () => {
    const codes = ['STRATIX_ERR_OVERLOADED', 'STRATIX_ERR_ADMISSION_LIMITED', 'STRATIX_ERR_OVER_CAPACITY'];
    const s = await server((c) => {
      const code = codes[c.index];
      if (code === undefined) {
        c.ws.send(welcome());
        return;
      }
      c.ws.send(JSON.stringify({ type: 4, event: 'retry_after', retryAfterMs: 300, code }));
      c.ws.close(4503, code);
    });
    const c = client(s, { reconnect: { initialDelayMs: 700, maxDelayMs: 700 }, random: () => 1 });
    await until(() => s.connections.length === 4 && c.state === 'open', 'the fourth attempt, welcomed', 10_000);
    const waits = s.connections.slice(1).map((x, i) => x.openedAt - s.connections[i]!.closedAt);
    const expect = [300, 300, 1_000];
    waits.forEach((w, i) => assert.ok(w >= expect[i]! - 10 && w < expect[i]! + 250, `after ${codes[i]}: ${w} ms, expected ~${expect[i]} (all: ${waits.join(', ')})`));
  });

  test('a connection given up with a long non-ASCII reason (a browser-like WebSocket, no terminate): the reason is cut to 123 UTF-8 bytes and the connection closes', async () => {
    const s = await server((c) => {
      if (c.index > 0) return void c.ws.send(welcome());
      c.ws.send(welcome());
      c.ws.send(JSON.stringify({ type: 'ü'.repeat(80) }));
    });
    const c = client(s, { WebSocket: BrowserLikeWebSocket });
    const r = record(c);
    await until(() => (s.connections[0]?.closedAt ?? 0) > 0, 'the first connection to close', 5_000);
    const first = s.connections[0]!;
    assert.equal(first.closeCode, 4000);
    const bytes = Buffer.byteLength(first.closeReason);
    assert.ok(bytes <= 123 && bytes > 100, `${bytes} bytes: ${first.closeReason}`);
    assert.match(first.closeReason, /^protocol error: an envelope of unknown type "ü+$/, 'cut at a character boundary');
    assert.equal(r.errors[0]?.code, 'STRATIX_CLIENT_ERR_PROTOCOL');
    await reach(c, 'open', 'the next connection');
  });

  test('DATA fields in any order: the nanosecond timestamp is read exactly wherever it is', async () => {
    const b64 = Buffer.from('late').toString('base64');
    const s = await server((c) => {
      c.ws.send(welcome());
      c.ws.send(eventFrame(1, 'upstream_open'));
      c.ws.send(`{"data":"${Buffer.from('x'.repeat(300)).toString('base64')}","seq":2,"type":0,"messageId":"2","timestamp":1764582000123456789}`);
      c.ws.send(`{ "type" : 0 , "seq" : 3 , "meta" : { "timestamp" : 1 } , "data" : "${b64}" , "timestamp" : 9007199254740993123 }`);
    });
    const c = client(s);
    const stamps: Array<[string, bigint]> = [];
    c.on('message', (d, m) => stamps.push([String(d).slice(0, 4), m.timestampNs]));
    await until(() => stamps.length === 2, 'both messages');
    assert.deepEqual(stamps, [['xxxx', 1764582000123456789n], ['late', 9007199254740993123n]]);
  });
});
