/**
 * The layout of reliable.log.dir (0700):
 *
 *   LOCK                          the instance that owns the directory (pid and start time)
 *   g<startMs>-w<worker>-<rand>/  one process generation's log: segments (0600) and
 *                                 OWNER, the process that writes it (pid and start time)
 *   g…-w…-….recovering/           a recovery in progress (renamed when complete)
 *
 * Each process writes to a generation of its own. A generation whose process is gone
 * is an orphan: the next process (the restarted worker, or every worker of a
 * restarted instance, whatever their number) reads it back, keeps the sessions it
 * owns, and copies them forward into its own generation; the orphan is removed once
 * every process that had to read it has done so. A `.recovering` directory that was
 * not renamed belongs to a recovery that died half way: its sources still exist, so
 * it is removed.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { StratixError } from '../errors.js';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';

const GENERATION = /^g\d{13}-w\d+-[0-9a-f]{8}$/;

/**
 * The identity of a running process: its pid and, on Linux, its start time (so a
 * pid reused by another process does not look like the old one).
 */
export function processIdentity(pid: number): string | undefined {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return undefined;
  }
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const rest = fields.slice(fields.lastIndexOf(')') + 2).split(' ');
    if (rest[0] === 'Z' || rest[0] === 'X') return undefined; // exited, not yet reaped
    return `${pid}:${rest[19]}`;
  } catch {
    return String(pid);
  }
}

/** Another live gateway instance uses reliable.log.dir. */
export class LogDirectoryLockedError extends StratixError {
  constructor(root: string, holder: string) {
    super('STRATIX_ERR_LOG_LOCKED', `reliable.log.dir ${root} is in use by another gateway instance (pid ${holder.split(':')[0]}); give each instance its own directory`);
  }
}

/**
 * Takes reliable.log.dir (created 0700) for this instance: its LOCK names this
 * process. Throws LogDirectoryLockedError when another live process holds it (a
 * second instance on the same directory would recover, and delete, the first one's
 * logs). Returns the release.
 */
export function lockLogRoot(root: string): () => void {
  mkdirSync(root, { recursive: true, mode: 0o700 });
  const lock = join(root, 'LOCK');
  const me = processIdentity(process.pid) ?? String(process.pid);
  let holder = '';
  try {
    holder = readFileSync(lock, 'utf8').trim();
  } catch {
    holder = '';
  }
  if (holder !== '' && holder !== me) {
    const pid = Number(holder.split(':')[0]);
    if (Number.isInteger(pid) && pid > 0 && processIdentity(pid) === holder) throw new LogDirectoryLockedError(root, holder);
  }
  writeFileSync(lock, `${me}\n`, { mode: 0o600 });
  return () => {
    try {
      if (readFileSync(lock, 'utf8').trim() === me) rmSync(lock, { force: true });
    } catch {
      // gone already
    }
  };
}

/** Marks `generation` as written by this process. */
export function writeOwner(generation: string, pid = process.pid): void {
  writeFileSync(join(generation, 'OWNER'), `${processIdentity(pid) ?? pid}\n`, { mode: 0o600 });
}

/** Whether the process that writes `generation` is still running (else it is an orphan). */
export function ownedByLiveProcess(generation: string): boolean {
  let owner: string;
  try {
    owner = readFileSync(join(generation, 'OWNER'), 'utf8').trim();
  } catch {
    return false;
  }
  const pid = Number(owner.split(':')[0]);
  return Number.isInteger(pid) && pid > 0 && processIdentity(pid) === owner;
}

/** A fresh generation directory name for worker `worker` (not created). */
export function newGeneration(root: string, worker: number, wallMs: number): string {
  return join(root, `g${String(Math.floor(wallMs)).padStart(13, '0')}-w${worker}-${randomBytes(4).toString('hex')}`);
}

/** The generations in `root`, oldest first; removes `.recovering` leftovers. */
export function listGenerations(root: string): string[] {
  let names: string[];
  try {
    names = readdirSync(root);
  } catch {
    return [];
  }
  for (const n of names) if (n.endsWith('.recovering')) rmSync(join(root, n), { recursive: true, force: true });
  return names.filter((n) => GENERATION.test(n)).sort().map((n) => join(root, n));
}

export function removeGeneration(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** The newest modification time (wall-clock ms) of a generation's files: when its process last wrote. */
export function lastWrite(dir: string): number {
  let t = 0;
  for (const n of readdirSync(dir)) t = Math.max(t, statSync(join(dir, n)).mtimeMs);
  return t === 0 ? statSync(dir).mtimeMs : t;
}
