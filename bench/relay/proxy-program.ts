/**
 * A reference proxy of the relay benchmark that is a real program rather than a Node
 * script (nginx, HAProxy, as Debian ships them; scripts/install-bench-proxies.sh
 * installs them). Each is described by how to write its config and how to start it
 * in the foreground; proxy-under-test.ts starts it in a fresh temporary directory on
 * a free loopback port and deletes the directory after it stopped.
 */
import { accessSync, constants } from 'node:fs';
import path from 'node:path';

/** Where and in front of what one instance runs. */
export interface ProgramSetup {
  /** A fresh temporary directory owned by this instance: config, pid file, logs. */
  dir: string;
  /** Loopback port it must listen on. */
  port: number;
  /** Port of the echo upstream on 127.0.0.1. */
  upstreamPort: number;
  /** Cores of the machine (worker processes or threads). */
  cores: number;
  /** Hard limit of open files per process. */
  openFiles: number;
  /** Descriptors a process may spend on sockets (the limit less headroom). */
  usableDescriptors: number;
  /** Worker processes, when not one per core (the scale benchmark: enough for 100k sessions). */
  workers?: number;
  /** Echo upstreams on 127.0.0.1 to balance over, when not only `upstreamPort` (so no destination runs out of ephemeral ports). */
  upstreamPorts?: number[];
}

export interface ProxyProgram {
  /** Executable name, looked up on PATH and in the sbin directories. */
  executable: string;
  /** File name of the config inside the instance's directory. */
  configFile: string;
  /** The config text. */
  config(setup: ProgramSetup): string;
  /** Command-line arguments that start it in the foreground with that config. */
  args(setup: ProgramSetup, configPath: string): string[];
  /** Most idle sessions it can hold within the descriptor limit of every process. */
  maxSessions(setup: ProgramSetup): number;
}

const SBIN = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

/** Absolute path of `name`; throws, naming the install script, when it is not installed. */
export function findExecutable(name: string): string {
  const dirs = [...(process.env['PATH'] ?? '').split(path.delimiter).filter(Boolean), ...SBIN];
  for (const dir of dirs) {
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  throw new Error(`${name} is not installed; run scripts/install-bench-proxies.sh (as root)`);
}
