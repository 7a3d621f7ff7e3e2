/**
 * Crash recovery through the real CLI (primary + workers):
 * - `kill -9` of the worker holding a detached session with buffered messages; the
 *   primary restarts it; a resume gets every buffered message, then upstream_reset
 *   (1012 "gateway restarted") once a new upstream connection is open; a message sent
 *   before the crash and sent again is answered from the recovered outcome, not sent
 *   upstream twice;
 * - the same after `kill -9` of the whole instance and a restart with another
 *   gateway.workers: the log is found by whichever worker now owns the clientId.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, ftruncateSync, mkdtempSync, openSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCli, type RunningCli } from '../helpers/cli.js';
import { until } from '../helpers/gateway.js';
import { httpGet, promSample } from '../helpers/raw-http.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { V1Client } from '../helpers/v1-client.js';
import { shardOf } from '../../src/cluster/shard.js';

const CLIENT = 'crash-client-1';

async function metric(port: number, name: string, labels: Record<string, string>): Promise<number> {
  const res = await httpGet(port, '/metrics', { accept: 'text/plain' });
  return promSample(res.body, name, labels) ?? 0;
}

/** Polls an async condition (a deadline for waiting, not a timing assertion). */
async function eventually(cond: () => Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function kill(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

describe('crash recovery (CLI, kill -9)', { timeout: 120_000 }, () => {
  let upstream: TestUpstream;
  let dir: string;
  const started: RunningCli[] = [];

  before(async () => {
    upstream = await startUpstream();
    dir = mkdtempSync(join(tmpdir(), 'stratix-crash-'));
  });
  after(async () => {
    for (const cli of started) {
      for (const pid of cli.workerPids) kill(pid);
      await cli.stop();
    }
    await upstream.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function start(workers: number): Promise<RunningCli> {
    const cli = await startCli({
      gateway: { listen: '127.0.0.1:0', workers },
      defaultRoute: { openclawGateway: upstream.url },
      reliable: { resumeWindowMs: 60_000, log: { dir: join(dir, 'reliable') } },
    });
    started.push(cli);
    return cli;
  }

  /** Opens a session, sends one message (ACKed), leaves; the upstream then sends `n` messages into the log. */
  async function detachedWithBacklog(cli: RunningCli, n: number, prefix: string): Promise<{ sessionId: string; connections: number }> {
    const conn = upstream.nextConnection();
    const c = await V1Client.open(cli.port, CLIENT);
    const w = await c.hello();
    const server = await conn;
    await c.upstreamOpen();
    c.data('before-crash', 'sent once');
    await c.until(() => c.answers('before-crash').length === 1 && c.payloads.length === 1, 'its ACK and echo');
    c.ack(2);
    c.ws.terminate();
    await until(() => upstream.received.some((r) => r.data.toString() === 'sent once'), 'the upstream to have it');
    await eventually(async () => (await metric(cli.port, 'stratix_reliable_sessions', { state: 'detached' })) === 1, 'the session to be detached');
    for (let i = 0; i < n; i++) server.send(`${prefix}-${i}`);
    await eventually(async () => (await metric(cli.port, 'stratix_reliable_buffered_messages', { where: 'log' })) >= n, 'the backlog to be logged');
    assert.equal(await metric(cli.port, 'stratix_reliable_buffered_messages', { where: 'log' }), n, 'the backlog is logged');
    return { sessionId: w.sessionId!, connections: upstream.upgradeHeaders.length };
  }

  /** Resumes after the crash and checks: the backlog once, in order, then upstream_reset; the duplicate is answered, not resent. */
  async function resumeAfterCrash(cli: RunningCli, sessionId: string, n: number, prefix: string, connections: number): Promise<void> {
    const c = await V1Client.open(cli.port, CLIENT);
    const w = await c.hello(sessionId, 2);
    assert.deepEqual([w.recovered, w.resume, w.firstSeq, w.lastSeq], [true, 'recovered', 3, 2 + n]);
    await c.until(() => c.sequenced.some((e) => e.event === 'upstream_reset'), 'upstream_reset', 20_000);
    const seqs = c.sequenced.map((e) => e.seq);
    assert.deepEqual(seqs, Array.from({ length: n + 1 }, (_, i) => i + 3), 'consecutive, the reset last');
    assert.deepEqual(c.payloads, Array.from({ length: n }, (_, i) => `${prefix}-${i}`));
    const reset = c.sequenced.at(-1)!;
    assert.deepEqual([reset.event, reset.code, reset.reason], ['upstream_reset', 1012, 'gateway restarted']);
    assert.equal(upstream.upgradeHeaders.length, connections + 1, 'one new upstream connection');
    c.ack(reset.seq!); // DATA waits for the client to have seen upstream_reset (protocol.md §3.4)
    const receivedBefore = upstream.received.length;
    c.data('before-crash', 'sent once');
    await c.until(() => c.answers('before-crash').length === 1, 'the duplicate answered');
    assert.deepEqual(c.answers('before-crash')[0], { type: 1, messageId: 'before-crash' });
    c.data('after-crash', 'new');
    await c.until(() => c.answers('after-crash').length === 1, 'a new message ACKed');
    // An ACK means the write to the upstream socket completed, not that the upstream has read it yet.
    await until(() => upstream.received.length > receivedBefore, 'the upstream to read it');
    assert.deepEqual(upstream.received.slice(receivedBefore).map((r) => r.data.toString()), ['new'], 'the duplicate was not sent again');
    c.ws.close(1000);
    await c.closed;
  }

  test('kill -9 of the worker holding the session: the restarted worker recovers it', async () => {
    const cli = await start(2);
    const { sessionId, connections } = await detachedWithBacklog(cli, 25, 'w');
    const victim = cli.workerPids[shardOf(CLIENT, 2)]!;
    kill(victim);
    await until(() => cli.logs.some((l) => l.msg === 'reliable sessions recovered from the message log' && l.sessions === 1), 'the recovery', 30_000);
    await eventually(async () => (await httpGet(cli.port, '/readyz')).status === 200, 'the instance to be ready');
    await resumeAfterCrash(cli, sessionId, 25, 'w', connections);
    // Only the restarted worker read the orphan; it is gone once read.
    await cli.stop();
    const gens = readdirSync(join(dir, 'reliable')).filter((n) => n.startsWith('g'));
    assert.equal(gens.length, 2, `one generation per worker that ran last: ${gens.join(', ')}`);
  });

  test('kill -9 of the whole instance, restarted with another worker count: the session is found', async () => {
    const cli = await start(2);
    const { sessionId, connections } = await detachedWithBacklog(cli, 30, 'i');
    kill(cli.proc.pid!);
    for (const pid of cli.workerPids) kill(pid);
    await cli.exited;
    const again = await start(3);
    await resumeAfterCrash(again, sessionId, 30, 'i', connections);
    const recovered = again.logs.filter((l) => l.msg === 'reliable sessions recovered from the message log');
    assert.equal(recovered.length, 3, 'every new worker read the old logs');
    assert.equal(recovered.reduce((n, l) => n + (l.sessions as number), 0), 1, 'exactly one of them took the session');
  });
});

describe('a torn log after kill -9', { timeout: 60_000 }, () => {
  test('the torn last record is cut off and the session resumes with what is whole', async () => {
    const upstream = await startUpstream();
    const dir = mkdtempSync(join(tmpdir(), 'stratix-torn-'));
    const config = { gateway: { listen: '127.0.0.1:0', workers: 1 }, defaultRoute: { openclawGateway: upstream.url }, reliable: { resumeWindowMs: 60_000, log: { dir: join(dir, 'reliable') } } };
    const cli = await startCli(config);
    try {
      const conn = upstream.nextConnection();
      const c = await V1Client.open(cli.port, 'torn-1');
      const w = await c.hello();
      const server = await conn;
      await c.upstreamOpen();
      c.ack(1);
      c.ws.terminate();
      await eventually(async () => (await metric(cli.port, 'stratix_reliable_sessions', { state: 'detached' })) === 1, 'detached');
      for (let i = 0; i < 10; i++) server.send(`t-${i}`);
      await eventually(async () => (await metric(cli.port, 'stratix_reliable_buffered_messages', { where: 'log' })) === 10, 'logged');
      kill(cli.proc.pid!);
      for (const pid of cli.workerPids) kill(pid);
      await cli.exited;
      // Tear the last record (the last envelope) of the newest segment.
      const gen = readdirSync(join(dir, 'reliable')).filter((g) => g.startsWith('g')).sort().at(-1)!;
      const segs = readdirSync(join(dir, 'reliable', gen)).filter((f) => f.endsWith('.log')).sort();
      const last = join(dir, 'reliable', gen, segs.at(-1)!);
      const fd = openSync(last, 'r+');
      ftruncateSync(fd, statSync(last).size - 5);
      closeSync(fd);
      const again = await startCli(config);
      try {
        const c2 = await V1Client.open(again.port, 'torn-1');
        const w2 = await c2.hello(w.sessionId!, 1);
        // The last record written was the envelope of seq 11 (t-9): torn, it is gone; seq 2..10 are whole.
        assert.deepEqual([w2.recovered, w2.firstSeq, w2.lastSeq], [true, 2, 10]);
        await c2.until(() => c2.sequenced.some((e) => e.event === 'upstream_reset'), 'upstream_reset');
        const n = w2.lastSeq! - 1;
        assert.deepEqual(c2.payloads, Array.from({ length: n }, (_, i) => `t-${i}`));
        assert.deepEqual(c2.sequenced.map((e) => e.seq), Array.from({ length: n + 1 }, (_, i) => i + 2));
        assert.ok(again.logs.some((l) => l.msg === 'message log: record cut off (torn tail or corruption)'), 'the cut is logged');
        c2.ws.close(1000);
        await c2.closed;
      } finally {
        await again.stop();
      }
    } finally {
      await cli.stop();
      await upstream.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
