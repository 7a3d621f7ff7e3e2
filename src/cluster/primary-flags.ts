/**
 * The primary's Node/V8 flags, the same however it is started.
 *
 * The workers get theirs from `gateway.workerNodeOptions`; the primary's are
 * PRIMARY_NODE_OPTIONS. They must be there when the process starts (V8 sizes its heap
 * once), so a primary started without them (`node dist/src/cli/main.js`, an executable
 * built by a Node without SEA `execArgv`) starts itself again with them:
 *
 * - where Node has `process.execve` (22.15+, 24): the process image is replaced in place,
 *   same pid (what a service manager watches), nothing left behind;
 * - elsewhere (Node 20): the process starts a child with the flags and stays as its thin
 *   supervisor: it passes signals on and exits with the child's status. A signal that
 *   reached both (a terminal's Ctrl-C, systemd's stop, which signal the whole group) is
 *   passed on only if the child did not report it got it itself, so it is not counted twice.
 *
 * A flag counts as given when its name is in the process's execArgv or NODE_OPTIONS with
 * any value: an operator's own `--max-semi-space-size=8` wins. The executable takes flags
 * only through NODE_OPTIONS (its command line is its own), so that is where they go there.
 */
import { spawn } from 'node:child_process';
import { isSingleExecutable } from '../executable.js';

/** Halves the memory of idle sessions in the workers; in the primary it caps the young generation during connect bursts. */
export const PRIMARY_NODE_OPTIONS: readonly string[] = Object.freeze(['--max-semi-space-size=2']);

/** Set in the environment of a primary started again with its flags (no second relaunch). */
export const RELAUNCHED_ENV = 'STRATIX_PRIMARY_RELAUNCHED';

interface SignalNote {
  readonly t: 'stratix-signal';
  readonly signal: NodeJS.Signals;
}

const FORWARD_DELAY_MS = 150;
const SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP'];

function flagName(flag: string): string {
  return flag.split('=', 1)[0]!.replace(/_/g, '-');
}

/** The flags of `wanted` whose name is in neither `execArgv` nor `nodeOptions`. */
export function missingFlags(wanted: readonly string[], execArgv: readonly string[], nodeOptions: string | undefined): string[] {
  const given = new Set([...execArgv, ...(nodeOptions ?? '').split(/\s+/)].filter((a) => a.startsWith('--')).map(flagName));
  return wanted.filter((f) => !given.has(flagName(f)));
}

export interface Relaunch {
  readonly file: string;
  /** argv[0] first. */
  readonly args: string[];
  readonly env: NodeJS.ProcessEnv;
}

/** How to start this program again with `flags` added. */
export function relaunchCommand(flags: readonly string[]): Relaunch {
  const env: NodeJS.ProcessEnv = { ...process.env, [RELAUNCHED_ENV]: '1' };
  if (isSingleExecutable()) {
    env['NODE_OPTIONS'] = [process.env['NODE_OPTIONS'] ?? '', ...flags].filter((s) => s.trim() !== '').join(' ');
    return { file: process.execPath, args: [process.execPath, ...process.argv.slice(2)], env };
  }
  return { file: process.execPath, args: [process.execPath, ...flags, ...process.execArgv, ...process.argv.slice(1)], env };
}

/**
 * Makes sure this primary runs with PRIMARY_NODE_OPTIONS. Returns undefined to go on in
 * this process (the flags are there, or this process was already started again), or the
 * promise of the exit status of the supervised child (Node without process.execve).
 */
export function ensurePrimaryFlags(wanted: readonly string[] = PRIMARY_NODE_OPTIONS): Promise<number> | undefined {
  if (process.env[RELAUNCHED_ENV] !== undefined) return undefined;
  const missing = missingFlags(wanted, process.execArgv, process.env['NODE_OPTIONS']);
  if (missing.length === 0) return undefined;
  const cmd = relaunchCommand(missing);
  const execve = (process as { execve?: (file: string, args: string[], env: NodeJS.ProcessEnv) => never }).execve;
  if (typeof execve === 'function') execve(cmd.file, cmd.args, cmd.env);
  return supervise(cmd);
}

function supervise(cmd: Relaunch): Promise<number> {
  const child = spawn(cmd.file, cmd.args.slice(1), { stdio: ['inherit', 'inherit', 'inherit', 'ipc'], env: cmd.env, argv0: cmd.args[0] });
  const reported = new Map<NodeJS.Signals, number>();
  const received = new Map<NodeJS.Signals, number>();
  child.on('message', (msg: SignalNote) => {
    if (msg?.t === 'stratix-signal') reported.set(msg.signal, (reported.get(msg.signal) ?? 0) + 1);
  });
  const handlers = SIGNALS.map((signal) => {
    const handler = (): void => {
      const n = (received.get(signal) ?? 0) + 1;
      received.set(signal, n);
      // The child reports each signal it gets; pass on the ones it did not get.
      setTimeout(() => {
        if ((reported.get(signal) ?? 0) < n && child.exitCode === null && child.signalCode === null) {
          reported.set(signal, n);
          child.kill(signal);
        }
      }, FORWARD_DELAY_MS);
    };
    process.on(signal, handler);
    return [signal, handler] as const;
  });
  return new Promise<number>((resolve) => {
    child.on('error', (err) => {
      process.stderr.write(`stratix-gateway: cannot start the primary with ${cmd.args.join(' ')}: ${err.message}\n`);
      resolve(1);
    });
    child.on('exit', (code, signal) => {
      for (const [s, h] of handlers) process.off(s, h);
      resolve(code ?? (signal === null ? 1 : 128 + signalNumber(signal)));
    });
  });
}

function signalNumber(signal: NodeJS.Signals): number {
  return ({ SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 } as Record<string, number>)[signal] ?? 0;
}

/** In a supervised primary: tells the supervisor that this process got `signal` itself. */
export function noteSignal(signal: NodeJS.Signals): void {
  if (process.env[RELAUNCHED_ENV] !== undefined && process.send !== undefined && process.connected) {
    process.send({ t: 'stratix-signal', signal } satisfies SignalNote);
  }
}

/**
 * In a supervised primary: the IPC channel must not keep the process alive by itself,
 * and when the supervisor is gone (killed), `onGone` runs (the primary drains and exits:
 * nothing would pass it signals or report its exit any more).
 */
export function watchSupervisor(onGone: () => void): void {
  if (process.env[RELAUNCHED_ENV] === undefined || !process.connected) return;
  process.channel?.unref();
  process.once('disconnect', onGone);
}
