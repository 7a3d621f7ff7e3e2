/**
 * Runs the real CLI (`dist/src/cli/main.js`) as a child process with a temp
 * config, and reads its JSON log lines.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PRIMARY_NODE_OPTIONS } from '../../src/cluster/primary-flags.js';

export const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
/** Node flags of the gateway as the bin, `npm start` and the systemd unit start it (no relaunch). */
export const CLI_NODE_ARGS: readonly string[] = PRIMARY_NODE_OPTIONS;

export interface RunningCli {
  readonly proc: ChildProcess;
  readonly port: number;
  /** The temp config file it runs with (removed when it exits); rewrite it to test reloads. */
  readonly configPath: string;
  /** Worker pids as logged at start. */
  readonly workerPids: number[];
  /** Every JSON log line so far. */
  readonly logs: Array<Record<string, unknown>>;
  readonly stderr: string[];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(): Promise<void>;
}

/** Writes `config` to a temp file; its reliable-session log goes to that temp dir unless the config names one. */
export function writeTempConfig(config: unknown): { path: string; dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'stratix-test-'));
  const path = join(dir, 'config.json');
  const c = config as Record<string, Record<string, unknown> | undefined>;
  const reliable = (c.reliable ?? {}) as Record<string, unknown>;
  const log = (reliable.log ?? {}) as Record<string, unknown>;
  const withLog = typeof config === 'object' && config !== null && log.dir === undefined ? { ...c, reliable: { ...reliable, log: { ...log, dir: join(dir, 'reliable') } } } : config;
  writeFileSync(path, JSON.stringify(withLog));
  return { path, dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Runs `node main.js ...args` to completion and collects its output. */
export function runCli(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    proc.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Starts the gateway CLI and resolves once it logs "listening". */
export function startCli(config: Record<string, unknown>): Promise<RunningCli> {
  const tmp = writeTempConfig(config);
  const proc = spawn(process.execPath, [...CLI_NODE_ARGS, CLI, '--config', tmp.path], { stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: Array<Record<string, unknown>> = [];
  const stderr: string[] = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.on('exit', (code, signal) => {
      tmp.cleanup();
      resolve({ code, signal });
    }),
  );
  proc.stderr!.on('data', (d: Buffer) => stderr.push(d.toString()));
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`CLI did not start: ${stderr.join('')}`)), 20_000);
    proc.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) !== -1) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let entry: Record<string, unknown>;
        try {
          entry = JSON.parse(line) as Record<string, unknown>;
        } catch {
          continue;
        }
        logs.push(entry);
        if (entry.msg === 'listening' && entry.role === 'primary') {
          clearTimeout(timer);
          resolve({
            proc,
            port: entry.port as number,
            configPath: tmp.path,
            workerPids: entry.pids as number[],
            logs,
            stderr,
            exited,
            async stop() {
              if (proc.exitCode === null && proc.signalCode === null) {
                proc.kill('SIGKILL');
                for (const pid of entry.pids as number[]) {
                  try {
                    process.kill(pid, 'SIGKILL');
                  } catch {
                    // already gone
                  }
                }
              }
              await exited;
            },
          });
        }
      }
    });
    proc.on('exit', () => {
      clearTimeout(timer);
      reject(new Error(`CLI exited before listening: ${stderr.join('')}`));
    });
  });
}
