/**
 * The conformance case runner: each case is a script of what a raw client writes
 * (whole, or chopped into TCP writes the gateway reads one by one), run through a
 * gateway to a real `ws` echo upstream whose socket is tapped. Every case asserts,
 * exactly:
 * - the frames the upstream received, header field by header field and byte for
 *   byte (the client's frames verbatim, re-masked; the gateway's own close);
 * - the frames the client received (echoes, pongs, the close frame);
 * - that the gateway ended the client's TCP connection (within 5 s, far below
 *   the 30 s gateway.closeTimeoutMs of these gateways, so a case that only ends
 *   on the close timeout fails), and the upstream's;
 * - that every message the gateway accepted was delivered or counted as failed
 *   (in-process from its counters, through the CLI from /metrics), and in-process
 *   that the session is gone.
 *
 * Case ids follow the Autobahn testsuite's numbering where a case maps onto one
 * of its cases (1.1.1 …); the gateway's own cases use a letter suffix (1.3.a …).
 * docs/conformance.md lists every case with its expected outcome (table.ts).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Gateway } from '../../src/server/gateway.js';
import { Direction } from '../../src/metrics/gateway-metrics.js';
import { Session, SessionState } from '../../src/relay/session.js';
import { startGateway, until } from '../helpers/gateway.js';
import { startCli, type RunningCli } from '../helpers/cli.js';
import { startTappedUpstream, type TappedConnection, type TappedUpstream, type TappedUpstreamOptions } from '../helpers/tapped-upstream.js';
import { wireConnect, type WireClient } from '../helpers/wire-client.js';
import { describeFrame, describeStream } from '../helpers/ws-wire.js';
import { httpGet, promSample } from '../helpers/raw-http.js';

/** One thing the client does. */
export type Step =
  /** One TCP write. */
  | Buffer
  /** TCP writes of `chop` bytes each; the gateway has read each one before the next is written. */
  | { chop: number; bytes: Buffer }
  /** One TCP write, without waiting for the gateway to read it (it may stop reading: backpressure). */
  | { write: Buffer }
  /** Wait until the client has received `frames` frames in all. */
  | { awaitFrames: number }
  /** Wait until the upstream has received `upstreamFrames` frames in all. */
  | { upstreamFrames: number }
  /** The client half-closes its TCP connection (FIN). */
  | { fin: true }
  /** Something the upstream does now (e.g. start a close). */
  | { upstream: (c: TappedConnection) => void; does: string }
  /**
   * In-process: assert the gateway has not failed the connection yet ('open'), or
   * has ('failed'); or wait until it stops reading the client while the upstream is
   * still connecting ('paused': the pre-open queue is full).
   */
  | { gateway: 'open' | 'failed' | 'paused' };

export interface ConformanceCase {
  /** Autobahn's number where the case maps onto one (e.g. "5.6"), else the group's number with a letter. */
  readonly id: string;
  /** What the client does, in a few words. */
  readonly title: string;
  /** The RFC 6455 sections the case checks. */
  readonly rfc: string;
  readonly steps: readonly Step[];
  /** The frames the upstream receives, in order; null: no upstream connection opens at all. */
  readonly upstream: readonly Buffer[] | null;
  /** The frames the client receives, in order. */
  readonly client: readonly Buffer[];
  /** The expected outcome in words, for docs/conformance.md. */
  readonly outcome: string;
  /** Start writing before the upstream is open (the group's gateway delays its upstream). */
  readonly preOpen?: boolean;
  /** Only run with STRATIX_CONFORMANCE_LONG=1 (`npm run conformance:long`). */
  readonly long?: boolean;
}

/** A case too big to build at import (megabytes of frames): its frames are made when it runs. */
export interface LazyCase extends Omit<ConformanceCase, 'steps' | 'upstream' | 'client'> {
  /** The close the client gets (code and reason), for docs/conformance.md. */
  readonly closeLabel: string;
  make(): ConformanceCase;
}

export type CaseSpec = ConformanceCase | LazyCase;

/** The case with its frames. */
export function materialize(k: CaseSpec): ConformanceCase {
  return 'make' in k ? k.make() : k;
}

export interface CaseGroup {
  /** "1", "2", … (Autobahn's group numbers where they exist). */
  readonly number: string;
  readonly name: string;
  readonly cases: readonly CaseSpec[];
  /** Gateway settings beyond the defaults of every conformance gateway. */
  readonly config?: Record<string, unknown>;
  readonly upstream?: TappedUpstreamOptions;
}

/** Where the cases run. */
export interface ConformanceEnv {
  readonly port: number;
  readonly upstream: TappedUpstream;
  /** The in-process gateway (standalone): read barriers, session checks, accounting. Undefined through the CLI. */
  readonly gateway: Gateway | undefined;
  /** The message counters, summed over both directions (and every worker). */
  counts(): Promise<Counts>;
  close(): Promise<void>;
}

/**
 * The gateway settings every conformance run uses: closeTimeoutMs far above the 5 s a
 * case may take; the heartbeat (whose pings are no case's) out of the way of long runs.
 */
function baseConfig(upstream: TappedUpstream, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const gateway = (extra.gateway ?? {}) as Record<string, unknown>;
  return { ...extra, gateway: { closeTimeoutMs: 30_000, pingIntervalMs: 600_000, ...gateway }, defaultRoute: { openclawGateway: `${upstream.url}/{clientId}` } };
}

export async function standaloneEnv(group: Pick<CaseGroup, 'config' | 'upstream'>): Promise<ConformanceEnv> {
  const upstream = await startTappedUpstream(group.upstream);
  const gateway = await startGateway(baseConfig(upstream, group.config));
  return {
    port: gateway.port,
    upstream,
    gateway,
    counts: async () => counts(gateway),
    async close() {
      await gateway.close();
      await upstream.close();
    },
  };
}

/** The real CLI with `workers` worker processes (the primary hands each connection to one). */
export async function cliEnv(group: Pick<CaseGroup, 'config' | 'upstream'>, workers = 2): Promise<ConformanceEnv> {
  const upstream = await startTappedUpstream(group.upstream);
  const config = baseConfig(upstream, group.config);
  let cli: RunningCli;
  try {
    cli = await startCli({ ...config, gateway: { ...(config.gateway as object), listen: '127.0.0.1:0', workers } });
  } catch (err) {
    await upstream.close();
    throw err;
  }
  return {
    port: cli.port,
    upstream,
    gateway: undefined,
    counts: () => scrapeCounts(cli.port),
    async close() {
      await cli.stop();
      await upstream.close();
    },
  };
}

export const LONG = process.env.STRATIX_CONFORMANCE_LONG === '1';

/** Registers one test per case of `group`, against a fresh environment per group. */
export function runGroup(group: CaseGroup, makeEnv: (g: CaseGroup) => Promise<ConformanceEnv> = standaloneEnv, filter: (c: CaseSpec) => boolean = () => true): void {
  describe(`conformance ${group.number}: ${group.name}`, () => {
    let env: ConformanceEnv;
    before(async () => {
      env = await makeEnv(group);
    });
    after(async () => {
      await env?.close();
    });
    let n = 0;
    // Long cases are not registered at all by default (not even as skipped).
    for (const k of group.cases) {
      if (!filter(k) || (k.long === true && !LONG)) continue;
      const index = n++;
      test(`${k.id} ${k.title}`, async () => {
        await runCase(env, materialize(k), index);
      });
    }
  });
}

const DEADLINE_MS = 5_000;

async function within<T>(p: Promise<T>, what: string, ms = DEADLINE_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** A clientId (and upstream path) unique to the case. */
function clientIdFor(k: ConformanceCase, index: number): string {
  return `c${index}-${k.id.replace(/[^A-Za-z0-9.]/g, '_')}`;
}

function sessionOf(gw: Gateway, clientId: string): Session | undefined {
  return [...gw.sessions].find((s): s is Session => s instanceof Session && s.clientId === clientId);
}

export interface Counts {
  received: number;
  sent: number;
  failed: number;
}

/** The counters from /metrics (the primary sums its workers'). */
async function scrapeCounts(port: number): Promise<Counts> {
  const res = await httpGet(port, '/metrics', { Accept: 'text/plain' });
  assert.equal(res.status, 200);
  return {
    received: promSample(res.body, 'stratix_messages_received_total') ?? 0,
    sent: promSample(res.body, 'stratix_messages_sent_total') ?? 0,
    failed: promSample(res.body, 'stratix_messages_failed_total') ?? 0,
  };
}

function counts(gw: Gateway): Counts {
  const m = gw.metrics;
  return {
    received: m.messagesReceived[Direction.ClientToUpstream]! + m.messagesReceived[Direction.UpstreamToClient]!,
    sent: m.messagesSent[Direction.ClientToUpstream]! + m.messagesSent[Direction.UpstreamToClient]!,
    failed: m.messagesFailedTotal,
  };
}

export async function runCase(env: ConformanceEnv, k: ConformanceCase, index: number): Promise<void> {
  const id = clientIdFor(k, index);
  const gw = env.gateway;
  const before = await env.counts();
  const upstreamConn = env.upstream.connectionFor(id);
  const client = await wireConnect(env.port, id);
  let session: Session | undefined;
  if (gw !== undefined) {
    await until(() => sessionOf(gw, id) !== undefined, 'the session');
    session = sessionOf(gw, id)!;
  }
  if (k.preOpen) {
    if (session !== undefined) assert.equal(session.state, SessionState.Connecting, 'the upstream must not be open yet (a pre-open case)');
  } else {
    await within(
      upstreamConn.then((c) => c.opened),
      'the session to open',
    );
  }
  const reads = new ReadBarrier(client, session);
  let up: TappedConnection | undefined;
  for (const step of k.steps) {
    if (Buffer.isBuffer(step)) await reads.write(step);
    else if ('chop' in step) {
      for (let at = 0; at < step.bytes.length && !client.hasEnded(); at += step.chop) await reads.write(step.bytes.subarray(at, at + step.chop));
    } else if ('write' in step) client.socket.write(step.write);
    else if ('awaitFrames' in step) await within(client.frameCount(step.awaitFrames), `${step.awaitFrames} frames at the client`);
    else if ('upstreamFrames' in step) {
      up ??= await upstreamConn;
      const u = up;
      await within(until(() => u.received().length >= step.upstreamFrames, 'upstream frames', DEADLINE_MS), `${step.upstreamFrames} frames at the upstream`);
    } else if ('fin' in step) client.socket.end();
    else if ('upstream' in step) step.upstream((up ??= await upstreamConn));
    else if (session !== undefined && step.gateway === 'paused') {
      const s = session;
      await until(() => s.paused || s.state !== SessionState.Connecting, 'client reads to pause', DEADLINE_MS);
      assert.equal(s.state, SessionState.Connecting, 'reads paused while the upstream is still connecting');
    } else if (session !== undefined) {
      const s = session;
      const failed = (): boolean => s.client.closeSent && s.client.parserDone;
      // On the native data path the relay thread read the bytes and hands the fault to the JS path a moment later;
      // nothing more is sent meanwhile, so the fault is still the bytes so far.
      if (step.gateway === 'failed' && s.onNative) await until(failed, 'the hand-back of the fault', DEADLINE_MS).catch(() => {});
      assert.equal(failed() ? 'failed' : 'open', step.gateway, `the gateway ${step.gateway === 'open' ? 'must not have failed' : 'must have failed'} the connection at this point`);
    }
  }

  await within(client.ended, 'the gateway ending the client TCP connection');
  client.socket.end(); // the client's side of the close, as any client does after the server's FIN
  await within(client.closed, 'the client socket to close');
  if (gw !== undefined) await until(() => sessionOf(gw, id) === undefined, 'the session to be gone', DEADLINE_MS);

  assert.deepEqual(client.frames.map(describeFrame), k.client.flatMap(describeStream), 'what the client received');
  assert.equal(client.reader.pending, 0, 'no unfinished frame at the client');
  if (k.upstream === null) {
    // The gateway abandoned its upstream attempt: once that TCP connection is closed, it was never answered.
    const attempt = env.upstream.attempt(id);
    if (attempt !== undefined) await within(attempt.closed, 'the abandoned upstream attempt to close');
    assert.equal(attempt?.answered() ?? false, false, 'no upstream WebSocket connection opened');
  } else {
    up ??= await within(upstreamConn, 'the upstream connection');
    await within(up.closed, 'the upstream TCP connection to end');
    assert.deepEqual(up.receivedLines(), k.upstream.flatMap(describeStream), 'what the upstream received');
  }
  const now = await env.counts();
  assert.equal(now.received - before.received, now.sent - before.sent + (now.failed - before.failed), 'every accepted message delivered or counted as failed');
}

/**
 * Writes so that each write is one read at the gateway: in-process it waits until
 * the gateway's socket has read every byte written so far (the parser runs in the
 * same callback as the read, so its effects are visible then); through the CLI,
 * where the session is in another process, it waits for the write to flush and a
 * turn of the event loop.
 */
class ReadBarrier {
  #written = 0;
  #base: number;
  readonly #client: WireClient;
  readonly #session: Session | undefined;

  constructor(client: WireClient, session: Session | undefined) {
    this.#client = client;
    this.#session = session;
    this.#base = session?.clientBytesRead ?? 0;
  }

  async write(bytes: Buffer): Promise<void> {
    if (this.#client.hasEnded() || this.#client.socket.destroyed) return;
    await new Promise<void>((resolve) => this.#client.socket.write(bytes, () => resolve()));
    this.#written += bytes.length;
    const s = this.#session;
    if (s === undefined) {
      await new Promise((r) => setTimeout(r, 1));
      return;
    }
    const target = this.#base + this.#written;
    const end = Date.now() + DEADLINE_MS;
    // On the native data path the leg's socket object is stowed (destroyed) while the connection lives on.
    while (s.clientBytesRead < target && !(s.client.socket.destroyed && !s.onNative) && !s.client.gone) {
      if (Date.now() > end) throw new Error(`the gateway did not read ${target - this.#base} bytes (read ${s.clientBytesRead - this.#base})`);
      await new Promise((r) => setImmediate(r));
    }
  }
}
