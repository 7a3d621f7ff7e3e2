/**
 * Fixtures for the SDK's integration suites: a recorder of everything a
 * StratixClient tells its application, a storage adapter in memory (the shape of
 * localStorage), and a counting upstream that sends a numbered stream.
 */
import type { WebSocket } from 'ws';
import type { ClientState, GapInfo, StratixClient, StratixError, UpstreamInfo } from '@stratix/client';
import { until } from '../helpers/gateway.js';

export interface Recorded {
  readonly messages: Array<{ data: string | Uint8Array; seq: number; binary: boolean }>;
  readonly states: ClientState[];
  readonly errors: StratixError[];
  readonly gaps: GapInfo[];
  readonly resets: UpstreamInfo[];
  readonly opens: number[];
  readonly closes: UpstreamInfo[];
  /** The text messages, in order. */
  texts(): string[];
}

export function record(c: StratixClient): Recorded {
  const r: Recorded = {
    messages: [],
    states: [],
    errors: [],
    gaps: [],
    resets: [],
    opens: [],
    closes: [],
    texts: () => r.messages.filter((m) => typeof m.data === 'string').map((m) => m.data as string),
  };
  c.on('message', (data, meta) => r.messages.push({ data, seq: meta.seq, binary: meta.binary }));
  c.on('state', (s) => r.states.push(s));
  c.on('error', (e) => r.errors.push(e));
  c.on('gap', (g) => r.gaps.push(g));
  c.on('upstreamReset', (u) => r.resets.push(u));
  c.on('upstreamOpen', (u) => r.opens.push(u.seq));
  c.on('upstreamClosed', (u) => r.closes.push(u));
  return r;
}

/** Resolves when `c` reaches `state` (now or later). */
export function reach(c: StratixClient, state: ClientState, what = `state ${state}`, ms = 10_000): Promise<void> {
  return until(() => c.state === state, what, ms);
}

/** A synchronous storage in memory, shaped like localStorage (and shared by clients that share it). */
export class MemoryStorage {
  readonly map = new Map<string, string>();
  writes = 0;

  getItem(key: string): string | null {
    return this.map.get(key) ?? null;
  }

  setItem(key: string, value: string): void {
    this.writes++;
    this.map.set(key, value);
  }

  removeItem(key: string): void {
    this.map.delete(key);
  }
}

/**
 * An asynchronous storage in memory (the shape of an adapter over IndexedDB or a
 * file): each write settles after `delayMs()` milliseconds. `hold(value)` true keeps
 * that write in flight until release(). `log` records, in order, each write as it
 * completes ("set <lastSeq>") and each removeItem as it is called ("remove").
 */
export class AsyncStorage {
  readonly map = new Map<string, string>();
  readonly log: string[] = [];
  hold: ((value: string) => boolean) | undefined;
  readonly #delayMs: () => number;
  #held: Array<() => void> = [];

  constructor(delayMs: () => number = () => 1) {
    this.#delayMs = delayMs;
  }

  get heldWrites(): number {
    return this.#held.length;
  }

  async getItem(key: string): Promise<string | null> {
    await sleep(this.#delayMs());
    return this.map.get(key) ?? null;
  }

  setItem(key: string, value: string): Promise<void> {
    const done = (): void => {
      this.map.set(key, value);
      this.log.push(`set ${(JSON.parse(value) as { lastSeq: number }).lastSeq}`);
    };
    if (this.hold?.(value) === true) return new Promise<void>((resolve) => this.#held.push(() => (done(), resolve())));
    return sleep(this.#delayMs()).then(done);
  }

  /** Removes at once (an adapter may complete a removal before a write issued earlier). */
  async removeItem(key: string): Promise<void> {
    this.log.push('remove');
    this.map.delete(key);
    await sleep(this.#delayMs());
  }

  /** Lets the held writes complete. */
  release(): void {
    for (const f of this.#held.splice(0)) f();
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A settled promise's outcome, recorded once (a second settle would be a bug: promises cannot, so it counts calls). */
export interface Outcome {
  readonly id: number;
  settled: number;
  ok: boolean | undefined;
  error: unknown;
}

export function track(id: number, p: Promise<unknown>): Outcome {
  const o: Outcome = { id, settled: 0, ok: undefined, error: undefined };
  p.then(
    () => {
      o.settled++;
      o.ok = true;
    },
    (err: unknown) => {
      o.settled++;
      o.ok = false;
      o.error = err;
    },
  );
  return o;
}

/** Sends `text` from the upstream side of `ws` every `ms`: "<prefix><n>" for n = 0, 1, 2 … until stopped. */
export function counter(ws: WebSocket, prefix: string, ms: number): { stop(): number; readonly sent: string[] } {
  const sent: string[] = [];
  let n = 0;
  const timer = setInterval(() => {
    if (ws.readyState !== 1) return;
    const t = `${prefix}${n++}`;
    sent.push(t);
    ws.send(t);
  }, ms);
  ws.once('close', () => clearInterval(timer)); // a failed test leaves no timer running
  return {
    sent,
    stop() {
      clearInterval(timer);
      return n;
    },
  };
}
