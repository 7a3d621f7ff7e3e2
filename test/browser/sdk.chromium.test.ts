/**
 * The bundled SDK in real Chromium (Debian's, driven by playwright-core): a page
 * connects through a TCP proxy the test controls, to the gateway, to an upstream
 * that sends a counter stream ("<connection>:<n>" every 20 ms) and echoes what the
 * page sends ("e<i>" every 100 ms). DevTools' offline mode does not touch open
 * WebSockets, so the network is cut at the proxy. Each test saves a screenshot of
 * the page's final state and prints its path.
 */
import { describe, test, type TestContext } from 'node:test';
import { once } from 'node:events';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { startGateway } from '../helpers/gateway.js';
import { freePort, startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { startCli } from '../helpers/cli.js';
import { startGatewayProcess } from '../client/gateway-process-handle.js';
import { counter } from '../client/fixtures.js';
import { launchChromium, screenshot, startPageServer, waitPage, type Browser } from './chromium.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Snapshot {
  loads: number;
  state: string;
  sessionId: string;
  lastSeq: number;
  states: string[];
  messages: Array<[number, string]>;
  gaps: Array<{ recovered: boolean; resume: string; firstSeq: number; lastSeq: number; lastProcessedSeq: number }>;
  resets: Array<{ seq: number; code: number; reason: string }>;
  opens: number[];
  errors: Array<{ code: string; message: string }>;
  sends: Array<{ i: number; settled: number; ok: boolean | null; code: string | null }>;
}

/** An echo upstream whose every connection k gets a counter stream "k:0", "k:1", … */
async function counterUpstream(): Promise<{ up: TestUpstream; streams: Array<ReturnType<typeof counter>>; stop(): void }> {
  const up = await startUpstream();
  const streams: Array<ReturnType<typeof counter>> = [];
  up.wss.on('connection', (ws) => streams.push(counter(ws, `${streams.length}:`, 20)));
  return { up, streams, stop: () => streams.forEach((s) => s.stop()) };
}

/** Everything one test needs: Chromium, the page server, the proxy in front of `gatewayPort`. */
async function harness(gatewayPort: number): Promise<{ browser: Browser; page: Page; proxy: TcpProxy; origin: string; close(): Promise<void> }> {
  const [browser, pages, proxy] = await Promise.all([launchChromium(), startPageServer(), TcpProxy.start(gatewayPort)]);
  const page = await browser.context.newPage();
  return {
    browser,
    page,
    proxy,
    origin: pages.origin,
    async close() {
      await browser.close();
      await pages.close();
      await proxy.close();
    },
  };
}

function pageUrl(origin: string, proxyPort: number, clientId: string, query: Record<string, string> = {}): string {
  const q = new URLSearchParams({ url: `ws://127.0.0.1:${proxyPort}/ws`, clientId, ...query });
  return `${origin}/?${q}`;
}

const snapshot = (page: Page) => page.evaluate(() => (globalThis as unknown as { app: { snapshot(): unknown } }).app.snapshot()) as Promise<Snapshot>;
const texts = (s: Snapshot, prefix: string) => s.messages.map(([, d]) => d).filter((d) => d.startsWith(prefix));

/** The page's final state, saved whether the test passed or failed (called in finally); the path is printed. */
async function shoot(t: TestContext, page: Page, name: string): Promise<void> {
  try {
    const path = await screenshot(page, name);
    t.diagnostic(`screenshot: ${path}`);
  } catch (err) {
    t.diagnostic(`no screenshot of ${name}: ${(err as Error).message}`);
  }
}

/** Every send settled exactly once and was ACKed; the upstream got each once, in order, and the page its echo once. */
function assertSends(s: Snapshot, received: string[]): void {
  assert.ok(s.sends.length > 0);
  assert.deepEqual(s.sends.filter((o) => o.settled !== 1 || o.ok !== true), [], 'every send resolved exactly once');
  const echoes = received.filter((m) => /^e\d+$/.test(m));
  assert.deepEqual(echoes, s.sends.map((o) => `e${o.i}`), 'the upstream got each message once, in order');
  assert.deepEqual(texts(s, 'e'), echoes, 'each echo once, in order');
}

/** A gateway that the test can kill (kill -9) and that comes back on the same port and log. */
interface Killable {
  readonly port: number;
  kill(): Promise<void>;
  stop(): Promise<void>;
}

/** The CLI with two workers: kill -9 of the worker pids from its "listening" line; the primary restarts them. */
async function cliGateway(config: Record<string, unknown>): Promise<Killable> {
  const cli = await startCli({ ...config, gateway: { listen: '127.0.0.1:0', workers: 2 } });
  return {
    port: cli.port,
    async kill() {
      for (const pid of cli.workerPids) process.kill(pid, 'SIGKILL');
    },
    stop: () => cli.stop(),
  };
}

/** A standalone gateway process (test/client/gateway-process.ts): kill -9, then started again on its port and log. */
async function processGateway(config: Record<string, unknown>): Promise<Killable> {
  const port = await freePort();
  const full = { ...config, gateway: { listen: `127.0.0.1:${port}` } };
  let proc = await startGatewayProcess(full);
  return {
    port,
    async kill() {
      proc.kill('SIGKILL');
      await once(proc, 'exit');
      proc = await startGatewayProcess(full);
    },
    async stop() {
      proc.kill('SIGKILL');
      if (proc.exitCode === null && proc.signalCode === null) await once(proc, 'exit');
    },
  };
}

/** Kills the gateway under a streaming page: what the log kept arrives once and in order, every send settles once, upstreamReset fires. */
async function killedGateway(t: TestContext, start: (config: Record<string, unknown>) => Promise<Killable>, name: string): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'stratix-chromium-log-'));
  try {
    await inChromium(t, name, (url) => start({ defaultRoute: { openclawGateway: url }, reliable: { resumeWindowMs: 30_000, heartbeatMs: 1_000, log: { dir } } }), async (u, h, gw) => {
      await h.page.goto(pageUrl(h.origin, h.proxy.port, `chromium-${name}-1`, { sendEveryMs: '100' }));
      await waitPage(h.page, "app.messages.filter(([, d]) => d.startsWith('0:')).length >= 50", 'the stream to flow');
      await gw.kill();
      await waitPage(h.page, 'app.resets.length === 1', 'upstreamReset', 30_000);
      await waitPage(h.page, "app.messages.filter(([, d]) => d.startsWith('1:')).length >= 20", "the new upstream connection's stream");
      await h.page.evaluate(() => (globalThis as unknown as { app: { stopSending(): void } }).app.stopSending());
      u.stop();
      await waitPage(h.page, 'app.sends.every((o) => o.settled > 0)', 'every send to settle');
      const s = await snapshot(h.page);
      const old = texts(s, '0:');
      assert.deepEqual(old, u.streams[0]!.sent.slice(0, old.length), 'what the log kept: a prefix of the old stream, once, in order');
      const fresh = texts(s, '1:');
      assert.deepEqual(fresh, u.streams[1]!.sent.slice(0, fresh.length));
      assert.deepEqual(s.resets.map((r) => [r.code, r.reason]), [[1012, 'gateway restarted']]);
      assert.deepEqual(s.gaps, []);
      assert.deepEqual(s.sends.filter((o) => o.settled !== 1), [], 'every send settled exactly once');
      const received = u.up.received.map((m) => m.data.toString()).filter((m) => /^e\d+$/.test(m));
      assert.equal(new Set(received).size, received.length, 'no message reached the upstream twice');
      for (const o of s.sends.filter((x) => x.ok)) assert.ok(received.includes(`e${o.i}`), `ACKed e${o.i} reached the upstream`);
      for (const o of s.sends.filter((x) => !x.ok)) {
        assert.ok(['STRATIX_NACK_UPSTREAM_LOST', 'STRATIX_NACK_UPSTREAM_NOT_OPEN', 'STRATIX_CLIENT_ERR_UPSTREAM_RESET'].includes(o.code!), o.code!);
      }
      assert.ok(s.sends.some((o) => o.ok && o.i > s.sends.length - 5), 'sends are ACKed again after the reset');
      t.diagnostic(`old stream ${old.length}/${u.streams[0]!.sent.length} kept, new ${fresh.length}; ${s.sends.length} sends, ${s.sends.filter((o) => !o.ok).length} rejected`);
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface StartedGateway {
  readonly port: number;
  stop(): Promise<void>;
}

/** A standalone gateway in this process with these reliable settings, for inChromium. */
const standalone = (reliable: Record<string, unknown>) => async (upstreamUrl: string): Promise<StartedGateway> => {
  const gw = await startGateway({ defaultRoute: { openclawGateway: upstreamUrl }, reliable, log: { level: 'warn' } });
  return { port: gw.port, stop: () => gw.close() };
};

/** A counter upstream, a gateway in front of it, and Chromium through the proxy; whatever happens, the screenshot `name` and the teardown. */
async function inChromium<G extends StartedGateway>(
  t: TestContext,
  name: string,
  start: (upstreamUrl: string) => Promise<G>,
  body: (u: Awaited<ReturnType<typeof counterUpstream>>, h: Awaited<ReturnType<typeof harness>>, gw: G) => Promise<void>,
): Promise<void> {
  const u = await counterUpstream();
  const gw = await start(u.up.url);
  const h = await harness(gw.port);
  try {
    await body(u, h, gw);
  } finally {
    await shoot(t, h.page, name);
    u.stop();
    await h.close();
    await gw.stop();
    await u.up.close();
  }
}

describe('the SDK in Chromium', { concurrency: 1 }, () => {
  test('the proxy cuts every connection for 10 s: every counter value once, in order; every send resolved once; the upstream saw one connection', (t) =>
    inChromium(t, 'cut-10s', standalone({ resumeWindowMs: 30_000, heartbeatMs: 1_000 }), async (u, h) => {
      await h.page.goto(pageUrl(h.origin, h.proxy.port, 'chromium-cut-1', { sendEveryMs: '100' }));
      await waitPage(h.page, "app.messages.filter(([, d]) => d.startsWith('0:')).length >= 50", 'the stream to flow');
      await h.proxy.cut();
      await waitPage(h.page, "app.client.state !== 'open'", 'the page to notice the cut');
      await sleep(10_000);
      await h.proxy.restore();
      await waitPage(h.page, "app.client.state === 'open'", 'the resume');
      await sleep(300);
      await h.page.evaluate(() => (globalThis as unknown as { app: { stopSending(): void } }).app.stopSending());
      u.stop();
      const sent = u.streams[0]!.sent;
      await waitPage(h.page, `app.messages.filter(([, d]) => d.startsWith('0:')).length >= ${sent.length} && app.sends.every((o) => o.settled > 0)`, 'the whole stream and every send', 30_000);
      await sleep(300); // an echo of the last send, a stray duplicate, would show now
      const s = await snapshot(h.page);
        assert.deepEqual(texts(s, '0:'), sent, 'every counter value once, in order');
      assertSends(s, u.up.received.map((m) => m.data.toString()));
      assert.ok(s.sends.length >= 100, `${s.sends.length} sends, some of them while cut`);
      assert.equal(u.up.upgradeHeaders.length, 1, 'the upstream saw one connection');
      assert.deepEqual([s.gaps, s.resets, s.errors], [[], [], []]);
      assert.ok(s.states.includes('offline') && s.states.at(-1) === 'open', s.states.join(' '));
      const seqs = s.messages.map(([seq]) => seq);
      assert.deepEqual(seqs, seqs.map((_, i) => i + 2), 'seqs 2, 3, … once each');
    }));

  test('the gateway process is killed (kill -9) and restarted within the window: what the log kept once and in order, sends settled once, upstreamReset fires', (t) =>
    killedGateway(t, processGateway, 'process-killed'));

  test('the CLI\'s workers are killed (kill -9 of the pids in its "listening" line) and restarted within the window: the same, and upstreamReset fires', (t) =>
    killedGateway(t, cliGateway, 'workers-killed'));

  test('the cut outlasts the resume window: the page sees a gap (recovered:false, "expired"), what waited is rejected, a new session streams', (t) =>
    inChromium(t, 'gap', standalone({ resumeWindowMs: 1_500, heartbeatMs: 1_000 }), async (u, h) => {
      await h.page.goto(pageUrl(h.origin, h.proxy.port, 'chromium-gap-1', { sendEveryMs: '100' }));
      await waitPage(h.page, "app.messages.filter(([, d]) => d.startsWith('0:')).length >= 20", 'the stream to flow');
      const before = await snapshot(h.page);
      await h.proxy.cut();
      await sleep(3_500);
      await h.proxy.restore();
      await waitPage(h.page, 'app.gaps.length === 1', 'the gap');
      await waitPage(h.page, "app.messages.filter(([, d]) => d.startsWith('1:')).length >= 10", 'the new session\'s stream');
      await h.page.evaluate(() => (globalThis as unknown as { app: { stopSending(): void } }).app.stopSending());
      await waitPage(h.page, 'app.sends.every((o) => o.settled > 0)', 'every send to settle');
      const s = await snapshot(h.page);
        const g = s.gaps[0]!;
      assert.deepEqual([g.recovered, g.resume, g.firstSeq, g.lastSeq], [false, 'expired', 1, 0]);
      assert.ok(g.lastProcessedSeq >= before.lastSeq);
      assert.notEqual(s.sessionId, before.sessionId);
      assert.deepEqual(s.opens, [1, 1], 'upstream_open of each session');
      assert.equal(u.up.upgradeHeaders.length, 2, 'a new upstream for the new session');
      const old = texts(s, '0:');
      assert.deepEqual(old, u.streams[0]!.sent.slice(0, old.length), 'the old stream up to the cut, once, in order');
      const lost = s.sends.filter((o) => o.ok === false);
      assert.ok(lost.length > 0 && lost.every((o) => o.code === 'STRATIX_CLIENT_ERR_SESSION_LOST'), JSON.stringify(lost.slice(0, 3)));
      assert.deepEqual(s.sends.filter((o) => o.settled !== 1), []);
    }));

  test('page reloads with localStorage: the session resumes each time, the app has every counter value once, in order', (t) =>
    inChromium(t, 'reload', standalone({ resumeWindowMs: 30_000, heartbeatMs: 1_000 }), async (u, h) => {
      await h.page.goto(pageUrl(h.origin, h.proxy.port, 'chromium-reload-1', { storage: '1', persist: '1' }));
      await waitPage(h.page, 'app.messages.length >= 20', 'the stream to flow');
      const first = (await snapshot(h.page)).sessionId;
      for (let i = 0; i < 3; i++) {
        await sleep(200 + Math.floor(Math.random() * 400));
        await h.page.reload();
        await waitPage(h.page, `app.loads === ${i + 2} && app.client.state === 'open'`, `the resume after reload ${i + 1}`);
      }
      await sleep(300);
      u.stop();
      const sent = u.streams[0]!.sent;
      await waitPage(h.page, `app.messages.length >= ${sent.length}`, 'the whole stream');
      await sleep(300);
      const s = await snapshot(h.page);
      assert.equal(s.loads, 4);
      assert.equal(s.sessionId, first, 'one session across the reloads');
      assert.deepEqual(s.messages.map(([, d]) => d), sent, 'every counter value once, in order, across three reloads');
      assert.deepEqual(s.messages.map(([seq]) => seq), sent.map((_, i) => i + 2));
      assert.equal(u.up.upgradeHeaders.length, 1, 'the upstream saw one connection');
      assert.deepEqual([s.gaps, s.errors], [[], []]);
      assert.deepEqual(s.states, ['resuming', 'open']);
    }));

  test("the browser's online event ends the backoff wait at once: the page reconnects and resumes without waiting out its 60 s", (t) =>
    inChromium(t, 'online', standalone({ resumeWindowMs: 30_000, heartbeatMs: 1_000 }), async (u, h) => {
      await h.page.goto(pageUrl(h.origin, h.proxy.port, 'chromium-online-1', { backoffMs: '60000' }));
      await waitPage(h.page, 'app.messages.length >= 10', 'the stream to flow');
      await h.proxy.cut();
      await waitPage(h.page, "app.client.state === 'offline'", 'the page to notice the cut');
      await h.proxy.restore();
      const lines = h.proxy.requestLines.length;
      await sleep(1_000);
      assert.equal(await h.page.evaluate(() => (globalThis as unknown as { app: { client: { state: string } } }).app.client.state), 'offline', 'waiting out its backoff');
      assert.equal(h.proxy.requestLines.length, lines, 'no attempt yet');
      const at = Date.now();
      await h.browser.context.setOffline(true);
      await h.browser.context.setOffline(false); // navigator.onLine goes back to true: the page gets 'online'
      await waitPage(h.page, "app.client.state === 'open'", 'the resume after online', 10_000);
      const waited = Date.now() - at;
      u.stop();
      const s = await snapshot(h.page);
      assert.ok(waited < 10_000, `open ${waited} ms after online`);
      assert.equal(h.proxy.requestLines.length, lines + 1, 'one attempt, at once');
      assert.deepEqual(s.states.slice(-3), ['offline', 'resuming', 'open']);
      const got = texts(s, '0:');
      assert.deepEqual(got, u.streams[0]!.sent.slice(0, got.length), 'the stream once, in order, across the wait');
      assert.deepEqual([s.gaps, s.errors], [[], []]);
      t.diagnostic(`open ${waited} ms after the online event`);
    }));
});
