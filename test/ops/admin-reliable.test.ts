/**
 * Reliable (stratix.v1) sessions in the session admin API: listed beside verbatim ones as
 * kind "reliable" with their buffer depth and counters; closing one without `end` closes
 * only its client connection (the session waits, "detached", its upstream open); with
 * `end=true` the session and its upstream end.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Gateway } from '../../src/server/gateway.js';
import { openClient, startGateway, until, type TestClient } from '../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { V1Client } from '../helpers/v1-client.js';
import { admin, TOKEN } from '../routing-runtime/fixtures.js';

interface Listed {
  id: string;
  clientId: string;
  kind: string;
  state: string;
  bufferDepth: number | null;
  messages: { clientToUpstream: number; upstreamToClient: number };
  bytes: { clientToUpstream: number; upstreamToClient: number };
}

async function listed(port: number, prefix: string): Promise<Listed[]> {
  const res = await admin(port, 'GET', `/admin/sessions?prefix=${prefix}`);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return (res.body as unknown as { sessions: Listed[] }).sessions;
}

describe('reliable sessions in the admin API', () => {
  let up: TestUpstream;
  let gw: Gateway;
  let verbatim: TestClient;

  before(async () => {
    up = await startUpstream();
    gw = await startGateway({ defaultRoute: { openclawGateway: up.url }, admin: { token: TOKEN }, reliable: { resumeWindowMs: 60_000 } });
    verbatim = await openClient(gw.port, 'both-verbatim');
  });
  after(async () => {
    verbatim?.ws.terminate();
    await gw?.close();
    await up?.close();
  });

  it('lists a reliable session beside a verbatim one, with its buffer depth and counters', async () => {
    const c = await V1Client.open(gw.port, 'both-reliable');
    await c.hello();
    await c.until(() => c.sequenced.length === 1, 'upstream_open');
    c.data('m-1', 'hello');
    await c.until(() => c.payloads.length === 1, 'the echo');
    // Nothing acknowledged yet: upstream_open (seq 1) and the echo (seq 2) are kept.
    const [reliable] = await listed(gw.port, 'both-reliable');
    assert.equal(reliable!.kind, 'reliable');
    assert.equal(reliable!.state, 'open');
    assert.equal(reliable!.bufferDepth, 2);
    assert.equal(reliable!.messages.clientToUpstream, 1);
    assert.equal(reliable!.bytes.clientToUpstream, 5);
    assert.equal(reliable!.messages.upstreamToClient, 2);
    c.ack(2);
    await until(() => gw.reliable!.sessions.values().next().value?.ackedSeq === 2, 'the ack');
    assert.equal((await listed(gw.port, 'both-reliable'))[0]!.bufferDepth, 0);
    const [plain] = await listed(gw.port, 'both-verbatim');
    assert.equal(plain!.kind, 'verbatim');
    assert.equal(plain!.bufferDepth, null);

    // Closed without end: the client connection goes, the session waits for a resume.
    const upstreamsBefore = up.connections.size;
    const closed = await admin(gw.port, 'POST', `/admin/sessions/${reliable!.id}/close`);
    assert.equal(closed.status, 200, JSON.stringify(closed.body));
    assert.equal((await c.closed).code, 1012);
    await until(() => gw.reliable!.attachedCount === 0, 'detached');
    const [detached] = await listed(gw.port, 'both-reliable');
    assert.equal(detached!.state, 'detached');
    assert.equal(detached!.id, reliable!.id);
    assert.equal(up.connections.size, upstreamsBefore, 'its upstream stays open');

    // With end=true: the session and its upstream end.
    const ended = await admin(gw.port, 'POST', `/admin/sessions/${reliable!.id}/close?end=true`);
    assert.equal(ended.status, 200);
    assert.equal(ended.body['end'], true);
    await until(() => up.connections.size === upstreamsBefore - 1, 'its upstream closed');
    assert.deepEqual(await listed(gw.port, 'both-reliable'), []);
    assert.equal((await admin(gw.port, 'GET', `/admin/sessions/${reliable!.id}`)).status, 404);
    assert.equal((await listed(gw.port, 'both-')).length, 1, 'the verbatim session is still there');
  });
});
