/**
 * Abusive client input, sent as hand-built frames: each gets its close code, and
 * nothing of it reaches the upstream.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { WebSocketServer } from 'ws';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { startGateway, until } from '../helpers/gateway.js';
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

  async function openRaw(id: string) {
    const conn = upstream.nextConnection();
    const raw = await rawConnect(gw.port, id);
    await conn; // the upstream is open: limits are the post-open ones
    return raw;
  }

  test('a frame over limits.maxMessageBytes gives 1009 (only its header is sent)', async () => {
    const raw = await openRaw('abuse-big');
    raw.socket.write(frame({ opcode: 0x2, payload: Buffer.alloc(0), claimedLength: 131073 }).subarray(0, 14));
    assert.equal(await raw.closeCode, 1009);
  });

  test('a fragmented message whose parts add up to more than the limit gives 1009', async () => {
    const raw = await openRaw('abuse-frag-big');
    const part = Buffer.alloc(70_000, 0x61);
    raw.socket.write(frame({ opcode: 0x1, fin: false, payload: part }));
    raw.socket.write(frame({ opcode: 0x0, fin: true, payload: part }));
    assert.equal(await raw.closeCode, 1009);
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
