/**
 * Starts test/client/gateway-process.ts (a standalone gateway in a child process,
 * for tests that kill it with kill -9) and resolves once it is listening.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('./gateway-process.js', import.meta.url));

export function startGatewayProcess(config: Record<string, unknown>): Promise<ChildProcess> {
  const proc = spawn(process.execPath, [SCRIPT, JSON.stringify({ log: { level: 'warn' }, ...config })], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    proc.stdout!.once('data', () => resolve(proc));
    proc.once('exit', (code) => reject(new Error(`the gateway process exited (${code})`)));
  });
}
