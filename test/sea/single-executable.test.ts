/**
 * Integration: the single executable. `npm run build:sea`'s script builds it with the
 * Node that runs this test; it is copied alone into an empty directory and started from
 * there (its config lives elsewhere); it relays a message through its two workers (the
 * executable started again with --stratix-worker), serves the dashboard's files from
 * inside itself, runs the primary and the workers with their V8 flags, and drains on
 * SIGTERM with exit 0; its etcd client works from inside it; the systemd unit verifies
 * with it where the unit names it.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { writeTempConfig } from '../helpers/cli.js';
import { EtcdServer } from '../helpers/etcd-server.js';
import { openClient } from '../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { TOKEN } from '../routing-runtime/fixtures.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

function procFile(pid: number, name: 'cmdline' | 'environ'): string[] {
  return readFileSync(`/proc/${pid}/${name}`, 'utf8').split('\0').filter(Boolean);
}

/** The flags a process runs with: on its command line, or in NODE_OPTIONS (how an executable takes them). */
function nodeFlagsOf(pid: number): string {
  const env = procFile(pid, 'environ').find((e) => e.startsWith('NODE_OPTIONS=')) ?? '';
  return `${procFile(pid, 'cmdline').join(' ')} ${env}`;
}

describe('the single executable', () => {
  const buildDir = mkdtempSync(join(tmpdir(), 'stratix-sea-build-'));
  const runDir = mkdtempSync(join(tmpdir(), 'stratix-sea-run-'));
  const tmpDir = mkdtempSync(join(tmpdir(), 'stratix-sea-tmp-'));
  const exe = join(runDir, 'stratix-gateway');
  let up: TestUpstream;
  let config: ReturnType<typeof writeTempConfig>;
  let proc: ChildProcess | undefined;
  let logs = '';
  let listening: { port: number; pid: number; pids: number[] };

  before(async () => {
    const built = join(buildDir, 'stratix-gateway');
    const r = spawnSync(process.execPath, [join(ROOT, 'scripts/build-sea.mjs'), '--out', built], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(r.status, 0, `build failed:\n${r.stdout}\n${r.stderr}`);
    process.stdout.write(`${r.stdout.trim().split('\n').at(-1)}\n`);
    copyFileSync(built, exe);
    spawnSync('chmod', ['755', exe]);
    assert.deepEqual(readdirSync(runDir), ['stratix-gateway'], 'alone in its directory');
    up = await startUpstream();
    config = writeTempConfig({
      gateway: { listen: '127.0.0.1:0', workers: 2, drainPeriodMs: 200, drainGraceMs: 1_000 },
      defaultRoute: { openclawGateway: up.url },
      admin: { token: TOKEN },
    });
    // A clean environment: nothing of this checkout on the PATH or in NODE_* variables.
    const env = { PATH: '/usr/bin:/bin', HOME: runDir, TMPDIR: tmpDir };
    proc = spawn(exe, ['--config', config.path], { cwd: runDir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stderr!.on('data', (d: Buffer) => (logs += d.toString()));
    listening = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no "listening" line:\n${logs}`)), 30_000);
      proc!.stdout!.on('data', (d: Buffer) => {
        logs += d.toString();
        const line = logs.split('\n').find((l) => l.includes('"msg":"listening"'));
        if (line !== undefined) {
          clearTimeout(timer);
          resolve(JSON.parse(line) as { port: number; pid: number; pids: number[] });
        }
      });
      proc!.on('exit', (code) => reject(new Error(`exited ${code}:\n${logs}`)));
    });
  });
  after(async () => {
    if (proc !== undefined && proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGKILL');
      for (const pid of [listening?.pid, ...(listening?.pids ?? [])]) {
        try {
          if (pid !== undefined) process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
    }
    await up?.close();
    config?.cleanup();
    rmSync(buildDir, { recursive: true, force: true });
    rmSync(runDir, { recursive: true, force: true });
    rmSync(tmpDir, { recursive: true, force: true });
  });

  it('is one file of a documented size', () => {
    const mib = statSync(exe).size / 2 ** 20;
    assert.ok(mib > 50 && mib < 200, `${mib.toFixed(1)} MiB`);
  });

  it('relays a message through a worker that is the executable started again', async () => {
    assert.equal(listening.pids.length, 2);
    for (const pid of listening.pids) {
      const args = procFile(pid, 'cmdline');
      assert.equal(args[0], exe);
      assert.equal(args[1], '--stratix-worker');
      assert.match(nodeFlagsOf(pid), /--max-semi-space-size=2/, 'worker flags (gateway.workerNodeOptions, in NODE_OPTIONS)');
    }
    // As the process sees them (an executable's built-in execArgv shows on no command line).
    const workers = (await (await fetch(`http://127.0.0.1:${listening.port}/admin/workers`, { headers: { Authorization: `Bearer ${TOKEN}` } })).json()) as {
      primary: { pid: number; nodeFlags: string[] };
      workers: Array<{ pid: number; nodeFlags: string[] }>;
    };
    assert.equal(workers.primary.pid, listening.pid);
    assert.ok(workers.primary.nodeFlags.includes('--max-semi-space-size=2'), `primary: ${workers.primary.nodeFlags.join(' ')}`);
    for (const w of workers.workers) assert.ok(w.nodeFlags.includes('--max-semi-space-size=2'), `worker ${w.pid}: ${w.nodeFlags.join(' ')}`);
    const c = await openClient(listening.port, 'sea-client-1');
    c.ws.send('{"type":0,"messageId":"msg-001","data":"Hello World"}');
    await c.waitFor(1);
    assert.equal(c.messages[0]!.data.toString(), '{"type":0,"messageId":"msg-001","data":"Hello World"}');
    assert.equal(up.received.length, 1);
    c.ws.terminate();
  });

  it('relays on the native data path it carries inside itself (relay.dataPath "auto", the default), leaving no file behind', async () => {
    const c = await openClient(listening.port, 'sea-client-native');
    const deadline = Date.now() + 10_000;
    let held = 0;
    while (held < 1 && Date.now() < deadline) {
      const text = await (await fetch(`http://127.0.0.1:${listening.port}/metrics?format=prometheus`)).text();
      held = [...text.matchAll(/^stratix_native_sessions(?:\{[^}]*\})? (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
      if (held < 1) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(held, 1, 'the open session is on a worker\'s relay thread');
    c.ws.send('{"type":0,"messageId":"msg-native","data":"on the relay thread"}');
    await c.waitFor(1);
    assert.equal(c.messages[0]!.data.toString(), '{"type":0,"messageId":"msg-native","data":"on the relay thread"}');
    c.ws.terminate();
    assert.deepEqual(readdirSync(runDir), ['stratix-gateway'], 'nothing written beside it');
    assert.deepEqual(readdirSync(tmpDir).filter((f) => f.startsWith('stratix-relay-')), [], 'the extracted addon is removed once loaded');
  });

  it('serves the dashboard from inside itself', async () => {
    for (const [path, type] of [
      ['/admin/ui', 'text/html'],
      ['/admin/ui/app.js', 'text/javascript'],
      ['/admin/ui/uPlot.iife.min.js', 'text/javascript'],
    ] as const) {
      const res = await fetch(`http://127.0.0.1:${listening.port}${path}`);
      assert.equal(res.status, 200, path);
      assert.ok(res.headers.get('content-type')?.startsWith(type), `${path}: ${res.headers.get('content-type')}`);
      assert.ok((await res.arrayBuffer()).byteLength > 0);
    }
    const version = spawnSync(exe, ['--version'], { encoding: 'utf8' });
    assert.equal(version.stdout.trim(), JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version);
  });

  it('the systemd unit verifies (systemd-analyze verify) with this executable where it names it, and not without', () => {
    const unit = readFileSync(join(ROOT, 'deploy/systemd/stratix-gateway.service'), 'utf8');
    const execStart = /^ExecStart=(\S+) /m.exec(unit)![1]!;
    assert.equal(execStart, '/usr/local/bin/stratix-gateway');
    // A root of its own: the unit, the executable at the path the unit names, systemd's own
    // units (sysinit.target and friends) and kill (ExecReload).
    const root = mkdtempSync(join(tmpdir(), 'stratix-unit-root-'));
    try {
      for (const d of ['etc/systemd/system', 'usr/local/bin', 'usr/lib/systemd', 'usr/bin']) mkdirSync(join(root, d), { recursive: true });
      writeFileSync(join(root, 'etc/systemd/system/stratix-gateway.service'), unit);
      spawnSync('cp', ['-a', '/usr/lib/systemd/system', join(root, 'usr/lib/systemd/')]);
      symlinkSync('usr/bin', join(root, 'bin'));
      copyFileSync('/usr/bin/kill', join(root, 'usr/bin/kill'));
      const verify = (): { status: number | null; out: string } => {
        const r = spawnSync('systemd-analyze', ['verify', `--root=${root}`, '/etc/systemd/system/stratix-gateway.service'], { encoding: 'utf8' });
        return { status: r.status, out: `${r.stdout}${r.stderr}` };
      };
      const without = verify();
      assert.notEqual(without.status, 0);
      assert.match(without.out, /\/usr\/local\/bin\/stratix-gateway is not executable/);
      copyFileSync(exe, join(root, execStart));
      const ok = verify();
      assert.equal(ok.status, 0, ok.out);
      assert.equal(ok.out.trim(), '', 'no warning either');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('talks to etcd from inside itself (routes import, export; etcd3 reads its protos from the executable)', async () => {
    const etcd = await EtcdServer.start();
    try {
      const rules = join(buildDir, 'rules.json');
      writeFileSync(rules, JSON.stringify({ routes: [{ clientIdPrefix: 'sea-', openclawGateway: 'ws://oc-1.internal:18789/ws' }] }));
      const env = { PATH: '/usr/bin:/bin', HOME: runDir, TMPDIR: tmpDir };
      const imported = spawnSync(exe, ['routes', 'import', rules, '--etcd', etcd.endpoint], { cwd: runDir, env, encoding: 'utf8' });
      assert.equal(imported.status, 0, imported.stderr);
      assert.match(imported.stdout, /^imported 1 routes into etcd .*: 1 added/);
      const exported = spawnSync(exe, ['routes', 'export', '--etcd', etcd.endpoint], { cwd: runDir, env, encoding: 'utf8' });
      assert.equal(exported.status, 0, exported.stderr);
      assert.deepEqual(JSON.parse(exported.stdout), { routes: [{ clientIdPrefix: 'sea-', openclawGateway: 'ws://oc-1.internal:18789/ws' }] });
      assert.deepEqual(readdirSync(runDir), ['stratix-gateway'], 'nothing left beside it');
    } finally {
      await etcd.close();
    }
  });

  it('drains on SIGTERM and exits 0', async () => {
    const c = await openClient(listening.port, 'sea-client-2');
    proc!.kill('SIGTERM');
    const [closed, [code]] = await Promise.all([c.closed, once(proc!, 'exit')]);
    assert.equal(closed.code, 1012);
    assert.equal(code, 0, logs.slice(-2000));
  });
});
