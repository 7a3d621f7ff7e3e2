/**
 * The native data path (relay.dataPath "native", src/relay/native-data-path.ts and
 * native/relay/relay.c) against a real gateway, a real `ws` echo upstream and
 * `ws` clients on loopback: data frames relayed on the relay thread come back whole
 * and in order; everything else is handed back to the JS path and behaves as it
 * does there (pings, faults and their close codes, heartbeat, drain, route change,
 * admin close, slow clients, metrics); and the setting's errors.
 *
 * The relay thread's mode is the process's: io_uring where the kernel allows it.
 * scripts/test.mjs also runs the relay and conformance suites with the native path
 * on (STRATIX_TEST_DATA_PATH=native), the conformance ones on epoll.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import WebSocket from 'ws';
import type { Gateway } from '../../src/server/gateway.js';
import { loadNativeRelay } from '../../src/relay/native-data-path.js';
import { parseConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';
import { CloseCode } from '../../src/protocol/close-codes.js';
import { spawnSync } from 'node:child_process';
import { connectClient, connectUrl, openClient, relaySession, startGateway, until, type TestClient } from '../helpers/gateway.js';
import { makePki } from '../helpers/certs.js';
import { readFileSync } from 'node:fs';
import { runCli, startCli, writeTempConfig } from '../helpers/cli.js';
import { scrapeSample } from '../helpers/raw-http.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { serverFrame, startRawUpstream, type RawUpstream, type RawUpstreamConnection } from '../helpers/raw-upstream.js';
import { wireConnect } from '../helpers/wire-client.js';
import { C, decodeFrames, OP, type WireFrame } from '../helpers/ws-wire.js';

const MAX = 1024 * 1024;

function handBacksTotal(gw: Gateway): number {
  return gw.native!.handBacks.reduce((a, b) => a + b, 0);
}

function socketOf(ws: WebSocket): Socket {
  return (ws as unknown as { _socket: Socket })._socket;
}

/** A masked client frame with a zero key (the payload goes as it is). */
function frame(fin: boolean, opcode: number, payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | payload.length]), Buffer.alloc(4), payload]);
}

async function roundTrip(c: TestClient, messages: (string | Buffer)[]): Promise<(string | number)[]> {
  const from = c.messages.length;
  for (const m of messages) c.ws.send(m);
  await c.waitFor(from + messages.length);
  return c.messages.slice(from).map((m) => (m.isBinary ? m.data.length : m.data.toString()));
}

describe('native data path', () => {
  let upstream: TestUpstream;
  let gw: Gateway;
  let port: number;

  before(async () => {
    const relay = loadNativeRelay();
    assert.ok(!(relay instanceof Error), `the addon loads (${relay instanceof Error ? relay.message : ''})`);
    upstream = await startUpstream({ maxPayload: 64 * MAX });
    gw = await startGateway({ defaultRoute: { openclawGateway: upstream.url }, limits: { maxMessageBytes: MAX }, backpressure: { highWaterMarkBytes: 64 * 1024, lowWaterMarkBytes: 16 * 1024 }, relay: { dataPath: 'native' } });
    port = gw.port;
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  /** Opens a client whose session is on the relay thread. */
  async function nativeClient(id: string): Promise<TestClient> {
    const c = await openClient(port, id);
    assert.deepEqual(await roundTrip(c, ['probe']), ['probe']);
    await until(() => relaySession(gw, id).onNative, `${id} on the native path`);
    return c;
  }

  it('relays text, binary, large and fragmented messages whole and in order, and counts them', async () => {
    const c = await nativeClient('n-data');
    const before = gw.native!.counts();
    const [c2u, u2c] = [before[0]!, before[1]!];
    assert.deepEqual(await roundTrip(c, ['hello']), ['hello']);
    assert.deepEqual([gw.native!.counts()[0]! - c2u, gw.native!.counts()[1]! - u2c], [1, 1], 'relayed and counted on the relay thread, both ways');
    const text = 'é€😀'.repeat(3000);
    // More than the high-water mark both ways: hand-backs (backpressure), then the relay thread again.
    const sent = [Buffer.alloc(70_000, 1), text, Buffer.alloc(300_000, 2), 'bye'];
    assert.deepEqual(await roundTrip(c, sent), [70_000, text, 300_000, 'bye']);
    // A fragmented text message with a code point cut between the fragments.
    const euro = Buffer.from('€');
    socketOf(c.ws).write(Buffer.concat([frame(false, 1, euro.subarray(0, 1)), frame(true, 0, euro.subarray(1))]));
    await c.waitFor(7);
    assert.equal(c.messages[6]!.data.toString(), '€');
    // The scrape sums both paths: every message of this gateway so far, whichever relayed it.
    const metrics = await gw.metrics.registry.getSingleMetricAsString('stratix_messages_received_total');
    const received = Number(/direction="client_to_upstream"} (\d+)/.exec(metrics)![1]);
    assert.equal(received, gw.metrics.messagesReceived[0]! + gw.native!.counts()[0]!);
    assert.ok(received >= 7, `stratix_messages_received_total: ${received}`);
    c.ws.close();
    assert.equal((await c.closed).code, 1005);
  });

  it('answers a client\'s ping on the relay thread: the pong carries its payload, nothing is handed back', async () => {
    const c = await nativeClient('n-ping');
    const backs = handBacksTotal(gw);
    const pong = once(c.ws, 'pong');
    c.ws.ping('are you there');
    assert.equal(String((await pong)[0]), 'are you there');
    assert.deepEqual(await roundTrip(c, ['after the ping']), ['after the ping']);
    assert.equal(handBacksTotal(gw), backs, 'no hand-back');
    assert.ok(relaySession(gw, 'n-ping').onNative, 'still on the native path');
    c.ws.close(4000, 'done');
    assert.deepEqual(await c.closed, { code: 4000, reason: 'done' });
  });

  /** A gateway of its own over a raw upstream, and a client whose session is on the relay thread (after one upstream message). */
  async function overRawUpstream(id: string): Promise<{ gw2: Gateway; raw: RawUpstream; c: TestClient; up: RawUpstreamConnection }> {
    const raw = await startRawUpstream();
    const gw2 = await startGateway({ defaultRoute: { openclawGateway: raw.url }, relay: { dataPath: 'native' } });
    const next = raw.nextConnection();
    const c = await openClient(gw2.port, id);
    const up = await next;
    up.socket.write(serverFrame(1, Buffer.from('hello')));
    await c.waitFor(1);
    await until(() => relaySession(gw2, id).onNative, 'on the native path');
    return { gw2, raw, c, up };
  }

  it('a ping whose pong would wait behind a frame in flight to its sender goes to the JS path, which answers it after that frame', async () => {
    const { gw2, raw, c, up } = await overRawUpstream('n-ping-mid');
    try {
      const control = gw2.native!.handBacks[1]!;
      // Half a text frame to the client, then the client's ping: its pong cannot go out before the frame ends.
      const whole = serverFrame(1, Buffer.from('0123456789'));
      const session = relaySession(gw2, 'n-ping-mid');
      const read = session.upstreamBytesRead;
      up.socket.write(whole.subarray(0, 6));
      await until(() => session.upstreamBytesRead === read + 6, 'the half frame read on the relay thread');
      assert.ok(session.onNative);
      const events: string[] = [];
      c.ws.on('pong', (d: Buffer) => events.push(`pong ${String(d)}`));
      c.ws.on('message', (d: Buffer) => events.push(`message ${String(d)}`));
      c.ws.ping('mid');
      await until(() => gw2.native!.handBacks[1]! > control, 'a control-frame hand-back for the ping');
      up.socket.write(whole.subarray(6));
      await until(() => events.length === 2, 'the message and the pong');
      assert.deepEqual(events, ['message 0123456789', 'pong mid']);
    } finally {
      await gw2.close();
      await raw.close();
    }
  });

  it('answers an upstream\'s ping on the relay thread with a masked pong carrying its payload', async () => {
    const { gw2, raw, c, up } = await overRawUpstream('n-up-ping');
    try {
      const backs = handBacksTotal(gw2);
      const from = up.received().length;
      up.socket.write(serverFrame(9, Buffer.from('openclaw ping')));
      const pongs = (): WireFrame[] => decodeFrames(up.received().subarray(from)).filter((f) => f.opcode === OP.PONG);
      await until(() => pongs().length === 1, 'the pong at the upstream');
      const [p] = pongs();
      assert.equal(p!.masked, true, 'masked (a client frame)');
      assert.equal(String(p!.payload), 'openclaw ping');
      assert.equal(handBacksTotal(gw2), backs, 'no hand-back');
      assert.deepEqual(await roundTrip(c, []), []);
    } finally {
      await gw2.close();
      await raw.close();
    }
  });

  it('fails the connection with the JS path codes: 1007, 1009, 1002', async () => {
    const cases: Array<[string, (c: TestClient) => void, number]> = [
      ['n-utf8', (c) => socketOf(c.ws).write(frame(true, 1, Buffer.from([0xc3, 0x28]))), 1007],
      ['n-big', (c) => c.ws.send(Buffer.alloc(2 * MAX)), 1009],
      ['n-unmasked', (c) => socketOf(c.ws).write(Buffer.from([0x82, 0x01, 0x00])), 1002],
    ];
    for (const [id, bad, code] of cases) {
      const c = await nativeClient(id);
      bad(c);
      assert.equal((await c.closed).code, code, id);
    }
  });

  // The prototype's close path after a hand-back stopped reading the sockets: what
  // the client still sent stayed unread, the kernel answered the close with a reset,
  // and the client saw 1006 instead of the code. The JS path keeps reading after
  // its close, so the close frame arrives whatever follows the bad frame.
  it('a fault followed by more data still gives its close code, not 1006', async () => {
    for (let i = 0; i < 5; i++) {
      const c = await nativeClient(`n-fault-${i}`);
      socketOf(c.ws).write(frame(true, 1, Buffer.from([0xff])));
      // Still writing when the close comes: a gateway that stopped reading and closed would reset this connection.
      for (let k = 0; k < 8; k++) c.ws.send(Buffer.alloc(512 * 1024, k));
      assert.equal((await c.closed).code, 1007, `run ${i}`);
    }
  });

  it('route change (4307), admin close and drain-style closes come through the JS close path', async () => {
    const a = await nativeClient('n-route');
    relaySession(gw, 'n-route').routeChanged();
    assert.equal((await a.closed).code, 4307);
    const b = await nativeClient('n-admin');
    relaySession(gw, 'n-admin').adminClose(4000, 'closed by the operator', false);
    assert.deepEqual(await b.closed, { code: 4000, reason: 'closed by the operator' });
    const c = await nativeClient('n-restart');
    relaySession(gw, 'n-restart').close(CloseCode.SERVICE_RESTART, 'service restart');
    assert.deepEqual(await c.closed, { code: 1012, reason: 'service restart' });
  });

  it('an upstream that goes away gives the client 4520', async () => {
    const c = await nativeClient('n-lost');
    const conn = [...upstream.connections].at(-1)!;
    conn.terminate();
    assert.equal((await c.closed).code, 4520);
  });

  it('a client that vanishes gives the upstream 1001', async () => {
    const next = upstream.nextConnection();
    const c = await nativeClient('n-vanish');
    const up = await next;
    const upClosed = new Promise<number>((resolve) => up.once('close', (code: number) => resolve(code)));
    c.ws.terminate();
    assert.equal(await upClosed, 1001);
  });
});

describe('native data path: heartbeat, drain, slow clients', () => {
  let upstream: TestUpstream;
  before(async () => {
    upstream = await startUpstream();
  });
  after(async () => {
    await upstream.close();
  });

  it('pings idle sessions on the relay thread, and drops a client that does not answer', async () => {
    const gw = await startGateway({ gateway: { pingIntervalMs: 1_000 }, defaultRoute: { openclawGateway: upstream.url }, relay: { dataPath: 'native' } });
    try {
      const live = await openClient(gw.port, 'hb-live');
      let pings = 0;
      live.ws.on('ping', () => pings++);
      const deaf = connectClient(gw.port, 'hb-deaf', { autoPong: false });
      await once(deaf.ws, 'open');
      await until(() => relaySession(gw, 'hb-live').onNative && relaySession(gw, 'hb-deaf').onNative, 'both on the native path');
      assert.equal((await deaf.closed).code, 1006, 'the deaf client is dropped');
      assert.ok(pings >= 1, 'the live client was pinged');
      assert.equal(live.ws.readyState, WebSocket.OPEN, 'the live client stays');
      const timeouts = await gw.metrics.registry.getSingleMetricAsString('stratix_ping_timeouts_total');
      assert.match(timeouts, /leg="client"} 1/);
      assert.deepEqual(await roundTrip(live, ['still here']), ['still here']);
      await until(() => relaySession(gw, 'hb-live').onNative, 'back on the native path after the pings');
    } finally {
      await gw.close();
    }
  });

  it('the relay thread pings both legs and takes their pongs itself: heartbeat rounds hand nothing back', async () => {
    const gw = await startGateway({ gateway: { pingIntervalMs: 1_000 }, defaultRoute: { openclawGateway: upstream.url }, relay: { dataPath: 'native' } });
    try {
      const next = upstream.nextConnection();
      const c = await openClient(gw.port, 'hb-thread');
      const up = await next;
      assert.deepEqual(await roundTrip(c, ['on']), ['on']);
      await until(() => relaySession(gw, 'hb-thread').onNative, 'on the native path');
      const backs = handBacksTotal(gw);
      let clientPings = 0;
      let upstreamPings = 0;
      c.ws.on('ping', () => clientPings++);
      up.on('ping', () => upstreamPings++);
      await until(() => clientPings >= 3 && upstreamPings >= 3, 'three heartbeat rounds on both legs', 8_000);
      assert.equal(handBacksTotal(gw), backs, 'no hand-back: the pings were sent and the pongs taken on the relay thread');
      assert.ok(relaySession(gw, 'hb-thread').onNative, 'still on the native path');
      assert.doesNotMatch(await gw.metrics.registry.getSingleMetricAsString('stratix_ping_timeouts_total'), /leg=/);
      assert.deepEqual(await roundTrip(c, ['still here']), ['still here']);
    } finally {
      await gw.close();
    }
  });

  it('an upstream that does not answer the relay thread\'s pings is dropped: 4520 to the client, counted as a ping timeout', async () => {
    const raw = await startRawUpstream();
    const gw = await startGateway({ gateway: { pingIntervalMs: 1_000 }, defaultRoute: { openclawGateway: raw.url }, relay: { dataPath: 'native' } });
    try {
      const c = await openClient(gw.port, 'hb-deaf-upstream');
      await until(() => relaySession(gw, 'hb-deaf-upstream').onNative, 'on the native path');
      assert.equal((await c.closed).code, 4520);
      assert.match(await gw.metrics.registry.getSingleMetricAsString('stratix_ping_timeouts_total'), /leg="upstream"} 1/);
      assert.equal(gw.native!.handBacks[7], 1, 'one ping_timeout hand-back');
      assert.match(await gw.metrics.registry.getSingleMetricAsString('stratix_native_handbacks_total'), /reason="ping_timeout"} 1/);
    } finally {
      await gw.close();
      await raw.close();
    }
  });

  it('a pong between the fragments of a message is taken on the relay thread, and the message relayed whole', async () => {
    const gw = await startGateway({ defaultRoute: { openclawGateway: upstream.url }, relay: { dataPath: 'native' } });
    const w = await wireConnect(gw.port, 'pong-between');
    try {
      const echoed = (text: string): boolean => w.frames.some((f) => f.opcode === OP.TEXT && f.payload.toString() === text);
      w.socket.write(C.text('first'));
      await until(() => echoed('first'), 'the first echo');
      await until(() => relaySession(gw, 'pong-between').onNative, 'on the native path');
      const control = gw.native!.handBacks[1];
      w.socket.write(Buffer.concat([C.text('one-', { fin: false }), C.pong('unasked'), C.cont('two')]));
      await until(() => echoed('one-two'), 'the fragmented message echoed whole');
      assert.equal(gw.native!.handBacks[1], control, 'no control-frame hand-back for the pong');
      assert.ok(relaySession(gw, 'pong-between').onNative, 'still on the native path');
      // A pong split over two reads (its header in one): the message still arrives whole.
      const pong = C.pong('split');
      w.socket.write(Buffer.concat([C.text('three-', { fin: false }), pong.subarray(0, 3)]));
      await new Promise((r) => setTimeout(r, 100));
      w.socket.write(Buffer.concat([pong.subarray(3), C.cont('four')]));
      await until(() => echoed('three-four'), 'the message around the split pong echoed whole');
      await until(() => relaySession(gw, 'pong-between').onNative, 'back on the native path');
      assert.ok(!w.frames.some((f) => f.opcode === OP.CLOSE || f.opcode === OP.PONG), 'no close, and the pongs were not relayed');
    } finally {
      w.socket.destroy();
      await gw.close();
    }
  });

  it('drain closes sessions on the relay thread with 1012', async () => {
    const gw = await startGateway({ defaultRoute: { openclawGateway: upstream.url }, relay: { dataPath: 'native' } });
    const c = await openClient(gw.port, 'd-1');
    assert.deepEqual(await roundTrip(c, ['x']), ['x']);
    await until(() => relaySession(gw, 'd-1').onNative, 'on the native path');
    await gw.drain(10, 2_000);
    assert.equal((await c.closed).code, 1012);
    await gw.close();
  });

  it('a client that does not read is closed with 4408 (backpressure goes back to the JS path)', async () => {
    const up = await startUpstream({ echo: false });
    const gw = await startGateway({ defaultRoute: { openclawGateway: up.url }, backpressure: { highWaterMarkBytes: 64 * 1024, lowWaterMarkBytes: 16 * 1024, slowClientTimeoutMs: 1_000 }, relay: { dataPath: 'native' } });
    try {
      const next = up.nextConnection();
      const c = await openClient(gw.port, 'slow');
      const conn = await next;
      await until(() => relaySession(gw, 'slow').onNative, 'on the native path');
      socketOf(c.ws).pause();
      const chunk = Buffer.alloc(64 * 1024);
      const flood = setInterval(() => {
        if (conn.readyState === WebSocket.OPEN && conn.bufferedAmount < 1024 * 1024) conn.send(chunk);
      }, 5);
      try {
        await until(() => gw.native!.handBacks[6]! > 0, 'a backpressure hand-back');
        await until(() => relaySession(gw, 'slow').slow, 'the client counted slow');
        await until(() => relaySession(gw, 'slow').stateName === 'closing', 'closed as slow', 5_000);
        socketOf(c.ws).resume();
        // Reading again, the client gets the close after the data (4408).
        const { code } = await c.closed;
        assert.equal(code, 4408);
      } finally {
        clearInterval(flood);
      }
    } finally {
      await gw.close();
      await up.close();
    }
  });
});

describe('native data path: sessions that stay on the JS path', () => {
  let upstream: TestUpstream;
  before(async () => {
    upstream = await startUpstream();
  });
  after(async () => {
    await upstream.close();
  });

  /** A session that relayed a message and then went through two of the owner's ticks is where it will stay. */
  async function settled(c: TestClient): Promise<void> {
    assert.deepEqual(await roundTrip(c, ['settle']), ['settle']);
    await new Promise((r) => setTimeout(r, 600));
  }

  it('admission.client rate limits: every session stays on the JS path (no native data path at all)', async () => {
    const gw = await startGateway({ defaultRoute: { openclawGateway: upstream.url }, admission: { client: { messagesPerSecond: 1000 } }, relay: { dataPath: 'native' } });
    try {
      assert.equal(gw.native, undefined);
      const c = await openClient(gw.port, 'rated');
      await settled(c);
      assert.equal(relaySession(gw, 'rated').onNative, false);
    } finally {
      await gw.close();
    }
  });

  it('a TLS client leg (tls.server) stays on the JS path', async () => {
    const pki = makePki();
    const leaf = pki.issue('gw', { cn: 'gateway.test', san: ['IP:127.0.0.1'] });
    const gw = await startGateway({ defaultRoute: { openclawGateway: upstream.url }, tls: { server: { certFile: leaf.cert, keyFile: leaf.key } }, relay: { dataPath: 'native' } });
    try {
      const c = connectUrl(`wss://127.0.0.1:${gw.port}/ws?clientId=tls-1`, { ca: readFileSync(pki.caCert) });
      await once(c.ws, 'open');
      await settled(c);
      assert.equal(relaySession(gw, 'tls-1').onNative, false);
      assert.equal(gw.native!.held, 0);
      c.ws.close();
    } finally {
      await gw.close();
      pki.cleanup();
    }
  });
});

describe('relay.dataPath setting', () => {
  it('an invalid value names the setting', () => {
    assert.throws(() => parseConfig({ relay: { dataPath: 'fast' } }), (err: unknown) => err instanceof ConfigError && err.issues.some((i) => i.startsWith('relay.dataPath')));
  });

  it('"native" without the addon: the process does not start (STRATIX_ERR_NATIVE_UNAVAILABLE); "auto" starts on the JS path', async () => {
    const native = writeTempConfig({ gateway: { listen: '127.0.0.1:0', workers: 1 }, relay: { dataPath: 'native' } });
    try {
      const res = await runCli(['--config', native.path], { ...process.env, STRATIX_NATIVE_RELAY: '/nonexistent/stratix_relay.node' });
      assert.equal(res.code, 1);
      assert.match(res.stderr, /relay\.dataPath is "native" but the native data path cannot be used: \/nonexistent\/stratix_relay\.node is missing/);
      assert.match(res.stderr, /\(STRATIX_ERR_NATIVE_UNAVAILABLE\)/);
    } finally {
      native.cleanup();
    }
    // "auto" in a process where the addon is missing: the JS path (no NativeDataPath), and no error.
    const module = new URL('../../src/relay/native-data-path.js', import.meta.url).href;
    const script = `import(${JSON.stringify(module)}).then((m) => { const logs = []; const logger = { info: (o, s) => logs.push(s ?? o), debug() {} }; const p = m.selectDataPath('auto', { rateLimited: false, logger }); console.log(JSON.stringify({ js: p === undefined, logs })); });`;
    const child = spawnSync(process.execPath, ['-e', script], { env: { ...process.env, STRATIX_NATIVE_RELAY: '/nonexistent/stratix_relay.node' }, encoding: 'utf8' });
    const out = JSON.parse(child.stdout) as { js: boolean; logs: string[] };
    assert.equal(out.js, true);
    assert.match(out.logs.join('\n'), /the native data path is not available, sessions stay on the JS path/);
  });
  it('relay.nativeReceiveBuffers: an integer from 2 to 4096, 4096 by default; any other value names the setting', () => {
    assert.equal(parseConfig({}).relay.nativeReceiveBuffers, 4096);
    for (const good of [2, 8, 4096]) assert.equal(parseConfig({ relay: { nativeReceiveBuffers: good } }).relay.nativeReceiveBuffers, good);
    for (const bad of [1, 5000, 0, -8, 2.5, '8', null]) {
      assert.throws(
        () => parseConfig({ relay: { nativeReceiveBuffers: bad } }),
        (err: unknown) => err instanceof ConfigError && err.issues.some((i) => i.startsWith('relay.nativeReceiveBuffers: ')),
        `relay.nativeReceiveBuffers ${JSON.stringify(bad)}`,
      );
    }
  });

  it('relay.nativeReceiveBuffers reaches the relay thread of the worker processes (io_uring: its pool starts at half of 8; epoll: its one read buffer, whatever the bound)', async () => {
    const epoll = process.env.STRATIX_NATIVE_IO_URING === '0';
    const upstream = await startUpstream();
    const cli = await startCli({ gateway: { listen: '127.0.0.1:0', workers: 1 }, defaultRoute: { openclawGateway: upstream.url }, relay: { dataPath: 'native', nativeReceiveBuffers: 8 } });
    try {
      const c = await openClient(cli.port, 'bound-in-worker');
      assert.deepEqual(await roundTrip(c, ['probe']), ['probe']);
      const expected = epoll ? 16 + 64 * 1024 : 4 * 4096;
      assert.equal(await scrapeSample(cli.port, 'stratix_native_receive_buffer_bytes'), expected, epoll ? 'epoll reads into one 64 KiB buffer (and 16 bytes of room for a split header)' : 'the 4,096-buffer default would start at 64 buffers (256 KiB)');
      c.ws.close();
    } finally {
      await cli.stop();
      await upstream.close();
    }
  });

  it('relay.nativeReceiveBuffers out of its range: the process does not start, and the config error names it', async () => {
    for (const value of [1, 5000]) {
      const native = writeTempConfig({ gateway: { listen: '127.0.0.1:0', workers: 1 }, relay: { dataPath: 'native', nativeReceiveBuffers: value } });
      try {
        const res = await runCli(['--config', native.path]);
        assert.equal(res.code, 1, `exit status for ${value}`);
        assert.match(res.stderr, /^invalid config .*config\.json:\n {2}relay\.nativeReceiveBuffers: /m, `stderr for ${value}: ${res.stderr}`);
      } finally {
        native.cleanup();
      }
    }
  });
});
