/**
 * A reload of a large table (200k rules by default; STRATIX_RELOAD_RULES=1000000 for the
 * full-size run) in the real CLI with one worker, while a client keeps echoing through
 * that worker. The worker receives the rules in chunks and builds the table in time
 * slices, so its sessions keep flowing: the longest echo round trip during the reload
 * is printed as a diagnostic (it measures the worker's event-loop stalls), never
 * asserted. Asserted: the client is not dropped, the reload converges, the new rules
 * route. (Measured on 2 cores, with a stall detector inside the worker too: with 10k-rule
 * chunks sent back to back the worker stalled up to 77 ms at 1M rules; with acknowledged
 * 2.5k-rule chunks (src/cluster/messages.ts) at most ~25 ms.)
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { startCli, type RunningCli } from '../helpers/cli.js';
import type { TestClient } from '../helpers/gateway.js';
import { admin, openNamed, routedTo, startNamedUpstream, TOKEN, type NamedUpstream } from './fixtures.js';

const RULES = Number(process.env['STRATIX_RELOAD_RULES'] ?? 200_000);

/**
 * Writes the config with RULES exact rules to `path` (atomically), in a child process:
 * this process, which runs the probe client and the upstream, then makes no big
 * garbage that its own GC would collect in the middle of the measurement.
 */
function writeBigConfig(path: string, head: Record<string, unknown>, live: string, target: string): void {
  const script = `
    const { openSync, writeSync, closeSync, renameSync } = require('node:fs');
    const [path, head, live, target, n] = process.argv.slice(1);
    const fd = openSync(path + '.tmp', 'w');
    writeSync(fd, JSON.stringify({ ...JSON.parse(head), routes: [{ clientIdPrefix: 'live-', openclawGateway: live }] }).slice(0, -2));
    for (let i = 0; i < n; i += 10000) {
      let chunk = '';
      for (let j = i; j < Math.min(n, i + 10000); j++) chunk += ',{"clientId":"tenant-' + j + '","openclawGateway":"' + target + '?t=' + (j % 1000) + '"}';
      writeSync(fd, chunk);
    }
    writeSync(fd, ']}');
    closeSync(fd);
    renameSync(path + '.tmp', path);`;
  const r = spawnSync(process.execPath, ['-e', script, path, JSON.stringify(head), live, target, String(RULES)], { stdio: 'inherit' });
  assert.equal(r.status, 0, 'writing the big config');
}

describe(`reload of ${RULES} rules under traffic`, { timeout: 300_000 }, () => {
  let a: NamedUpstream;
  let b: NamedUpstream;
  let cli: RunningCli;
  const head = {
    gateway: { listen: '127.0.0.1:0', workers: 1 },
    admin: { token: TOKEN },
    routing: { watchConfigFile: false, convergeTimeoutMs: 240_000 },
  };

  before(async () => {
    a = await startNamedUpstream('A');
    b = await startNamedUpstream('B');
    cli = await startCli({ ...head, routes: [{ clientIdPrefix: 'live-', openclawGateway: a.url }] });
    // The worker holds a full-size table before the measured reload replaces it.
    writeBigConfig(cli.configPath, head, a.url, a.url);
    const warm = await admin(cli.port, 'POST', '/admin/reload');
    assert.equal(warm.status, 200, JSON.stringify(warm.body));
  });
  after(async () => {
    await cli?.stop();
    await a?.close();
    await b?.close();
  });

  it('sessions on the worker keep flowing while it takes the new table', async (t) => {
    writeBigConfig(cli.configPath, head, a.url, b.url); // before the probe runs: it blocks this process
    const { client } = await openNamed(cli.port, 'live-1');
    const rtts: number[] = [];
    let running = true;
    const loop = (async (c: TestClient) => {
      while (running) {
        const sent = performance.now();
        const want = c.messages.length + 1;
        c.ws.send('ping');
        await c.waitFor(want);
        rtts.push(performance.now() - sent);
        await new Promise((r) => setTimeout(r, 2));
      }
    })(client);
    await new Promise((r) => setTimeout(r, 200));
    const baseline = Math.max(...rtts);

    const from = rtts.length;
    const started = performance.now();
    const res = await admin(cli.port, 'POST', '/admin/reload');
    const elapsed = performance.now() - started;
    running = false;
    await loop;

    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body['rules'], RULES + 1);
    assert.equal(client.ws.readyState, client.ws.OPEN, 'the client was not dropped');
    const during = rtts.slice(from);
    const sorted = [...during].sort((x, y) => x - y);
    t.diagnostic(`reload of ${RULES} rules: ${Math.round(elapsed)} ms until every worker held it (primary build ${String(res.body['elapsedMs'])} ms incl. parse)`);
    t.diagnostic(`echo RTT through the worker during the reload: ${during.length} round trips, p50 ${sorted[Math.floor(sorted.length / 2)]?.toFixed(1)} ms, max ${Math.max(...during).toFixed(1)} ms (before: max ${baseline.toFixed(1)} ms)`);
    client.ws.terminate();
    assert.match(await routedTo(cli.port, 'tenant-7'), /^B$/);
  });
});
