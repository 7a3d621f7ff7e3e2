/**
 * What a reconnect herd does to the instance it lands on, sampled once a second while
 * the reconnect phase runs: the listening socket's accept queue (Recv-Q of `ss -ltn`,
 * against its backlog), the kernel's ListenOverflows / ListenDrops counters (SYNs and
 * completed handshakes dropped because an accept queue was full, machine-wide), and
 * the cores used by the primary (the single accept point: every handshake is read and
 * handed to a worker there) and by its workers.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { descendantsOf, ticksPerSecond } from '../relay/process-tree.js';

export interface AcceptSample {
  /** Seconds since the watch started. */
  t: number;
  acceptQueue: number;
  backlog: number;
  primaryCores: number;
  workerCores: number;
}

export interface AcceptWatchResult {
  samples: AcceptSample[];
  maxAcceptQueue: number;
  /** Seconds with the accept queue at its backlog (full: further SYNs are dropped). */
  fullSeconds: number;
  listenOverflows: number;
  listenDrops: number;
  /** The primary's busiest second and its mean over the watch, in cores. */
  primaryCoresMax: number;
  primaryCoresMean: number;
}

/** utime + stime of one process (not its children), in seconds; undefined once it is gone. */
export function ownCpuSeconds(pid: number): number | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond();
  } catch {
    return undefined;
  }
}

function listenCounters(): { overflows: number; drops: number } {
  try {
    const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n').filter((l) => l.startsWith('TcpExt:'));
    const names = lines[0]!.split(/\s+/);
    const values = lines[1]!.split(/\s+/).map(Number);
    return { overflows: values[names.indexOf('ListenOverflows')] ?? 0, drops: values[names.indexOf('ListenDrops')] ?? 0 };
  } catch {
    return { overflows: Number.NaN, drops: Number.NaN };
  }
}

/** Recv-Q and Send-Q (the backlog) of the socket listening on `port`. */
function acceptQueue(port: number): { queue: number; backlog: number } {
  try {
    const out = execFileSync('ss', ['-ltnH', `sport = :${port}`], { encoding: 'utf8', timeout: 2_000 });
    const [, recvQ, sendQ] = out.trim().split(/\s+/);
    return { queue: Number(recvQ), backlog: Number(sendQ) };
  } catch {
    return { queue: Number.NaN, backlog: Number.NaN };
  }
}

export class AcceptWatch {
  readonly #samples: AcceptSample[] = [];
  readonly #timer: NodeJS.Timeout;
  readonly #startedAt = performance.now();
  readonly #counters = listenCounters();
  #last: { at: number; primary: number; workers: number };

  constructor(
    private readonly primaryPid: number,
    private readonly port: number,
    log: (line: string) => void,
  ) {
    this.#last = { at: performance.now(), ...this.#cpu() };
    this.#timer = setInterval(() => {
      const s = this.#sample();
      if (this.#samples.length % 5 === 0) {
        log(`    t+${s.t.toFixed(0)} s: accept queue ${s.acceptQueue}/${s.backlog}, primary ${s.primaryCores.toFixed(2)} cores, workers ${s.workerCores.toFixed(2)}`);
      }
    }, 1_000);
  }

  #cpu(): { primary: number; workers: number } {
    const [primary, ...workers] = descendantsOf(this.primaryPid);
    const own = (pid: number | undefined): number => (pid === undefined ? 0 : ownCpuSeconds(pid) ?? 0);
    return { primary: own(primary), workers: workers.reduce((a, pid) => a + own(pid), 0) };
  }

  #sample(): AcceptSample {
    const now = performance.now();
    const cpu = this.#cpu();
    const seconds = (now - this.#last.at) / 1000;
    const { queue, backlog } = acceptQueue(this.port);
    const sample = {
      t: (now - this.#startedAt) / 1000,
      acceptQueue: queue,
      backlog,
      primaryCores: (cpu.primary - this.#last.primary) / seconds,
      workerCores: (cpu.workers - this.#last.workers) / seconds,
    };
    this.#last = { at: now, ...cpu };
    this.#samples.push(sample);
    return sample;
  }

  stop(): AcceptWatchResult {
    clearInterval(this.#timer);
    const counters = listenCounters();
    const s = this.#samples;
    return {
      samples: s,
      maxAcceptQueue: Math.max(0, ...s.map((x) => x.acceptQueue).filter((q) => !Number.isNaN(q))),
      fullSeconds: s.filter((x) => x.acceptQueue >= x.backlog).length,
      listenOverflows: counters.overflows - this.#counters.overflows,
      listenDrops: counters.drops - this.#counters.drops,
      primaryCoresMax: Math.max(0, ...s.map((x) => x.primaryCores)),
      primaryCoresMean: s.length === 0 ? 0 : s.reduce((a, x) => a + x.primaryCores, 0) / s.length,
    };
  }
}
