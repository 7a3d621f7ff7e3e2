/**
 * The client's options: checked once, in the constructor (an OptionError names the
 * bad option), then frozen with their defaults.
 */
import { ClientErrorCodes, OptionError } from './errors.js';
import type { ReconnectOptions } from './reconnect-policy.js';
import type { ResumeStorage } from './resume-state.js';
import { platformWebSocket, type WebSocketConstructor } from './websocket.js';

/** Query parameters for the handshake (a token, a signature…), fresh per (re)connect. */
export type Credentials = Readonly<Record<string, string>>;

export interface StratixClientOptions {
  /** The gateway's WebSocket URL, e.g. `wss://gw.example.com/ws` (ws: or wss:). */
  url: string;
  /** This device's id: 1–128 characters of `A–Z a–z 0–9 . _ : @ -`; keep it stable per device. */
  clientId: string;
  /**
   * Called before every connect and reconnect; the parameters it returns go into
   * the URL's query string next to clientId (e.g. `{ token }` for a JWT, or the
   * HMAC signature your backend made). If it throws, the attempt backs off.
   */
  credentials?: () => Credentials | Promise<Credentials>;
  /** A WebSocket class; default: the platform's (browsers, Electron, Node ≥ 22). On Node 20 pass `ws`. */
  WebSocket?: WebSocketConstructor;
  /** Where the resume state is kept across reloads (e.g. `localStorage`). Default: memory only. */
  storage?: ResumeStorage;
  /** The storage key (default `stratix:<clientId>`). */
  storageKey?: string;
  reconnect?: Partial<ReconnectOptions>;
  /** Acknowledgements are batched: one per `maxMessages` messages (default 100) or `maxDelayMs` (default 100 ms). */
  ack?: { maxMessages?: number; maxDelayMs?: number };
  /** Bounds of the messages sent and not yet acknowledged (default 1000 messages, 32 MiB of payload). */
  queue?: { maxMessages?: number; maxBytes?: number };
  /** The largest payload send() takes (default 26214400, the gateway's limits.maxMessageBytes). */
  maxPayloadBytes?: number;
  /** A connection that has not received its WELCOME within this time is given up (default 15000 ms). */
  connectTimeoutMs?: number;
  /** Milliseconds of wall-clock time (default Date.now); tests pass their own. */
  clock?: () => number;
  /** The source of the reconnect delays' jitter, a number in [0, 1] (default Math.random); tests pass their own. */
  random?: () => number;
}

export interface Settings {
  /** The checked URL (href). */
  readonly url: string;
  readonly clientId: string;
  readonly credentials: (() => Credentials | Promise<Credentials>) | undefined;
  readonly WebSocket: WebSocketConstructor;
  readonly storage: ResumeStorage | undefined;
  readonly storageKey: string;
  readonly reconnect: ReconnectOptions;
  readonly ackMaxMessages: number;
  readonly ackMaxDelayMs: number;
  readonly queueMaxMessages: number;
  readonly queueMaxBytes: number;
  readonly maxPayloadBytes: number;
  readonly connectTimeoutMs: number;
  readonly clock: () => number;
  readonly random: () => number;
}

const CLIENT_ID = /^[A-Za-z0-9._:@-]{1,128}$/;
const MiB = 1024 * 1024;

function int(path: string, v: unknown, dflt: number, min: number, max: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new OptionError(`${path} must be an integer from ${min} to ${max}, got ${JSON.stringify(v)}`);
  }
  return v;
}

function fn<T>(path: string, v: unknown): T | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'function') throw new OptionError(`${path} must be a function`);
  return v as T;
}

function url(v: unknown): string {
  if (typeof v !== 'string') throw new OptionError('url must be a string (ws:// or wss://)');
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw new OptionError(`url is not a valid URL: ${JSON.stringify(v)}`);
  }
  if (u.protocol !== 'ws:' && u.protocol !== 'wss:') throw new OptionError(`url must be ws:// or wss://, got ${u.protocol}//`);
  if (u.searchParams.has('clientId')) throw new OptionError('url must not carry clientId (pass the clientId option)');
  if (u.hash !== '') throw new OptionError('url must not have a #fragment');
  return u.href;
}

function storage(v: unknown): ResumeStorage | undefined {
  if (v === undefined || v === null) return undefined;
  const s = v as Partial<ResumeStorage>;
  if (typeof s.getItem !== 'function' || typeof s.setItem !== 'function' || typeof s.removeItem !== 'function') {
    throw new OptionError('storage must have getItem, setItem and removeItem (the Web Storage API, e.g. localStorage)');
  }
  return s as ResumeStorage;
}

export function settingsOf(o: StratixClientOptions): Settings {
  if (typeof o !== 'object' || o === null) throw new OptionError('options must be an object');
  if (typeof o.clientId !== 'string' || !CLIENT_ID.test(o.clientId)) {
    throw new OptionError(`clientId must be 1-128 characters of A-Z a-z 0-9 . _ : @ -, got ${JSON.stringify(o.clientId)}`);
  }
  const WS = fn<WebSocketConstructor>('WebSocket', o.WebSocket) ?? platformWebSocket();
  if (WS === undefined) {
    throw new OptionError('this runtime has no WebSocket (Node 20): pass one, e.g. new StratixClient({ WebSocket, ... }) with WebSocket from the ws package', ClientErrorCodes.NO_WEBSOCKET.code);
  }
  const r = o.reconnect ?? {};
  const initialDelayMs = int('reconnect.initialDelayMs', r.initialDelayMs, 1_000, 1, 3_600_000);
  const maxDelayMs = int('reconnect.maxDelayMs', r.maxDelayMs, Math.max(30_000, initialDelayMs), initialDelayMs, 3_600_000);
  if (o.storageKey !== undefined && (typeof o.storageKey !== 'string' || o.storageKey === '')) throw new OptionError('storageKey must be a non-empty string');
  return Object.freeze({
    url: url(o.url),
    clientId: o.clientId,
    credentials: fn<() => Credentials | Promise<Credentials>>('credentials', o.credentials),
    WebSocket: WS,
    storage: storage(o.storage),
    storageKey: o.storageKey ?? `stratix:${o.clientId}`,
    reconnect: Object.freeze({
      initialDelayMs,
      maxDelayMs,
      immediateMaxDelayMs: int('reconnect.immediateMaxDelayMs', r.immediateMaxDelayMs, 5_000, 0, 3_600_000),
    }),
    ackMaxMessages: int('ack.maxMessages', o.ack?.maxMessages, 100, 1, 10_000),
    ackMaxDelayMs: int('ack.maxDelayMs', o.ack?.maxDelayMs, 100, 0, 60_000),
    queueMaxMessages: int('queue.maxMessages', o.queue?.maxMessages, 1_000, 1, 10_000_000),
    queueMaxBytes: int('queue.maxBytes', o.queue?.maxBytes, 32 * MiB, 1, 2 ** 40),
    maxPayloadBytes: int('maxPayloadBytes', o.maxPayloadBytes, 25 * MiB, 0, 2 ** 31),
    connectTimeoutMs: int('connectTimeoutMs', o.connectTimeoutMs, 15_000, 100, 600_000),
    clock: fn<() => number>('clock', o.clock) ?? Date.now,
    random: fn<() => number>('random', o.random) ?? Math.random,
  });
}

/** The URL of one connection attempt: the configured one, with clientId and the credentials in the query. */
export function attemptUrl(s: Settings, credentials: unknown): string {
  if (typeof credentials !== 'object' || credentials === null || Array.isArray(credentials)) {
    throw new TypeError('credentials() must return an object of query parameters');
  }
  const u = new URL(s.url);
  for (const [k, v] of Object.entries(credentials as Record<string, unknown>)) {
    if (typeof v !== 'string') throw new TypeError(`credentials() returned a non-string value for ${JSON.stringify(k)}`);
    if (k === 'clientId') throw new TypeError('credentials() must not return clientId (it is the clientId option)');
    u.searchParams.set(k, v);
  }
  u.searchParams.set('clientId', s.clientId);
  return u.href;
}
