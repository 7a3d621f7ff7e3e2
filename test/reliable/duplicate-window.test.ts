/**
 * The duplicate window's count bound (reliable.duplicateWindowMessages) with a real
 * gateway and upstream: past it the oldest messageId is forgotten and counted in
 * stratix_reliable_duplicate_evictions_total; a forgotten id is a new message again,
 * a remembered one is still answered from memory and not sent twice.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, until } from '../helpers/gateway.js';
import { startUpstream } from '../helpers/upstream.js';
import { promSample } from '../helpers/raw-http.js';
import { V1Client } from '../helpers/v1-client.js';

test('past reliable.duplicateWindowMessages the oldest messageIds are forgotten, counted, and taken as new messages again', async () => {
  const upstream = await startUpstream();
  const gw = await startGateway({ defaultRoute: { openclawGateway: upstream.url }, reliable: { duplicateWindowMessages: 3 } });
  try {
    const c = await V1Client.session(gw.port, 'dup-window-1');
    const before = upstream.received.length;
    for (let i = 1; i <= 5; i++) {
      c.data(`w-${i}`, `m${i}`);
      await c.until(() => c.answers(`w-${i}`).length === 1, `the ACK of w-${i}`);
    }
    const evictions = async () => promSample(await gw.metrics.registry.metrics(), 'stratix_reliable_duplicate_evictions_total');
    assert.equal(await evictions(), 2, 'w-1 and w-2 forgotten');
    c.data('w-5', 'm5'); // remembered: answered from memory
    c.data('w-1', 'again'); // forgotten: a new message
    await c.until(() => c.answers('w-5').length === 2 && c.answers('w-1').length === 2, 'both answered');
    assert.deepEqual(c.answers('w-1').map((e) => e.type), [1, 1]);
    // An ACK means the write left the gateway; wait for 'again' to arrive (a second m5 would have come before it).
    await until(() => upstream.received.slice(before).some((r) => r.data.toString() === 'again'), 'the upstream read "again"');
    assert.deepEqual(upstream.received.slice(before).map((r) => r.data.toString()), ['m1', 'm2', 'm3', 'm4', 'm5', 'again']);
    assert.equal(await evictions(), 3, 'taking w-1 again forgot w-3');
    c.ws.close(1000);
    await c.closed;
  } finally {
    await gw.close();
    await upstream.close();
  }
});
