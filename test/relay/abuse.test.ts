/**
 * Abusive client input, sent as hand-built frames: each gets its close code, and
 * nothing of it reaches the upstream. The message-size limits are checked once the
 * session is open (the gateway's upstream leg is open, so the post-open limit
 * applies): a message of exactly the limit passes, one byte more does not, and a
 * fragmented message fails on the fragment that takes it over the limit, not before.
 * Every protocol rule also has its case, frame by frame, in the conformance suite
 * (test/conformance, docs/conformance.md).
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { WebSocketServer } from 'ws';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { relayOpen, relaySession, startGateway, until } from '../helpers/gateway.js';
import { frame, rawConnect } from '../helpers/raw-ws.js';
import type { Gateway } from '../../src/server/gateway.js';

describe('abusive client frames', () => {
  let upstream: TestUpstream;
  let gw: Gateway;
  before(async () => {
    upstream = await startUpstream();
    gw = await startGateway({ defaultRoute: { openclawGateway: upstream.url }, limits: { maxMessageBytes: 131072 } });
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  /** A raw client whose session is open: the gateway has processed the upstream's 101 (the post-open limits apply). */
  async function openRaw(id: string) {
    const raw = await rawConnect(gw.port, id);
    await until(() => relayOpen(gw, id), 'the session to be open');
    return raw;
  }

  test('a message of exactly limits.maxMessageBytes is relayed; a frame one byte over gives 1009 (only its header is sent)', async () => {
    const raw = await openRaw('abuse-big');
    // 131072 is twice limits.preOpenMaxMessageBytes (64 KiB): it passes only under the post-open limit.
    raw.socket.write(frame({ opcode: 0x2, payload: Buffer.alloc(131072, 0x62) }));
    await until(() => raw.received.frames === 1, 'the echo of the message at the limit');
    assert.equal(raw.received.bytes, 131072);
    raw.socket.write(frame({ opcode: 0x2, payload: Buffer.alloc(0), claimedLength: 131073 }).subarray(0, 14));
    assert.equal(await raw.closeCode, 1009);
    assert.equal(raw.received.frames, 1, 'nothing more was echoed');
  });

  test('a fragmented message whose parts add up to more than the limit gives 1009 on the second part, not the first', async () => {
    const raw = await openRaw('abuse-frag-big');
    const session = relaySession(gw, 'abuse-frag-big');
    const before = upstream.received.length;
    // Each part is over limits.preOpenMaxMessageBytes and under limits.maxMessageBytes; together they are over.
    const part = Buffer.alloc(70_000, 0x61);
    const first = frame({ opcode: 0x1, fin: false, payload: part });
    // Relayed as it arrives (on either data path): once the upstream has read the first part, the gateway has parsed it.
    const up = (session.upstream !== null ? [...upstream.connections].at(-1)! : undefined) as unknown as { _socket: import('node:net').Socket } | undefined;
    assert.ok(up !== undefined, 'the upstream is open');
    const upSocket = up._socket;
    const read = upSocket.bytesRead;
    raw.socket.write(first);
    await until(() => upSocket.bytesRead >= read + first.length, 'the first part relayed');
    assert.equal(session.client.closeSent, false, 'the first part alone is within the limit');
    // On the native data path the message in progress is the relay thread's to track.
    assert.equal(session.onNative || session.client.midMessage, true, 'the message is in progress');
    raw.socket.write(frame({ opcode: 0x0, fin: true, payload: part }));
    assert.equal(await raw.closeCode, 1009);
    assert.equal(upstream.received.length, before, 'the message never reached the upstream whole');
  });

  test('invalid UTF-8 in a text frame gives 1007', async () => {
    const before = upstream.received.length;
    const raw = await openRaw('abuse-utf8');
    raw.socket.write(frame({ opcode: 0x1, payload: Buffer.from([0x68, 0x69, 0xc3, 0x28]) }));
    assert.equal(await raw.closeCode, 1007);
    assert.equal(upstream.received.length, before, 'the invalid message was not relayed');
  });

  test('an unmasked client frame gives 1002', async () => {
    const raw = await openRaw('abuse-unmasked');
    raw.socket.write(frame({ opcode: 0x1, payload: Buffer.from('hi'), mask: false }));
    assert.equal(await raw.closeCode, 1002);
  });

  test('a reserved opcode gives 1002', async () => {
    const raw = await openRaw('abuse-opcode');
    raw.socket.write(frame({ opcode: 0x3, payload: Buffer.from('x') }));
    assert.equal(await raw.closeCode, 1002);
  });

  test('a continuation frame with no message to continue gives 1002', async () => {
    const raw = await openRaw('abuse-cont');
    raw.socket.write(frame({ opcode: 0x0, payload: Buffer.from('x') }));
    assert.equal(await raw.closeCode, 1002);
  });

  test('the upstream leg of an abusive client is closed with 1001', async () => {
    const conn = upstream.nextConnection();
    const raw = await rawConnect(gw.port, 'abuse-upstream');
    const server = await conn;
    const upClosed = once(server, 'close');
    raw.socket.write(frame({ opcode: 0x1, payload: Buffer.from([0xff]) }));
    assert.equal(await raw.closeCode, 1007);
    const [code] = (await upClosed) as [number];
    assert.equal(code, 1001);
  });
});

test('a message over limits.preOpenMaxMessageBytes before the upstream opens gives 1009', async () => {
  // The upstream takes a while to accept, so the message arrives pre-open.
  const slow = new WebSocketServer({ host: '127.0.0.1', port: 0, verifyClient: (_i, cb) => setTimeout(() => cb(true), 500) });
  await once(slow, 'listening');
  const got: Buffer[] = [];
  slow.on('connection', (ws) => ws.on('message', (d: Buffer) => got.push(d)));
  const gw = await startGateway({ defaultRoute: { openclawGateway: `ws://127.0.0.1:${(slow.address() as { port: number }).port}/` } });
  try {
    const raw = await rawConnect(gw.port, 'preopen-big');
    raw.socket.write(frame({ opcode: 0x2, payload: Buffer.alloc(70 * 1024) }));
    assert.equal(await raw.closeCode, 1009);
    raw.socket.end(); // answer the close as a client would
    await until(() => gw.sessions.size === 0, 'session closed');
    assert.equal(got.length, 0);
  } finally {
    await gw.close();
    slow.close();
  }
});
