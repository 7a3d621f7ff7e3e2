/**
 * What a stratix.v1 client may and may not send (docs/protocol.md §3.2, §3.3): each
 * bad DATA gets its NACK code and nothing reaches the upstream; protocol breaches
 * (no HELLO, a second HELLO, an ACK of what was never sent, a binary frame) close
 * with their code; a DATA's piggybacked `ack` counts like an ACK; duplicates are answered with the first outcome and sent once;
 * the gateway's HEARTBEAT comes on an idle session.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, until } from '../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { V1Client } from '../helpers/v1-client.js';
import type { Gateway } from '../../src/server/gateway.js';
import { NackCodes } from '../../src/errors.js';
import type { WebSocket } from 'ws';

describe('stratix.v1 envelopes', () => {
  let upstream: TestUpstream;
  let gw: Gateway;
  before(async () => {
    upstream = await startUpstream();
    gw = await startGateway({
      defaultRoute: { openclawGateway: upstream.url },
      limits: { maxMessageBytes: 4096, preOpenMaxMessageBytes: 4096 },
      reliable: { helloTimeoutMs: 300, heartbeatMs: 1_000 },
    });
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  const session = (id: string): Promise<V1Client> => V1Client.session(gw.port, id);
  /** Waits until the upstream has read `text` (among its messages after the first `before`). */
  const upstreamRead = (before: number, text: string): Promise<void> =>
    until(() => upstream.received.slice(before).some((r) => r.data.toString() === text), `the upstream read ${JSON.stringify(text)}`);

  test('each bad DATA gets its NACK code, and nothing of it reaches the upstream', async () => {
    const c = await session('nack-1');
    const before = upstream.received.length;
    const cases: Array<[string, string | Record<string, unknown>, string | null, string]> = [
      ['the seed example (not base64)', { type: 0, messageId: 'seed', data: 'Hello World' }, 'seed', NackCodes.BAD_BASE64.code],
      ['base64url', { type: 0, messageId: 'url', data: 'a-_b' }, 'url', NackCodes.BAD_BASE64.code],
      ['whitespace', { type: 0, messageId: 'ws', data: 'aGVs bG8=' }, 'ws', NackCodes.BAD_BASE64.code],
      ['no padding', { type: 0, messageId: 'pad', data: 'aGVsbG8' }, 'pad', NackCodes.BAD_BASE64.code],
      ['non-canonical padding bits', { type: 0, messageId: 'bits', data: 'QR==' }, 'bits', NackCodes.BAD_BASE64.code],
      ['an inner =', { type: 0, messageId: 'inner', data: 'QQ==QQ==' }, 'inner', NackCodes.BAD_BASE64.code],
      ['not JSON', 'not json at all', null, NackCodes.BAD_JSON.code],
      ['a JSON array', '[0,1]', null, NackCodes.BAD_JSON.code],
      ['no messageId', { type: 0, data: 'aGk=' }, null, NackCodes.BAD_ENVELOPE.code],
      ['a numeric messageId', { type: 0, messageId: 7, data: 'aGk=' }, null, NackCodes.BAD_ENVELOPE.code],
      ['a messageId with a quote', { type: 0, messageId: 'a"b', data: 'aGk=' }, null, NackCodes.BAD_ENVELOPE.code],
      ['data not a string', { type: 0, messageId: 'num', data: 12 }, 'num', NackCodes.BAD_ENVELOPE.code],
      ['binary not a boolean', { type: 0, messageId: 'bin', data: 'aGk=', binary: 'yes' }, 'bin', NackCodes.BAD_ENVELOPE.code],
      ['a fractional timestamp', '{"type":0,"messageId":"ts1","timestamp":1.5,"data":"aGk="}', 'ts1', NackCodes.BAD_ENVELOPE.code],
      ['an exponent timestamp', '{"type":0,"messageId":"ts2","timestamp":1e18,"data":"aGk="}', 'ts2', NackCodes.BAD_ENVELOPE.code],
      ['another clientId', { type: 0, clientId: 'someone-else', messageId: 'cid', data: 'aGk=' }, 'cid', NackCodes.CLIENT_ID_MISMATCH.code],
      ['invalid UTF-8 as text', { type: 0, messageId: 'utf', data: Buffer.from([0xc3, 0x28]).toString('base64') }, 'utf', NackCodes.INVALID_UTF8.code],
      ['over limits.maxMessageBytes', { type: 0, messageId: 'big', data: Buffer.alloc(4097, 1).toString('base64'), binary: true }, 'big', NackCodes.TOO_LARGE.code],
      ['a type clients do not send', { type: 4, messageId: 'evt' }, 'evt', NackCodes.BAD_ENVELOPE.code],
    ];
    for (const [what, env, id, code] of cases) {
      const n = c.envelopes.length;
      c.send(env);
      await c.until(() => c.envelopes.slice(n).some((e) => e.type === 3), what);
      const nack = c.envelopes.slice(n).find((e) => e.type === 3)!;
      assert.deepEqual([nack.messageId, nack.code], [id, code], what);
      assert.equal(typeof nack.reason, 'string');
    }
    // A valid one goes through, with a 19-digit timestamp kept as digits.
    c.send('{"type":0,"clientId":"nack-1","messageId":"ok","timestamp":1709078400000000000,"data":"aGk="}');
    await c.until(() => c.answers('ok').length === 1, 'the ACK');
    assert.deepEqual(c.answers('ok')[0], { type: 1, messageId: 'ok' });
    await upstreamRead(before, 'hi'); // the ACK means the write left the gateway, not that the upstream read it
    assert.deepEqual(upstream.received.slice(before).map((r) => r.data.toString()), ['hi'], 'only the valid message went upstream');
    c.ws.close(1000);
    await c.closed;
  });

  test('a duplicate messageId is answered with the first outcome and sent upstream once', async () => {
    const c = await session('dup-1');
    const before = upstream.received.length;
    c.data('d-1', 'once');
    c.data('d-1', 'once'); // in flight: waits for the first
    await c.until(() => c.answers('d-1').length === 2, 'two answers');
    c.data('d-1', 'once'); // settled: answered from memory
    c.send({ type: 0, messageId: 'd-2', data: 'bad base64' });
    await c.until(() => c.answers('d-2').length === 1, 'a NACK');
    c.send({ type: 0, messageId: 'd-2', data: 'aGk=' }); // same id, now valid: still the first outcome
    await c.until(() => c.answers('d-1').length === 3 && c.answers('d-2').length === 2, 'the duplicates answered');
    assert.deepEqual(c.answers('d-1').map((e) => e.type), [1, 1, 1]);
    assert.deepEqual(c.answers('d-2').map((e) => [e.type, e.code]), [[3, NackCodes.BAD_BASE64.code], [3, NackCodes.BAD_BASE64.code]]);
    await upstreamRead(before, 'once');
    assert.deepEqual(upstream.received.slice(before).map((r) => r.data.toString()), ['once']);
    c.ws.close(1000);
    await c.closed;
  });

  test('no HELLO within reliable.helloTimeoutMs: close 4400', async () => {
    const c = await V1Client.open(gw.port, 'silent-1');
    assert.equal((await c.closed).code, 4400);
  });

  test('a first envelope that is not a HELLO, a second HELLO, a bad HELLO: close 4400', async () => {
    const a = await V1Client.open(gw.port, 'order-1');
    a.data('early', 'x');
    assert.deepEqual(await a.closed, { code: 4400, reason: 'the first envelope must be a HELLO' });
    const b = await session('order-2');
    b.send({ type: 2 });
    assert.deepEqual(await b.closed, { code: 4400, reason: 'HELLO sent twice' });
    const c = await V1Client.open(gw.port, 'order-3');
    c.send({ type: 2, sessionId: 'short', lastSeq: 0 });
    assert.equal((await c.closed).code, 4400);
    const d = await V1Client.open(gw.port, 'order-4');
    d.send({ type: 2, sessionId: 'AAAAAAAAAAAAAAAAAAAAAA', lastSeq: -1 });
    assert.equal((await d.closed).code, 4400);
    const e = await V1Client.open(gw.port, 'order-5');
    e.send({ type: 2, clientId: 'not-order-5' });
    assert.equal((await e.closed).code, 4400);
  });

  test('an ACK of a seq never sent: close 4400; a binary frame: close 1003', async () => {
    const a = await session('ack-1');
    a.ack(99);
    assert.equal((await a.closed).code, 4400);
    const b = await session('bin-1');
    b.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    assert.equal((await b.closed).code, 1003);
  });

  test('a DATA may carry the ACK (`ack`): applied first, also when the DATA is NACKed; a bad ack or one of a seq never sent closes 4400 and the DATA is not sent', async () => {
    const conn = upstream.nextConnection();
    const c = await session('piggy-1');
    const server = (await conn) as WebSocket;
    const state = [...gw.reliable!.sessions.values()].find((x) => x.clientId === 'piggy-1')!;
    server.send('one');
    server.send('two');
    await c.until(() => c.payloads.length === 2, 'two messages (seq 2, 3)');
    const before = upstream.received.length;
    c.send({ type: 0, messageId: 'p-1', ack: 2, data: Buffer.from('with ack').toString('base64') });
    await c.until(() => c.answers('p-1').length === 1, 'its ACK');
    assert.equal(state.ackedSeq, 2, 'the ack counted like {type:1, seq:2}');
    c.send({ type: 0, messageId: 'p-2', ack: 3, data: 'Hello World' });
    await c.until(() => c.answers('p-2').length === 1, 'its NACK');
    assert.deepEqual([c.answers('p-2')[0]!.type, c.answers('p-2')[0]!.code], [3, NackCodes.BAD_BASE64.code]);
    assert.equal(state.ackedSeq, 3, 'the ack of a refused DATA still counts');
    await upstreamRead(before, 'with ack');
    assert.deepEqual(upstream.received.slice(before).map((r) => r.data.toString()), ['with ack']);
    c.ws.close(1000);
    await c.closed;
    for (const [id, ack] of [['piggy-2', 99], ['piggy-3', -1], ['piggy-4', 1.5], ['piggy-5', '1']] as const) {
      const b = await session(id);
      const n = upstream.received.length;
      b.send({ type: 0, messageId: 'never', ack, data: 'aGk=' });
      assert.equal((await b.closed).code, 4400, `ack ${JSON.stringify(ack)}`);
      assert.equal(upstream.received.length, n, `ack ${JSON.stringify(ack)}: nothing sent upstream`);
    }
  });

  test('an idle session hears something at least every reliable.heartbeatMs (HEARTBEATs)', async () => {
    const c = await session('hb-1');
    const at: number[] = [];
    c.ws.on('message', () => at.push(Date.now()));
    await c.until(() => c.envelopes.filter((e) => e.type === 5).length >= 3, 'heartbeats', 5_000);
    // heartbeatMs is 1000 here: rounds every 500 ms on a 250 ms tick, so a silence stays under 1000 + 500 ms (plus timer lag).
    for (let i = 1; i < at.length; i++) assert.ok(at[i]! - at[i - 1]! < 1_000 + 500 + 150, `silence of ${at[i]! - at[i - 1]!} ms`);
    assert.ok(c.envelopes.filter((e) => e.type === 5).every((e) => Object.keys(e).length === 1));
    c.send({ type: 5 }); // the client may send them too; nothing answers
    c.data('after-hb', 'x');
    await c.until(() => c.answers('after-hb').length === 1, 'the session still works');
    c.ws.close(1000);
    await c.closed;
  });
});
