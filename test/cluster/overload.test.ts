/**
 * Integration: the primary's handshake queue (admission.instance.maxQueuedHandshakes)
 * in the real CLI with two workers. A worker that does not take its handshakes (here
 * stopped with SIGSTOP, as a saturated event loop would be) gets at most its share of
 * the bound; the next handshake for it is refused at once with 503 OVERLOADED and a
 * Retry-After, while the other worker's clients still get in. When the worker runs
 * again it takes every queued handshake: none is lost.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import WebSocket from 'ws';
import { shardOf } from '../../src/cluster/shard.js';
import { startCli, type RunningCli } from '../helpers/cli.js';
import { connectUrl, openRelayed, refusedStatus, untilAsync, type TestClient } from '../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { scrapeSample } from '../helpers/raw-http.js';

const url = (port: number, id: string) => `ws://127.0.0.1:${port}/ws?clientId=${id}`;

/** `n` clientIds owned by worker `w` of two. */
function onWorker(w: number, prefix: string, n: number): string[] {
  const out: string[] = [];
  for (let i = 0; out.length < n; i++) if (shardOf(`${prefix}${i}`, 2) === w) out.push(`${prefix}${i}`);
  return out;
}

describe('the handshake queue: a worker that does not take its handshakes', { timeout: 60_000 }, () => {
  let upstream: TestUpstream;
  let cli: RunningCli;
  before(async () => {
    upstream = await startUpstream();
    cli = await startCli({
      gateway: { listen: '127.0.0.1:0', workers: 2 },
      defaultRoute: { openclawGateway: upstream.url },
      // 6 per instance: 3 per worker.
      admission: { instance: { maxQueuedHandshakes: 6 }, clientId: { handshakesPerSecond: 0 } },
    });
  });
  after(async () => {
    await cli?.stop();
    await upstream.close();
  });

  it('gets its share of the bound, then 503 OVERLOADED at once; the other worker is unaffected; the queued ones get in when it runs again', async () => {
    const stopped = cli.workerPids[0]!;
    const ids = onWorker(0, 'q-', 5);
    process.kill(stopped, 'SIGSTOP');
    let waiting: TestClient[] = [];
    try {
      waiting = ids.slice(0, 3).map((id) => connectUrl(url(cli.port, id)));
      await untilAsync(async () => (await scrapeSample(cli.port, 'stratix_handshakes_queued')) === 3, 'three handshakes queued for the stopped worker', 20_000);
      const refused = await refusedStatus(url(cli.port, ids[3]!));
      assert.equal(refused.status, 503);
      assert.equal(refused.code, 'STRATIX_ERR_OVERLOADED');
      const retryAfter = Number(refused.headers['retry-after']);
      assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, `Retry-After ${String(refused.headers['retry-after'])}`);
      assert.equal(await scrapeSample(cli.port, 'stratix_handshake_rejections_total', { code: 'STRATIX_ERR_OVERLOADED' }), 1);
      // A stratix.v1 client (a browser sees no HTTP status): the 101, a retry_after EVENT, close 4503.
      const v1 = new WebSocket(url(cli.port, ids[4]!), ['stratix.v1']);
      const frames: string[] = [];
      v1.on('message', (d: Buffer) => frames.push(d.toString()));
      const [closeCode, closeReason] = (await once(v1, 'close')) as [number, Buffer];
      assert.equal(v1.protocol, 'stratix.v1');
      assert.equal(closeCode, 4503);
      assert.equal(closeReason.toString(), 'STRATIX_ERR_OVERLOADED');
      assert.equal(frames.length, 1);
      const event = JSON.parse(frames[0]!) as { type: number; event: string; retryAfterMs: number; code: string };
      assert.deepEqual([event.type, event.event, event.code], [4, 'retry_after', 'STRATIX_ERR_OVERLOADED']);
      assert.ok(event.retryAfterMs >= 1000 && event.retryAfterMs <= 60_000 && event.retryAfterMs % 1000 === 0, `retryAfterMs ${event.retryAfterMs}`);
      assert.equal(await scrapeSample(cli.port, 'stratix_handshake_rejections_total', { code: 'STRATIX_ERR_OVERLOADED' }), 2);
      const other = await openRelayed(url(cli.port, onWorker(1, 'q-other-', 1)[0]!));
      other.ws.close();
      await other.closed;
      for (const c of waiting) assert.equal(c.ws.readyState, c.ws.CONNECTING, 'a queued handshake was answered while its worker was stopped');
    } finally {
      process.kill(stopped, 'SIGCONT');
    }
    await Promise.all(waiting.map((c) => once(c.ws, 'open')));
    for (const c of waiting) c.ws.send('after the queue');
    await Promise.all(waiting.map((c) => c.waitFor(1)));
    await untilAsync(async () => (await scrapeSample(cli.port, 'stratix_handshakes_queued')) === 0, 'the queue to empty');
    for (const c of waiting) c.ws.close();
    await Promise.all(waiting.map((c) => c.closed));
  });
});
