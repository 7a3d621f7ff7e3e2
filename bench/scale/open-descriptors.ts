/** How many files a process holds open right now (Linux: the entries of /proc/<pid>/fd). */
import { readdirSync } from 'node:fs';

export function openDescriptors(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return Number.NaN; // gone, or not Linux
  }
}
