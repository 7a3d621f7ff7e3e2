/**
 * The route rules as stored in etcd: one key per rule under a prefix (layout in
 * route-key.ts). Reading is paged at one revision, so a million keys never travel
 * in one response and the pages form a consistent view; writing goes in
 * transactions of at most `maxTxnOps` operations (etcd's --max-txn-ops, 128 by
 * default). Used by EtcdRouteSource and by the `routes` command.
 *
 * Retries are the caller's business (EtcdRouteSource retries with jittered backoff):
 * etcd3's per-host circuit breaker is replaced by a pass-through, because it would
 * keep refusing calls for 5 s after etcd came back, and gRPC's own reconnect backoff
 * is capped at `reconnectMaxMs` (its default cap is 120 s).
 */
import { Etcd3, GRPCResourceExhastedError, type IDuplexStream, type IOptions, type IWatchRequest, type IWatchResponse } from 'etcd3';
import { prefixRangeEnd } from './route-key.js';
import { decodeRangeResponse, encodeRangeRequest, type RangePage, type RangeRequestFields } from './etcd-range-codec.js';
import { KeyWindows } from './key-windows.js';

export interface EtcdRouteStoreOptions {
  /** e.g. ["http://127.0.0.1:2379"]. */
  endpoints: readonly string[];
  /** Key prefix, e.g. "/stratix/routes/". */
  prefix: string;
  /** Deadline of each unary request (a page, a transaction). */
  requestTimeoutMs: number;
  /** Cap of gRPC's reconnect backoff; keeps catch-up prompt when etcd returns. */
  reconnectMaxMs?: number;
  /** gRPC keepalive ping interval: how soon a silently dead connection is noticed. */
  keepaliveMs?: number;
  /** Largest response accepted (gRPC's receive limit). A page over it is asked again, smaller. Default 64 MiB. */
  maxResponseBytes?: number;
}

/** Pages are never asked smaller than this when a page was too large. */
const MIN_PAGE_SIZE = 64;
/** Windows of a full read asked at once. */
const IN_FLIGHT = 3;
const RANGE_METHOD = '/etcdserverpb.KV/Range';
const asIs = (b: Buffer): Buffer => b;

/** What a full read uses of etcd3's connection pool and of grpc-js's client (see #pool). */
interface UnaryClient {
  makeUnaryRequest(
    method: string,
    serialize: (b: Buffer) => Buffer,
    deserialize: (b: Buffer) => Buffer,
    argument: Buffer,
    metadata: unknown,
    options: { deadline: number },
    callback: (err: Error | null, res?: Buffer) => void,
  ): unknown;
}
interface KvPool {
  withConnection<T>(service: 'KV', fn: (conn: { client: unknown; metadata: unknown }) => Promise<T>): Promise<T>;
}

/** One key/value pair, key relative to the prefix. */
export type StoredPair = readonly [key: string, value: string];

export interface ReadAllResult {
  revision: number;
  clusterId: string;
  keys: number;
}

export interface WriteResult {
  revision: number;
  transactions: number;
}

type HostPolicy = ReturnType<NonNullable<NonNullable<IOptions['faultHandling']>['host']>>;
const neverAborted = new AbortController().signal;
/** etcd3's connection pool only calls `execute`; this one runs the call once. */
const passThrough = {
  execute: <T>(fn: (ctx: { signal: AbortSignal }) => T | PromiseLike<T>): Promise<T> =>
    Promise.resolve().then(() => fn({ signal: neverAborted })),
} as unknown as HostPolicy;

export class EtcdRouteStore {
  readonly client: Etcd3;
  readonly prefix: string;
  readonly #prefix: Buffer;
  readonly #rangeEnd: Buffer;
  readonly #requestTimeoutMs: number;
  /**
   * etcd3's connection pool (its hosts, channel options and auth metadata), for the
   * Range calls of a full read, made with grpc-js's own unary call and our codec.
   * `pool` is protected in etcd3's typings (Namespace), public at run time since 1.0;
   * the constructor checks it is there.
   */
  readonly #pool: KvPool;

  constructor(opts: EtcdRouteStoreOptions) {
    if (opts.endpoints.length === 0) throw new TypeError('EtcdRouteStore: no etcd endpoints');
    this.prefix = opts.prefix;
    this.#prefix = Buffer.from(opts.prefix, 'utf8');
    this.#rangeEnd = prefixRangeEnd(this.#prefix);
    this.#requestTimeoutMs = opts.requestTimeoutMs;
    const reconnectMaxMs = opts.reconnectMaxMs ?? 5_000;
    const keepaliveMs = opts.keepaliveMs ?? 10_000;
    this.client = new Etcd3({
      hosts: [...opts.endpoints],
      faultHandling: { host: () => passThrough },
      grpcOptions: {
        'grpc.keepalive_time_ms': keepaliveMs,
        'grpc.keepalive_timeout_ms': Math.max(1_000, Math.round(keepaliveMs / 2)),
        'grpc.initial_reconnect_backoff_ms': Math.min(200, reconnectMaxMs),
        'grpc.max_reconnect_backoff_ms': reconnectMaxMs,
        // Pages and watch responses are bounded (pageSize, fragment: true), but a page
        // of large values can pass gRPC's 4 MiB default.
        'grpc.max_receive_message_length': opts.maxResponseBytes ?? 64 * 1024 * 1024,
      },
    });
    const pool = (this.client as unknown as { pool?: Partial<KvPool> }).pool;
    if (typeof pool?.withConnection !== 'function') throw new TypeError('EtcdRouteStore: this etcd3 version has no connection pool to read ranges with');
    this.#pool = pool as KvPool;
  }

  #deadline(): { deadline: number } {
    return { deadline: Date.now() + this.#requestTimeoutMs };
  }

  #relative(key: Buffer): string {
    return key.subarray(this.#prefix.length).toString('utf8');
  }

  #absolute(key: string): Buffer {
    return Buffer.concat([this.#prefix, Buffer.from(key, 'utf8')]);
  }

  /**
   * Reads every key under the prefix, at most `pageSize` keys per request, all at the
   * revision of the first answer. `onPage` runs for each page, one at a time (keys
   * relative; pages in no particular order; and how many keys the prefix held at that
   * revision, from the first answer) and may return a promise, which is awaited before
   * the next page is handed over.
   * Rejects with etcd's "required revision has been compacted" if a compaction overtook
   * the read (the caller starts over).
   */
  async readAll(pageSize: number, onPage: (pairs: StoredPair[], revision: number, total: number) => void | Promise<void>): Promise<ReadAllResult> {
    return this.readAllKvs(pageSize, (page, revision, total) => {
      const pairs: StoredPair[] = [];
      const { buf, offsets } = page;
      for (let i = 0; i < page.size; i++) {
        pairs.push([buf.toString('utf8', offsets[4 * i]! + this.#prefix.length, offsets[4 * i + 1]!), buf.toString('utf8', offsets[4 * i + 2]!, offsets[4 * i + 3]!)]);
      }
      return onPage(pairs, revision, total);
    });
  }

  /**
   * As `readAll`, with each page as etcd sent it (etcd-range-codec.ts): absolute keys and
   * values as offsets into the answer's bytes, so a caller that checks them in place
   * makes no string and no object per key.
   *
   * How (key-windows.ts): the first request asks for the whole prefix (its answer gives
   * the revision, the total and a first page); the rest is asked in disjoint windows
   * whose `range_end` is near their `key`, because etcd walks and counts every key up to
   * `range_end` for each request (O(N²/pageSize) with `range_end` at the end of the
   * prefix). Up to IN_FLIGHT windows are asked at once, so etcd serves some while
   * `onPage` checks another. An answer too large for `maxResponseBytes` is asked again
   * with a quarter of the limit.
   */
  async readAllKvs(pageSize: number, onPage: (page: RangePage, revision: number, total: number) => void | Promise<void>): Promise<ReadAllResult> {
    const windows = new KeyWindows({ prefix: this.#prefix, rangeEnd: this.#rangeEnd, target: Math.ceil(pageSize / 2), limit: pageSize });
    const ask = async (start: Buffer, end: Buffer, limit: () => number, revision: number): Promise<RangePage> => {
      for (;;) {
        try {
          return await this.#range({ key: start, rangeEnd: end, limit: limit(), revision });
        } catch (err) {
          if (err instanceof GRPCResourceExhastedError && windows.limit > MIN_PAGE_SIZE) {
            windows.shrink(Math.max(MIN_PAGE_SIZE, Math.floor(windows.limit / 4)));
            continue;
          }
          throw err;
        }
      }
    };
    const first = await ask(this.#prefix, this.#rangeEnd, () => windows.limit, 0);
    const revision = first.revision;
    const total = first.count;
    let keys = first.size;
    if (first.more && first.size > 0) windows.begin(first.key(0), first.key(first.size - 1), first.size, total);
    let handed: Promise<void> = Promise.resolve(onPage(first, revision, total));
    let asking = 0;
    let failed = false;
    let wake: Array<() => void> = [];
    const wakeAll = () => {
      const w = wake;
      wake = [];
      for (const f of w) f();
    };
    const fetcher = async (): Promise<void> => {
      while (!failed) {
        const w = windows.next();
        if (w === undefined) {
          // Nothing left to ask now; an answer still due may leave a hole to ask.
          if (asking === 0) return wakeAll();
          await new Promise<void>((resolve) => wake.push(resolve));
          continue;
        }
        asking++;
        let page: RangePage;
        try {
          page = await ask(w.start, w.end, () => Math.min(w.limit, windows.limit), revision);
        } finally {
          asking--;
        }
        windows.settle(w, page.count, page.size, page.size > 0 ? page.key(page.size - 1) : undefined);
        wakeAll();
        keys += page.size;
        if (page.size > 0) await (handed = handed.then(() => (failed ? undefined : onPage(page, revision, total))));
      }
    };
    try {
      await Promise.all([handed, ...Array.from({ length: IN_FLIGHT }, fetcher)]);
      await handed;
    } catch (err) {
      failed = true;
      wakeAll();
      throw err;
    }
    return { revision, clusterId: first.clusterId, keys };
  }

  /** One Range call, answered as bytes and decoded by etcd-range-codec.ts (see there why). */
  #range(req: RangeRequestFields): Promise<RangePage> {
    const payload = encodeRangeRequest(req);
    const options = this.#deadline();
    return this.#pool
      .withConnection('KV', ({ client, metadata }) => {
        return new Promise<Buffer>((resolve, reject) => {
          (client as unknown as UnaryClient).makeUnaryRequest(RANGE_METHOD, asIs, asIs, payload, metadata, options, (err, res) => {
            if (err) reject(err);
            else resolve(res!);
          });
        });
      })
      .then(decodeRangeResponse);
  }

  /**
   * Proves etcd answers: the member's status, one request whose cost does not depend on
   * how many keys there are (a count of the prefix does: etcd walks every key, seconds
   * for a million on a busy server).
   */
  async ping(timeoutMs = this.#requestTimeoutMs): Promise<void> {
    await this.client.maintenance.status({ deadline: Date.now() + timeoutMs });
  }

  /**
   * How many keys the prefix held at `revision` (etcd walks them in its index: O(keys),
   * nothing sent), with etcd's current revision and cluster id. Rejects with etcd's
   * "required revision has been compacted" when that revision is gone.
   */
  async countAt(revision: number): Promise<{ count: number; revision: number; clusterId: string }> {
    const res = await this.client.kv.range({ key: this.#prefix, range_end: this.#rangeEnd, count_only: true, revision }, this.#deadline());
    return { count: Number(res.count), revision: Number(res.header.revision), clusterId: res.header.cluster_id };
  }

  /** How many keys are under the prefix (etcd walks them all: O(keys)). */
  async count(timeoutMs = this.#requestTimeoutMs): Promise<number> {
    const res = await this.client.kv.range(
      { key: this.#prefix, range_end: this.#rangeEnd, count_only: true },
      { deadline: Date.now() + timeoutMs },
    );
    return Number(res.count);
  }

  /** Reads the given keys (relative) in one transaction; absent keys are absent from the map. */
  async getMany(keys: readonly string[], maxTxnOps = 128): Promise<{ values: Map<string, string>; revision: number }> {
    const values = new Map<string, string>();
    let revision = 0;
    for (let i = 0; i < keys.length; i += maxTxnOps) {
      const ops = keys.slice(i, i + maxTxnOps).map((k) => ({ request_range: { key: this.#absolute(k), ...(revision === 0 ? {} : { revision }) } }));
      const res = await this.client.kv.txn({ success: ops }, this.#deadline());
      if (revision === 0) revision = Number(res.header.revision);
      for (const r of res.responses) {
        for (const kv of r.response_range.kvs) values.set(this.#relative(kv.key), kv.value.toString('utf8'));
      }
    }
    return { values, revision };
  }

  /**
   * Puts and deletes (keys relative), `maxTxnOps` per transaction, `concurrency`
   * transactions in flight (etcd batches concurrent proposals into one disk sync:
   * 1M puts took 37 s at 16 in flight, 57 s at 4).
   */
  async write(
    puts: readonly StoredPair[],
    deletes: readonly string[],
    opts: { maxTxnOps?: number; concurrency?: number; onProgress?: (done: number, total: number) => void } = {},
  ): Promise<WriteResult> {
    const maxTxnOps = opts.maxTxnOps ?? 128;
    const ops = [
      ...puts.map(([k, v]) => ({ request_put: { key: this.#absolute(k), value: Buffer.from(v, 'utf8') } })),
      ...deletes.map((k) => ({ request_delete_range: { key: this.#absolute(k) } })),
    ];
    let next = 0;
    let revision = 0;
    let transactions = 0;
    let written = 0;
    const worker = async (): Promise<void> => {
      while (next < ops.length) {
        const batch = ops.slice(next, next + maxTxnOps);
        next += batch.length;
        const res = await this.client.kv.txn({ success: batch }, this.#deadline());
        transactions++;
        written += batch.length;
        opts.onProgress?.(written, ops.length);
        revision = Math.max(revision, Number(res.header.revision));
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, opts.concurrency ?? 16) }, worker));
    return { revision, transactions };
  }

  /**
   * Opens a watch stream on the prefix from `startRevision`, with etcd's periodic
   * progress notifications and large revisions split into fragments.
   */
  async watch(startRevision: number): Promise<IDuplexStream<IWatchRequest, IWatchResponse>> {
    const stream = await this.client.watchClient.watch();
    stream.write({
      create_request: {
        key: this.#prefix,
        range_end: this.#rangeEnd,
        start_revision: startRevision,
        progress_notify: true,
        // In rpc.proto (etcd ≥ 3.4) but not in etcd3's typings.
        ...({ fragment: true } as object),
      },
    });
    return stream;
  }

  /** Key relative to the prefix, or undefined for a key outside it. */
  relativeKey(key: Buffer): string | undefined {
    return key.subarray(0, this.#prefix.length).equals(this.#prefix) ? this.#relative(key) : undefined;
  }

  close(): void {
    this.client.close();
  }
}
