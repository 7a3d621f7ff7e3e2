/**
 * Integration: the session admin API answered across two worker processes (the real CLI):
 * one listing and its pages cover both workers, a session on worker 1 is shown and closed
 * through the primary, a close by prefix reaches both workers, /admin/workers gives each
 * worker's pid, sessions, loop delay, RSS and restarts (a killed worker counts one, its
 * sessions' ids then answer 404), and per-process metrics carry a `worker` label.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import type { IncomingMessage } from 'node:http';
import { startCli, type RunningCli } from '../helpers/cli.js';
import { connectClient, until, untilAsync, type TestClient } from '../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { admin, idsPerShard, TOKEN } from '../routing-runtime/fixtures.js';

interface Listing {
  sessions: Array<{ id: string; clientId: string; worker: number }>;
  total: number;
  nextCursor: string | null;
  unavailable: number[];
}

async function open(port: number, clientId: string): Promise<{ client: TestClient; worker: number }> {
  const client = connectClient(port, clientId);
  let worker = -1;
  client.ws.once('upgrade', (res: IncomingMessage) => (worker = Number(res.headers['x-stratix-worker'])));
  await once(client.ws, 'open');
  return { client, worker };
}

describe('session admin API across workers', () => {
  let up: TestUpstream;
  let cli: RunningCli;
  const clients = new Map<string, TestClient>();
  const shards = idsPerShard('s-', 3);

  before(async () => {
    up = await startUpstream();
    cli = await startCli({
      gateway: { listen: '127.0.0.1:0', workers: 2 },
      defaultRoute: { openclawGateway: up.url },
      admin: { token: TOKEN },
    });
    for (const [w, ids] of shards.entries()) {
      for (const id of ids) {
        const o = await open(cli.port, id);
        assert.equal(o.worker, w);
        clients.set(id, o.client);
      }
    }
    await until(() => up.connections.size === 6, 'six upstream connections');
  });
  after(async () => {
    for (const c of clients.values()) c.ws.terminate();
    await cli?.stop();
    await up?.close();
  });

  it('one listing covers both workers, in id order; pages cross from worker 0 to worker 1', async () => {
    const all = (await admin(cli.port, 'GET', '/admin/sessions')).body as unknown as Listing;
    assert.equal(all.total, 6);
    assert.deepEqual(all.unavailable, []);
    assert.deepEqual(all.sessions.map((s) => s.worker), [0, 0, 0, 1, 1, 1]);
    assert.deepEqual(new Set(all.sessions.map((s) => s.clientId)), new Set([...shards[0]!, ...shards[1]!]));
    for (const s of all.sessions) assert.match(s.id, new RegExp(`^${s.worker}-1-\\d+$`));
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: Listing = (await admin(cli.port, 'GET', `/admin/sessions?limit=4${cursor === null ? '' : `&cursor=${cursor}`}`)).body as unknown as Listing;
      seen.push(...page.sessions.map((s) => s.id));
      cursor = page.nextCursor;
    } while (cursor !== null);
    assert.deepEqual(seen, all.sessions.map((s) => s.id));
  });

  it('shows and closes a session of worker 1 through the primary', async () => {
    const all = (await admin(cli.port, 'GET', '/admin/sessions')).body as unknown as Listing;
    const target = all.sessions.find((s) => s.worker === 1)!;
    const shown = await admin(cli.port, 'GET', `/admin/sessions/${target.id}`);
    assert.equal(shown.status, 200);
    assert.equal(shown.body['clientId'], target.clientId);
    const closed = await admin(cli.port, 'POST', `/admin/sessions/${target.id}/close?code=4100`);
    assert.equal(closed.status, 200);
    assert.deepEqual(await clients.get(target.clientId)!.closed, { code: 4100, reason: 'closed by the operator' });
    clients.delete(target.clientId);
    await until(() => up.connections.size === 5, 'its upstream closed too');
    // The upstream server may see its close before the worker's session has ended.
    await untilAsync(async () => (await admin(cli.port, 'GET', `/admin/sessions/${target.id}`)).status === 404, 'the closed session to leave the directory');
    assert.equal((await admin(cli.port, 'GET', '/admin/sessions/7-1-1')).status, 404, 'no worker 7');
  });

  it('GET /admin/workers: each worker with its pid, sessions, event-loop delay, RSS and restarts; and the primary', async () => {
    const res = await admin(cli.port, 'GET', '/admin/workers');
    assert.equal(res.status, 200);
    const workers = res.body['workers'] as Array<Record<string, any>>;
    assert.deepEqual(workers.map((w) => w['worker']), [0, 1]);
    assert.deepEqual(workers.map((w) => w['pid']), cli.workerPids);
    assert.deepEqual(workers.map((w) => w['sessions']), [3, 2]);
    for (const w of workers) {
      assert.equal(w['ready'], true);
      assert.equal(w['restarts'], 0);
      assert.equal(w['generation'], 1);
      assert.ok(w['rssBytes'] > 10_000_000, `rss ${w['rssBytes']}`);
      assert.equal(typeof w['eventLoopDelay']['p99Ms'], 'number');
    }
    const primary = res.body['primary'] as Record<string, any>;
    assert.equal(primary['pid'], cli.proc.pid);
  });

  it('metrics: process_* and nodejs_* carry worker="primary"|"0"|"1"; stratix_* stay summed', async () => {
    const text = await (await fetch(`http://127.0.0.1:${cli.port}/metrics`, { headers: { Accept: 'text/plain' } })).text();
    for (const worker of ['primary', '0', '1']) {
      assert.match(text, new RegExp(`^process_resident_memory_bytes\\{worker="${worker}"\\} \\d+`, 'm'), worker);
      assert.match(text, new RegExp(`^process_open_fds\\{worker="${worker}"\\} \\d+`, 'm'), worker);
      assert.match(text, new RegExp(`^process_max_fds\\{worker="${worker}"\\} \\d+`, 'm'), worker);
    }
    assert.match(text, /^stratix_connections_active 5$/m);
  });

  it('a close by prefix reaches both workers', async () => {
    const ids = [shards[0]![0]!, shards[1]![1]!];
    const common = 's-';
    const res = await admin(cli.port, 'POST', `/admin/sessions/close?prefix=${common}&rate=1000`);
    assert.equal(res.status, 200);
    assert.equal(res.body['queued'], 5);
    for (const id of ids) assert.equal((await clients.get(id)!.closed).code, 1012);
    await until(() => up.connections.size === 0, 'every upstream closed');
    clients.clear();
  });

  it('a worker killed and restarted: restarts 1, generation 2, its old session ids answer 404', async () => {
    const o = await open(cli.port, shards[1]![0]!);
    clients.set('again', o.client);
    const before = ((await admin(cli.port, 'GET', '/admin/sessions')).body as unknown as Listing).sessions;
    assert.equal(before.length, 1);
    const oldId = before[0]!.id;
    assert.match(oldId, /^1-1-/);
    process.kill(cli.workerPids[1]!, 'SIGKILL');
    await o.client.closed;
    clients.delete('again');
    const deadline = Date.now() + 20_000;
    let w1: Record<string, any> | undefined;
    while (Date.now() < deadline) {
      const res = await admin(cli.port, 'GET', '/admin/workers');
      w1 = (res.body['workers'] as Array<Record<string, any>>)[1];
      if (w1?.['ready'] === true && w1['generation'] === 2) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(w1?.['restarts'], 1);
    assert.equal(w1?.['generation'], 2);
    assert.notEqual(w1?.['pid'], cli.workerPids[1]);
    const gone = await admin(cli.port, 'GET', `/admin/sessions/${oldId}`);
    assert.equal(gone.status, 404);
    assert.match((gone.body['error'] as { message: string }).message, /restarted/);
    const fresh = await open(cli.port, shards[1]![0]!);
    clients.set('fresh', fresh.client);
    const listed = ((await admin(cli.port, 'GET', '/admin/sessions')).body as unknown as Listing).sessions;
    assert.equal(listed.length, 1);
    assert.match(listed[0]!.id, /^1-2-1$/);
    const restarts = await (await fetch(`http://127.0.0.1:${cli.port}/metrics?format=prometheus`)).text();
    assert.match(restarts, /^stratix_worker_restarts_total\{worker="1"\} 1$/m);
  });
});
