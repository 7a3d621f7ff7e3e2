/**
 * How many open files a process may hold on this machine (the hard RLIMIT_NOFILE,
 * 20,000 on the reference machine, which not even root may raise), and how many of
 * them the relay benchmark lets a proxy process spend on sessions. Every proxy's
 * `maxSessions` and the nginx and HAProxy connection limits derive from these.
 */
import { readFileSync } from 'node:fs';

/** Used when /proc/self/limits cannot be read (not Linux). */
const FALLBACK_LIMIT = 20_000;
/** Kept back for listeners, pipes, logs, epoll and eventfd descriptors. */
const HEADROOM = 1_000;

/** The hard limit of open files of this process (its children inherit it). */
export function openFilesHardLimit(): number {
  try {
    const match = /^Max open files\s+\S+\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return match ? Number(match[1]) : FALLBACK_LIMIT;
  } catch {
    return FALLBACK_LIMIT;
  }
}

/** Descriptors a proxy process may spend on sockets: the hard limit less headroom. */
export const USABLE_DESCRIPTORS = openFilesHardLimit() - HEADROOM;
