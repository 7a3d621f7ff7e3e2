/**
 * The runner's side of the load generators: a fixed set of child processes, each
 * holding an even share of the client sessions (so that none comes near the
 * 20,000 descriptors a process may hold), driven phase by phase over node IPC.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type {
  ClosedLoopResult,
  CloseResult,
  ConnectResult,
  Envelope,
  FollowRequest,
  FollowResult,
  GeneratorReply,
  GeneratorRequest,
  OpenLoopResult,
  ResultOf,
  RoundTripResult,
} from './generator-protocol.js';

const GENERATOR_PATH = fileURLToPath(new URL('./load-generator.js', import.meta.url));

export interface ConnectOptions {
  url: string;
  /** `stratix.v1` for reliable sessions. */
  protocol?: 'stratix.v1' | undefined;
  sessions: number;
  clientIdPrefix: string;
  sourceAddresses: string[];
  /** Connection attempts in flight at once, per generator. */
  concurrency: number;
  sessionTimeoutMs: number;
  deadlineMs: number;
}

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

class GeneratorProcess {
  readonly #child: ChildProcess;
  readonly #pending = new Map<number, Pending>();
  #nextId = 0;
  /** Sessions this generator holds after the last connect. */
  sessions = 0;

  constructor() {
    this.#child = fork(GENERATOR_PATH, [], { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.#child.on('message', (reply: GeneratorReply) => {
      const pending = this.#pending.get(reply.id);
      if (!pending) return;
      this.#pending.delete(reply.id);
      if (reply.ok) pending.resolve(reply.result);
      else pending.reject(new Error(`load generator ${this.pid}: ${reply.error}`));
    });
    this.#child.on('exit', (code, signal) => {
      for (const pending of this.#pending.values()) {
        pending.reject(new Error(`load generator ${this.pid} exited (${code ?? signal})`));
      }
      this.#pending.clear();
    });
  }

  get pid(): number {
    return this.#child.pid!;
  }

  request<K extends GeneratorRequest['kind']>(request: Extract<GeneratorRequest, { kind: K }>): Promise<ResultOf[K]> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.#child.send({ id, request } satisfies Envelope);
    });
  }

  stop(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return Promise.resolve();
    const exited = new Promise<void>((resolve) => this.#child.once('exit', () => resolve()));
    this.#child.disconnect();
    const killer = setTimeout(() => this.#child.kill('SIGKILL'), 5_000);
    return exited.finally(() => clearTimeout(killer));
  }
}

/** Splits `total` into `parts` integers that differ by at most one. */
function split(total: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0));
}

export class LoadGeneratorPool {
  readonly #generators: GeneratorProcess[];

  private constructor(generators: GeneratorProcess[]) {
    this.#generators = generators;
  }

  static start(processes: number): LoadGeneratorPool {
    return new LoadGeneratorPool(Array.from({ length: Math.max(1, processes) }, () => new GeneratorProcess()));
  }

  get pids(): number[] {
    return this.#generators.map((g) => g.pid);
  }

  get size(): number {
    return this.#generators.length;
  }

  async connect(options: ConnectOptions): Promise<ConnectResult> {
    const shares = split(options.sessions, this.#generators.length);
    let firstIndex = 0;
    const results = await Promise.all(
      this.#generators.map((generator, i) => {
        const count = shares[i]!;
        const request = {
          kind: 'connect' as const,
          url: options.url,
          ...(options.protocol === undefined ? {} : { protocol: options.protocol }),
          count,
          clientIdPrefix: options.clientIdPrefix,
          firstIndex,
          sourceAddresses: options.sourceAddresses,
          concurrency: options.concurrency,
          sessionTimeoutMs: options.sessionTimeoutMs,
          deadlineMs: options.deadlineMs,
        };
        firstIndex += count;
        return generator.request(request).then((result) => {
          generator.sessions += result.opened; // connects add up until close()
          return result;
        });
      }),
    );
    const failures: Record<string, number> = {};
    for (const result of results) {
      for (const [reason, n] of Object.entries(result.failures)) failures[reason] = (failures[reason] ?? 0) + n;
    }
    return {
      opened: sum(results.map((r) => r.opened)),
      failed: sum(results.map((r) => r.failed)),
      reprobed: sum(results.map((r) => r.reprobed)),
      firstLost: sum(results.map((r) => r.firstLost)),
      lostClientIds: results.flatMap((r) => r.lostClientIds),
      foreignEchoes: results.flatMap((r) => r.foreignEchoes),
      retried: sum(results.map((r) => r.retried)),
      failures,
      elapsedMs: Math.max(...results.map((r) => r.elapsedMs)),
    };
  }

  /**
   * Starts the closed loop on every generator, each session keeping `inFlight` messages
   * in flight; `window.onStart` runs when the measurement window opens, `onEnd` when it closes.
   */
  async closedLoop(
    load: { payloadBytes: number; inFlight: number; warmupMs: number; durationMs: number },
    window: { onStart: () => void; onEnd: () => void },
  ): Promise<ClosedLoopResult> {
    const { warmupMs, durationMs } = load;
    const running = Promise.all(this.#generators.map((g) => g.request({ kind: 'closed-loop', ...load })));
    const startTimer = setTimeout(window.onStart, warmupMs);
    const endTimer = setTimeout(window.onEnd, warmupMs + durationMs);
    try {
      const results = await running;
      return {
        roundTrips: sum(results.map((r) => r.roundTrips)),
        windowMs: Math.max(...results.map((r) => r.windowMs)),
        lost: sum(results.map((r) => r.lost)),
        closedDuringPhase: sum(results.map((r) => r.closedDuringPhase)),
      };
    } finally {
      clearTimeout(startTimer);
      clearTimeout(endTimer);
    }
  }

  /**
   * Sends `ratePerSecond` messages per second in total, shared in proportion to each
   * generator's sessions; `window.onStart`/`onEnd` run when the measurement window
   * (after the warm-up) opens and closes.
   */
  async openLoop(
    payloadBytes: number,
    ratePerSecond: number,
    warmupMs: number,
    durationMs: number,
    timing: { fromScheduledTime?: boolean } = {},
    window?: { onStart: () => void; onEnd: () => void },
  ): Promise<OpenLoopResult> {
    const total = sum(this.#generators.map((g) => g.sessions)) || 1;
    // The generators' clocks start a little after these timers: the last of them may
    // answer before the end timer has fired, and then the window ends with its answer.
    let ended = false;
    const end = (): void => {
      if (ended || window === undefined) return;
      ended = true;
      window.onEnd();
    };
    const startTimer = window === undefined ? undefined : setTimeout(window.onStart, warmupMs);
    const endTimer = window === undefined ? undefined : setTimeout(end, warmupMs + durationMs);
    try {
      const result = await this.#openLoop(total, payloadBytes, ratePerSecond, warmupMs, durationMs, timing);
      end();
      return result;
    } finally {
      clearTimeout(startTimer);
      clearTimeout(endTimer);
    }
  }

  async #openLoop(
    total: number,
    payloadBytes: number,
    ratePerSecond: number,
    warmupMs: number,
    durationMs: number,
    timing: { fromScheduledTime?: boolean },
  ): Promise<OpenLoopResult> {
    const results = await Promise.all(
      this.#generators.map((g) =>
        g.request({
          kind: 'open-loop',
          payloadBytes,
          ratePerSecond: (ratePerSecond * g.sessions) / total,
          warmupMs,
          durationMs,
          ...(timing.fromScheduledTime === true ? { fromScheduledTime: true } : {}),
        }),
      ),
    );
    const latenciesMs = concat(results.map((r) => r.latenciesMs));
    return {
      latenciesMs,
      ...(timing.fromScheduledTime === true ? { sendLagMs: concat(results.map((r) => r.sendLagMs ?? new Float64Array(0))) } : {}),
      sent: sum(results.map((r) => r.sent)),
      lost: sum(results.map((r) => r.lost)),
      closedDuringPhase: sum(results.map((r) => r.closedDuringPhase)),
    };
  }

  /** Every open session sends one probe; counts the echoes (within `timeoutMs`). */
  async roundTrip(timeoutMs: number): Promise<RoundTripResult> {
    const results = await Promise.all(this.#generators.map((g) => g.request({ kind: 'round-trip', timeoutMs })));
    return {
      echoed: sum(results.map((r) => r.echoed)),
      notOpen: sum(results.map((r) => r.notOpen)),
      noEcho: sum(results.map((r) => r.noEcho)),
    };
  }

  /** Arms every generator to reconnect its closing sessions to another URL; resolves when all are back or at the deadline. */
  async follow(request: Omit<FollowRequest, 'kind'>): Promise<FollowResult> {
    const results = await Promise.all(this.#generators.map((g) => g.request({ kind: 'follow', ...request })));
    const merge = (pick: (r: FollowResult) => Record<string, number>): Record<string, number> => {
      const merged: Record<string, number> = {};
      for (const r of results) for (const [k, n] of Object.entries(pick(r))) merged[k] = (merged[k] ?? 0) + n;
      return merged;
    };
    const firsts = results.map((r) => r.firstCloseAt).filter((t) => t > 0);
    return {
      sessions: sum(results.map((r) => r.sessions)),
      closed: sum(results.map((r) => r.closed)),
      back: sum(results.map((r) => r.back)),
      failures: merge((r) => r.failures),
      firstCloseAt: firsts.length === 0 ? 0 : Math.min(...firsts),
      lastBackAt: Math.max(0, ...results.map((r) => r.lastBackAt)),
      closeToBackMs: concat(results.map((r) => r.closeToBackMs)),
      closeCodes: merge((r) => r.closeCodes),
    };
  }

  async close(timeoutMs: number): Promise<CloseResult> {
    const results = await Promise.all(this.#generators.map((g) => g.request({ kind: 'close', timeoutMs })));
    for (const generator of this.#generators) generator.sessions = 0;
    return { closed: sum(results.map((r) => r.closed)), terminated: sum(results.map((r) => r.terminated)) };
  }

  async stop(): Promise<void> {
    await Promise.all(this.#generators.map((g) => g.stop()));
  }
}

function concat(arrays: readonly Float64Array[]): Float64Array {
  const out = new Float64Array(sum(arrays.map((a) => a.length)));
  let offset = 0;
  for (const a of arrays) {
    out.set(a, offset);
    offset += a.length;
  }
  return out;
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}
