/**
 * The REAL etcd (Debian's etcd-server; `scripts/install-etcd.sh` installs it) for tests:
 * a single-member cluster on free loopback ports (client + peer), data in a temp dir.
 * It can be SIGKILLed and started again on the same ports with the same data, and
 * `close()` kills it and removes the temp dir. A process-exit hook kills any etcd a
 * crashed test left behind.
 *
 *   const etcd = await EtcdServer.start();
 *   etcd.endpoint            // "http://127.0.0.1:<port>"
 *   await etcd.kill();       // SIGKILL, like a crash
 *   await etcd.restart();    // same ports, same data dir, waits until healthy
 *   await etcd.close();
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { openSync, closeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { freePort } from './upstream.js';

export interface EtcdServerOptions {
  /** The etcd binary; default $ETCD_BIN or `etcd` on PATH. */
  bin?: string;
  /** More flags, e.g. ['--experimental-watch-progress-notify-interval=1s']. */
  extraArgs?: readonly string[];
  /** Deadline for etcd to become healthy. Default 30 s. */
  startTimeoutMs?: number;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

export class EtcdServer {
  readonly dir: string;
  readonly dataDir: string;
  readonly clientPort: number;
  readonly peerPort: number;
  readonly #bin: string;
  readonly #args: string[];
  readonly #logPath: string;
  readonly #startTimeoutMs: number;
  #proc: ChildProcess | undefined;

  private constructor(dir: string, clientPort: number, peerPort: number, opts: EtcdServerOptions) {
    this.dir = dir;
    this.dataDir = path.join(dir, 'data');
    this.clientPort = clientPort;
    this.peerPort = peerPort;
    this.#bin = opts.bin ?? process.env['ETCD_BIN'] ?? 'etcd';
    this.#logPath = path.join(dir, 'etcd.log');
    this.#startTimeoutMs = opts.startTimeoutMs ?? 30_000;
    const client = `http://127.0.0.1:${clientPort}`;
    const peer = `http://127.0.0.1:${peerPort}`;
    this.#args = [
      '--name=test',
      `--data-dir=${this.dataDir}`,
      `--listen-client-urls=${client}`,
      `--advertise-client-urls=${client}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=test=${peer}`,
      '--initial-cluster-state=new',
      '--initial-cluster-token=stratix-test',
      // A single member elects itself after one election timeout: keep it short.
      '--heartbeat-interval=20',
      '--election-timeout=200',
      '--logger=zap',
      '--log-outputs=stderr',
      '--log-level=warn',
      ...(opts.extraArgs ?? []),
    ];
  }

  /** Starts etcd on two free loopback ports; resolves when /health says true. */
  static async start(opts: EtcdServerOptions = {}): Promise<EtcdServer> {
    const bin = opts.bin ?? process.env['ETCD_BIN'] ?? 'etcd';
    if (spawnSync(bin, ['--version'], { stdio: 'ignore' }).status !== 0) {
      throw new Error(`etcd not found (${bin}); install it with: bash scripts/install-etcd.sh`);
    }
    const dir = await mkdtemp(path.join(os.tmpdir(), 'stratix-etcd-'));
    const clientPort = await freePort();
    let peerPort = await freePort();
    while (peerPort === clientPort) peerPort = await freePort();
    const server = new EtcdServer(dir, clientPort, peerPort, opts);
    try {
      await server.restart();
    } catch (err) {
      await server.close();
      throw err;
    }
    return server;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.clientPort}`;
  }

  /** The running etcd's process id (a benchmark reads its CPU time). */
  get pid(): number | undefined {
    return this.#proc?.pid;
  }

  get running(): boolean {
    return this.#proc !== undefined;
  }

  /** (Re)starts the process on the same ports and data dir; resolves when healthy. */
  async restart(): Promise<void> {
    if (this.#proc !== undefined) throw new Error('etcd is already running');
    const log = openSync(this.#logPath, 'a');
    const proc = spawn(this.#bin, this.#args, { stdio: ['ignore', log, log] });
    closeSync(log);
    this.#proc = proc;
    live.add(proc);
    proc.once('exit', () => {
      live.delete(proc);
      if (this.#proc === proc) this.#proc = undefined;
    });
    const deadline = Date.now() + this.#startTimeoutMs;
    while (Date.now() < deadline) {
      if (this.#proc !== proc) throw new Error(`etcd exited during start:\n${await this.logTail()}`);
      if (await this.#healthy()) return;
      await delay(50);
    }
    throw new Error(`etcd not healthy within ${this.#startTimeoutMs} ms:\n${await this.logTail()}`);
  }

  async #healthy(): Promise<boolean> {
    try {
      const res = await fetch(`${this.endpoint}/health`, { signal: AbortSignal.timeout(1_000) });
      const body = (await res.json()) as { health?: string };
      return body.health === 'true';
    } catch {
      return false;
    }
  }

  /** SIGKILL (a crash: no graceful shutdown); resolves when the process is gone. */
  async kill(): Promise<void> {
    const proc = this.#proc;
    if (proc === undefined) return;
    const exited = once(proc, 'exit');
    proc.kill('SIGKILL');
    await exited;
  }

  /** The last lines etcd logged (for failure messages). */
  async logTail(lines = 30): Promise<string> {
    try {
      return (await readFile(this.#logPath, 'utf8')).split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }

  /** Kills etcd and removes its temp dir. */
  async close(): Promise<void> {
    await this.kill();
    await rm(this.dir, { recursive: true, force: true });
  }
}
