/**
 * Reliable sessions through the gateway's life: SIGTERM drains reliable clients
 * with 1012 and their logs survive the restart; a route change (migrate) moves the
 * upstream under the session (upstream_reset 4307); short of memory, envelopes are
 * read back from the log; fsync "always" still delivers; stratix.v1 wins among
 * other offered subprotocols.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { WebSocket } from 'ws';
import { startCli } from '../helpers/cli.js';
import { startGateway, until } from '../helpers/gateway.js';
import { startUpstream } from '../helpers/upstream.js';
import { promSample } from '../helpers/raw-http.js';
import { V1Client } from '../helpers/v1-client.js';

test('SIGTERM: reliable clients get 1012 ("resume now"); after the restart the logs bring their sessions back, then upstream_reset', async () => {
  const upstream = await startUpstream();
  const dir = mkdtempSync(join(tmpdir(), 'stratix-drain-'));
  const config = {
    gateway: { listen: '127.0.0.1:0', workers: 2, drainPeriodMs: 500, drainGraceMs: 500 },
    defaultRoute: { openclawGateway: upstream.url },
    reliable: { log: { dir: join(dir, 'reliable') } },
  };
  const cli = await startCli(config);
  try {
    // One session detached with a message waiting in the log, one attached.
    const conn = upstream.nextConnection();
    const away = await V1Client.open(cli.port, 'drained-away');
    const wa = await away.hello();
    const server = (await conn) as WebSocket;
    await away.upstreamOpen();
    away.ack(1);
    away.ws.terminate();
    const here = await V1Client.open(cli.port, 'drained-here');
    const wh = await here.hello();
    await here.upstreamOpen();
    here.ack(1);
    server.send('for the one away');
    const metrics = async () => (await import('../helpers/raw-http.js')).httpGet(cli.port, '/metrics', { accept: 'text/plain' });
    for (let t = 0; t < 400 && (promSample((await metrics()).body, 'stratix_reliable_buffered_messages', { where: 'log' }) ?? 0) < 1; t++) await new Promise((r) => setTimeout(r, 25));
    cli.proc.kill('SIGTERM');
    assert.equal((await here.closed).code, 1012);
    assert.deepEqual(await cli.exited, { code: 0, signal: null });
    const again = await startCli(config);
    try {
      const a2 = await V1Client.open(again.port, 'drained-away');
      assert.equal((await a2.hello(wa.sessionId!, 1)).recovered, true);
      await a2.until(() => a2.sequenced.some((e) => e.event === 'upstream_reset'), 'upstream_reset');
      assert.deepEqual(a2.payloads, ['for the one away']);
      assert.deepEqual(a2.sequenced.map((e) => [e.seq, e.event ?? 'data']), [[2, 'data'], [3, 'upstream_reset']]);
      const h2 = await V1Client.open(again.port, 'drained-here');
      assert.equal((await h2.hello(wh.sessionId!, 1)).recovered, true);
      await h2.until(() => h2.sequenced.some((e) => e.event === 'upstream_reset'), 'upstream_reset');
      assert.deepEqual(h2.sequenced.map((e) => e.seq), [2]);
      for (const c of [a2, h2]) {
        c.ws.close(1000);
        await c.closed;
      }
    } finally {
      await again.stop();
    }
  } finally {
    await cli.stop();
    await upstream.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a route change with routing.onRouteChange "migrate" moves the upstream under the session: upstream_reset 4307', async () => {
  const a = await startUpstream();
  const b = await startUpstream();
  const dir = mkdtempSync(join(tmpdir(), 'stratix-migrate-'));
  const file = join(dir, 'route.json');
  const config = (url: string) => ({ gateway: { listen: '127.0.0.1:0' }, routing: { onRouteChange: 'migrate', watchDebounceMs: 20 }, defaultRoute: { openclawGateway: url }, reliable: { log: { dir: join(dir, 'reliable') } } });
  writeFileSync(file, JSON.stringify(config(a.url)));
  const { loadConfigFile } = await import('../../src/config/load.js');
  const { Gateway } = await import('../../src/server/gateway.js');
  const gw = await Gateway.start(loadConfigFile(file), { configPath: file });
  try {
    const c = await V1Client.open(gw.port, 'moving-1');
    await c.hello();
    await c.upstreamOpen();
    const toB = b.nextConnection();
    writeFileSync(file, JSON.stringify(config(b.url)));
    await toB;
    await c.until(() => c.sequenced.some((e) => e.event === 'upstream_reset'), 'upstream_reset');
    assert.equal(c.sequenced.find((e) => e.event === 'upstream_reset')!.code, 4307);
    c.ack(c.sequenced.find((e) => e.event === 'upstream_reset')!.seq!); // DATA waits for the client to have seen it (protocol.md §3.4)
    c.data('on-b', 'hello b');
    await c.until(() => c.payloads.length === 1, 'the echo from b');
    assert.equal(b.received.at(-1)!.data.toString(), 'hello b');
    assert.equal(c.ws.readyState, c.ws.OPEN, 'the client connection stayed');
    c.ws.close(1000);
    await c.closed;
  } finally {
    await gw.close();
    await a.close();
    await b.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an envelope sent to a connected client keeps no copy in memory: the resume after a drop replays it from the log', async () => {
  const upstream = await startUpstream();
  const gw = await startGateway({ defaultRoute: { openclawGateway: upstream.url } });
  try {
    const conn = upstream.nextConnection();
    const c = await V1Client.open(gw.port, 'sent-copies-1');
    const w = await c.hello();
    const server = (await conn) as WebSocket;
    await c.upstreamOpen();
    const chunk = 's'.repeat(3_000);
    for (let i = 0; i < 20; i++) server.send(`${i}:${chunk}`);
    await c.until(() => c.payloads.length === 20, 'the 20 messages');
    const text = await gw.metrics.registry.metrics();
    // upstream_open and the 20 DATA, all unacknowledged: in the log, none in memory.
    assert.equal(promSample(text, 'stratix_reliable_buffered_messages', { where: 'log' }), 21);
    assert.equal(promSample(text, 'stratix_reliable_buffered_messages', { where: 'memory' }), 0);
    assert.equal(promSample(text, 'stratix_reliable_buffered_bytes', { where: 'memory' }), 0);
    c.ws.terminate();
    await until(() => gw.reliable!.attachedCount === 0, 'detached');
    const c2 = await V1Client.open(gw.port, 'sent-copies-1');
    assert.equal((await c2.hello(w.sessionId!, 1)).recovered, true);
    await c2.until(() => c2.payloads.length === 20, 'the replay');
    assert.deepEqual(c2.sequenced.map((e) => e.seq), Array.from({ length: 20 }, (_, i) => i + 2));
    assert.deepEqual(c2.payloads, Array.from({ length: 20 }, (_, i) => `${i}:${chunk}`));
    c2.ws.close(1000);
    await c2.closed;
  } finally {
    await gw.close();
    await upstream.close();
  }
});

test('short of memory, envelopes are dropped from memory and read back from the log for the replay', async () => {
  const upstream = await startUpstream();
  const gw = await startGateway({ defaultRoute: { openclawGateway: upstream.url }, reliable: { memoryBytes: 1024 * 1024 } });
  try {
    const conn = upstream.nextConnection();
    const c = await V1Client.open(gw.port, 'memory-1');
    const w = await c.hello();
    const server = (await conn) as WebSocket;
    await c.upstreamOpen();
    c.ack(1);
    c.ws.terminate();
    await until(() => gw.reliable!.attachedCount === 0, 'detached');
    const chunk = 'm'.repeat(20_000);
    for (let i = 0; i < 150; i++) server.send(`${i}:${chunk}`); // ~4 MiB of envelopes, 1 MiB of memory
    await until(() => gw.reliable!.sessions.get(w.sessionId!)!.lastSeq === 151, 'logged', 10_000);
    await new Promise((r) => setTimeout(r, 600)); // a tick sheds detached copies
    const text = await gw.metrics.registry.metrics();
    const inMemory = promSample(text, 'stratix_reliable_buffered_messages', { where: 'memory' })!;
    assert.equal(promSample(text, 'stratix_reliable_buffered_messages', { where: 'log' }), 150);
    assert.ok(inMemory < 150, `only ${inMemory} of 150 kept in memory`);
    assert.ok(promSample(text, 'stratix_reliable_buffered_bytes', { where: 'memory' })! <= 1024 * 1024 + 30_000 * 2);
    const c2 = await V1Client.open(gw.port, 'memory-1');
    await c2.hello(w.sessionId!, 1);
    await c2.until(() => c2.payloads.length === 150, 'the replay', 10_000);
    assert.deepEqual(c2.payloads.map((p) => Number(p.split(':')[0])), Array.from({ length: 150 }, (_, i) => i));
    assert.ok(c2.payloads.every((p) => p.endsWith(chunk)), 'byte for byte');
    c2.ws.close(1000);
    await c2.closed;
  } finally {
    await gw.close();
    await upstream.close();
  }
});

test('fsync "always": envelopes are sent after their fdatasync, and flow as usual', async () => {
  const upstream = await startUpstream();
  const gw = await startGateway({ defaultRoute: { openclawGateway: upstream.url }, reliable: { log: { fsync: 'always' } } });
  try {
    const c = await V1Client.open(gw.port, 'fsync-1');
    await c.hello();
    await c.upstreamOpen();
    for (let i = 0; i < 20; i++) c.data(`f-${i}`, `n${i}`);
    await c.until(() => c.payloads.length === 20, 'the echoes');
    assert.deepEqual(c.payloads, Array.from({ length: 20 }, (_, i) => `n${i}`));
    const text = await gw.metrics.registry.metrics();
    assert.ok((promSample(text, 'stratix_reliable_log_fsync_seconds_count') ?? 0) > 0, 'fdatasync ran');
    c.ws.close(1000);
    await c.closed;
  } finally {
    await gw.close();
    await upstream.close();
  }
});

test('stratix.v1 among other offered subprotocols: the gateway selects it, and opens no upstream before the HELLO', async () => {
  const upstream = await startUpstream();
  const gw = await startGateway({ defaultRoute: { openclawGateway: upstream.url } });
  try {
    const { default: WebSocket } = await import('ws');
    const ws = new WebSocket(`ws://127.0.0.1:${gw.port}/ws?clientId=proto-1`, ['chat.v1', 'stratix.v1']);
    await new Promise((r) => ws.once('open', r));
    assert.equal(ws.protocol, 'stratix.v1');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(upstream.upgradeHeaders.length, 0, 'no upstream connection before a HELLO');
    ws.close();
  } finally {
    await gw.close();
    await upstream.close();
  }
});

test('a second instance on the same reliable.log.dir refuses to start (STRATIX_ERR_LOG_LOCKED), naming the directory', async () => {
  const upstream = await startUpstream();
  const dir = mkdtempSync(join(tmpdir(), 'stratix-lock-'));
  const config = { gateway: { listen: '127.0.0.1:0', workers: 1 }, defaultRoute: { openclawGateway: upstream.url }, reliable: { log: { dir: join(dir, 'reliable') } } };
  const first = await startCli(config);
  try {
    await assert.rejects(startCli(config), (err: Error) => {
      assert.match(err.message, /STRATIX_ERR_LOG_LOCKED/);
      assert.match(err.message, new RegExp(`${join(dir, 'reliable')} is in use by another gateway instance \\(pid ${first.proc.pid}\\)`));
      return true;
    });
  } finally {
    await first.stop();
  }
  // Once the first is gone (even killed), its lock is stale and a new instance starts.
  const again = await startCli(config);
  await again.stop();
  await upstream.close();
  rmSync(dir, { recursive: true, force: true });
});
