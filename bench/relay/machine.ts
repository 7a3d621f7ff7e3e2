/** The one-line description of the machine that every benchmark prints with its results. */
import { readFileSync } from 'node:fs';
import os from 'node:os';

export function describeMachine(): string {
  let cpuModel = os.cpus()[0]?.model ?? 'unknown CPU';
  try {
    const match = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (match) cpuModel = match[1]!.trim();
  } catch {
    // not Linux: os.cpus() already gave a model
  }
  const gib = (os.totalmem() / 2 ** 30).toFixed(1);
  return `${cpuModel}, ${os.availableParallelism()} cores, ${gib} GiB RAM, ` +
    `Linux ${os.release()}, Node.js ${process.version}`;
}

/**
 * CPU seconds the whole machine has been busy (all cores; everything but idle and
 * iowait) according to /proc/stat. Compared with what the benchmark's own processes
 * used over the same window, it shows how much other work shared the box.
 */
export function machineBusySeconds(ticksPerSecond: number): number {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
    const ticks = line.trim().split(/\s+/).slice(1, 9).map(Number); // user nice system idle iowait irq softirq steal
    const idle = ticks[3]! + ticks[4]!;
    return (ticks.reduce((a, b) => a + b, 0) - idle) / ticksPerSecond;
  } catch {
    return Number.NaN;
  }
}
