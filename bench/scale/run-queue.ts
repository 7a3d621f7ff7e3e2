/**
 * How long processes waited for a core, from /proc/<pid>/schedstat (the main thread:
 * for Node, the event loop): run_delay (ns spent runnable but not running) and the
 * number of times the thread was scheduled. Their ratio is the mean wait each time a
 * process woke up; every hop of a relayed message (generator, gateway worker, echo
 * upstream) pays it once or more, so on a full machine it is the latency floor.
 */
import { readFileSync } from 'node:fs';
import { descendantsOf } from '../relay/process-tree.js';

interface SchedTotals {
  delayNs: number;
  slices: number;
}

function schedstat(pid: number): SchedTotals | undefined {
  try {
    const [, delay, slices] = readFileSync(`/proc/${pid}/schedstat`, 'utf8').trim().split(' ').map(Number);
    return { delayNs: delay!, slices: slices! };
  } catch {
    return undefined; // gone
  }
}

/** Per-process totals of a set of process trees, to be compared with a later reading. */
export function readRunQueue(roots: readonly number[]): Map<number, SchedTotals> {
  const totals = new Map<number, SchedTotals>();
  for (const pid of roots.flatMap(descendantsOf)) {
    const s = schedstat(pid);
    if (s !== undefined) totals.set(pid, s);
  }
  return totals;
}

/** Mean wait for a core per wake-up (ms) between two readings, over the processes in both. */
export function meanWaitMs(before: Map<number, SchedTotals>, after: Map<number, SchedTotals>): number {
  let delayNs = 0;
  let slices = 0;
  for (const [pid, a] of after) {
    const b = before.get(pid);
    if (b === undefined) continue;
    delayNs += a.delayNs - b.delayNs;
    slices += a.slices - b.slices;
  }
  return slices === 0 ? 0 : delayNs / slices / 1e6;
}
