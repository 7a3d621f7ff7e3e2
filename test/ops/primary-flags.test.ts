/**
 * The primary runs with PRIMARY_NODE_OPTIONS however it is started: `node main.js`
 * without flags starts itself again with them (in place where Node has process.execve,
 * else under a thin supervisor that passes signals on once and exits with the primary's
 * status); flags given by the operator are kept; a signal sent to the whole group (as a
 * terminal's Ctrl-C or systemd's stop do) is not counted twice.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, describe, it, test } from 'node:test';
import { missingFlags, PRIMARY_NODE_OPTIONS } from '../../src/cluster/primary-flags.js';
import { CLI, writeTempConfig } from '../helpers/cli.js';
import { until } from '../helpers/gateway.js';

test('missingFlags: by name, in execArgv or NODE_OPTIONS, any value', () => {
  const wanted = ['--max-semi-space-size=2'];
  assert.deepEqual(missingFlags(wanted, [], undefined), wanted);
  assert.deepEqual(missingFlags(wanted, ['--max-semi-space-size=2'], undefined), []);
  assert.deepEqual(missingFlags(wanted, ['--max-semi-space-size', '8'], undefined), []);
  assert.deepEqual(missingFlags(wanted, ['--max_semi_space_size=8'], undefined), []);
  assert.deepEqual(missingFlags(wanted, [], '--trace-warnings --max-semi-space-size=4'), []);
  assert.deepEqual(missingFlags(wanted, ['--max-old-space-size=2'], '--inspect'), wanted);
});

const hasExecve = typeof (process as { execve?: unknown }).execve === 'function';

interface Started {
  proc: ChildProcess;
  /** The pid that logged "listening" (the primary). */
  primaryPid: number;
  workerPids: number[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function cmdline(pid: number): string[] {
  return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function start(configPath: string, env: NodeJS.ProcessEnv = process.env): Promise<Started> {
  const proc = spawn(process.execPath, [CLI, '--config', configPath], { stdio: ['ignore', 'pipe', 'inherit'], env, detached: true });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error('no "listening" line')), 20_000);
    proc.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      for (const line of buf.split('\n')) {
        if (!line.includes('"msg":"listening"')) continue;
        const entry = JSON.parse(line) as { pid: number; pids: number[] };
        clearTimeout(timer);
        resolve({ proc, primaryPid: entry.pid, workerPids: entry.pids, exited });
        return;
      }
    });
  });
}

describe('the primary gets its flags however it is started', () => {
  const tmp = writeTempConfig({
    gateway: { listen: '127.0.0.1:0', workers: 1, drainPeriodMs: 100, drainGraceMs: 500 },
    defaultRoute: { openclawGateway: 'ws://127.0.0.1:9/ws' },
  });
  const started: Started[] = [];
  after(() => {
    for (const s of started) for (const pid of [s.proc.pid!, s.primaryPid, ...s.workerPids]) if (alive(pid)) process.kill(pid, 'SIGKILL');
    tmp.cleanup();
  });

  it(`node main.js without flags: the primary runs with ${PRIMARY_NODE_OPTIONS.join(' ')} (${hasExecve ? 'in place, same pid' : 'under a supervisor'}); SIGTERM drains, exit 0`, async () => {
    const s = await start(tmp.path);
    started.push(s);
    const args = cmdline(s.primaryPid);
    for (const flag of PRIMARY_NODE_OPTIONS) assert.ok(args.includes(flag), `primary ${args.join(' ')}`);
    if (hasExecve) assert.equal(s.primaryPid, s.proc.pid, 'replaced in place');
    else assert.notEqual(s.primaryPid, s.proc.pid, 'a supervised child');
    process.kill(s.proc.pid!, 'SIGTERM');
    assert.deepEqual(await s.exited, { code: 0, signal: null });
    await until(() => !alive(s.primaryPid) && s.workerPids.every((p) => !alive(p)), 'primary and workers gone');
  });

  it('a signal to the whole process group (Ctrl-C, systemd stop) drains once: exit 0, not the second-signal exit 1', async () => {
    const s = await start(tmp.path);
    started.push(s);
    process.kill(-s.proc.pid!, 'SIGTERM'); // the group: supervisor (if any), primary and workers
    assert.deepEqual(await s.exited, { code: 0, signal: null });
    await until(() => !alive(s.primaryPid), 'primary gone');
  });

  it("the operator's own value wins (NODE_OPTIONS): no relaunch", async () => {
    const s = await start(tmp.path, { ...process.env, NODE_OPTIONS: '--max-semi-space-size=4' });
    started.push(s);
    assert.equal(s.primaryPid, s.proc.pid);
    assert.ok(!cmdline(s.primaryPid).includes('--max-semi-space-size=2'));
    process.kill(s.proc.pid!, 'SIGTERM');
    assert.deepEqual(await s.exited, { code: 0, signal: null });
  });
});
