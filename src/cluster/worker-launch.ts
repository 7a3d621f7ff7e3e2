/**
 * Starting a worker process, with its Node/V8 flags (`gateway.workerNodeOptions`):
 *
 * - compiled tree: `fork(worker-main.js)` with the primary's execArgv + the worker flags;
 * - one-file bundle run by node: `fork(bundle, [WORKER_FLAG])`, the same execArgv;
 * - single executable: the executable itself with WORKER_FLAG. An executable does not
 *   read Node flags from its command line (they would be its own arguments), so the
 *   worker flags travel in NODE_OPTIONS, which it does read (added to the flags built
 *   into it, see scripts/build-sea.mjs). Only flags NODE_OPTIONS allows can go there:
 *   `checkWorkerNodeOptions` refuses the others before any worker starts.
 *
 * Every way gets an IPC channel with advanced serialization (Buffers cross as Buffers).
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { ConfigError } from '../errors.js';
import { isBundle, isSingleExecutable, WORKER_FLAG } from '../executable.js';

const WORKER_MAIN = new URL('./worker-main.js', import.meta.url);

export function launchWorker(nodeOptions: readonly string[]): ChildProcess {
  if (isSingleExecutable()) {
    const env = { ...process.env, NODE_OPTIONS: joinNodeOptions(process.env['NODE_OPTIONS'], nodeOptions) };
    return spawn(process.execPath, [WORKER_FLAG], { stdio: ['inherit', 'inherit', 'inherit', 'ipc'], serialization: 'advanced', env });
  }
  const execArgv = [...process.execArgv, ...nodeOptions];
  if (isBundle()) return fork(process.argv[1]!, [WORKER_FLAG], { serialization: 'advanced', stdio: 'inherit', execArgv });
  return fork(WORKER_MAIN, [], { serialization: 'advanced', stdio: 'inherit', execArgv });
}

/** In the single executable the worker flags go through NODE_OPTIONS: refuse the ones it does not take. */
export function checkWorkerNodeOptions(nodeOptions: readonly string[], source: string): void {
  if (!isSingleExecutable()) return;
  const allowed = process.allowedNodeEnvironmentFlags;
  const bad = nodeOptions
    .map((flag, i) => ({ flag, i }))
    .filter(({ flag }) => !allowed.has(flag.split('=', 1)[0]!));
  if (bad.length > 0) {
    throw new ConfigError(
      source,
      bad.map(({ flag, i }) => `gateway.workerNodeOptions[${i}]: ${flag} cannot be given to the workers of the single executable (they take their flags from NODE_OPTIONS, which does not allow it)`),
    );
  }
}

export function joinNodeOptions(existing: string | undefined, flags: readonly string[]): string {
  return [existing ?? '', ...flags].filter((s) => s.trim() !== '').join(' ');
}
