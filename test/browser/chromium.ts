/**
 * Real Chromium for the SDK's browser suite: Debian's /usr/bin/chromium driven by
 * playwright-core (no browser download), with the flags of the project brief and a
 * fresh profile per launch; and the HTTP server that gives the page an origin
 * (localStorage needs one) and serves the bundled SDK.
 */
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
const PAGE_DIR = fileURLToPath(new URL('../../../test/browser/page/', import.meta.url));
const BUNDLE = fileURLToPath(new URL('../../../packages/client/dist/browser/stratix-client.js', import.meta.url));

export interface Browser {
  readonly context: BrowserContext;
  close(): Promise<void>;
}

/** Chromium with a fresh --user-data-dir (headless: playwright passes --headless). */
export async function launchChromium(): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'stratix-chromium-profile-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath: '/usr/bin/chromium', headless: true, args: FLAGS, viewport: { width: 900, height: 420 } });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Serves the test page (test/browser/page/) and the SDK's browser bundle on 127.0.0.1:0. */
export async function startPageServer(): Promise<{ origin: string; close(): Promise<void> }> {
  const files: Record<string, [string, string]> = {
    '/': [join(PAGE_DIR, 'index.html'), 'text/html; charset=utf-8'],
    '/app.js': [join(PAGE_DIR, 'app.js'), 'text/javascript'],
    '/stratix-client.js': [BUNDLE, 'text/javascript'],
  };
  const server: Server = createServer((req, res) => {
    const f = files[new URL(req.url ?? '/', 'http://x').pathname];
    if (f === undefined) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': f[1], 'cache-control': 'no-store' }).end(readFileSync(f[0]));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    origin: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Where this run's screenshots go. */
const SHOTS = join(tmpdir(), `stratix-chromium-${Date.now()}`);

/** Saves a screenshot of the page's final state; returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SHOTS, { recursive: true });
  const path = join(SHOTS, `${name}.png`);
  await page.screenshot({ path });
  return path;
}

/** Waits (polling the page) until `fn` is true there. */
export async function waitPage(page: Page, fn: string, what: string, ms = 20_000): Promise<void> {
  try {
    await page.waitForFunction(fn, undefined, { timeout: ms, polling: 50 });
  } catch (err) {
    const state = await page.evaluate('JSON.stringify({ state: app.client.state, states: app.states, n: app.messages.length, errors: app.errors })').catch(() => '?');
    throw new Error(`timed out waiting for ${what} in the page: ${String(state)} (${(err as Error).message.split('\n')[0]})`);
  }
}
