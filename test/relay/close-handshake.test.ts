/**
 * The close handshake through the relay, both ways, and protocol faults:
 * - a fault fails the connection at once (close frame, then FIN), without waiting
 *   for the client's reply (RFC 6455 §7.1.7), and the valid frames before it in the
 *   same read still reach the upstream and are counted;
 * - a client close (or FIN) right after a message: the upstream's reply still
 *   reaches the client, then the upstream's close answers the client's;
 * - an upstream close: what the client sends before its answer still reaches the
 *   upstream, and the client's answer is the upstream's answer;
 * - an upstream that never answers: the gateway answers after gateway.closeTimeoutMs.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import type { WebSocket } from 'ws';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { relayOpen, startGateway, until } from '../helpers/gateway.js';
import { frame, rawConnect } from '../helpers/raw-ws.js';
import { startRawUpstream, type RawUpstream } from '../helpers/raw-upstream.js';
import type { Gateway } from '../../src/server/gateway.js';
import { Direction } from '../../src/metrics/gateway-metrics.js';

const CLOSE_1000 = Buffer.from([0x03, 0xe8]);

/** Rejects if `p` has not settled within `ms` (a deadline for waiting, not a timing assertion). */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)));
  try {
    return await Promise.race([p, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

describe('close handshake and faults (echo upstream)', () => {
  let upstream: TestUpstream;
  let gw: Gateway;
  before(async () => {
    upstream = await startUpstream();
    // closeTimeoutMs 30 s: nothing here may wait for it.
    gw = await startGateway({ gateway: { closeTimeoutMs: 30_000 }, defaultRoute: { openclawGateway: upstream.url } });
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  async function openRaw(id: string): Promise<{ raw: Awaited<ReturnType<typeof rawConnect>>; server: WebSocket }> {
    const conn = upstream.nextConnection();
    const raw = await rawConnect(gw.port, id);
    const server = await conn;
    await until(() => relayOpen(gw, id), 'the session to be open');
    return { raw, server };
  }

  test('after a protocol fault the gateway ends TCP at once, without waiting for the client to answer its close', async () => {
    const { raw } = await openRaw('fault-fin');
    raw.socket.write(frame({ opcode: 0x1, payload: Buffer.from('x'), mask: false }));
    assert.equal(await raw.closeCode, 1002);
    // The raw client never answers; the gateway must not hold the socket for closeTimeoutMs (30 s).
    await within(raw.ended, 5_000, 'the gateway ending the connection');
  });

  test('valid frames before a fault in the same read reach the upstream and are counted as sent', async () => {
    const { raw, server } = await openRaw('fault-order');
    const got: string[] = [];
    server.on('message', (d: Buffer) => got.push(d.toString()));
    const sent = gw.metrics.sentTotal(Direction.ClientToUpstream);
    // Client to upstream: the upstream's echoes of the two come back after the client's close and fail (peer_closed), as they should.
    const failed = gw.metrics.failedTotal(Direction.ClientToUpstream);
    raw.socket.write(Buffer.concat([frame({ opcode: 0x1, payload: Buffer.from('first') }), frame({ opcode: 0x1, payload: Buffer.from('second') }), frame({ opcode: 0x1, payload: Buffer.from('bad'), mask: false })]));
    assert.equal(await raw.closeCode, 1002);
    await until(() => got.length === 2, 'both valid messages upstream');
    assert.deepEqual(got, ['first', 'second']);
    assert.equal(gw.metrics.sentTotal(Direction.ClientToUpstream) - sent, 2);
    assert.equal(gw.metrics.failedTotal(Direction.ClientToUpstream), failed);
  });

  test('a message and a close sent back to back: the echo arrives, then the upstream answers the close', async () => {
    const { raw, server } = await openRaw('msg-close');
    const upstreamClosed = once(server, 'close');
    raw.socket.write(Buffer.concat([frame({ opcode: 0x1, payload: Buffer.from('last words') }), frame({ opcode: 0x8, payload: CLOSE_1000 })]));
    assert.equal(await raw.closeCode, 1000);
    const [code] = (await upstreamClosed) as [number];
    assert.equal(code, 1000, 'the client close reached the upstream');
    assert.deepEqual(raw.frames.map((f) => [f.opcode, f.opcode === 1 ? f.payload.toString() : f.payload.readUInt16BE(0)]), [[1, 'last words'], [8, 1000]]);
    await within(raw.ended, 5_000, 'TCP ended after the handshake');
  });

  test('a message and a FIN: the echo still reaches the half-closed client, then a close and FIN', async () => {
    const { raw, server } = await openRaw('msg-fin');
    const upstreamClosed = once(server, 'close');
    raw.socket.write(frame({ opcode: 0x1, payload: Buffer.from('then FIN') }));
    raw.socket.end();
    const [code] = (await upstreamClosed) as [number];
    assert.equal(code, 1001, 'the upstream was told the client went away');
    await within(raw.ended, 5_000, 'TCP ended');
    assert.equal(raw.frames[0]?.opcode, 1);
    assert.equal(raw.frames[0]?.payload.toString(), 'then FIN');
    assert.equal(raw.frames.at(-1)?.opcode, 8, 'a close frame before the FIN');
  });

  test('an upstream close: the client message sent before its answer reaches the upstream; the client answer answers the upstream', async () => {
    const { raw, server } = await openRaw('up-close');
    const got: string[] = [];
    server.on('message', (d: Buffer) => got.push(d.toString()));
    const upstreamClosed = once(server, 'close');
    server.close(4000, 'upstream done');
    assert.equal(await raw.closeCode, 4000);
    const answer = Buffer.concat([Buffer.from([0x0f, 0xa1]), Buffer.from('client agrees')]); // 4001
    raw.socket.write(Buffer.concat([frame({ opcode: 0x1, payload: Buffer.from('one more') }), frame({ opcode: 0x8, payload: answer })]));
    const [code, reason] = (await upstreamClosed) as [number, Buffer];
    assert.deepEqual([code, reason.toString()], [4001, 'client agrees'], "the client's answer reached the upstream");
    assert.deepEqual(got, ['one more']);
    await within(raw.ended, 5_000, 'TCP ended after the handshake');
  });
});

describe('close handshake with an upstream that never answers', () => {
  let upstream: RawUpstream;
  let gw: Gateway;
  before(async () => {
    upstream = await startRawUpstream();
    gw = await startGateway({ gateway: { closeTimeoutMs: 300 }, defaultRoute: { openclawGateway: upstream.url } });
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  test('the client close is relayed, and answered by the gateway after gateway.closeTimeoutMs; both legs end', async () => {
    const conn = upstream.nextConnection();
    const raw = await rawConnect(gw.port, 'silent-up');
    const up = await conn;
    const upEnded = once(up.socket, 'close');
    raw.socket.write(frame({ opcode: 0x8, payload: CLOSE_1000 }));
    await delay(100);
    assert.equal(raw.frames.length, 0, 'not answered before the upstream had its chance');
    assert.equal(await within(raw.closeCode, 5_000, 'the answer'), 1001);
    await within(raw.ended, 5_000, 'the client leg ended');
    await within(upEnded, 5_000, 'the upstream leg cut');
    // The upstream got the client's close frame (masked 0x88, then the payload).
    const got = up.received();
    assert.equal(got[0], 0x88);
    await until(() => gw.sessions.size === 0, 'the session to be gone');
  });
});
