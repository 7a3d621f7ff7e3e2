/**
 * The shipped nginx sites (deploy/nginx/) in the real nginx (Debian's), in front of two
 * gateway instances: only the listen address and the server lines are replaced. With
 * `hash $arg_clientId consistent` every connection of a clientId reaches the same
 * instance and both instances get clients; a draining instance's 503 sends the client on
 * to the other one (proxy_next_upstream); with `least_conn` connections spread evenly.
 * Messages relay through nginx and the gateway both ways.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { parseConfig } from '../../src/config/load.js';
import { Gateway } from '../../src/server/gateway.js';
import { freePort } from '../helpers/upstream.js';
import { openNamed, startNamedUpstream, type NamedUpstream } from '../routing-runtime/fixtures.js';

const SITES = fileURLToPath(new URL('../../../deploy/nginx/', import.meta.url));
const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => existsSync(p)) ?? 'nginx';

interface RunningNginx {
  port: number;
  stop(): Promise<void>;
}

/** The shipped site with only the listen address and the gateway addresses replaced. */
export function siteFor(file: string, listenPort: number, gateways: readonly number[]): string {
  const text = readFileSync(join(SITES, file), 'utf8');
  const servers = text.match(/^ {4}server \S+:8080 max_fails=0;$/gm);
  assert.ok(servers !== null && servers.length >= 2, 'the site lists gateway servers');
  let replaced = false;
  const out = text
    .replace(/^ {4}server \S+:8080 max_fails=0;\n/gm, () => {
      if (replaced) return '';
      replaced = true;
      return gateways.map((p) => `    server 127.0.0.1:${p} max_fails=0;\n`).join('');
    })
    .replace(/^ {4}listen 80;$/m, `    listen 127.0.0.1:${listenPort};`);
  assert.notEqual(out, text);
  return out;
}

async function startNginx(site: string): Promise<RunningNginx> {
  const dir = mkdtempSync(join(tmpdir(), 'stratix-nginx-'));
  const port = Number(/listen 127\.0\.0\.1:(\d+);/.exec(site)![1]);
  writeFileSync(join(dir, 'site.conf'), site);
  writeFileSync(
    join(dir, 'nginx.conf'),
    `daemon off;
worker_processes 1;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path ${join(dir, 'client_body')};
    proxy_temp_path ${join(dir, 'proxy')};
    fastcgi_temp_path ${join(dir, 'fastcgi')};
    uwsgi_temp_path ${join(dir, 'uwsgi')};
    scgi_temp_path ${join(dir, 'scgi')};
    include ${join(dir, 'site.conf')};
}
`,
  );
  const test = spawn(NGINX, ['-t', '-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let testOut = '';
  test.stderr!.on('data', (d: Buffer) => (testOut += d.toString()));
  const testCode = await new Promise<number | null>((resolve) => test.on('exit', resolve));
  assert.equal(testCode, 0, `nginx -t: ${testOut}`);
  const proc: ChildProcess = spawn(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
  const deadline = Date.now() + 10_000;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) break;
    if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`nginx did not start: ${readFileSync(join(dir, 'error.log'), 'utf8')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    async stop() {
      if (proc.exitCode === null) {
        proc.kill('SIGTERM');
        await new Promise((r) => proc.once('exit', r));
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe('the shipped nginx sites in front of two gateway instances', () => {
  let a: NamedUpstream;
  let b: NamedUpstream;
  let gwA: Gateway;
  let gwB: Gateway;
  const running: RunningNginx[] = [];

  before(async () => {
    a = await startNamedUpstream('A');
    b = await startNamedUpstream('B');
    // Instance A relays to upstream "A", instance B to "B": the greeting tells which instance a client reached.
    gwA = await Gateway.start(parseConfig({ gateway: { listen: '127.0.0.1:0' }, defaultRoute: { openclawGateway: a.url } }));
    gwB = await Gateway.start(parseConfig({ gateway: { listen: '127.0.0.1:0' }, defaultRoute: { openclawGateway: b.url } }));
  });
  after(async () => {
    for (const n of running) await n.stop();
    await gwA?.close();
    await gwB?.close();
    await a?.close();
    await b?.close();
  });

  it('hash $arg_clientId consistent: a clientId always reaches the same instance; both are used; messages relay', async () => {
    const nginx = await startNginx(siteFor('stratix-hash.conf', await freePort(), [gwA.port, gwB.port]));
    running.push(nginx);
    const placed = new Map<string, string>();
    for (let i = 0; i < 16; i++) {
      const id = `hash-${i}`;
      for (let round = 0; round < 3; round++) {
        const { client, upstream } = await openNamed(nginx.port, id);
        if (round === 0) {
          placed.set(id, upstream);
          client.ws.send(`hello from ${id}`);
          await client.waitFor(2);
          assert.equal(client.messages[1]!.data.toString(), `hello from ${id}`);
        } else {
          assert.equal(upstream, placed.get(id), `${id} reconnect ${round}`);
        }
        client.ws.terminate();
      }
    }
    assert.deepEqual(new Set(placed.values()), new Set(['A', 'B']), 'both instances get clients');
    const health = await fetch(`http://127.0.0.1:${nginx.port}/healthz`);
    assert.equal(health.status, 200);
    assert.equal((await fetch(`http://127.0.0.1:${nginx.port}/metrics`)).status, 404, 'metrics stay off the public side');
  });

  it('a draining instance answers 503 and nginx sends the client on to the other one', async () => {
    const nginx = running[0]!;
    // A clientId that hashes to instance A.
    let onA: string | undefined;
    for (let i = 0; onA === undefined; i++) {
      const { client, upstream } = await openNamed(nginx.port, `drain-${i}`);
      client.ws.terminate();
      if (upstream === 'A') onA = `drain-${i}`;
    }
    const draining = gwA.drain(60_000, 1_000);
    try {
      const { client, upstream } = await openNamed(nginx.port, onA);
      assert.equal(upstream, 'B');
      client.ws.terminate();
    } finally {
      await gwA.close(); // instance A is done; the least_conn test starts its own
      await draining;
    }
  });

  it('least_conn: connections spread over both instances; messages relay', async () => {
    const gwA2 = await Gateway.start(parseConfig({ gateway: { listen: '127.0.0.1:0' }, defaultRoute: { openclawGateway: a.url } }));
    try {
      const nginx = await startNginx(siteFor('stratix-least-conn.conf', await freePort(), [gwA2.port, gwB.port]));
      running.push(nginx);
      const clients = [];
      const counts = new Map<string, number>();
      for (let i = 0; i < 10; i++) {
        const { client, upstream } = await openNamed(nginx.port, `least-${i}`);
        clients.push(client);
        counts.set(upstream, (counts.get(upstream) ?? 0) + 1);
      }
      assert.equal(counts.get('A'), 5, JSON.stringify([...counts]));
      assert.equal(counts.get('B'), 5, JSON.stringify([...counts]));
      clients[0]!.ws.send('through least_conn');
      await clients[0]!.waitFor(2);
      assert.equal(clients[0]!.messages[1]!.data.toString(), 'through least_conn');
      for (const c of clients) c.ws.terminate();
    } finally {
      await gwA2.close();
    }
  });
});
