/**
 * The duplicate-clientId policy (admission.duplicateClientId) for stratix.v1
 * clients, applied after the HELLO: a resume of one's own session is never a
 * duplicate; a new session takes the clientId over (the old one gets 4410 and its
 * session ends), is refused with 4409, or lives beside it — and the same between a
 * reliable session and a verbatim connection.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { WebSocket } from 'ws';
import { openClient, startGateway, until } from '../helpers/gateway.js';
import { startUpstream } from '../helpers/upstream.js';
import { V1Client } from '../helpers/v1-client.js';

async function gateway(policy: 'takeover' | 'reject' | 'allow') {
  const upstream = await startUpstream();
  const gw = await startGateway({ defaultRoute: { openclawGateway: upstream.url }, admission: { duplicateClientId: policy } });
  return { upstream, gw, async close() { await gw.close(); await upstream.close(); } };
}

test('takeover: a new session with the same clientId wins; the old gets 4410 and its session (and upstream) ends', async () => {
  const { upstream, gw, close } = await gateway('takeover');
  try {
    const conn = upstream.nextConnection();
    const a = await V1Client.session(gw.port, 'dup-x');
    const aServer = (await conn) as WebSocket;
    const aUpstreamClosed = once(aServer, 'close');
    const b = await V1Client.session(gw.port, 'dup-x');
    assert.deepEqual((await a.closed).code, 4410);
    const [code] = (await aUpstreamClosed) as [number];
    assert.equal(code, 1000, "the old session's upstream is closed");
    assert.equal(gw.reliable!.sessions.size, 1);
    b.data('b-1', 'still here');
    await b.until(() => b.payloads.length === 1, 'the new session works');
    b.ws.close(1000);
    await b.closed;
  } finally {
    await close();
  }
});

test('a resume of one\'s own session is never a duplicate', async () => {
  const { gw, close } = await gateway('reject');
  try {
    const a = await V1Client.session(gw.port, 'dup-own');
    const w = a.envelopes.find((e) => e.type === 2)!;
    a.ws.terminate();
    await until(() => gw.reliable!.attachedCount === 0, 'detached');
    const again = await V1Client.open(gw.port, 'dup-own');
    const w2 = await again.hello(w.sessionId!, 1);
    assert.equal(w2.recovered, true);
    // And the half-open case: the old connection still looks open; the resume takes the leg over (4410 to the old leg only).
    const third = await V1Client.open(gw.port, 'dup-own');
    assert.equal((await third.hello(w.sessionId!, 1)).recovered, true);
    assert.equal((await again.closed).code, 4410);
    assert.equal(gw.reliable!.sessions.size, 1, 'still the one session');
    third.ws.close(1000);
    await third.closed;
  } finally {
    await close();
  }
});

test('reject: a second session with the clientId is closed with 4409; the first is untouched', async () => {
  const { gw, close } = await gateway('reject');
  try {
    const a = await V1Client.session(gw.port, 'dup-r');
    const b = await V1Client.open(gw.port, 'dup-r');
    b.send({ type: 2 });
    assert.deepEqual(await b.closed, { code: 4409, reason: 'STRATIX_ERR_CLIENT_ID_IN_USE' });
    a.data('a-1', 'fine');
    await a.until(() => a.payloads.length === 1, 'the first still works');
    a.ws.close(1000);
    await a.closed;
  } finally {
    await close();
  }
});

test('allow: two sessions with one clientId live side by side', async () => {
  const { gw, close } = await gateway('allow');
  try {
    const a = await V1Client.session(gw.port, 'dup-a');
    const b = await V1Client.session(gw.port, 'dup-a');
    a.data('a', 'one');
    b.data('b', 'two');
    await a.until(() => a.payloads.length === 1, 'a');
    await b.until(() => b.payloads.length === 1, 'b');
    assert.equal(gw.reliable!.sessions.size, 2);
    for (const c of [a, b]) {
      c.ws.close(1000);
      await c.closed;
    }
  } finally {
    await close();
  }
});

test('takeover across kinds: a verbatim connection takes the clientId from a reliable session, and back', async () => {
  const { gw, close } = await gateway('takeover');
  try {
    const r = await V1Client.session(gw.port, 'dup-k');
    const v = await openClient(gw.port, 'dup-k');
    assert.equal((await r.closed).code, 4410);
    await until(() => gw.reliable!.sessions.size === 0, 'the reliable session to end');
    const r2 = await V1Client.session(gw.port, 'dup-k');
    assert.equal((await v.closed).code, 4410);
    r2.ws.close(1000);
    await r2.closed;
  } finally {
    await close();
  }
});
