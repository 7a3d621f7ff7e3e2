/**
 * The native data path's io_uring receive pool (native/relay/relay.c, "provided
 * buffers"): it starts small, grows with use up to its bound
 * (STRATIX_NATIVE_RECEIVE_BUFFERS), and at the bound a receive that finds no free
 * buffer waits for one instead of failing or spinning: every byte still arrives,
 * in order, and the wait is counted (stratix_native_receive_buffer_waits_total).
 *
 * The relay thread is process-wide and reads its settings once, so this file sets
 * them for its own process (node --test runs each file in a process of its own):
 * io_uring, and a bound of 128 buffers (512 KiB) that a few clients sending large
 * messages at once run out of.
 */
process.env.STRATIX_NATIVE_IO_URING = '1';
process.env.STRATIX_NATIVE_RECEIVE_BUFFERS = '128';

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Gateway } from '../../src/server/gateway.js';
import { loadNativeRelay, type NativeRelay } from '../../src/relay/native-data-path.js';
import { openClient, relaySession, startGateway, until, type TestClient } from '../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

const CHUNK_BYTES = 64 * 4096;
const BOUND_BYTES = 128 * 4096;
const MESSAGE = 1024 * 1024;

describe('native data path: the io_uring receive pool', () => {
  let upstream: TestUpstream;
  let gw: Gateway;
  let relay: NativeRelay;

  before(async () => {
    const r = loadNativeRelay();
    assert.ok(!(r instanceof Error), `the addon loads (${r instanceof Error ? r.message : ''})`);
    relay = r;
    assert.equal(relay.mode, 'io_uring', 'this file is about io_uring mode');
    upstream = await startUpstream({ maxPayload: 4 * MESSAGE });
    // A high-water mark above what is in flight: the sessions stay on the relay thread while it waits for buffers.
    gw = await startGateway({ defaultRoute: { openclawGateway: upstream.url }, limits: { maxMessageBytes: 4 * MESSAGE }, backpressure: { highWaterMarkBytes: 8 * MESSAGE, lowWaterMarkBytes: MESSAGE }, relay: { dataPath: 'native' } });
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  async function metric(name: string): Promise<number> {
    const text = await gw.metrics.registry.getSingleMetricAsString(name);
    return Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)![1]);
  }

  /** `n` clients that relayed a probe, their sessions on the relay thread. */
  async function nativeClients(prefix: string, n: number): Promise<TestClient[]> {
    const clients: TestClient[] = [];
    for (let i = 0; i < n; i++) {
      const c = await openClient(gw.port, `${prefix}-${i}`);
      c.ws.send('probe');
      await c.waitFor(1);
      clients.push(c);
    }
    await until(() => clients.every((_, i) => relaySession(gw, `${prefix}-${i}`).onNative), 'all on the native path');
    return clients;
  }

  it('starts with one chunk (256 KiB), idle sessions take none of it', async () => {
    const clients = await nativeClients('idle', 20);
    assert.equal(relay.stats().receiveBufferBytes, CHUNK_BYTES);
    assert.equal(await metric('stratix_native_receive_buffer_bytes'), CHUNK_BYTES);
    for (const c of clients) c.ws.close();
  });

  it('grows to its bound under load, waits there for buffers, and loses nothing', async () => {
    const clients = await nativeClients('load', 12);
    // Each round: every client sends two 1 MiB messages at once (a pattern per client and round), all echoed whole.
    // Rounds go on until a receive has waited for a buffer (the first usually does); each is checked byte for byte.
    const waitsBefore = relay.stats().receiveBufferWaits;
    for (let round = 0; round < 20 && relay.stats().receiveBufferWaits === waitsBefore; round++) {
      const from = clients.map((c) => c.messages.length);
      clients.forEach((c, i) => {
        c.ws.send(Buffer.alloc(MESSAGE, (round * 16 + i) & 0xff));
        c.ws.send(Buffer.alloc(MESSAGE, (round * 16 + i + 1) & 0xff));
      });
      await Promise.all(clients.map((c, i) => c.waitFor(from[i]! + 2)));
      clients.forEach((c, i) => {
        const [a, b] = c.messages.slice(from[i]!).map((m) => m.data);
        assert.ok(a!.equals(Buffer.alloc(MESSAGE, (round * 16 + i) & 0xff)), `round ${round}, client ${i}: first message`);
        assert.ok(b!.equals(Buffer.alloc(MESSAGE, (round * 16 + i + 1) & 0xff)), `round ${round}, client ${i}: second message`);
      });
    }
    const { receiveBufferBytes, receiveBufferWaits } = relay.stats();
    assert.ok(receiveBufferWaits > waitsBefore, 'a receive waited for a buffer at the bound');
    assert.equal(receiveBufferBytes, BOUND_BYTES, 'grown to the bound, not past it');
    assert.equal(await metric('stratix_native_receive_buffer_bytes'), BOUND_BYTES);
    assert.equal(await metric('stratix_native_receive_buffer_waits_total'), receiveBufferWaits);
    // Still relaying afterwards, on the relay thread.
    const c = clients[0]!;
    const n = c.messages.length;
    c.ws.send('after');
    await c.waitFor(n + 1);
    assert.equal(c.messages[n]!.data.toString(), 'after');
    for (const k of clients) k.ws.close();
  });
});
