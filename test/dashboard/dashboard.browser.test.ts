/**
 * The live dashboard in real Chromium (Debian's /usr/bin/chromium, driven by
 * playwright-core): a two-worker gateway with traffic, the page opened on the admin
 * listener and given the token once; the traffic stops; every counter and gauge on the
 * page equals /metrics; a session closed from the table goes; the token stays in the tab
 * (sessionStorage), never in a URL, and a cross-site form or script cannot close a
 * session. A screenshot is saved and its path printed.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { startCli, type RunningCli } from '../helpers/cli.js';
import { connectClient, until, type TestClient } from '../helpers/gateway.js';
import { rawExchange } from '../helpers/raw-http.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { TOKEN } from '../routing-runtime/fixtures.js';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function parsePrometheus(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)/.exec(line);
    if (m === null) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

function totalOf(samples: Sample[], name: string, want: Record<string, string>): number {
  return samples.filter((s) => s.name === name && Object.entries(want).every(([k, v]) => s.labels[k] === v)).reduce((a, s) => a + s.value, 0);
}

/** Clients that each send a message every few ms until stopped; resolves once every echo is back. */
function traffic(port: number, n: number): { clients: TestClient[]; stop(): Promise<void> } {
  const clients: TestClient[] = [];
  let running = true;
  let sent = 0;
  for (let i = 0; i < n; i++) {
    const c = connectClient(port, `dash-load-${i}`);
    clients.push(c);
    c.ws.on('open', () => {
      const tick = (): void => {
        if (!running || c.ws.readyState !== c.ws.OPEN) return;
        c.ws.send(`message ${sent++} from ${i}`);
        setTimeout(tick, 5);
      };
      tick();
    });
  }
  return {
    clients,
    async stop() {
      running = false;
      await until(() => clients.reduce((a, c) => a + c.messages.length, 0) === sent, 'every echo back');
    },
  };
}

describe('dashboard in Chromium', () => {
  let up: TestUpstream;
  let cli: RunningCli;
  let adminPort: number;
  let context: BrowserContext;
  let page: Page;
  let userDataDir: string;
  let crossSite: Server;
  const idle: TestClient[] = [];

  before(async () => {
    up = await startUpstream();
    cli = await startCli({
      gateway: { listen: '127.0.0.1:0', workers: 2 },
      defaultRoute: { openclawGateway: up.url },
      admin: { token: TOKEN, listen: '127.0.0.1:0' },
    });
    adminPort = cli.logs.find((l) => l['msg'] === 'admin listening')?.['port'] as number;
    if (adminPort === undefined) {
      // At level warn the "admin listening" line is filtered: ask the readiness of the admin port by probing.
      throw new Error('the admin port was not logged');
    }
    userDataDir = mkdtempSync(join(tmpdir(), 'stratix-chromium-'));
    context = await chromium.launchPersistentContext(userDataDir, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, viewport: { width: 1400, height: 1300 } });
    page = context.pages()[0] ?? (await context.newPage());
  });
  after(async () => {
    for (const c of idle) c.ws.terminate();
    await context?.close();
    crossSite?.close();
    await cli?.stop();
    await up?.close();
    if (userDataDir !== undefined) rmSync(userDataDir, { recursive: true, force: true });
  });

  it('shows the instance live; after the traffic stops every number on it equals /metrics', async () => {
    for (let i = 0; i < 6; i++) {
      const c = connectClient(cli.port, `dash-idle-${i}`);
      await once(c.ws, 'open');
      idle.push(c);
    }
    // Refusals (bad clientId, no such path) and closes by code, so those tables have rows.
    for (let i = 0; i < 3; i++) await rawExchange(cli.port, 'GET /ws?clientId=bad%20id HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
    const quitter = connectClient(cli.port, 'dash-quitter');
    await once(quitter.ws, 'open');
    quitter.ws.close(1000);
    await quitter.closed;

    const load = traffic(cli.port, 20);
    await page.goto(`http://127.0.0.1:${adminPort}/admin/ui`);
    await page.locator('#token').fill(TOKEN);
    await page.locator('#login button[type=submit]').click();
    await page.waitForFunction(() => Number((globalThis as any).document.getElementById('updated')?.dataset.round ?? 0) >= 3);
    const liveRate = Number(await page.locator('#rate-msg-c2u').getAttribute('data-value'));
    assert.ok(liveRate > 0, `messages per second while the traffic runs: ${liveRate}`);

    await load.stop();
    for (const c of load.clients) c.ws.terminate();
    await until(() => up.connections.size === idle.length, 'only the idle sessions left upstream');
    const stoppedAt = Date.now();
    await new Promise((r) => setTimeout(r, 300)); // the gateway counts the closes
    await page.waitForFunction((t) => Number((globalThis as any).document.getElementById('updated')?.dataset.at ?? 0) > t, stoppedAt + 300);
    // One more round, so that the rates span a window with no traffic.
    const r0 = Number(await page.locator('#updated').getAttribute('data-round'));
    await page.waitForFunction((r) => Number((globalThis as any).document.getElementById('updated')?.dataset.round ?? 0) > r, r0 + 1);

    const shown: Sample[] = await page.$$eval('[data-metric]', (els) =>
      els.map((e: any) => ({ name: e.dataset.metric as string, labels: JSON.parse(e.dataset.labels ?? '{}') as Record<string, string>, value: Number(e.dataset.value) })),
    );
    const metrics = parsePrometheus(await (await fetch(`http://127.0.0.1:${cli.port}/metrics`, { headers: { Accept: 'text/plain' } })).text());
    // 22 fixed ones, and a row per code in the refusal and close tables.
    assert.ok(shown.length >= 24, `numbers on the page: ${shown.length}`);
    for (const s of shown) assert.equal(s.value, totalOf(metrics, s.name, s.labels), `${s.name}${JSON.stringify(s.labels)}`);
    // The ones that matter, named: they are on the page and not zero.
    const on = (name: string, labels: Record<string, string> = {}) => shown.find((s) => s.name === name && JSON.stringify(s.labels) === JSON.stringify(labels))?.value;
    assert.equal(on('stratix_connections_active'), idle.length);
    assert.ok(on('stratix_messages_received_total', { direction: 'client_to_upstream' })! > 100);
    assert.ok(on('stratix_bytes_sent_total', { direction: 'upstream_to_client' })! > 1000);
    assert.equal(on('stratix_handshake_rejections_total', { code: 'STRATIX_ERR_CLIENT_ID_INVALID' }), 3);
    assert.equal(on('stratix_client_closes_total', { code: '1000' }), 1);
    // 6 idle + 20 loaded sessions (the quitter may leave before its upstream opens).
    assert.ok(on('stratix_upstream_connect_seconds_count', { result: 'open' })! >= 26, `connects: ${on('stratix_upstream_connect_seconds_count', { result: 'open' })}`);
    assert.equal(on('stratix_workers_ready'), 2);
    assert.equal(on('stratix_route_table_converged'), 1);
    for (const id of ['rate-msg-c2u', 'rate-msg-u2c', 'rate-bytes-c2u', 'rate-bytes-u2c']) {
      assert.equal(Number(await page.locator(`#${id}`).getAttribute('data-value')), 0, `${id} after the traffic stopped`);
    }
    // Workers: both, with their pids and session counts as the admin API says.
    const rows: string[][] = await page.$$eval('#workers tbody tr', (trs) => trs.map((tr: any) => [...tr.querySelectorAll('td')].map((td: any) => td.textContent as string)));
    assert.deepEqual(rows.map((r) => r[1]), [...cli.workerPids.map(String), String(cli.proc.pid)]);
    assert.equal(await page.locator('#route-version').textContent(), (await (await fetch(`http://127.0.0.1:${cli.port}/readyz`)).json() as { routeTable: { version: string } }).routeTable.version);
    assert.equal(await page.locator('#health').textContent(), 'ready');

    // The token: in this tab's sessionStorage, in no URL.
    assert.equal(await page.evaluate(() => (globalThis as any).sessionStorage.getItem('stratix-admin-token')), TOKEN);
    assert.ok(!page.url().includes(TOKEN));
    mkdirSync(ARTIFACTS, { recursive: true });
    const shot = join(ARTIFACTS, 'dashboard.png');
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`dashboard screenshot: ${shot}`);
  });

  it('a session closed from the searchable table goes (the client gets 1012)', async () => {
    await page.locator('#search-prefix').fill('dash-idle-');
    await page.locator('#session-search button[type=submit]').click();
    await page.waitForFunction((n) => (globalThis as any).document.querySelectorAll('#sessions tbody tr').length === n, idle.length, { timeout: 10_000 }).catch(async (err: Error) => {
      const rows = await page.$$eval('#sessions tbody tr', (trs) => trs.map((tr: any) => tr.dataset.clientId as string));
      throw new Error(`${err.message}; rows: ${rows.join(' ')}; result: ${await page.locator('#action-result').textContent()}; total: ${await page.locator('#sessions-total').textContent()}`);
    });
    const ids: string[] = await page.$$eval('#sessions tbody tr', (trs) => trs.map((tr: any) => tr.dataset.clientId as string));
    assert.deepEqual(new Set(ids), new Set(idle.map((_, i) => `dash-idle-${i}`)));
    const victim = 'dash-idle-3';
    await page.locator(`#sessions tbody tr[data-client-id="${victim}"] button.close`).click();
    await page.waitForFunction((id) => (globalThis as any).document.querySelector(`#sessions tbody tr[data-client-id="${id}"]`) === null, victim);
    assert.equal((await idle[3]!.closed).code, 1012);
    assert.match((await page.locator('#action-result').textContent()) ?? '', /closed \d+-1-\d+ \(dash-idle-3\) with 1012/);
    const listed = (await (await fetch(`http://127.0.0.1:${adminPort}/admin/sessions?prefix=dash-idle-`, { headers: { Authorization: `Bearer ${TOKEN}` } })).json()) as { total: number };
    assert.equal(listed.total, idle.length - 1);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-after-close.png'), fullPage: true });
  });

  it('another tab must enter the token itself; a cross-site form or script cannot close a session', async () => {
    const fresh = await context.browser()?.newContext();
    if (fresh !== undefined) {
      const other = await fresh.newPage();
      await other.goto(`http://127.0.0.1:${adminPort}/admin/ui`);
      assert.equal(await other.locator('#login').isVisible(), true);
      await fresh.close();
    }
    const target = (await (await fetch(`http://127.0.0.1:${adminPort}/admin/sessions?prefix=dash-idle-0`, { headers: { Authorization: `Bearer ${TOKEN}` } })).json()) as { sessions: Array<{ id: string }> };
    const id = target.sessions[0]!.id;
    const closeUrl = `http://127.0.0.1:${adminPort}/admin/sessions/${id}/close`;
    crossSite = createServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html' });
      res.end(`<!doctype html><form id="f" method="POST" action="${closeUrl}"><input name="x" value="1"></form>
        <script>
          window.scripted = fetch(${JSON.stringify(closeUrl)}, { method: 'POST', headers: { Authorization: 'Bearer ${TOKEN}' } })
            .then((r) => 'status ' + r.status, (e) => 'blocked: ' + e.name);
        </script>`);
    });
    crossSite.listen(0, '127.0.0.1');
    await once(crossSite, 'listening');
    const evil = await context.newPage();
    await evil.goto(`http://127.0.0.1:${(crossSite.address() as { port: number }).port}/`);
    // The script knows the token and still cannot: the preflight gets no CORS answer.
    assert.match(String(await evil.evaluate(() => (globalThis as any).scripted)), /^blocked: TypeError$/);
    const [answer] = await Promise.all([evil.waitForNavigation(), evil.evaluate(() => (globalThis as any).document.getElementById('f').submit())]);
    assert.equal(answer?.status(), 401);
    await evil.close();
    assert.equal(idle[0]!.ws.readyState, idle[0]!.ws.OPEN, 'still open');
    const still = await fetch(`http://127.0.0.1:${adminPort}/admin/sessions/${id}`, { headers: { Authorization: `Bearer ${TOKEN}` } });
    assert.equal(still.status, 200);
  });
});
