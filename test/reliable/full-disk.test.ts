/**
 * A full disk under reliable sessions (a real 1 MiB tmpfs as reliable.log.dir):
 * the log write fails with ENOSPC, which is counted and logged; the session stops
 * reading its upstream and NACKs client DATA with STRATIX_NACK_LOG_UNAVAILABLE;
 * after reliable.log.failureTimeoutMs the session ends with close 4507, its
 * unlogged envelopes counted as failed; the gateway process goes on serving.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { WebSocket } from 'ws';
import { startGateway, until } from '../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { httpGet, promSample } from '../helpers/raw-http.js';
import { V1Client } from '../helpers/v1-client.js';
import { NackCodes } from '../../src/errors.js';

let dir: string;
let upstream: TestUpstream;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'stratix-disk-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir]);
  upstream = await startUpstream();
});
after(async () => {
  await upstream.close();
  execFileSync('umount', ['-l', dir]);
  rmSync(dir, { recursive: true, force: true });
});

test('a full disk: NACKs, a metric and a log line, then 4507; no crash', async () => {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({ write(chunk: Buffer, _e, cb) { for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>); cb(); } });
  writeFileSync(join(dir, 'filler'), Buffer.alloc(600 * 1024));
  const gw = await startGateway(
    { defaultRoute: { openclawGateway: upstream.url }, reliable: { log: { dir: join(dir, 'reliable'), failureTimeoutMs: 1_000 } } },
    { logger: pino({ level: 'info' }, sink) },
  );
  try {
    const conn = upstream.nextConnection();
    const c = await V1Client.open(gw.port, 'disk-1');
    await c.hello();
    const server = (await conn) as WebSocket;
    await c.upstreamOpen();
    const big = 'y'.repeat(30_000);
    for (let i = 0; i < 40; i++) server.send(`${i}:${big}`);
    await until(() => !gw.reliable!.log.writable, 'the disk to fill', 10_000);
    const text = await gw.metrics.registry.metrics();
    assert.equal(promSample(text, 'stratix_reliable_log_errors_total', { op: 'write' }), 1);
    assert.ok(lines.some((l) => l.msg === 'message log error' && l.code === 'ENOSPC'), 'a log line names ENOSPC');
    c.data('during', 'x');
    await c.until(() => c.answers('during').length === 1, 'the NACK');
    assert.equal(c.answers('during')[0]!.code, NackCodes.LOG_UNAVAILABLE.code);
    assert.equal((await c.closed).code, 4507);
    const after = await gw.metrics.registry.metrics();
    assert.equal(promSample(after, 'stratix_reliable_sessions_ended_total', { reason: 'log_unavailable' }), 1);
    assert.ok((promSample(after, 'stratix_messages_failed_total', { direction: 'upstream_to_client', reason: 'session_ended' }) ?? 0) > 0, 'the unlogged envelopes are counted as failed');
    assert.equal((await httpGet(gw.port, '/healthz')).status, 200, 'still serving');
  } finally {
    await gw.close();
  }
});
