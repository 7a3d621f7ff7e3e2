/**
 * The native data path of verbatim sessions (docs/native-data-path.md): the loader
 * of the addon (native/relay/relay.c) and a typed wrapper over it.
 *
 * An open session with nothing pending gives both sockets' descriptors to a relay
 * thread of the addon, which relays data frames below net.Socket, runs the
 * heartbeat rounds JavaScript asks for (it pings both legs and takes their pongs
 * itself), and hands the session back (a NativeHandBack) at everything else: a
 * control frame other than a whole pong, a fault, EOF, an error, backpressure, a
 * leg that did not answer its ping, or a `release` asked by JavaScript (close,
 * drain, route change, admin close). The session then carries on in its legs and
 * parsers as on the JS path (session.ts `nativeReturned`).
 *
 * The addon is process-wide (its threads, its descriptors), so it is loaded and
 * started once per process (`loadNativeRelay`); each Gateway has a NativeDataPath
 * of its own: a group in the addon, so that the messages its sessions relay on
 * the relay thread are counted apart and summed into its metrics at scrape.
 *
 * Where the addon cannot be used (not built, another OS, an executable built without
 * it), relay.dataPath "auto" (the default) uses the JS path and "native" refuses to
 * start (NativeDataPathError).
 */
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import { NativeDataPathError } from '../errors.js';
import { embeddedAsset, isBundle, isSingleExecutable } from '../executable.js';
import { dlopenBytes, EMBEDDED_ADDON } from './embedded-addon.js';

/** relay.dataPath. */
export type DataPathSetting = 'js' | 'native' | 'auto';

/** Why the relay thread handed a session back (NativeHandBack.kind). */
export const enum HandBack {
  Control = 1,
  Fault = 2,
  Eof = 3,
  Error = 4,
  Release = 5,
  Backpressure = 6,
  /** A leg did not answer the relay thread's ping: `code` has bit 0 for the client, bit 1 for the upstream. */
  PingTimeout = 7,
}

/** One direction of a session as the relay thread left it (0: client → upstream, 1: upstream → client). */
export interface NativeDirection {
  /** Output the relay thread still owed this direction's destination: written first. */
  readonly pending: Buffer;
  /** A split frame header kept back: the first bytes the JS parser gets. */
  readonly held: Buffer;
  /** io_uring: bytes received after the hand-back began, not relayed. */
  readonly received: Buffer;
  /** The parser state after the bytes relayed (frame-parser.ts `restore`). */
  readonly remaining: number;
  readonly messageBytes: number;
  readonly phase: number;
  readonly opcode: number;
  readonly fin: number;
  readonly messageOpcode: number;
  /** The UTF-8 carry in utf8-stream.ts' packing. */
  readonly utf8: number;
  /** The masking key of the frame in flight (client frames keep theirs), as an int32. */
  readonly key: number;
  /** Messages and payload bytes relayed while the thread had the session. */
  readonly messages: number;
  readonly bytes: number;
  /** Bytes read from this direction's source on the relay thread. */
  readonly read: number;
  /** 1: the source answered the last ping (or was not pinged since it was last heard); 0: a ping awaits its answer. */
  readonly alive: number;
}

export interface NativeHandBack {
  readonly id: number;
  readonly kind: HandBack;
  /** The direction `rest` belongs to. */
  readonly dir: number;
  readonly code: number;
  readonly reason: string;
  /** Bytes of `dir` read and not relayed, from the frame that caused the hand-back on. */
  readonly rest: Buffer;
  readonly dirs: readonly [NativeDirection, NativeDirection];
  /** The descriptors the relay thread used: JS's own again (duplicates, when adopted with `own`). */
  readonly clientFd: number;
  readonly upstreamFd: number;
}

/** What a session held by the relay thread is told when it comes back. */
export interface NativeHolder {
  nativeReturned(e: NativeHandBack): void;
}

/** A session on the relay thread: give it to `release` (before its hand-back only). */
export interface NativeTicket {
  readonly id: number;
  readonly handle: object;
}

interface RelayAddon {
  start(threads: number, onEvent: (e: NativeHandBack) => void, ioUring: boolean, maxBuffers: number): 'io_uring' | 'epoll';
  adopt(id: number, clientFd: number, upstreamFd: number, maxMessageBytes: number, highWaterBytes: number, group: number, own: boolean, alive: number): object;
  release(handle: object): void;
  heartbeat(handle: object): void;
  counts(group: number, out: Float64Array): void;
  bytesRead(handle: object, side: number): number;
  relayed(handle: object, out: Float64Array): void;
  stats(): NativeRelayStats;
}

/** The relay threads' counters (process-wide). */
export interface NativeRelayStats {
  readonly reads: number;
  readonly writes: number;
  readonly wakeups: number;
  /** Bytes of receive buffers now: io_uring's provided-buffer pool (grows with use, to the bound), epoll's one read buffer. */
  readonly receiveBufferBytes: number;
  /** Receives that found no free buffer in the io_uring pool (it grows then, to its bound; at the bound the receive waits for one). */
  readonly receiveBufferWaits: number;
}

/** The io_uring receive pool's bound per relay thread, in 4 KiB buffers: relay.nativeReceiveBuffers' default. */
export const DEFAULT_RECEIVE_BUFFERS = 4096;

const MAX_GROUPS = 1024;

/** The addon, started: one relay thread per process, events dispatched to their sessions. */
export class NativeRelay {
  readonly mode: 'io_uring' | 'epoll';
  readonly file: string;
  /** The bound of its io_uring receive pool, in 4 KiB buffers (relay.nativeReceiveBuffers of the gateway that started it). */
  readonly receiveBuffers: number;
  readonly #addon: RelayAddon;
  readonly #holders = new Map<number, NativeHolder>();
  #nextId = 1;
  #nextGroup = 0;

  constructor(addon: RelayAddon, file: string, ioUring: boolean, maxBuffers = DEFAULT_RECEIVE_BUFFERS) {
    this.#addon = addon;
    this.file = file;
    this.receiveBuffers = maxBuffers;
    this.mode = addon.start(1, (e) => this.#onEvent(e), ioUring, maxBuffers);
  }

  /** A group of its own for a gateway's counters. */
  group(): number {
    if (this.#nextGroup >= MAX_GROUPS) throw new NativeDataPathError(`more than ${MAX_GROUPS} gateways in one process`);
    return this.#nextGroup++;
  }

  /**
   * `own`: the thread relays over duplicates of the descriptors, handed to JS with the session's event.
   * `alive`: bit 0 (client), bit 1 (upstream) set when that leg is not awaiting the answer to a ping.
   */
  adopt(holder: NativeHolder, clientFd: number, upstreamFd: number, maxMessageBytes: number, highWaterBytes: number, group: number, own: boolean, alive: number): NativeTicket {
    const id = this.#nextId;
    this.#nextId = id >= 0x7fffffff ? 1 : id + 1;
    const handle = this.#addon.adopt(id, clientFd, upstreamFd, maxMessageBytes, highWaterBytes, group, own, alive);
    this.#holders.set(id, holder);
    return { id, handle };
  }

  release(ticket: NativeTicket): void {
    this.#addon.release(ticket.handle);
  }

  /** One heartbeat round for a session on the relay thread: a leg that did not answer its last ping comes back as PingTimeout, the others are pinged. */
  heartbeat(ticket: NativeTicket): void {
    this.#addon.heartbeat(ticket.handle);
  }

  counts(group: number, out: Float64Array): void {
    this.#addon.counts(group, out);
  }

  /** Bytes the relay thread has read from side 0 (client) or 1 (upstream) of a session it holds. */
  bytesRead(ticket: NativeTicket, side: number): number {
    return this.#addon.bytesRead(ticket.handle, side);
  }

  /**
   * What the relay thread relayed for a session it holds, on this loan so far: `out` gets
   * messages client→upstream, upstream→client, payload bytes client→upstream, upstream→client.
   */
  relayed(ticket: NativeTicket, out: Float64Array): void {
    this.#addon.relayed(ticket.handle, out);
  }

  /** Sessions on the relay thread now (every gateway of the process). */
  get held(): number {
    return this.#holders.size;
  }

  stats(): NativeRelayStats {
    return this.#addon.stats();
  }

  #onEvent(e: NativeHandBack): void {
    const holder = this.#holders.get(e.id);
    if (holder === undefined) return;
    this.#holders.delete(e.id);
    try {
      holder.nativeReturned(e);
    } catch (err) {
      // Thrown into the addon's callback it would be a warning only: a bug is an uncaught exception, as anywhere else.
      process.nextTick(rethrow, err);
    }
  }
}

function rethrow(err: unknown): never {
  throw err;
}

let addon: { addon: RelayAddon; file: string } | Error | undefined;
let started: NativeRelay | Error | undefined;

/** The addon's module, loaded once (dlopen), not started; an Error saying why it cannot be loaded. */
function loadAddon(env: NodeJS.ProcessEnv): { addon: RelayAddon; file: string } | Error {
  if (addon !== undefined) return addon;
  let file = addonFile(env);
  try {
    if (process.platform !== 'linux') throw new Error(`the addon is Linux only (this is ${process.platform})`);
    const mod = { exports: {} as RelayAddon };
    const embedded = existsSync(file) ? undefined : embeddedAsset(EMBEDDED_ADDON);
    if (embedded !== undefined) {
      dlopenBytes(mod, embedded, constants.dlopen.RTLD_NOW);
      file = `${process.execPath}#${EMBEDDED_ADDON}`;
    } else {
      if (!existsSync(file)) throw new Error(`${file} is missing (\`npm run build\` builds it when gcc is installed: node scripts/build-native.mjs)`);
      process.dlopen(mod, file, constants.dlopen.RTLD_NOW);
    }
    addon = { addon: mod.exports, file };
  } catch (err) {
    addon = err instanceof Error ? err : new Error(String(err));
  }
  return addon;
}

/**
 * Why relay.dataPath "native" cannot be had in this process (the addon), or undefined
 * when it can (the primary checks before it starts workers; nothing is started here).
 */
export function nativeUnavailable(setting: DataPathSetting, env: NodeJS.ProcessEnv = process.env): NativeDataPathError | undefined {
  if (setting !== 'native') return undefined;
  const a = loadAddon(env);
  return a instanceof Error ? new NativeDataPathError(a.message, { cause: a }) : undefined;
}

/**
 * The process's NativeRelay, loaded and started on first use with an io_uring receive
 * pool bounded to `receiveBuffers` (relay.nativeReceiveBuffers, validated by the config
 * schema: 2-4096 buffers of 4 KiB); an Error saying why when it cannot be (remembered: it
 * is not tried again). Started once: a later call gets the relay as it was started,
 * whatever bound it asks for (`receiveBuffers` says the one it runs with; selectDataPath
 * refuses a gateway that asks for another). STRATIX_NATIVE_RELAY names another file;
 * STRATIX_NATIVE_IO_URING=0 keeps the relay thread on epoll.
 */
export function loadNativeRelay(receiveBuffers: number = DEFAULT_RECEIVE_BUFFERS, env: NodeJS.ProcessEnv = process.env): NativeRelay | Error {
  if (started !== undefined) return started;
  const a = loadAddon(env);
  if (a instanceof Error) return (started = a);
  try {
    started = new NativeRelay(a.addon, a.file, env.STRATIX_NATIVE_IO_URING !== '0', receiveBuffers);
  } catch (err) {
    started = err instanceof Error ? err : new Error(String(err));
  }
  return started;
}

/**
 * Where the addon is: beside the executable or the bundle, else in the source tree's
 * native/relay/build/. The executable without the file beside it loads the copy built into
 * it (embedded-addon.ts).
 */
function addonFile(env: NodeJS.ProcessEnv): string {
  if (env.STRATIX_NATIVE_RELAY !== undefined && env.STRATIX_NATIVE_RELAY !== '') return env.STRATIX_NATIVE_RELAY;
  if (isSingleExecutable()) return join(dirname(process.execPath), 'stratix_relay.node');
  if (isBundle()) return join(dirname(fileURLToPath(import.meta.url)), 'stratix_relay.node');
  return fileURLToPath(new URL('../../../native/relay/build/stratix_relay.node', import.meta.url));
}

/**
 * A gateway's share of the native data path: its group's counters, and the
 * sessions that came back and may be adopted again at the next tick.
 */
export class NativeDataPath {
  readonly relay: NativeRelay;
  readonly group: number;
  readonly #counts = new Float64Array(4);
  /** Sessions handed back that were not clean at once: tried again each tick. */
  readonly retry = new Set<{ nativeTry(): boolean }>();
  /** This gateway's sessions on the relay thread now. */
  held = 0;
  /** Hand-backs by HandBack kind (index), since the start. */
  readonly handBacks = new Float64Array(8);

  constructor(relay: NativeRelay, registry: Registry | undefined) {
    this.relay = relay;
    this.group = relay.group();
    if (registry !== undefined) this.#register(registry);
  }

  adopt(holder: NativeHolder, clientFd: number, upstreamFd: number, maxMessageBytes: number, highWaterBytes: number, own: boolean, alive: number): NativeTicket {
    const t = this.relay.adopt(holder, clientFd, upstreamFd, maxMessageBytes, highWaterBytes, this.group, own, alive);
    this.held++;
    return t;
  }

  /** A session of this gateway came back (before it is handled). */
  returned(kind: HandBack): void {
    this.held--;
    this.handBacks[kind]++;
  }

  /** Messages c2u, u2c and payload bytes c2u, u2c relayed on the relay thread for this gateway (read at scrape). */
  counts(): Float64Array {
    this.relay.counts(this.group, this.#counts);
    return this.#counts;
  }

  /** The owner's tick: sessions that were not clean when they came back are tried again. */
  tick(): void {
    for (const s of this.retry) if (s.nativeTry()) this.retry.delete(s);
  }

  #register(registry: Registry): void {
    const self = this;
    new Gauge({
      name: 'stratix_native_sessions',
      help: 'Verbatim sessions whose data frames the native data path relays now (relay.dataPath).',
      registers: [registry],
      collect() {
        this.set(self.held);
      },
    });
    new Gauge({
      name: 'stratix_native_receive_buffer_bytes',
      help: "Bytes of the native data path's receive buffers in this process: io_uring's pool grows by 256 KiB with use, up to relay.nativeReceiveBuffers x 4 KiB.",
      registers: [registry],
      collect() {
        this.set(self.relay.stats().receiveBufferBytes);
      },
    });
    new Counter({
      name: 'stratix_native_receive_buffer_waits_total',
      help: 'Receives of the native data path that found no free buffer in its io_uring pool (the pool grows then, up to its bound; at the bound the receive waits for one).',
      registers: [registry],
      collect() {
        this.reset();
        this.inc(self.relay.stats().receiveBufferWaits);
      },
    });
    new Counter({
      name: 'stratix_native_handbacks_total',
      help: 'Sessions the native data path handed back to the JS path, by why.',
      labelNames: ['reason'],
      registers: [registry],
      collect() {
        this.reset();
        for (let k = 1; k < HAND_BACK_LABELS.length; k++) if (self.handBacks[k]! > 0) this.inc({ reason: HAND_BACK_LABELS[k]! }, self.handBacks[k]);
      },
    });
  }
}

/** The reason label of each HandBack kind. */
const HAND_BACK_LABELS = ['', 'control_frame', 'fault', 'eof', 'error', 'release', 'backpressure', 'ping_timeout'] as const;

/**
 * The data path relay.dataPath asks for: a NativeDataPath, or undefined for the JS
 * path ("js"; "auto" when the addon cannot be loaded; either, when admission.client
 * rate limits need every message in JavaScript). "native" throws NativeDataPathError
 * when the addon cannot be loaded; "native" and "auto" throw it when the process's
 * relay thread already runs with a receive bound other than `receiveBuffers`
 * (relay.nativeReceiveBuffers): the thread is started once, by the first gateway.
 */
export function selectDataPath(
  setting: DataPathSetting,
  opts: { rateLimited: boolean; logger: Logger; receiveBuffers?: number; registry?: Registry; env?: NodeJS.ProcessEnv },
): NativeDataPath | undefined {
  if (setting === 'js') return undefined;
  const receiveBuffers = opts.receiveBuffers ?? DEFAULT_RECEIVE_BUFFERS;
  const relay = loadNativeRelay(receiveBuffers, opts.env);
  if (relay instanceof Error) {
    if (setting === 'native') throw new NativeDataPathError(relay.message, { cause: relay });
    opts.logger.info({ reason: relay.message }, 'relay.dataPath auto: the native data path is not available, sessions stay on the JS path');
    return undefined;
  }
  if (relay.receiveBuffers !== receiveBuffers) {
    const why = `relay.nativeReceiveBuffers is ${receiveBuffers}, and this process's relay thread runs with ${relay.receiveBuffers} (the thread is process-wide and started once, by the first gateway that uses it: every gateway in one process must give the same bound)`;
    throw new NativeDataPathError(why, { setting });
  }
  if (opts.rateLimited) {
    opts.logger.info(`relay.dataPath ${setting}: admission.client rate limits count every message in JavaScript, so sessions stay on the JS path`);
    return undefined;
  }
  opts.logger.debug({ mode: relay.mode }, 'native data path');
  return new NativeDataPath(relay, opts.registry);
}
