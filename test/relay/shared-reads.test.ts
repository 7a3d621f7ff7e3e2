/**
 * Every leg reads into one buffer shared by the process (src/relay/shared-reads.ts).
 * What that must not break: a write that does not complete at once (a slow reader)
 * keeps pointing at its bytes while other sockets read on, so the relay writes
 * copies. Here many sessions relay distinct random data at once through clients
 * that stop reading for a while: every byte must come back in order.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Gateway } from '../../src/server/gateway.js';
import { openClient, startGateway, until } from '../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

const MiB = 1024 * 1024;
let upstream: TestUpstream;
let gw: Gateway;

before(async () => {
  upstream = await startUpstream();
  gw = await startGateway({ defaultRoute: { openclawGateway: upstream.url } });
});

after(async () => {
  await gw.close();
  await upstream.close();
});

test('concurrent sessions through paused readers get every byte back, in order', async () => {
  const SESSIONS = 8;
  const MESSAGES = 8;
  const clients = await Promise.all(Array.from({ length: SESSIONS }, (_, i) => openClient(gw.port, `shared-${i}`)));
  // One round trip each first: the upstream legs are open (no pre-open size limit).
  for (const c of clients) c.ws.send('hello');
  await Promise.all(clients.map((c) => c.waitFor(1)));
  const sent = clients.map(() => Array.from({ length: MESSAGES }, () => randomBytes(MiB + Math.floor(Math.random() * 4096))));
  clients.forEach((c, i) => {
    c.messages.length = 0;
    // Stop reading: the echoes pile up in the kernel, the gateway's writes to this client go
    // asynchronous while the other sessions keep reading into the shared buffer.
    c.ws.pause();
    for (const m of sent[i]!) c.ws.send(m);
  });
  // 8 MiB per session: more than the kernel buffers of a loopback connection hold.
  await new Promise((r) => setTimeout(r, 500));
  for (const c of clients) c.ws.resume();
  // A corrupted stream shows as a bad frame (the client closes) or an echo that never comes.
  let closedEarly = false;
  for (const c of clients) void c.closed.then(() => (closedEarly = true));
  await until(() => closedEarly || clients.every((c) => c.messages.length >= MESSAGES), 'every echo', 30_000);
  assert.equal(closedEarly, false, 'a session was closed: its byte stream broke');
  clients.forEach((c, i) => {
    assert.equal(c.messages.length, MESSAGES);
    c.messages.forEach((m, k) => assert.ok(m.data.equals(sent[i]![k]!), `session ${i}, message ${k}: bytes differ`));
  });
  await Promise.all(clients.map((c) => { c.ws.close(); return c.closed; }));
});
