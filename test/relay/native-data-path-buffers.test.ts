/**
 * The native data path's io_uring receive pool (native/relay/relay.c, "provided
 * buffers"): it starts small, grows when a receive finds no free buffer, never past
 * its bound (relay.nativeReceiveBuffers), and at the bound a receive waits for a
 * buffer instead of failing: every byte still arrives, in order, and the receives
 * that found no buffer are counted (stratix_native_receive_buffer_waits_total).
 *
 * The relay thread is process-wide and started once, by the first gateway that uses
 * it, so this file has a process of its own (node --test runs each file in one):
 * io_uring, and a first gateway with a bound of 8 buffers (32 KiB; a bound under 128
 * starts at half of it), which any 1 MiB message exhausts: it arrives in segments of
 * tens of KiB. A second gateway in the process must ask for the same bound.
 */
process.env.STRATIX_NATIVE_IO_URING = '1';

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Gateway } from '../../src/server/gateway.js';
import { loadNativeRelay, type NativeRelay } from '../../src/relay/native-data-path.js';
import { NativeDataPathError } from '../../src/errors.js';
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
    upstream = await startUpstream({ maxPayload: 4 * MESSAGE });
    // A high-water mark above what is in flight: the sessions stay on the relay thread while it waits for buffers.
    gw = await startGateway({ defaultRoute: { openclawGateway: upstream.url }, limits: { maxMessageBytes: 4 * MESSAGE }, backpressure: { highWaterMarkBytes: 8 * MESSAGE, lowWaterMarkBytes: MESSAGE }, relay: { dataPath: 'native', nativeReceiveBuffers: 8 } });
    assert.ok(gw.native !== undefined, 'the gateway is on the native data path');
    relay = gw.native.relay;
    assert.equal(relay.mode, 'io_uring', 'this file is about io_uring mode');
    assert.equal(relay.receiveBuffers, 8);
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
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

  it('a second gateway in the process shares the relay thread with the same bound, and does not start with another', async () => {
    const config = (relay: Record<string, unknown>) => ({ defaultRoute: { openclawGateway: upstream.url }, relay });
    const same = await startGateway(config({ dataPath: 'native', nativeReceiveBuffers: 8 }));
    try {
      assert.equal(same.native?.relay, relay, 'the one relay thread of the process');
      const c = await openClient(same.port, 'second-gateway');
      c.ws.send('hi');
      await c.waitFor(1);
      assert.equal(c.messages[0]!.data.toString(), 'hi');
      c.ws.close();
    } finally {
      await same.close();
    }
    for (const dataPath of ['native', 'auto']) {
      for (const bound of [4096, 16]) {
        await assert.rejects(
          startGateway(config({ dataPath, nativeReceiveBuffers: bound })),
          (err: unknown) =>
            err instanceof NativeDataPathError &&
            err.code === 'STRATIX_ERR_NATIVE_UNAVAILABLE' &&
            err.message === `relay.dataPath is "${dataPath}" but the native data path cannot be used: relay.nativeReceiveBuffers is ${bound}, and this process's relay thread runs with 8 (the thread is process-wide and started once, by the first gateway that uses it: every gateway in one process must give the same bound)`,
          `${dataPath}, ${bound}`,
        );
      }
    }
    // The JS path has no relay thread: any bound.
    const js = await startGateway(config({ dataPath: 'js', nativeReceiveBuffers: 4096 }));
    assert.equal(js.native, undefined);
    await js.close();
    assert.equal(loadNativeRelay(4096), relay, 'the process-wide loader: the relay as started (first wins), whatever bound is asked');
  });
});
