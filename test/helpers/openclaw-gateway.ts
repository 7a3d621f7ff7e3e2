// Harness for the REAL OpenClaw gateway (npm openclaw@2026.9.6) and its real clients.
//
// - OpenClawGateway: `openclaw gateway run` on loopback, on a free port, in a temp dir of its
//   own (HOME, OPENCLAW_HOME, OPENCLAW_STATE_DIR, OPENCLAW_CONFIG_PATH, logging.file, TMPDIR,
//   the "embedding preset" env vars). It can be stopped (SIGTERM: the gateway sends 1012 to
//   its clients) and started again on the same port, and `close()` removes everything.
// - gateway.call(): the real one-shot CLI, `openclaw gateway call <method> --url … --json`.
// - gateway.startNodeHost(): a long-lived `openclaw node run` with its own isolated state.
//
// Every OpenClaw program runs as `<node 24> <openclaw.mjs> …` with the Node 24 from
// .cache/node24, so the harness works when the test process itself runs under Node 20.
// Install both with scripts/install-openclaw.sh (see ensureOpenClawInstalled()).
//
// Files outside the temp dir: OpenClaw hard-codes its lock directory to
// /tmp/openclaw-state-locks-<uid>; close() removes the lock files that appeared there while
// the harness ran and that no process holds open (see removeStaleLockFiles()). It also prefers
// /tmp/openclaw (hard-coded, not TMPDIR) as a shared temp root: close() removes it when it
// did not exist before and is empty.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readlink, rm, rmdir, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

export const OPENCLAW_VERSION = '2026.9.6';

/** Repository root: this file is test/helpers/ in the sources and dist/test/helpers/ once built. */
export const repoRoot = findRepoRoot(path.dirname(fileURLToPath(import.meta.url)));

function findRepoRoot(start: string): string {
  for (let dir = start; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'scripts', 'install-openclaw.sh'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no scripts/install-openclaw.sh above ${start}`);
  }
}

/** The Node 24 binary and openclaw's CLI entry (a node script), both in .cache/. */
export interface OpenClawInstall {
  readonly node: string;
  readonly entry: string;
}

/**
 * Runs scripts/install-openclaw.sh (which installs Node 24 first). Idempotent: about 0.1 s when
 * both are already installed, about 50 s on a clean clone. Needs the npm registry.
 */
export async function ensureOpenClawInstalled(): Promise<OpenClawInstall> {
  const script = path.join(repoRoot, 'scripts', 'install-openclaw.sh');
  const { stdout } = await run('bash', [script], { timeoutMs: 10 * 60_000 });
  const entry = stdout.trim().split('\n').pop() ?? '';
  const node = path.join(repoRoot, '.cache', 'node24', 'node_modules', '.bin', 'node');
  if (!existsSync(entry) || !existsSync(node)) {
    throw new Error(`install-openclaw.sh did not give a usable install (entry: ${entry})`);
  }
  return { node, entry };
}

// ---------------------------------------------------------------------------------------------
// Output lines of a child process

const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;
const MAX_LINES = 5000;

/** The lines a process printed (stdout and stderr, ANSI colours removed), bounded. */
export class LineLog {
  readonly #lines: string[] = [];
  #dropped = 0;
  #waiters = new Set<() => void>();
  #ended = false;

  attach(stream: NodeJS.ReadableStream | null): void {
    if (!stream) return;
    let rest = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      const parts = (rest + chunk).split('\n');
      rest = parts.pop() ?? '';
      for (const line of parts) this.push(line);
    });
    stream.on('end', () => {
      if (rest) this.push(rest);
      rest = '';
    });
  }

  push(line: string): void {
    this.#lines.push(line.replace(ANSI, '').replace(/\r$/, ''));
    if (this.#lines.length > MAX_LINES) {
      this.#lines.shift();
      this.#dropped++;
    }
    this.#wake();
  }

  /** No more lines will come (the process exited); wakes waiters so they can give up. */
  end(): void {
    this.#ended = true;
    this.#wake();
  }

  /** A position: lines pushed after it are `since(mark)`. */
  mark(): number {
    return this.#dropped + this.#lines.length;
  }

  since(mark: number): string[] {
    return this.#lines.slice(Math.max(0, mark - this.#dropped));
  }

  tail(n = 40): string {
    return this.#lines.slice(-n).join('\n');
  }

  /** Waits for a line matching `re` pushed at or after `from`; rejects at the deadline. */
  async waitFor(re: RegExp, opts: { from?: number; timeoutMs: number; what?: string }): Promise<string> {
    const from = opts.from ?? 0;
    const deadline = Date.now() + opts.timeoutMs;
    for (;;) {
      const hit = this.since(from).find((l) => re.test(l));
      if (hit !== undefined) return hit;
      const left = deadline - Date.now();
      if (left <= 0 || this.#ended) {
        const why = this.#ended ? 'the process exited' : `${opts.timeoutMs} ms passed`;
        throw new Error(`${opts.what ?? 'process'}: no line matching ${re} (${why}); last lines:\n${this.tail()}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, left);
        function done(): void {
          clearTimeout(timer);
          resolve();
        }
        this.#waiters.add(done);
      });
    }
  }

  #wake(): void {
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    for (const w of waiters) w();
  }
}

// ---------------------------------------------------------------------------------------------
// A child process in a process group of its own

/**
 * Process groups still alive and temp dirs not yet removed. Being detached, the groups get no
 * signal from a terminal or a test runner: when the test process exits or is killed without a
 * teardown, they are SIGKILLed and the dirs removed.
 */
const liveGroups = new Set<number>();
const liveDirs = new Set<string>();
let exitHooksInstalled = false;

function cleanUpNow(): void {
  for (const pgid of liveGroups) signalGroup(pgid, 'SIGKILL');
  liveGroups.clear();
  for (const dir of liveDirs) rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  liveDirs.clear();
}

function installExitHooks(): void {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  process.on('exit', cleanUpNow);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      cleanUpNow();
      process.kill(process.pid, sig); // the default action, now that no listener is left
    });
  }
}

function trackGroup(pid: number): void {
  installExitHooks();
  liveGroups.add(pid);
}

/** A temp dir removed at teardown, or at exit if the teardown never ran. */
export async function makeTrackedTempDir(prefix: string): Promise<string> {
  installExitHooks();
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  liveDirs.add(dir);
  return dir;
}

export async function removeTrackedTempDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  liveDirs.delete(dir);
}

function signalGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false; // ESRCH: nobody left in the group
  }
}

/** A spawned program (detached: it leads its own process group, so its children die with it). */
export class ManagedProcess {
  readonly log = new LineLog();
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly #child: ChildProcess;
  readonly #pid: number;
  #exitStatus: { code: number | null; signal: NodeJS.Signals | null } | undefined;

  constructor(readonly name: string, command: string, args: string[], env: NodeJS.ProcessEnv, cwd: string) {
    this.#child = spawn(command, args, { env, cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    if (this.#child.pid === undefined) throw new Error(`${name}: spawn ${command} failed`);
    this.#pid = this.#child.pid;
    trackGroup(this.#pid);
    this.log.attach(this.#child.stdout);
    this.log.attach(this.#child.stderr);
    this.exited = new Promise((resolve) => {
      this.#child.on('exit', (code, signal) => {
        this.#exitStatus = { code, signal };
        this.log.push(`[harness] ${name} exited (code ${code}, signal ${signal})`);
        this.log.end();
        resolve(this.#exitStatus);
      });
    });
  }

  get pid(): number {
    return this.#pid;
  }

  get running(): boolean {
    return this.#exitStatus === undefined;
  }

  /**
   * Sends `signal` (to the leader only, or to the whole group), waits up to `graceMs` for the
   * leader to exit, then SIGKILLs whatever is left of the group (worker children included).
   */
  async stop(opts: { signal?: NodeJS.Signals; group?: boolean; graceMs?: number } = {}): Promise<void> {
    const { signal = 'SIGTERM', group = false, graceMs = 30_000 } = opts;
    if (this.running) {
      if (group) signalGroup(this.#pid, signal);
      else this.#child.kill(signal);
      const grace = new AbortController();
      const timer = delay(graceMs, 'timeout' as const, { signal: grace.signal }).catch(() => 'aborted' as const);
      const first = await Promise.race([this.exited, timer]);
      grace.abort();
      if (first === 'timeout') signalGroup(this.#pid, 'SIGKILL');
      await this.exited;
    }
    // Children that outlived their parent: give them a moment, then kill them.
    for (let i = 0; i < 20 && signalGroup(this.#pid, 0); i++) await delay(100);
    signalGroup(this.#pid, 'SIGKILL');
    liveGroups.delete(this.#pid);
  }
}

// ---------------------------------------------------------------------------------------------
// Isolated OpenClaw environments

/** A folder holding one OpenClaw program's HOME, state, config, log file and temp dir. */
interface Profile {
  readonly dir: string;
  readonly env: NodeJS.ProcessEnv;
  readonly logFile: string;
}

async function makeProfile(dir: string, install: OpenClawInstall, config: Record<string, unknown>): Promise<Profile> {
  const home = path.join(dir, 'home');
  const state = path.join(dir, 'state');
  const tmp = path.join(dir, 'tmp');
  const logFile = path.join(dir, 'openclaw.log');
  const configPath = path.join(dir, 'openclaw.json');
  await Promise.all([home, state, tmp].map((d) => mkdir(d, { recursive: true })));
  await writeFile(configPath, JSON.stringify({ ...config, logging: { file: logFile } }, null, 2));

  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    // Nothing of the developer's own OpenClaw, Node or npm setup leaks in: NODE_TEST_CONTEXT
    // would make a child node think it is a node:test subprocess, and the npm_* variables of an
    // enclosing `npm test` would point the gateway's `npm root --global` at the real ~/.npm.
    if (/^(OPENCLAW_|NODE_|npm_)/i.test(k)) continue;
    env[k] = v;
  }
  Object.assign(env, {
    PATH: `${path.dirname(install.node)}${path.delimiter}${process.env['PATH'] ?? ''}`,
    HOME: home,
    OPENCLAW_HOME: home,
    OPENCLAW_STATE_DIR: state,
    OPENCLAW_CONFIG_PATH: configPath,
    // os.tmpdir() of every OpenClaw process: its rolling log, its temp files, and its Node
    // compile cache ($TMPDIR/node-compile-cache/openclaw/…). NODE_COMPILE_CACHE is left unset
    // on purpose: when it is set, openclaw.mjs re-spawns itself to move the cache to a
    // sub-folder, which adds a process per program; with TMPDIR set the cache stays here.
    TMPDIR: tmp,
    // The "embedding preset" (docs/gateway/embedding.md) plus no auto update.
    OPENCLAW_SKIP_CHANNELS: '1',
    OPENCLAW_DISABLE_BONJOUR: '1',
    OPENCLAW_NO_RESPAWN: '1',
    OPENCLAW_NO_AUTO_UPDATE: '1',
    OPENCLAW_EXEC_SHELL_SNAPSHOT: '0',
    NO_COLOR: '1',
  });
  return { dir, env, logFile };
}

// ---------------------------------------------------------------------------------------------
// Results of the one-shot CLI

export interface CliResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout parsed as JSON (`--json`), or undefined when it is not JSON. */
  readonly json: unknown;
}

export interface NodeListEntry {
  nodeId: string;
  displayName?: string;
  clientId?: string;
  connected?: boolean;
  connectedAtMs?: number;
  [key: string]: unknown;
}

// ---------------------------------------------------------------------------------------------
// The gateway

export interface OpenClawGatewayOptions {
  /** Shared gateway token (`--auth token --token T`). */
  token?: string;
  /** Deadline for one start, until `gateway call health` answers ok. Default 180 s. */
  readyTimeoutMs?: number;
}

export class OpenClawGateway {
  readonly token: string;
  readonly port: number;
  /** Everything the harness wrote lives under this folder (removed by close()). */
  readonly root: string;
  readonly #install: OpenClawInstall;
  readonly #profile: Profile;
  readonly #cli: Profile;
  readonly #readyTimeoutMs: number;
  readonly #nodeHosts = new Set<OpenClawNodeHost>();
  readonly #lockDirBefore: Set<string> | undefined;
  readonly #sharedTmpExisted: boolean;
  #process: ManagedProcess | undefined;
  #nodeHostCount = 0;
  #closed = false;

  private constructor(args: {
    install: OpenClawInstall;
    root: string;
    port: number;
    token: string;
    profile: Profile;
    cli: Profile;
    readyTimeoutMs: number;
    lockDirBefore: Set<string> | undefined;
  }) {
    this.#install = args.install;
    this.root = args.root;
    this.port = args.port;
    this.token = args.token;
    this.#profile = args.profile;
    this.#cli = args.cli;
    this.#readyTimeoutMs = args.readyTimeoutMs;
    this.#lockDirBefore = args.lockDirBefore;
    this.#sharedTmpExisted = existsSync(SHARED_TMP_DIR);
  }

  /** Creates the temp dir, picks a free port, starts the gateway and waits until it is ready. */
  static async start(install: OpenClawInstall, opts: OpenClawGatewayOptions = {}): Promise<OpenClawGateway> {
    const lockDirBefore = await listLockDir();
    const root = await makeTrackedTempDir('stratix-openclaw-');
    try {
      const [port, profile, cli] = await Promise.all([
        freePort(),
        makeProfile(path.join(root, 'gateway'), install, { gateway: { mode: 'local' } }),
        makeProfile(path.join(root, 'cli'), install, {}),
      ]);
      const gw = new OpenClawGateway({
        install,
        root,
        port,
        token: opts.token ?? `stratix-interop-${process.pid}`,
        profile,
        cli,
        readyTimeoutMs: opts.readyTimeoutMs ?? 180_000,
        lockDirBefore,
      });
      try {
        await gw.start();
      } catch (err) {
        await gw.close();
        throw err;
      }
      return gw;
    } catch (err) {
      await removeTrackedTempDir(root);
      throw err;
    }
  }

  /** The gateway's own WebSocket URL (it accepts any path). */
  get url(): string {
    return `ws://127.0.0.1:${this.port}/`;
  }

  get running(): boolean {
    return this.#process?.running ?? false;
  }

  /** Output of the current (or last) gateway process. */
  get log(): LineLog {
    if (!this.#process) throw new Error('the gateway was never started');
    return this.#process.log;
  }

  /** Starts the gateway (again) on the same port and waits until a health call succeeds. */
  async start(): Promise<void> {
    if (this.#closed) throw new Error('the gateway harness is closed');
    if (this.running) throw new Error('the gateway is already running');
    const proc = new ManagedProcess(
      'openclaw gateway',
      this.#install.node,
      [
        this.#install.entry,
        'gateway',
        'run',
        '--port',
        String(this.port),
        '--bind',
        'loopback',
        '--auth',
        'token',
        '--token',
        this.token,
      ],
      this.#profile.env,
      this.#profile.dir,
    );
    this.#process = proc;
    const deadline = Date.now() + this.#readyTimeoutMs;
    await proc.log.waitFor(/\[gateway\] ready\b/, { timeoutMs: this.#readyTimeoutMs, what: 'openclaw gateway' });
    // "ready" comes before the first RPC is served on a fresh state: poll health until it answers.
    let last: CliResult | undefined;
    while (Date.now() < deadline && proc.running) {
      last = await this.call('health', { timeoutMs: 15_000 });
      if (last.exitCode === 0) return;
      await delay(1000);
    }
    throw new Error(
      `openclaw gateway on port ${this.port} did not answer health within ${this.#readyTimeoutMs} ms` +
        `\nlast CLI result: ${JSON.stringify(last)}\ngateway output:\n${proc.log.tail()}`,
    );
  }

  /** SIGTERM (the gateway sends `shutdown` and closes its clients with 1012), waits for the exit. */
  async stop(): Promise<void> {
    await this.#process?.stop({ signal: 'SIGTERM', graceMs: 30_000 });
  }

  /**
   * The real CLI: `openclaw gateway call <method> --url <url> --token T --json`. Never throws on
   * a failed call: check `exitCode` (0 ok, 1 error) and `json`. `url` defaults to the gateway;
   * `timeoutMs` (default 30 s) is the CLI's own --timeout.
   */
  async call(method: string, opts: { url?: string; params?: unknown; timeoutMs?: number } = {}): Promise<CliResult> {
    const timeoutMs = opts.timeoutMs ?? 30_000;
    const args = [this.#install.entry, 'gateway', 'call', method, '--url', opts.url ?? this.url];
    args.push('--token', this.token, '--json', '--timeout', String(timeoutMs));
    if (opts.params !== undefined) args.push('--params', JSON.stringify(opts.params));
    const res = await run(this.#install.node, args, {
      env: this.#cli.env,
      cwd: this.#cli.dir,
      timeoutMs: timeoutMs + 60_000,
      allowFailure: true,
    });
    let json: unknown;
    try {
      json = JSON.parse(res.stdout);
    } catch {
      json = undefined;
    }
    return { ...res, json };
  }

  /** `node.list`, asked of the gateway directly; throws when the call fails. */
  async nodeList(): Promise<NodeListEntry[]> {
    const res = await this.call('node.list');
    const nodes = (res.json as { nodes?: NodeListEntry[] } | undefined)?.nodes;
    if (res.exitCode !== 0 || !Array.isArray(nodes)) {
      throw new Error(`gateway call node.list failed (exit ${res.exitCode}): ${res.stdout}${res.stderr}`);
    }
    return nodes;
  }

  /**
   * Starts a long-lived `openclaw node run --host H --port P --no-tls [--context-path C]` with its
   * own isolated state and OPENCLAW_GATEWAY_TOKEN. host/port default to this gateway; point
   * them at a proxy to connect through it. close() stops it.
   */
  async startNodeHost(opts: { host?: string; port?: number; contextPath?: string; displayName?: string } = {}): Promise<OpenClawNodeHost> {
    if (this.#closed) throw new Error('the gateway harness is closed');
    const n = ++this.#nodeHostCount;
    const profile = await makeProfile(path.join(this.root, `node-host-${n}`), this.#install, {});
    const displayName = opts.displayName ?? `stratix-interop-node-${n}`;
    const args = [this.#install.entry, 'node', 'run', '--host', opts.host ?? '127.0.0.1'];
    args.push('--port', String(opts.port ?? this.port), '--no-tls', '--display-name', displayName);
    if (opts.contextPath !== undefined) args.push('--context-path', opts.contextPath);
    const env = { ...profile.env, OPENCLAW_GATEWAY_TOKEN: this.token };
    const proc = new ManagedProcess(`openclaw node run (${displayName})`, this.#install.node, args, env, profile.dir);
    const host = new OpenClawNodeHost(displayName, proc, () => this.#nodeHosts.delete(host));
    this.#nodeHosts.add(host);
    return host;
  }

  /** Stops node hosts and the gateway (children included) and removes every file it made. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([...this.#nodeHosts].map((h) => h.stop()));
    await this.stop();
    await removeTrackedTempDir(this.root);
    await removeStaleLockFiles(this.#lockDirBefore);
    if (!this.#sharedTmpExisted) await rmdir(SHARED_TMP_DIR).catch(() => undefined); // only when empty
  }
}

// ---------------------------------------------------------------------------------------------
// The node host

/** A running `openclaw node run`. Its output shows each connect and each close (with code). */
export class OpenClawNodeHost {
  constructor(
    readonly displayName: string,
    readonly process: ManagedProcess,
    readonly onStop: () => void,
  ) {}

  get log(): LineLog {
    return this.process.log;
  }

  /** Lines "node host gateway connected: <url>" printed since `from`. */
  connects(from = 0): string[] {
    return this.log.since(from).filter((l) => CONNECTED.test(l));
  }

  /** Close codes from lines "node host gateway closed (<code>): <reason>" printed since `from`. */
  closeCodes(from = 0): number[] {
    return this.log
      .since(from)
      .map((l) => CLOSED.exec(l)?.[1])
      .filter((c): c is string => c !== undefined)
      .map(Number);
  }

  /** Waits for the next "gateway connected" line at or after `from`; returns it. */
  waitForConnect(opts: { from?: number; timeoutMs: number }): Promise<string> {
    return this.log.waitFor(CONNECTED, { ...opts, what: `node host ${this.displayName}` });
  }

  async stop(): Promise<void> {
    // The launcher and its node-host child both handle SIGTERM: signal the whole group.
    await this.process.stop({ signal: 'SIGTERM', group: true, graceMs: 15_000 });
    this.onStop();
  }
}

const CONNECTED = /^node host gateway connected: (\S+)/;
const CLOSED = /^node host gateway closed \((\d+)\)/;

// ---------------------------------------------------------------------------------------------
// Small tools

/** A port free on both 127.0.0.1 and ::1 (the gateway listens on both). */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = await listenOnce('127.0.0.1', 0);
    if (port !== undefined && (await listenOnce('::1', port)) !== undefined) return port;
  }
  throw new Error('no free port on 127.0.0.1 and ::1');
}

function listenOnce(host: string, port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', (err: NodeJS.ErrnoException) => {
      // No IPv6 on this host: then ::1 cannot be taken by anyone else either.
      resolve(err.code === 'EADDRNOTAVAIL' || err.code === 'EAFNOSUPPORT' ? port : undefined);
    });
    srv.listen({ host, port, exclusive: true }, () => {
      const got = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(got));
    });
  });
}

interface RunResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** execFile as a promise; rejects on a non-zero exit unless allowFailure. */
function run(
  command: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs: number; allowFailure?: boolean },
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      { env: opts.env ?? process.env, cwd: opts.cwd, timeout: opts.timeoutMs, killSignal: 'SIGKILL', maxBuffer: 64 << 20 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        if (err && !opts.allowFailure) {
          reject(new Error(`${command} ${args.join(' ')} failed (${err.message})\n${stderr}`));
          return;
        }
        resolve({ exitCode: code, stdout, stderr });
      },
    );
  });
}

/** OpenClaw's preferred shared temp root (resolvePreferredOpenClawTmpDir), whatever TMPDIR says. */
const SHARED_TMP_DIR = '/tmp/openclaw';

// OpenClaw's lock files: /tmp/openclaw-state-locks-<uid>/<family>.<sha256(db path)[0:8]>.lock.sqlite,
// a path hard-coded in its resolveStateLifecycleRuntimeDirectory() (not os.tmpdir()).
const LOCK_DIR =
  process.platform === 'win32' ? undefined : path.join('/tmp', `openclaw-state-locks-${process.getuid?.() ?? ''}`);

async function listLockDir(): Promise<Set<string> | undefined> {
  if (!LOCK_DIR) return undefined;
  try {
    return new Set(await readdir(LOCK_DIR));
  } catch {
    return undefined; // does not exist yet
  }
}

/**
 * Removes the lock files that appeared in LOCK_DIR since `before` and that no process holds
 * open (read from /proc/<pid>/fd), so a concurrent OpenClaw keeps its locks. Removes LOCK_DIR
 * itself when it did not exist before and is now empty.
 */
async function removeStaleLockFiles(before: Set<string> | undefined): Promise<void> {
  if (!LOCK_DIR) return;
  const now = await listLockDir();
  if (!now) return;
  const fresh = [...now].filter((f) => !before?.has(f));
  if (fresh.length === 0) return;
  const held = await openFilesUnder(LOCK_DIR);
  await Promise.all(
    fresh.filter((f) => !held.has(path.join(LOCK_DIR, f))).map((f) => rm(path.join(LOCK_DIR, f), { force: true })),
  );
  if (!before) await rmdir(LOCK_DIR).catch(() => undefined); // fails when not empty: fine
}

async function openFilesUnder(dir: string): Promise<Set<string>> {
  const held = new Set<string>();
  let pids: string[];
  try {
    pids = (await readdir('/proc')).filter((p) => /^\d+$/.test(p));
  } catch {
    return held;
  }
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = await readdir(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
      if (target.startsWith(dir + path.sep)) held.add(target);
    }
  }
  return held;
}
