/**
 * The native data path's io_uring receive pool (native/relay/relay.c, "provided
 * buffers"): it starts small, grows when a receive finds no free buffer, never past
 * its bound (STRATIX_NATIVE_RECEIVE_BUFFERS), and at the bound a receive waits for a
 * buffer instead of failing: every byte still arrives, in order, and the receives
 * that found no buffer are counted (stratix_native_receive_buffer_waits_total).
 *
 * The relay thread is process-wide and reads its settings once, so this file sets
 * them for its own process (node --test runs each file in a process of its own):
 * io_uring, and a bound of 8 buffers (32 KiB; a bound under 128 starts at half of
 * it), which any 1 MiB message exhausts: it arrives in segments of tens of KiB.
 */
process.env.STRATIX_NATIVE_IO_URING = '1';
process.env.STRATIX_NATIVE_RECEIVE_BUFFERS = '8';

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Gateway } from '../../src/server/gateway.js';
import { loadNativeRelay, type NativeRelay } from '../../src/relay/native-data-path.js';
import { openClient, relaySession, startGateway, until, type TestClient } from '../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

const FIRST_BYTES = 4 * 4096;
const BOUND_BYTES = 8 * 4096;
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

  it('starts with half its bound (under 128 buffers); idle sessions take none of it', async () => {
    const clients = await nativeClients('idle', 20);
    assert.equal(relay.stats().receiveBufferBytes, FIRST_BYTES);
    assert.equal(await metric('stratix_native_receive_buffer_bytes'), FIRST_BYTES);
    for (const c of clients) c.ws.close();
  });

  it('grows to its bound when receives find no buffer, waits there, and loses nothing', async () => {
    const clients = await nativeClients('load', 12);
    const waitsBefore = relay.stats().receiveBufferWaits;
    const backpressureBefore = gw.native!.handBacks[6];
    // Three rounds: every client sends two 1 MiB messages at once (a pattern per client and round), all echoed whole.
    for (let round = 0; round < 3; round++) {
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
    assert.equal(gw.native!.handBacks[6], backpressureBefore, 'no backpressure hand-back: the relay thread waited itself');
    const { receiveBufferBytes, receiveBufferWaits } = relay.stats();
    assert.ok(receiveBufferWaits > waitsBefore, 'receives found no free buffer');
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
