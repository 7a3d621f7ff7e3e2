/**
 * Control frames under pressure:
 * - a client that floods pings and never reads: its pongs respect the socket's buffer
 *   (the gateway's buffer for it stays at the high-water mark), the dropped pongs are
 *   counted, its reads are paused, and it is closed as a slow client (4408);
 * - pings and pongs waiting behind a frame in flight are bounded (drops counted), but
 *   the close frame waits in a slot of its own and always arrives as itself;
 * - the heartbeat does not cut a live slow reader (its ping would wait behind data)
 *   before the documented 4408;
 * - nor a leg whose ping would wait behind a frame the other leg is still sending to it:
 *   that leg is neither pinged nor judged in that round.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { WebSocketServer } from 'ws';
import { startUpstream } from '../helpers/upstream.js';
import { relaySession, startGateway, until } from '../helpers/gateway.js';
import { frame, rawConnect } from '../helpers/raw-ws.js';
import { serverFrame, startRawUpstream } from '../helpers/raw-upstream.js';
import { promSample } from '../helpers/raw-http.js';
import { wireConnect } from '../helpers/wire-client.js';
import { C, OP, type WireFrame } from '../helpers/ws-wire.js';
import { CloseCode } from '../../src/protocol/close-codes.js';
import type { Gateway } from '../../src/server/gateway.js';

const KiB = 1024;
const HWM = 64 * KiB;

async function sample(gw: Gateway, name: string, labels: Record<string, string>): Promise<number> {
  return promSample(await gw.metrics.registry.metrics(), name, labels) ?? 0;
}

const sessionOf = relaySession;

test('a ping flood from a client that never reads: bounded buffer, drops counted, reads paused, closed with 4408', async () => {
  const upstream = await startUpstream();
  const gw = await startGateway({
    defaultRoute: { openclawGateway: upstream.url },
    backpressure: { highWaterMarkBytes: HWM, lowWaterMarkBytes: 16 * KiB, slowClientTimeoutMs: 1_000 },
  });
  try {
    const conn = upstream.nextConnection();
    const raw = await rawConnect(gw.port, 'pinger');
    await conn;
    raw.socket.pause(); // never reads its pongs
    const session = sessionOf(gw, 'pinger');
    let maxBuffered = 0;
    const watch = setInterval(() => (maxBuffered = Math.max(maxBuffered, session.client.bufferedAmount)), 2);
    const ping = frame({ opcode: 0x9, payload: Buffer.alloc(125, 0x70) });
    const burst = Buffer.concat(new Array<Buffer>(1000).fill(ping)); // 131 KB per write
    // 40 MB of pings, far beyond what the kernel's socket buffers absorb; stop when the gateway stops reading.
    for (let i = 0; i < 300 && !raw.socket.destroyed; i++) {
      if (!raw.socket.write(burst)) await Promise.race([once(raw.socket, 'drain'), new Promise((r) => setTimeout(r, 200))]);
    }
    await until(() => session.client.closeSent, 'the slow-client close', 10_000);
    clearInterval(watch);
    // At most one pong (127 bytes) over the mark, then the close frame.
    assert.ok(maxBuffered <= HWM + 127 + 32, `the gateway's buffer for the client stayed at the mark (max ${maxBuffered})`);
    assert.ok((await sample(gw, 'stratix_control_frames_dropped_total', { leg: 'client', why: 'pong' })) > 0, 'dropped pongs counted');
    raw.socket.resume();
    assert.equal(await raw.closeCode, 4408);
  } finally {
    await gw.close();
    await upstream.close();
  }
});

test('pings held behind a frame in flight are bounded and counted; the close behind them still arrives as itself', async () => {
  const upstream = await startRawUpstream();
  const gw = await startGateway({ defaultRoute: { openclawGateway: upstream.url } });
  try {
    const conn = upstream.nextConnection();
    const raw = await rawConnect(gw.port, 'held');
    const up = await conn;
    // The upstream starts a 1000-byte text frame and stops half way.
    const whole = serverFrame(0x1, Buffer.alloc(1000, 0x61));
    up.socket.write(whole.subarray(0, 500));
    await until(() => raw.received.frames === 0 && sessionOf(gw, 'held').upstream?.midFrame === true, 'a frame in flight');
    const dropsBefore = await sample(gw, 'stratix_control_frames_dropped_total', { leg: 'client', why: 'held' });
    for (let i = 0; i < 20; i++) raw.socket.write(frame({ opcode: 0x9, payload: Buffer.from(`p${i}`) }));
    await until(() => sessionOf(gw, 'held').client.holding, 'pongs held');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal((await sample(gw, 'stratix_control_frames_dropped_total', { leg: 'client', why: 'held' })) - dropsBefore, 12, '8 wait, 12 dropped');
    sessionOf(gw, 'held').close(CloseCode.SERVICE_RESTART, 'service restart');
    up.socket.write(whole.subarray(500)); // the frame ends: what waited goes out
    assert.equal(await raw.closeCode, 1012);
    const kinds = raw.frames.map((f) => f.opcode);
    assert.deepEqual(kinds, [0x1, ...new Array<number>(8).fill(0xa), 0x8], 'the data frame, 8 pongs, the close');
  } finally {
    await gw.close();
    await upstream.close();
  }
});

test('the heartbeat does not cut a live slow reader: it gets 4408, not a ping timeout', async () => {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  await once(wss, 'listening');
  wss.on('connection', (ws) => {
    const chunk = Buffer.alloc(64 * KiB, 0x42);
    for (let i = 0; i < 512; i++) ws.send(chunk); // 32 MiB: the client cannot keep up while it does not read
  });
  const gw = await startGateway({
    gateway: { pingIntervalMs: 1_000 },
    defaultRoute: { openclawGateway: `ws://127.0.0.1:${(wss.address() as { port: number }).port}/` },
    backpressure: { highWaterMarkBytes: HWM, lowWaterMarkBytes: 16 * KiB, slowClientTimeoutMs: 3_500 },
  });
  try {
    const timeoutsBefore = await sample(gw, 'stratix_ping_timeouts_total', { leg: 'client' });
    const raw = await rawConnect(gw.port, 'slow-reader');
    raw.socket.pause(); // alive, but reads nothing: no pong can be read back either
    await until(() => sessionOf(gw, 'slow-reader').client.closeSent, 'the close', 15_000);
    raw.socket.resume();
    assert.equal(await raw.closeCode, 4408);
    assert.equal(await sample(gw, 'stratix_ping_timeouts_total', { leg: 'client' }), timeoutsBefore, 'no ping timeout');
  } finally {
    await gw.close();
    for (const c of wss.clients) c.terminate();
    wss.close();
  }
});

test('a leg whose ping would wait behind the other leg\'s frame in flight is not judged: a slow upload keeps its upstream', async () => {
  const upstream = await startUpstream();
  const gw = await startGateway({ gateway: { pingIntervalMs: 1_000 }, defaultRoute: { openclawGateway: upstream.url } });
  const next = upstream.nextConnection();
  const w = await wireConnect(gw.port, 'slow-upload');
  const up = await next;
  // The wire client answers the gateway's pings by hand (it answers nothing by itself), and not
  // while its own frame is half written (a pong there would be payload).
  let midFrame = false;
  const answered = new Set<WireFrame>();
  const answer = setInterval(() => {
    if (midFrame) return;
    for (const f of w.frames) {
      if (f.opcode !== OP.PING || answered.has(f)) continue;
      answered.add(f);
      w.socket.write(C.pong(f.payload));
    }
  }, 20);
  try {
    const echoed = (payload: Buffer): boolean => w.frames.some((f) => f.opcode === OP.TEXT && f.payload.equals(payload));
    w.socket.write(C.text('first'));
    await until(() => echoed(Buffer.from('first')), 'the first echo');
    const payload = Buffer.from('0123456789'.repeat(20));
    const whole = C.text(payload);
    // The frame to the upstream stays half written for 3 s (three heartbeat rounds): a ping to the
    // upstream can only follow it, so the upstream cannot answer one meanwhile. (On the native data
    // path a ping written into the frame would be payload to the upstream: its echo would differ.)
    // The client trickles a byte every 100 ms: what it sends counts as its own life.
    midFrame = true;
    w.socket.write(whole.subarray(0, 40));
    for (let i = 40; i < 70; i++) {
      await new Promise((r) => setTimeout(r, 100));
      w.socket.write(whole.subarray(i, i + 1));
    }
    w.socket.write(whole.subarray(70));
    midFrame = false;
    await until(() => echoed(payload) || w.frames.some((f) => f.opcode === OP.CLOSE), 'the echo (or a close)');
    assert.deepEqual(w.frames.filter((f) => f.opcode === OP.CLOSE).map((f) => f.payload.toString('latin1')), [], 'no close');
    assert.ok(echoed(payload), 'the message echoed whole');
    let upstreamPings = 0;
    up.on('ping', () => upstreamPings++);
    await until(() => upstreamPings >= 1, 'the upstream pinged again once the frame ended', 4_000);
    assert.equal(sessionOf(gw, 'slow-upload').stateName, 'open');
    assert.equal(await sample(gw, 'stratix_ping_timeouts_total', { leg: 'upstream' }), 0, 'no ping timeout');
  } finally {
    clearInterval(answer);
    w.socket.destroy();
    await gw.close();
    await upstream.close();
  }
});
