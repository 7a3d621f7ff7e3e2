// Interop suite: the REAL OpenClaw gateway (npm openclaw@2026.9.6, on Node 24) and its real
// clients, talking THROUGH Stratix Gateway (the CLI, dist/src/cli/main.js, in a child process).
//
//   client (openclaw CLI / node host) ──ws://127.0.0.1:<stratix>/ws?clientId=…──▶ Stratix
//        ──ws://127.0.0.1:<openclaw>/──▶ real OpenClaw gateway
//
// Prerequisites: `npx tsc -p .` (this file runs from dist/), the npm registry on a clean clone.
// The `before` hook runs scripts/install-openclaw.sh itself (idempotent: ~0.1 s when
// .cache/openclaw and .cache/node24 are there, ~50 s on a clean clone), so the suite needs no
// separate install step. Runtime: about 2 minutes once installed.
//
//   npx tsc -p . && node --test dist/test/interop/openclaw.interop.test.js
//
// STRATIX_INTEROP_MAIN=/path/to/main.js runs that script instead of dist/src/cli/main.js (with
// the same `--config FILE` contract), e.g. to try the suite against another proxy.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { randomUUID } from 'node:crypto';
import { V1Client, type Envelope } from '../helpers/v1-client.js';
import {
  ensureOpenClawInstalled,
  makeTrackedTempDir,
  ManagedProcess,
  OPENCLAW_VERSION,
  OpenClawGateway,
  removeTrackedTempDir,
  repoRoot,
  type NodeListEntry,
} from '../helpers/openclaw-gateway.js';
import { testDataPath } from '../helpers/gateway.js';

/** Deadlines for waiting only (nothing here asserts a duration). */
const INSTALL_AND_START_MS = 15 * 60_000;
const NODE_CONNECT_MS = 120_000; // the first `node run` takes about 15 s before it connects
const NODE_RECONNECT_MS = 120_000; // backoff 1, 2, 4, 8, 16, 30 s while the gateway is down
const GATEWAY_VIEW_MS = 60_000;
/** How long the node host must stay on one connection: more than a tick (30 s) and a ping (25 s). */
const HOLD_MS = 35_000;
/** How long the reliable client stays away: longer than a tick (30 s). */
const AWAY_MS = 45_000;

interface Metrics {
  connectionsTotal: number;
  connectionsActive: number;
  messagesReceived: number;
  messagesSent: number;
}

/** Stratix Gateway's CLI in a child process, on 127.0.0.1 and a port of its choosing. */
class StratixProcess {
  private constructor(
    readonly process: ManagedProcess,
    readonly port: number,
    readonly dir: string,
  ) {}

  static async start(upstreamUrl: string): Promise<StratixProcess> {
    const dir = await makeTrackedTempDir('stratix-interop-');
    const configFile = path.join(dir, 'route.json');
    await writeFile(
      configFile,
      JSON.stringify(
        testDataPath({
          gateway: { listen: '127.0.0.1:0', workers: 2, drainPeriodMs: 1000 },
          routes: [{ clientIdPrefix: 'interop-', openclawGateway: upstreamUrl }],
          defaultRoute: { openclawGateway: upstreamUrl },
          log: { level: 'info' },
        }),
      ),
    );
    const main = process.env['STRATIX_INTEROP_MAIN'] ?? path.join(repoRoot, 'dist', 'src', 'cli', 'main.js');
    const env = { ...process.env };
    delete env['NODE_TEST_CONTEXT']; // else the child thinks it is a node:test subprocess
    const proc = new ManagedProcess('stratix', process.execPath, [main, '--config', configFile], env, dir);
    try {
      // The primary's line (workers, should they log one too, carry "role":"worker").
      const listening = /^(?!.*"role":"worker").*"msg":"listening"/;
      const line = await proc.log.waitFor(listening, { timeoutMs: 60_000, what: 'stratix' });
      const port = (JSON.parse(line) as { port?: unknown }).port;
      assert.equal(typeof port, 'number', `no port in the listening line: ${line}`);
      return new StratixProcess(proc, port as number, dir);
    } catch (err) {
      await proc.stop({ graceMs: 5000 });
      await removeTrackedTempDir(dir);
      throw err;
    }
  }

  /** The URL a client uses, with its clientId. */
  clientUrl(clientId: string): string {
    return `ws://127.0.0.1:${this.port}/ws?clientId=${encodeURIComponent(clientId)}`;
  }

  /** One sample of Prometheus text from /metrics. */
  async sample(name: string, labels: Record<string, string> = {}): Promise<number> {
    const res = await fetch(`http://127.0.0.1:${this.port}/metrics`, { headers: { accept: 'text/plain' } });
    const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
    for (const line of (await res.text()).split('\n')) {
      if (!line.startsWith(name)) continue;
      const rest = line.slice(name.length);
      if (!(rest.startsWith(' ') || rest.startsWith('{'))) continue;
      if (want.every((w) => rest.includes(w))) return Number(line.slice(line.lastIndexOf(' ') + 1));
    }
    return 0;
  }

  async metrics(): Promise<Metrics> {
    const res = await fetch(`http://127.0.0.1:${this.port}/metrics`, { headers: { accept: 'application/json' } });
    assert.equal(res.status, 200, 'GET /metrics');
    return (await res.json()) as Metrics;
  }

  async close(): Promise<void> {
    await this.process.stop({ signal: 'SIGTERM', graceMs: 30_000 });
    await removeTrackedTempDir(this.dir);
  }
}

/** Polls `probe` until it returns a value (not undefined); rejects at the deadline. */
async function eventually<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      throw new Error(`${what}: not seen within ${timeoutMs} ms${lastError ? ` (last error: ${String(lastError)})` : ''}`);
    }
    await delay(2000);
  }
}

describe('interop with the real OpenClaw gateway through Stratix', { timeout: 30 * 60_000 }, () => {
  let openclaw: OpenClawGateway | undefined;
  let stratix: StratixProcess | undefined;

  before(
    async () => {
      const install = await ensureOpenClawInstalled();
      openclaw = await OpenClawGateway.start(install);
      stratix = await StratixProcess.start(openclaw.url);
    },
    { timeout: INSTALL_AND_START_MS },
  );

  after(
    async () => {
      await stratix?.close();
      await openclaw?.close();
    },
    { timeout: 120_000 },
  );

  function running(): { openclaw: OpenClawGateway; stratix: StratixProcess } {
    assert.ok(openclaw && stratix, 'before hook did not finish');
    return { openclaw, stratix };
  }

  it('openclaw gateway call health succeeds through Stratix', async () => {
    const { openclaw, stratix } = running();
    const before = await stratix.metrics();
    const res = await openclaw.call('health', { url: stratix.clientUrl('interop-cli-health') });
    assert.equal(res.exitCode, 0, `gateway call health failed:\n${res.stdout}\n${res.stderr}`);
    assert.equal((res.json as { ok?: unknown }).ok, true);
    const afterCall = await stratix.metrics();
    assert.ok(afterCall.connectionsTotal > before.connectionsTotal, 'the call did not go through Stratix');
  });

  it('openclaw gateway call status succeeds through Stratix', async () => {
    const { openclaw, stratix } = running();
    const res = await openclaw.call('status', { url: stratix.clientUrl('interop-cli-status') });
    assert.equal(res.exitCode, 0, `gateway call status failed:\n${res.stdout}\n${res.stderr}`);
    assert.equal((res.json as { runtimeVersion?: unknown }).runtimeVersion, OPENCLAW_VERSION);
  });

  it('an openclaw node host stays connected through Stratix and reconnects after the gateway restarts', async (t) => {
    const { openclaw, stratix } = running();
    const clientId = 'interop-node-1';
    const node = await openclaw.startNodeHost({
      host: '127.0.0.1',
      port: stratix.port,
      contextPath: `/ws?clientId=${clientId}`,
    });

    /** Our node in the real gateway's node.list, once it is connected (and connected after `sinceMs`). */
    const connectedNode = (sinceMs = 0): Promise<NodeListEntry> =>
      eventually(`node ${node.displayName} connected in node.list`, GATEWAY_VIEW_MS, async () => {
        const entry = (await openclaw.nodeList()).find((n) => n.displayName === node.displayName);
        return entry?.connected === true && (entry.connectedAtMs ?? 0) > sinceMs ? entry : undefined;
      });

    let first: NodeListEntry | undefined;
    t.after(() => node.stop());

    await t.test('connects through Stratix', async () => {
      const line = await node.waitForConnect({ timeoutMs: NODE_CONNECT_MS });
      assert.ok(line.includes(stratix.clientUrl(clientId)), `the node host connected elsewhere: ${line}`);
      first = await connectedNode();
      const m = await stratix.metrics();
      assert.ok(m.connectionsActive >= 1, `Stratix shows no active connection: ${JSON.stringify(m)}`);
    });

    await t.test(`stays on the same connection for ${HOLD_MS / 1000} s`, async () => {
      assert.ok(first, 'the node host never connected');
      const mark = node.log.mark();
      const before = await stratix.metrics();
      await delay(HOLD_MS);
      assert.deepEqual(node.closeCodes(mark), [], `the node host lost its connection:\n${node.log.tail()}`);
      assert.deepEqual(node.connects(mark), []);
      const now = await connectedNode();
      assert.equal(now.connectedAtMs, first.connectedAtMs, 'the gateway saw a new connection');
      const m = await stratix.metrics();
      assert.equal(m.connectionsTotal, before.connectionsTotal, 'Stratix saw a new connection');
      assert.ok(m.connectionsActive >= 1);
      // Ticks and the node's own requests kept flowing both ways through Stratix.
      assert.ok(m.messagesSent > before.messagesSent, `nothing relayed to the client: ${JSON.stringify(m)}`);
    });

    await t.test('gets 1012 relayed when the gateway stops, then reconnects once it is back on its port', async (t) => {
      assert.ok(first, 'the node host never connected');
      const mark = node.log.mark();
      const before = await stratix.metrics();
      const stoppedAt = Date.now();

      await openclaw.stop();
      await node.log.waitFor(/^node host gateway closed \(/, { from: mark, timeoutMs: 30_000, what: 'node host' });
      assert.equal(node.closeCodes(mark)[0], 1012, `first close seen by the node host:\n${node.log.tail()}`);

      await openclaw.start(); // same port
      await node.waitForConnect({ from: mark, timeoutMs: NODE_RECONNECT_MS });
      const again = await connectedNode(stoppedAt);
      assert.equal(again.nodeId, first.nodeId, 'the same node (device) reconnected');

      const m = await stratix.metrics();
      t.diagnostic(`node host closes while the gateway restarted: ${node.closeCodes(mark).join(', ')}`);
      t.diagnostic(`Stratix connectionsTotal ${before.connectionsTotal} -> ${m.connectionsTotal}`);
      assert.ok(m.connectionsTotal > before.connectionsTotal, `no new connection through Stratix: ${JSON.stringify(m)}`);
      assert.ok(m.connectionsActive >= 1, `Stratix shows no active connection: ${JSON.stringify(m)}`);

      // New one-shot clients get through to the restarted gateway as well.
      const res = await openclaw.call('health', { url: stratix.clientUrl('interop-cli-after-restart') });
      assert.equal(res.exitCode, 0, `gateway call health after the restart failed:\n${res.stdout}\n${res.stderr}`);
    });
  });

  it(`a reliable (stratix.v1) client does the token-only connect through envelopes, is away ${AWAY_MS / 1000} s, resumes, and is answered on the same upstream connection`, async (t) => {
    const { openclaw, stratix } = running();
    const clientId = 'interop-reliable-1';
    let n = 0;
    /** An OpenClaw request as a stratix.v1 DATA envelope; returns its request id. */
    const request = (c: V1Client, method: string, params: Record<string, unknown>): string => {
      const id = `${++n}:${randomUUID()}`;
      c.data(`m-${n}`, JSON.stringify({ type: 'req', id, method, params }));
      return id;
    };
    /** The OpenClaw frames inside the gateway's DATA envelopes. */
    const frames = (c: V1Client): Array<{ env: Envelope; msg: { type: string; event?: string; id?: string; ok?: boolean; payload?: Record<string, unknown> } }> =>
      c.envelopes.filter((e) => e.type === 0).map((env) => ({ env, msg: JSON.parse(Buffer.from(env.data!, 'base64').toString()) }));
    const opensBefore = await stratix.sample('stratix_upstream_connect_seconds_count', { result: 'open' });

    const c = await V1Client.open(stratix.port, clientId);
    const w = await c.hello();
    await c.upstreamOpen();
    await c.until(() => frames(c).some((f) => f.msg.event === 'connect.challenge'), 'connect.challenge');
    const connectId = request(c, 'connect', {
      minProtocol: 4,
      maxProtocol: 4,
      client: { id: 'cli', version: OPENCLAW_VERSION, platform: 'linux', deviceFamily: 'linux', mode: 'cli', instanceId: randomUUID() },
      caps: [],
      role: 'operator',
      scopes: ['operator.read'],
      auth: { token: openclaw.token },
    });
    await c.until(() => frames(c).some((f) => f.msg.id === connectId), 'hello-ok', 60_000);
    const hello = frames(c).find((f) => f.msg.id === connectId)!.msg;
    assert.equal(hello.ok, true, `connect refused: ${JSON.stringify(hello).slice(0, 300)}`);
    const connId = ((hello.payload as { server: { connId: string } }).server).connId;
    t.diagnostic(`hello-ok on connId ${connId}`);
    const lastSeen = c.sequenced.at(-1)!.seq!;
    c.ack(lastSeen);
    await delay(200);
    c.ws.terminate(); // the laptop sleeps: no close frame

    await delay(AWAY_MS);

    const c2 = await V1Client.open(stratix.port, clientId);
    const w2 = await c2.hello(w.sessionId!, lastSeen);
    assert.deepEqual([w2.recovered, w2.resume], [true, 'recovered']);
    await c2.until(() => frames(c2).some((f) => f.msg.event === 'tick'), 'the ticks missed while away', 30_000);
    const seqs = c2.sequenced.map((e) => e.seq!);
    assert.deepEqual(seqs, Array.from({ length: seqs.length }, (_, i) => lastSeen + 1 + i), 'consecutive seq from where the client left');
    const ticks = frames(c2).filter((f) => f.msg.event === 'tick');
    t.diagnostic(`replayed ${seqs.length} envelopes, ${ticks.length} of them ticks`);
    assert.ok(ticks.length >= 1);
    // The next request, without a new connect: a fresh upstream connection would refuse it (first request must be connect, 1008).
    const healthId = request(c2, 'health', {});
    await c2.until(() => frames(c2).some((f) => f.msg.id === healthId), 'the health answer', 60_000);
    assert.equal(frames(c2).find((f) => f.msg.id === healthId)!.msg.ok, true);
    assert.ok(!frames(c2).some((f) => f.msg.event === 'connect.challenge'), 'no new connect.challenge: the same upstream connection');
    assert.ok(!c2.sequenced.some((e) => e.event === 'upstream_reset'), 'no upstream_reset');
    assert.equal(await stratix.sample('stratix_upstream_connect_seconds_count', { result: 'open' }), opensBefore + 1, 'Stratix opened one upstream connection for the session');
    c2.ws.close(1000);
    await c2.closed;
  });
});
