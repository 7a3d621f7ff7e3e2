/**
 * CPU time and resident memory of a process and all its descendants, read from
 * /proc (Linux only). A gateway is a primary plus worker children; every figure
 * the relay benchmark reports about it is summed over that whole tree.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

export interface TreeSample {
  /** Processes found (root first). */
  pids: number[];
  /** utime + stime of every live process in the tree, in seconds. */
  cpuSeconds: number;
  /** Sum of VmRSS over the tree, in bytes. */
  rssBytes: number;
  /** VmRSS of each process, in the order of `pids`. */
  rssBytesByPid: number[];
}

let clockTicks: number | undefined;

/** USER_HZ, the unit of utime/stime in /proc/<pid>/stat (100 on every usual kernel). */
export function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** Fields of /proc/<pid>/stat after the `(comm)` field, so index 0 is field 3 (state). */
function statFields(pid: number): string[] | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined; // the process exited between listing and reading
  }
}

function rssBytesOf(pid: number): number {
  try {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** `root` and every process descending from it, root first. */
export function descendantsOf(root: number): number[] {
  const childrenOf = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    const fields = statFields(pid);
    if (fields === undefined) continue;
    const ppid = Number(fields[1]);
    const siblings = childrenOf.get(ppid);
    if (siblings) siblings.push(pid);
    else childrenOf.set(ppid, [pid]);
  }
  const found = [root];
  for (let i = 0; i < found.length; i++) found.push(...(childrenOf.get(found[i]!) ?? []));
  return found;
}

/** One reading of CPU time and RSS summed over the trees rooted at `roots`. */
export function sampleTrees(roots: readonly number[]): TreeSample {
  const pids = roots.flatMap(descendantsOf);
  let ticks = 0;
  const rssBytesByPid = pids.map(() => 0);
  pids.forEach((pid, i) => {
    const fields = statFields(pid);
    if (fields === undefined) return;
    ticks += Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14, 15)
    rssBytesByPid[i] = rssBytesOf(pid);
  });
  return { pids, cpuSeconds: ticks / ticksPerSecond(), rssBytes: rssBytesByPid.reduce((a, b) => a + b, 0), rssBytesByPid };
}

/** SIGKILL to every descendant of this process (on Ctrl-C or a failure, nothing a benchmark started may outlive it). */
export function killDescendants(): void {
  for (const pid of descendantsOf(process.pid).slice(1)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}
