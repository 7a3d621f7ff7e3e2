/**
 * Integration: the real CLI with two worker processes. Sharding by clientId
 * (X-Stratix-Worker on the 101 = shardOf()), relaying through the cluster,
 * metrics summed over workers in three formats, the operations endpoints,
 * abusive requests answered by the primary, a worker restart that leaves the
 * other worker's clients alone, and SIGTERM (drain) / a second SIGTERM (exit now).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import { shardOf } from '../../src/cluster/shard.js';
import type { SeedMetrics } from '../../src/metrics/metrics-format.js';
import { startCli, type RunningCli } from '../helpers/cli.js';
import { connectClient, until, untilAsync, type TestClient } from '../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { expectRefusal, httpGet, promSample, scrapeSample, upgradeRequest } from '../helpers/raw-http.js';

const WORKERS = 2;

function clusterConfig(upstream: TestUpstream, gateway: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    gateway: { listen: '127.0.0.1:0', workers: WORKERS, handshakeTimeoutMs: 500, maxHeaderBytes: 1024, ...gateway },
    defaultRoute: { openclawGateway: upstream.url },
  };
}

/** clientIds `${prefix}${i}` until `perShard` of them fall on every worker. */
function idsPerShard(prefix: string, perShard: number): string[][] {
  const shards: string[][] = Array.from({ length: WORKERS }, () => []);
  for (let i = 0; shards.some((s) => s.length < perShard); i++) {
    const id = `${prefix}${i}`;
    const s = shards[shardOf(id, WORKERS)]!;
    if (s.length < perShard) s.push(id);
  }
  return shards;
}

interface OnWorker {
  client: TestClient;
  worker: number;
}

/** Opens a client and reads X-Stratix-Worker from its 101. Rejects if the upgrade fails. */
async function openOnWorker(port: number, clientId: string): Promise<OnWorker> {
  const client = connectClient(port, clientId);
  let header: string | string[] | undefined;
  client.ws.once('upgrade', (res: IncomingMessage) => (header = res.headers['x-stratix-worker']));
  await once(client.ws, 'open');
  assert.equal(typeof header, 'string', 'X-Stratix-Worker on the 101');
  return { client, worker: Number(header) };
}

/** Retries openOnWorker until it succeeds (e.g. while a worker restarts), within a deadline. */
async function openWhenServed(port: number, clientId: string, deadlineMs = 20_000): Promise<OnWorker> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    try {
      return await openOnWorker(port, clientId);
    } catch (err) {
      if (Date.now() > end) throw err;
      await delay(50);
    }
  }
}

/**
 * Drops the clients (no close handshake: these tests are not about it, and a
 * close sent right after the 101 can hang; see the hand-over tests below).
 */
async function dropAll(clients: TestClient[]): Promise<void> {
  for (const c of clients) c.ws.terminate();
  await Promise.all(clients.map((c) => c.closed));
}

/** Resolves true once `p` settles, false if `ms` pass first (a deadline for waiting). */
function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.then(() => true),
    new Promise<boolean>((resolve) => (timer = setTimeout(resolve, ms, false))),
  ]).finally(() => clearTimeout(timer));
}

/** Waits (with a deadline, so a lost message fails instead of hanging) until every client has `n(i)` messages. */
async function received(clients: TestClient[], n: (i: number) => number): Promise<void> {
  const ok = await within(Promise.all(clients.map((c, i) => c.waitFor(n(i)))), 10_000);
  const short = clients.filter((c, i) => c.messages.length < n(i)).length;
  assert.ok(ok, `${short} of ${clients.length} clients did not get all their echoes (a message was lost)`);
}

/** Sends one message per client and waits for every echo. */
async function roundTrip(clients: TestClient[], text: string): Promise<void> {
  const counts = clients.map((c) => c.messages.length);
  clients.forEach((c) => c.ws.send(text));
  await received(clients, (i) => counts[i]! + 1);
  clients.forEach((c) => assert.equal(c.messages.at(-1)!.data.toString(), text));
}

async function seedMetrics(port: number): Promise<SeedMetrics> {
  const res = await httpGet(port, '/metrics');
  assert.equal(res.status, 200);
  assert.match(res.headers['content-type'] ?? '', /^application\/json/);
  return JSON.parse(res.body) as SeedMetrics;
}

/** Polls GET /metrics (JSON) until `pred` holds, within a deadline. */
async function metricsWhen(port: number, pred: (m: SeedMetrics) => boolean, what: string): Promise<SeedMetrics> {
  const end = Date.now() + 15_000;
  for (;;) {
    const m = await seedMetrics(port);
    if (pred(m)) return m;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(m)}`);
    await delay(50);
  }
}

/** Direct children of `pid` (Linux /proc). */
function childPids(pid: number): number[] {
  const out: number[] = [];
  let tasks: string[] = [];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const t of tasks) {
    try {
      out.push(...readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').split(/\s+/).filter(Boolean).map(Number));
    } catch {
      // the task ended
    }
  }
  return out;
}

/** True while `pid` runs (a zombie counts as gone). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

function isWorker(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('worker-main');
  } catch {
    return false;
  }
}

/** Stops the CLI and every worker it has now (restarted ones included). */
async function stopCluster(cli: RunningCli | undefined): Promise<void> {
  if (cli === undefined) return;
  const workers = childPids(cli.proc.pid!).filter(isWorker);
  await cli.stop();
  for (const pid of workers) {
    if (!isWorker(pid)) continue;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

function waitForLog(cli: RunningCli, msg: string, role = 'primary'): Promise<void> {
  return until(() => cli.logs.some((l) => l.msg === msg && l.role === role), `log line "${msg}"`, 15_000);
}

/** Starts an upstream and a 2-worker cluster before the enclosing describe's tests, and stops both after. */
function useCluster(): { readonly upstream: TestUpstream; readonly cli: RunningCli } {
  const env = {} as { upstream: TestUpstream; cli: RunningCli };
  before(async () => {
    env.upstream = await startUpstream();
    env.cli = await startCli(clusterConfig(env.upstream));
  });
  after(async () => {
    await stopCluster(env.cli);
    await env.upstream?.close();
  });
  return env;
}

describe('cluster: 2 workers', { timeout: 120_000 }, () => {
  const env = useCluster();

  it('/healthz is 200 and /readyz is 200 {ready:true}', async () => {
    const health = await httpGet(env.cli.port, '/healthz');
    assert.equal(health.status, 200);
    const ready = await httpGet(env.cli.port, '/readyz');
    assert.equal(ready.status, 200);
    assert.equal((JSON.parse(ready.body) as { ready: boolean }).ready, true);
    assert.equal(env.cli.workerPids.length, WORKERS);
  });

  it('each clientId lands on worker shardOf(clientId), and 50 clientIds use both workers', async () => {
    const ids = Array.from({ length: 50 }, (_, i) => `user-${i}-${(i * 7919).toString(36)}`);
    const opened = await Promise.all(ids.map((id) => openOnWorker(env.cli.port, id)));
    try {
      opened.forEach((o, i) => assert.equal(o.worker, shardOf(ids[i]!, WORKERS), ids[i]));
      assert.deepEqual(new Set(opened.map((o) => o.worker)), new Set([0, 1]));
    } finally {
      await dropAll(opened.map((o) => o.client));
    }
  });

  it('a clientId lands on the same worker over reconnects', async () => {
    for (const id of ['client-1', 'client-2', 'client-3', 'sticky@tenant:9']) {
      const seen = new Set<number>();
      for (let i = 0; i < 4; i++) {
        const o = await openOnWorker(env.cli.port, id);
        seen.add(o.worker);
        await dropAll([o.client]);
      }
      assert.deepEqual([...seen], [shardOf(id, WORKERS)], id);
    }
  });

  // The primary reads the request head, then hands the socket to a worker. Whatever
  // the client sends right after the 101 must reach the worker, not be read (and
  // dropped) by the primary. Sequential clients: each one races the hand-over.
  it('a message sent right after the 101 is relayed (300 clients, one after another)', async () => {
    for (let i = 0; i < 300; i++) {
      const id = `eager-${i}`;
      const c = connectClient(env.cli.port, id);
      c.ws.once('open', () => c.ws.send(`first from ${id}`));
      try {
        assert.ok(await within(c.waitFor(1), 5_000), `client #${i} (${id}, worker ${shardOf(id, WORKERS)}): its first message was never relayed`);
        assert.equal(c.messages[0]!.data.toString(), `first from ${id}`);
      } finally {
        await dropAll([c]);
      }
    }
  });

  it('a close sent right after the 101 is answered (300 clients, one after another)', async () => {
    for (let i = 0; i < 300; i++) {
      const id = `brief-${i}`;
      const c = connectClient(env.cli.port, id);
      c.ws.once('open', () => c.ws.close(1000, 'bye'));
      try {
        // ws would give up on its own after 30 s (its close timeout) and report 1006.
        assert.ok(await within(c.closed, 5_000), `client #${i} (${id}, worker ${shardOf(id, WORKERS)}): close handshake not answered`);
        assert.equal((await c.closed).code, 1000);
      } finally {
        await dropAll([c]);
      }
    }
  });

  it('relays text and binary both ways through either worker', async () => {
    const shards = idsPerShard('relay-', 1);
    for (const [id] of shards) {
      const { client, worker } = await openOnWorker(env.cli.port, id!);
      assert.equal(worker, shardOf(id!, WORKERS));
      try {
        client.ws.send('text frame');
        client.ws.send(Buffer.from([0, 1, 2, 255]));
        await received([client], () => 2);
        assert.deepEqual(client.messages.map((m) => [m.data.toString('hex'), m.isBinary]), [
          [Buffer.from('text frame').toString('hex'), false],
          ['000102ff', true],
        ]);
      } finally {
        await dropAll([client]);
      }
    }
  });

  it('GET /metrics (JSON, the seed fields) sums both workers', async () => {
    const base = await metricsWhen(env.cli.port, (m) => m.connectionsActive === 0, 'earlier clients to be gone');
    assert.deepEqual(Object.keys(base).sort(), [
      'bytesReceived', 'bytesSent', 'connectionsActive', 'connectionsTotal',
      'messagesFailed', 'messagesReceived', 'messagesSent', 'uptimeSeconds',
    ]);
    for (const v of Object.values(base)) assert.equal(typeof v, 'number');

    const ids = idsPerShard('metrics-', 5).flat();
    const opened = await Promise.all(ids.map((id) => openOnWorker(env.cli.port, id)));
    const clients = opened.map((o) => o.client);
    try {
      assert.deepEqual(new Set(opened.map((o) => o.worker)), new Set([0, 1]));
      const PER_CLIENT = 40;
      let bytes = 0;
      for (let j = 0; j < PER_CLIENT; j++) {
        clients.forEach((c, i) => {
          const text = `message ${j} from ${ids[i]}`;
          bytes += Buffer.byteLength(text);
          c.ws.send(text);
        });
      }
      await received(clients, () => PER_CLIENT);
      const m = await seedMetrics(env.cli.port);
      const n = ids.length * PER_CLIENT;
      assert.equal(m.connectionsActive, ids.length);
      assert.equal(m.connectionsTotal - base.connectionsTotal, ids.length);
      // Each message is received and sent once per direction (client → upstream, echo → client).
      assert.equal(m.messagesReceived - base.messagesReceived, 2 * n);
      assert.equal(m.messagesSent - base.messagesSent, 2 * n);
      assert.equal(m.bytesReceived - base.bytesReceived, 2 * bytes);
      assert.equal(m.bytesSent - base.bytesSent, 2 * bytes);
      assert.equal(m.messagesFailed - base.messagesFailed, 0);
      assert.ok(m.uptimeSeconds >= base.uptimeSeconds);
    } finally {
      await dropAll(clients);
    }
    await metricsWhen(env.cli.port, (m) => m.connectionsActive === 0, 'the clients to be gone');
  });

  it('GET /metrics with Accept: text/plain is Prometheus text with stratix_* series and histograms', async () => {
    const res = await httpGet(env.cli.port, '/metrics', { Accept: 'text/plain' });
    assert.equal(res.status, 200);
    assert.match(res.headers['content-type'] ?? '', /^text\/plain; version=0\.0\.4/);
    const text = res.body;
    for (const name of ['stratix_connections_total', 'stratix_connections_active', 'stratix_messages_received_total', 'stratix_handshake_rejections_total', 'stratix_worker_restarts_total']) {
      assert.match(text, new RegExp(`^# TYPE ${name} `, 'm'), name);
    }
    for (const h of ['stratix_upstream_connect_seconds', 'stratix_relay_latency_seconds']) assert.match(text, new RegExp(`^# TYPE ${h} histogram$`, 'm'), h);
    assert.match(text, /^stratix_upstream_connect_seconds_bucket\{.*le="\+Inf".*\} \d+/m, 'stratix_upstream_connect_seconds has buckets');
    assert.ok((promSample(text, 'stratix_upstream_connect_seconds_count') ?? 0) > 0, 'stratix_upstream_connect_seconds_count > 0');
    // stratix_relay_latency_seconds times messages relayed in JavaScript only (README): the echoes
    // above went over the workers' relay threads (relay.dataPath "auto", the default).
    assert.match(text, /^# TYPE stratix_native_sessions gauge$/m, 'the workers run the native data path');
    assert.equal(promSample(text, 'stratix_workers_ready'), WORKERS);
    const json = await seedMetrics(env.cli.port);
    assert.equal(promSample(text, 'stratix_connections_total'), json.connectionsTotal);
  });

  it('GET /metrics with Accept: application/openmetrics-text is OpenMetrics', async () => {
    const res = await httpGet(env.cli.port, '/metrics', { Accept: 'application/openmetrics-text; version=1.0.0' });
    assert.equal(res.status, 200);
    assert.match(res.headers['content-type'] ?? '', /^application\/openmetrics-text; version=1\.0\.0/);
    assert.ok(res.body.endsWith('# EOF\n'), 'ends with # EOF');
    assert.match(res.body, /^# TYPE stratix_relay_latency_seconds histogram$/m);
  });

  it('the primary refuses bad upgrades like a worker would (400 / 404 / 426)', async () => {
    await expectRefusal(env.cli.port, upgradeRequest('/ws'), 400, 'STRATIX_ERR_CLIENT_ID_MISSING');
    await expectRefusal(env.cli.port, upgradeRequest('/ws?clientId=a%2Fb'), 400, 'STRATIX_ERR_CLIENT_ID_INVALID');
    await expectRefusal(env.cli.port, upgradeRequest('/elsewhere?clientId=a'), 404, 'STRATIX_ERR_NOT_FOUND');
    await expectRefusal(env.cli.port, 'GET /ws?clientId=a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 426, 'STRATIX_ERR_UPGRADE_REQUIRED');
  });

  it('garbage request bytes to the primary → 400, counted', async () => {
    const code = 'STRATIX_ERR_BAD_REQUEST';
    const before = await scrapeSample(env.cli.port, 'stratix_handshake_rejections_total', { code });
    await expectRefusal(env.cli.port, '\x00\x01\x02garbage\xff\r\n\r\n', 400, code);
    await expectRefusal(env.cli.port, 'HELLO\r\n\r\n', 400, code);
    assert.equal(await scrapeSample(env.cli.port, 'stratix_handshake_rejections_total', { code }), before + 2);
  });

  it('a /ws upgrade with a malformed header line → 400 (parsed by the worker)', async () => {
    await expectRefusal(env.cli.port, upgradeRequest('/ws?clientId=client-1', ['this is not a header']), 400, 'STRATIX_ERR_BAD_REQUEST');
  });

  it('a request to an operations path with a malformed header line → 400, as on a standalone gateway', async () => {
    await expectRefusal(env.cli.port, 'GET /healthz HTTP/1.1\r\nHost: x\r\nthis is not a header\r\n\r\n', 400, 'STRATIX_ERR_BAD_REQUEST');
  });

  it('slowloris on the primary → 408 STRATIX_ERR_HANDSHAKE_TIMEOUT', async () => {
    await expectRefusal(env.cli.port, 'GET /ws?clientId=client-1 HTTP/1.1\r\nHost: 127.0.0.1\r\n', 408, 'STRATIX_ERR_HANDSHAKE_TIMEOUT');
    const head = upgradeRequest('/ws?clientId=client-1', [`X-Slow: ${'s'.repeat(200)}`]);
    await expectRefusal(env.cli.port, head, 408, 'STRATIX_ERR_HANDSHAKE_TIMEOUT', { dribbleMs: 20, deadlineMs: 15_000 });
    // A connection that never sends a byte is timed out too.
    await expectRefusal(env.cli.port, '', 408, 'STRATIX_ERR_HANDSHAKE_TIMEOUT');
  });

  it('a header block over gateway.maxHeaderBytes → 431 STRATIX_ERR_HEADERS_TOO_LARGE', async () => {
    const padding = `X-Padding: ${'p'.repeat(2048)}`;
    await expectRefusal(env.cli.port, upgradeRequest('/ws?clientId=client-1', [padding]), 431, 'STRATIX_ERR_HEADERS_TOO_LARGE');
    // Unfinished head already over the limit: no need to wait for its end.
    await expectRefusal(env.cli.port, `GET /ws?clientId=client-1 HTTP/1.1\r\n${padding}`, 431, 'STRATIX_ERR_HEADERS_TOO_LARGE');
    await expectRefusal(env.cli.port, `GET /metrics HTTP/1.1\r\n${padding}\r\n\r\n`, 431, 'STRATIX_ERR_HEADERS_TOO_LARGE');
  });

  it('is still serving after the abuse', async () => {
    const { client } = await openOnWorker(env.cli.port, 'after-abuse');
    try {
      await roundTrip([client], 'fine');
    } finally {
      await dropAll([client]);
    }
  });
});

describe('cluster: a worker dies', { timeout: 60_000 }, () => {
  const env = useCluster();

  it('is restarted with a new pid; the other worker keeps its clients relaying', async () => {
    const port = env.cli.port;
    const [ids0, ids1] = idsPerShard('victim-', 3) as [string[], string[]];
    const on0 = await Promise.all(ids0.map((id) => openOnWorker(port, id)));
    const on1 = await Promise.all(ids1.map((id) => openOnWorker(port, id)));
    const survivors = on1.map((o) => o.client);
    const victims = on0.map((o) => o.client);
    try {
      assert.deepEqual(on0.map((o) => o.worker), [0, 0, 0]);
      assert.deepEqual(on1.map((o) => o.worker), [1, 1, 1]);
      await roundTrip([...victims, ...survivors], 'before');
      const [oldPid0, pid1] = env.cli.workerPids as [number, number];
      assert.deepEqual(childPids(env.cli.proc.pid!).sort(), [oldPid0, pid1].sort());
      const restartsBefore = await scrapeSample(port, 'stratix_worker_restarts_total', { worker: '0' });
      const connectionsBefore = await scrapeSample(port, 'stratix_connections_total');
      assert.ok(connectionsBefore >= 6, `both workers' connections are counted (${connectionsBefore})`);

      process.kill(oldPid0, 'SIGKILL');

      // The dead worker's clients lose their connection (no close frame: 1006).
      const lost = await Promise.all(victims.map((c) => c.closed));
      assert.deepEqual(lost.map((c) => c.code), [1006, 1006, 1006]);

      // A new process takes worker 0's place and serves its shard again.
      await until(() => {
        const kids = childPids(env.cli.proc.pid!);
        return kids.length === WORKERS && !kids.includes(oldPid0) && kids.includes(pid1);
      }, 'a new worker 0 process', 20_000);
      const back = await openWhenServed(port, ids0[0]!);
      assert.equal(back.worker, 0);
      await roundTrip([back.client], 'after restart');
      // The dead process's counts stay in the sum (its last answer), the new process's add on top.
      assert.ok(await scrapeSample(port, 'stratix_connections_total') >= connectionsBefore + 1, 'the summed counter did not go down at the restart');
      await dropAll([back.client]);
      assert.equal(await scrapeSample(port, 'stratix_worker_restarts_total', { worker: '0' }), restartsBefore + 1);
      assert.equal(await scrapeSample(port, 'stratix_worker_restarts_total', { worker: '1' }), 0);

      // Worker 1's clients never noticed.
      for (const c of survivors) assert.equal(c.ws.readyState, c.ws.OPEN);
      await roundTrip(survivors, 'after');
      const ready = await httpGet(port, '/readyz');
      assert.equal(ready.status, 200);
    } finally {
      await dropAll([...survivors, ...victims]);
    }
  });
});

/** The worker labels of the per-process series in Prometheus text. */
function workersIn(text: string): string[] {
  return [...new Set([...text.matchAll(/^process_resident_memory_bytes\{worker="(\d+)"\}/gm)].map((m) => m[1]!))];
}

/**
 * The summed samples of Prometheus text that only go up while every process lives: `stratix_*`
 * counters and histogram series (`_bucket`, `_count`, `_sum`), keyed by name and labels.
 */
function monotonicSamples(text: string): Map<string, number> {
  const kinds = new Map<string, string>();
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) kinds.set(m[1]!, m[2]!);
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^(stratix_[a-zA-Z0-9_:]*)(\{.*\})? (\S+)$/gm)) {
    const name = m[1]!;
    const histogram = /^(.*)_(?:bucket|count|sum)$/.exec(name);
    if (kinds.get(name) !== 'counter' && !(histogram !== null && kinds.get(histogram[1]!) === 'histogram')) continue;
    out.set(name + (m[2] ?? ''), Number(m[3]));
  }
  return out;
}

async function promText(port: number): Promise<string> {
  return (await httpGet(port, '/metrics', { Accept: 'text/plain' })).body;
}

/** Every monotonic sample of `before` is in `after`, not lower. */
function assertNoneWentBack(before: string, after: string, what: string): void {
  const a = monotonicSamples(before);
  const b = monotonicSamples(after);
  assert.ok(a.size > 20, `counters in the scrape: ${a.size}`);
  const back = [...a].filter(([k, v]) => !((b.get(k) ?? -1) >= v)).map(([k, v]) => `${k}: ${v} -> ${b.get(k) ?? 'absent'}`);
  assert.deepEqual(back, [], `${what}: summed counters that went backwards`);
}

describe('cluster: a worker that does not answer the metrics request', { timeout: 60_000 }, () => {
  const env = useCluster();
  const text = () => promText(env.cli.port);

  it('counts as stale and adds its last figures: no summed counter goes backwards; its per-process series are left out until it answers', async () => {
    // Traffic on both workers, so that worker 0's share of the sums is not zero.
    const opened = await Promise.all(idsPerShard('stall-', 2).flat().map((id) => openOnWorker(env.cli.port, id)));
    const clients = opened.map((o) => o.client);
    try {
      await roundTrip(clients, 'one');
      await roundTrip(clients, 'two');
      const before = await text();
      assert.equal(promSample(before, 'stratix_metrics_workers_missing'), 0);
      assert.equal(promSample(before, 'stratix_metrics_workers_stale'), 0);
      assert.ok(promSample(before, 'stratix_messages_received_total')! >= 8);
      const stopped = env.cli.workerPids[0]!;
      process.kill(stopped, 'SIGSTOP');
      let during: string;
      try {
        during = await text(); // waits out the worker's 2 s
      } finally {
        process.kill(stopped, 'SIGCONT');
      }
      assert.equal(promSample(during, 'stratix_metrics_workers_stale'), 1, 'the stopped worker: figures from an earlier scrape');
      assert.equal(promSample(during, 'stratix_metrics_workers_missing'), 0, 'it has figures, so it is not missing');
      assertNoneWentBack(before, during, 'the scrape during the stall');
      assert.equal(promSample(during, 'stratix_connections_active'), clients.length, 'its gauges: as it last told them');
      assert.deepEqual(workersIn(during), ['1'], 'the other worker is there, the stopped one is not');
      await untilAsync(async () => promSample(await text(), 'stratix_metrics_workers_stale') === 0, 'the worker answering again');
      const after = await text();
      assert.equal(promSample(after, 'stratix_metrics_workers_missing'), 0);
      assertNoneWentBack(during, after, 'the scrape after the stall');
      assert.equal(workersIn(after).length, WORKERS);
    } finally {
      await dropAll(clients);
    }
  });
});

describe('cluster: a worker restarted while it did not answer', { timeout: 60_000 }, () => {
  const env = useCluster();
  const text = () => promText(env.cli.port);

  it("keeps its old process's counters in the sums: no summed counter or histogram goes backwards; its gauges leave; new traffic adds on top", async () => {
    const opened = await Promise.all(idsPerShard('restart-', 2).flat().map((id) => openOnWorker(env.cli.port, id)));
    const clients = opened.map((o) => o.client);
    const survivors = opened.filter((o) => o.worker !== 0).map((o) => o.client);
    let back: TestClient | undefined;
    try {
      await roundTrip(clients, 'hello');
      const before = await text();
      assert.equal(promSample(before, 'stratix_connections_total'), 4);
      assert.equal(promSample(before, 'stratix_connections_active'), 4);
      const old = env.cli.workerPids[0]!;
      process.kill(old, 'SIGSTOP');
      try {
        assert.equal(promSample(await text(), 'stratix_metrics_workers_stale'), 1);
      } finally {
        process.kill(old, 'SIGKILL'); // a stopped process dies too
      }
      await Promise.all(opened.filter((o) => o.worker === 0).map((o) => o.client.closed));
      // Reaped by the primary once it is no longer its child: from then on worker 0 is missing
      // (restarting) or a new process; its old process's counters stay in the sums, its gauges do not.
      await until(() => !childPids(env.cli.proc.pid!).includes(old), 'the old worker 0 reaped');
      const reaped = await text();
      assert.equal(promSample(reaped, 'stratix_metrics_workers_stale'), 0);
      assertNoneWentBack(before, reaped, 'the scrape after the worker died');
      assert.equal(promSample(reaped, 'stratix_connections_active'), 2, "worker 0's open connections left with its process");
      const seed = await seedMetrics(env.cli.port);
      assert.equal(seed.connectionsTotal, 4, "worker 0's connections stay in the sum");
      assert.equal(seed.connectionsActive, 2);
      await untilAsync(async () => (await httpGet(env.cli.port, '/readyz')).status === 200, 'a new worker 0 ready', 20_000);
      await untilAsync(async () => promSample(await text(), 'stratix_metrics_workers_missing') === 0, 'the new worker 0 answering');
      const fresh = await text();
      assert.equal(promSample(fresh, 'stratix_metrics_workers_stale'), 0);
      assertNoneWentBack(before, fresh, 'the scrape with the new worker 0');
      assert.equal(promSample(fresh, 'stratix_connections_total'), 4);
      assert.equal(promSample(fresh, 'stratix_connections_active'), 2);
      assert.equal(workersIn(fresh).length, WORKERS);
      // New traffic on the new process adds to the old process's counts.
      const again = await openOnWorker(env.cli.port, idsPerShard('restart-', 2)[0]![0]!);
      back = again.client;
      assert.equal(again.worker, 0);
      await roundTrip([back, ...survivors], 'again');
      const later = await text();
      assertNoneWentBack(fresh, later, 'the scrape after new traffic');
      assert.equal(promSample(later, 'stratix_connections_total'), 5);
      assert.equal(promSample(later, 'stratix_connections_active'), 3);
      const received = (t: string) => promSample(t, 'stratix_messages_received_total', { direction: 'client_to_upstream' })!;
      assert.equal(received(later), received(before) + 3, 'the new messages on top of every earlier one');
    } finally {
      await dropAll([...clients, ...(back === undefined ? [] : [back])]);
    }
  });
});

describe('cluster: SIGTERM', { timeout: 60_000 }, () => {
  let upstream: TestUpstream;
  const started: RunningCli[] = [];

  before(async () => {
    upstream = await startUpstream();
  });
  after(async () => {
    for (const cli of started) await stopCluster(cli);
    await upstream.close();
  });

  async function start(gateway: Record<string, unknown>): Promise<RunningCli> {
    const cli = await startCli(clusterConfig(upstream, gateway));
    started.push(cli);
    return cli;
  }

  it('drains: readiness false, newcomers 503, open clients 1012, exit 0', async () => {
    const cli = await start({ drainPeriodMs: 1_500, drainGraceMs: 1_000 });
    const port = cli.port;
    const opened = await Promise.all(idsPerShard('term-', 3).flat().map((id) => openOnWorker(port, id)));
    const clients = opened.map((o) => o.client);
    assert.deepEqual(new Set(opened.map((o) => o.worker)), new Set([0, 1]));
    await roundTrip(clients, 'before');
    const pids = cli.workerPids;

    cli.proc.kill('SIGTERM');
    await waitForLog(cli, 'draining');

    const ready = await httpGet(port, '/readyz');
    assert.equal(ready.status, 503);
    assert.equal((JSON.parse(ready.body) as { ready: boolean }).ready, false);
    const refusal = await expectRefusal(port, upgradeRequest('/ws?clientId=newcomer'), 503, 'STRATIX_ERR_DRAINING');
    assert.match(refusal.headers['retry-after'] ?? '', /^\d+$/);

    const closes = await Promise.all(clients.map((c) => c.closed));
    assert.deepEqual(closes.map((c) => c.code), new Array<number>(clients.length).fill(1012));
    const exit = await cli.exited;
    assert.deepEqual(exit, { code: 0, signal: null });
    await until(() => !pids.some(alive), 'the workers to exit');
  });

  it('SIGTERM to every process of the group (systemd, Ctrl-C) still drains with 1012', async () => {
    const cli = await start({ drainPeriodMs: 1_500, drainGraceMs: 1_000 });
    const port = cli.port;
    const opened = await Promise.all(idsPerShard('group-', 2).flat().map((id) => openOnWorker(port, id)));
    const clients = opened.map((o) => o.client);
    await roundTrip(clients, 'before');
    // What systemd's KillMode=control-group does: the same signal to the primary and its workers.
    cli.proc.kill('SIGTERM');
    for (const pid of cli.workerPids) process.kill(pid, 'SIGTERM');
    const closes = await Promise.all(clients.map((c) => c.closed));
    assert.deepEqual(closes.map((c) => c.code), new Array<number>(clients.length).fill(1012));
    assert.deepEqual(await cli.exited, { code: 0, signal: null });
  });

  it('a second SIGTERM during a long drain exits at once, dropping the clients still open', async () => {
    const cli = await start({ drainPeriodMs: 3_600_000, drainGraceMs: 0 });
    const port = cli.port;
    const opened = await Promise.all(idsPerShard('twice-', 2).flat().map((id) => openOnWorker(port, id)));
    const clients = opened.map((o) => o.client);
    await roundTrip(clients, 'before');
    const pids = cli.workerPids;

    cli.proc.kill('SIGTERM');
    await waitForLog(cli, 'draining');
    cli.proc.kill('SIGTERM');

    const exit = await cli.exited;
    assert.notEqual(exit.code, 0);
    // Still connected when the process went: dropped (1006), not drained (1012).
    const closes = await Promise.all(clients.map((c) => c.closed));
    assert.deepEqual(closes.map((c) => c.code), new Array<number>(clients.length).fill(1006));
    await until(() => !pids.some(alive), 'the workers to exit');
  });
});
