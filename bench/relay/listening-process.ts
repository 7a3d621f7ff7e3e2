/**
 * A server program started as a child process, ready once it prints the pino-style
 * JSON line `{"msg":"listening","port":N}` on stdout (the echo upstream, the
 * reference relays and the Stratix CLI all do), or once a probe of the port it was
 * told to listen on succeeds (programs that print nothing, such as nginx and
 * HAProxy). Stopping sends SIGTERM, then SIGKILL to the whole process tree after a
 * grace period.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { descendantsOf } from './process-tree.js';

export interface StartOptions {
  /** Shown in errors. */
  name: string;
  /** The executable; default this node (`process.execPath`), `args` then starting with the script. */
  command?: string;
  args: readonly string[];
  /** How long to wait for the listening line. */
  timeoutMs: number;
  /** Fallback port when the program is known to listen there but may not log it (e.g. log level warn). */
  expectedPort?: number;
  /** Called when the expectedPort fallback should be probed; resolves true once the server answers. */
  probe?: () => Promise<boolean>;
  /** Its stderr lines that start with this are also written to the runner's stderr (a diagnostic it reports). */
  relayStderr?: string;
}

const TAIL_LINES = 20;

export class ListeningProcess {
  readonly #child: ChildProcess;
  readonly #output: string[] = [];
  readonly #exited: Promise<number | null>;

  private constructor(
    readonly name: string,
    child: ChildProcess,
    readonly port: number,
    output: string[],
    exited: Promise<number | null>,
  ) {
    this.#child = child;
    this.#output = output;
    this.#exited = exited;
  }

  get pid(): number {
    return this.#child.pid!;
  }

  /** The last lines the program printed (stdout and stderr), for error reports. */
  get outputTail(): string {
    return this.#output.join('\n');
  }

  static async start(options: StartOptions): Promise<ListeningProcess> {
    const child = spawn(options.command ?? process.execPath, options.args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const output: string[] = [];
    const keep = (line: string): void => {
      output.push(line);
      if (output.length > TAIL_LINES) output.shift();
    };
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const port = await new Promise<number>((resolve, reject) => {
      let settled = false;
      const finish = (error: Error | undefined, value?: number): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        clearInterval(poller);
        if (error) reject(error);
        else resolve(value!);
      };
      const timer = setTimeout(() => {
        killTree(child.pid);
        finish(new Error(`${options.name}: no "listening" line within ${options.timeoutMs} ms\n${output.join('\n')}`));
      }, options.timeoutMs);
      let probing = false;
      const poller = setInterval(() => {
        if (options.expectedPort === undefined || options.probe === undefined || probing) return;
        probing = true;
        options.probe().then(
          (ok) => {
            probing = false;
            if (ok) finish(undefined, options.expectedPort);
          },
          () => (probing = false),
        );
      }, 250);
      createInterface({ input: child.stdout! }).on('line', (line) => {
        keep(line);
        const listeningPort = parseListeningLine(line);
        if (listeningPort !== undefined) finish(undefined, listeningPort);
      });
      const relay = options.relayStderr;
      createInterface({ input: child.stderr! }).on('line', (line) => {
        keep(line);
        if (relay !== undefined && line.startsWith(relay)) process.stderr.write(`${line}\n`);
      });
      child.once('error', (error) => finish(error));
      void exited.then((code) => finish(new Error(`${options.name} exited with ${code}\n${output.join('\n')}`)));
    });
    return new ListeningProcess(options.name, child, port, output, exited);
  }

  /** SIGTERM, then SIGKILL to every process of the tree that is still there after `graceMs`. */
  async stop(graceMs = 5_000): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    const tree = descendantsOf(this.pid);
    this.#child.kill('SIGTERM');
    const timedOut = await Promise.race([
      this.#exited.then(() => false),
      new Promise<boolean>((resolve) => setTimeout(resolve, graceMs, true).unref()),
    ]);
    // Whatever of the tree outlived the grace period (or the primary) is killed.
    for (const pid of timedOut ? tree : tree.slice(1)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await this.#exited;
  }
}

function killTree(root: number | undefined): void {
  if (root === undefined) return;
  for (const pid of descendantsOf(root)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

function parseListeningLine(line: string): number | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const record = JSON.parse(line) as { msg?: unknown; port?: unknown };
    return record.msg === 'listening' && typeof record.port === 'number' ? record.port : undefined;
  } catch {
    return undefined;
  }
}
