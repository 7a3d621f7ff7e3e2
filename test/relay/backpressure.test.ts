/**
 * Backpressure: a client that stops reading pauses its upstream's reads, holds
 * the gateway's buffer for it near the high-water mark, does not slow other
 * clients, loses nothing when it reads again, and is closed with 4408 when it
 * stays stuck past backpressure.slowClientTimeoutMs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { WebSocketServer, type WebSocket } from 'ws';
import { startGateway, openClient, until } from '../helpers/gateway.js';
import { rawConnect } from '../helpers/raw-ws.js';
import type { Gateway } from '../../src/server/gateway.js';
import { Session } from '../../src/relay/session.js';
import { seedMetrics } from '../../src/metrics/metrics-format.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const HWM = 256 * KiB;
const MESSAGE = 64 * KiB;
const COUNT = 1024; // 64 MiB in all, far more than the kernel's socket buffers hold

/** An upstream that floods `flood-*` clients with COUNT messages and echoes everyone else. */
async function floodingUpstream(): Promise<{ port: number; flooders: WebSocket[]; close(): void }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  await once(wss, 'listening');
  const flooders: WebSocket[] = [];
  wss.on('connection', (ws, req) => {
    if (req.headers['x-test-role'] === 'flood' || flooders.length === 0) {
      flooders.push(ws);
      const chunk = Buffer.alloc(MESSAGE, 0x42);
      for (let i = 0; i < COUNT; i++) ws.send(chunk);
    } else {
      ws.on('message', (d: Buffer, b: boolean) => ws.send(d, { binary: b }));
    }
  });
  return {
    port: (wss.address() as { port: number }).port,
    flooders,
    close: () => {
      for (const c of wss.clients) c.terminate();
      wss.close();
    },
  };
}

function sessionOf(gw: Gateway, clientId: string): Session | undefined {
  return [...gw.sessions].find((x): x is Session => x instanceof Session && x.clientId === clientId);
}

test('a client that stops reading holds gateway memory near the high-water mark and loses nothing', async () => {
  const up = await floodingUpstream();
  const gw = await startGateway({
    defaultRoute: { openclawGateway: `ws://127.0.0.1:${up.port}/` },
    backpressure: { highWaterMarkBytes: HWM, lowWaterMarkBytes: 64 * KiB, slowClientTimeoutMs: 600_000 },
  });
  try {
    const raw = await rawConnect(gw.port, 'slow-reader');
    raw.socket.pause(); // stop reading: the kernel buffers fill, then the gateway's
    await until(() => sessionOf(gw, 'slow-reader')?.paused === true, 'the upstream leg to be paused', 20_000);
    const session = sessionOf(gw, 'slow-reader')!;

    // While paused, the gateway buffer for this client stays bounded...
    let peak = 0;
    for (let i = 0; i < 50; i++) {
      peak = Math.max(peak, session.client.bufferedAmount);
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.ok(peak <= HWM + 4 * MESSAGE, `gateway buffered ${peak} bytes for a stuck client (high-water mark ${HWM})`);
    // ...and the rest stays with the upstream, which the gateway stopped reading.
    assert.ok(up.flooders[0]!.bufferedAmount > 32 * MiB, `upstream still holds ${up.flooders[0]!.bufferedAmount} bytes`);
    assert.ok((await gw.metrics.backpressurePauses.get()).values.some((v) => v.labels.direction === 'upstream_to_client' && v.value >= 1));

    // Another client is not slowed: its echo round trips complete.
    const other = await openClient(gw.port, 'other-client', { headers: { 'x-test-role': 'echo' } });
    for (let i = 0; i < 20; i++) other.ws.send(`ping-${i}`);
    await other.waitFor(20);
    assert.equal(other.messages[19]!.data.toString(), 'ping-19');
    other.ws.close();

    // The slow client reads again: every message arrives.
    raw.socket.resume();
    await until(() => raw.received.frames === COUNT, `all ${COUNT} messages (got ${raw.received.frames})`, 60_000);
    assert.equal(raw.received.bytes, COUNT * MESSAGE);
    raw.socket.destroy();
    await until(() => gw.sessions.size === 0, 'sessions closed');
    const m = seedMetrics([await gw.metrics.registry.getMetricsAsJSON()], 0);
    assert.equal(m.messagesReceived, m.messagesSent + m.messagesFailed);
  } finally {
    await gw.close();
    up.close();
  }
});

test('a client stuck above the high-water mark past slowClientTimeoutMs is closed with 4408', async () => {
  const up = await floodingUpstream();
  const gw = await startGateway({
    defaultRoute: { openclawGateway: `ws://127.0.0.1:${up.port}/` },
    backpressure: { highWaterMarkBytes: HWM, lowWaterMarkBytes: 64 * KiB, slowClientTimeoutMs: 1_000 },
  });
  try {
    const raw = await rawConnect(gw.port, 'stuck-reader');
    raw.socket.pause();
    await until(() => up.flooders.length === 1, 'upstream connection');
    const upClosed = once(up.flooders[0]!, 'close');
    const [code] = (await upClosed) as [number];
    assert.equal(code, 1001, 'the upstream leg is closed when the client is dropped as slow');
    raw.socket.resume(); // now read what was buffered, then the close frame
    assert.equal(await raw.closeCode, 4408);
  } finally {
    await gw.close();
    up.close();
  }
});
