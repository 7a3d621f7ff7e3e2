/**
 * The gateway process is killed (`kill -9`) and started again on the same port and
 * log directory while the client streams both ways: the client resumes, gets every
 * envelope the log kept once and in order, then upstreamReset (1012 "gateway
 * restarted"); every send settles once, and what was ACKed reached the upstream
 * once.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { StratixClient } from '@stratix/client';
import { until } from '../helpers/gateway.js';
import { freePort, startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { counter, reach, record, track, type Outcome } from './fixtures.js';
import { startGatewayProcess } from './gateway-process-handle.js';

describe('StratixClient: the gateway process killed and restarted', () => {
  let upstream: TestUpstream;
  let dir: string;
  let port: number;
  let proxy: TcpProxy;
  let gateway: ChildProcess | undefined;
  let config: Record<string, unknown>;
  before(async () => {
    upstream = await startUpstream();
    dir = mkdtempSync(join(tmpdir(), 'stratix-sdk-restart-'));
    port = await freePort();
    config = {
      gateway: { listen: `127.0.0.1:${port}` },
      defaultRoute: { openclawGateway: upstream.url },
      reliable: { resumeWindowMs: 30_000, heartbeatMs: 1_000, log: { dir: join(dir, 'reliable') } },
    };
    gateway = await startGatewayProcess(config);
    proxy = await TcpProxy.start(port);
  });
  after(async () => {
    gateway?.kill('SIGKILL');
    await proxy.close();
    await upstream.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('resume after kill -9: the logged envelopes once and in order, then upstreamReset; sends settle once, ACKed ones reached the upstream once', async (t) => {
    const first = upstream.nextConnection();
    const c = new StratixClient({ url: `ws://127.0.0.1:${proxy.port}/ws`, clientId: 'sdk-restart-1', WebSocket, reconnect: { initialDelayMs: 50, maxDelayMs: 300 } });
    const r = record(c);
    try {
      await reach(c, 'open');
      const old = counter(await first, 'a', 5);
      const sends: Outcome[] = [];
      const sender = setInterval(() => sends.push(track(sends.length, c.send(`s${sends.length}`))), 10);
      await until(() => r.texts().filter((t) => t.startsWith('a')).length >= 40, 'some of the stream');
      const second = upstream.nextConnection();
      gateway!.kill('SIGKILL');
      await new Promise((resolve) => gateway!.once('exit', resolve));
      gateway = await startGatewayProcess(config);
      const fresh = counter(await second, 'b', 5);
      await until(() => r.resets.length === 1, 'upstreamReset', 20_000);
      assert.deepEqual(r.resets[0], { seq: r.resets[0]!.seq, code: 1012, reason: 'gateway restarted' });
      await until(() => r.texts().filter((t) => t.startsWith('b')).length >= 20, 'the new upstream\'s stream');
      clearInterval(sender);
      old.stop();
      fresh.stop();
      await until(() => sends.every((o) => o.settled === 1), 'every send to settle');
      const a = r.texts().filter((t) => t.startsWith('a'));
      const b = r.texts().filter((t) => t.startsWith('b'));
      // What the log kept: a prefix of the old upstream's stream, once, in order.
      assert.deepEqual(a, old.sent.slice(0, a.length));
      assert.deepEqual(b, fresh.sent.slice(0, b.length));
      const seqs = r.messages.map((m) => m.seq);
      assert.ok(seqs.every((s, i) => i === 0 || s > seqs[i - 1]!), 'seqs increase');
      assert.deepEqual(r.gaps, []);
      const resetAt = r.resets[0]!.seq;
      assert.ok(r.messages.filter((m) => typeof m.data === 'string' && m.data.startsWith('a')).every((m) => m.seq < resetAt), 'the old stream before upstream_reset');
      const received = upstream.received.map((m) => m.data.toString()).filter((t) => /^s\d+$/.test(t));
      assert.equal(new Set(received).size, received.length, 'no message reached the upstream twice');
      for (const o of sends.filter((x) => x.ok)) assert.ok(received.includes(`s${o.id}`), `ACKed s${o.id} reached the upstream`);
      const codes = new Set(sends.filter((x) => !x.ok).map((x) => (x.error as { code: string }).code));
      for (const code of codes) assert.ok(['STRATIX_NACK_UPSTREAM_LOST', 'STRATIX_NACK_UPSTREAM_NOT_OPEN', 'STRATIX_CLIENT_ERR_UPSTREAM_RESET'].includes(code), code);
      assert.ok(sends.some((x) => x.ok && x.id > sends.length - 5), 'sending works after the reset');
      assert.equal(c.stats.upstreamResets, 1);
      const rejected: Record<string, number> = {};
      for (const x of sends.filter((o) => !o.ok)) rejected[(x.error as { code: string }).code] = (rejected[(x.error as { code: string }).code] ?? 0) + 1;
      t.diagnostic(`old stream ${a.length}/${old.sent.length} kept, new ${b.length}; ${sends.length} sends, rejected ${JSON.stringify(rejected)}`);
    } finally {
      await c.close();
    }
  });
});
