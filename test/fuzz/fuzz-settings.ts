/**
 * What the fuzz suites share: how many runs (FUZZ_RUNS) and which seed (FUZZ_SEED),
 * and the check of the buffer-bound metrics against the bounds docs/conformance.md
 * documents, scraped from /metrics over HTTP as Prometheus would.
 */
import assert from 'node:assert/strict';
import { httpGet, promSample } from '../helpers/raw-http.js';

/** One socket read (the gateway's read buffer): a buffer may pass its mark by at most this before reads pause. */
export const READ_BYTES = 64 * 1024;
/** Control frames written past the mark (a pong, the close, a heartbeat ping): a few of at most 127 bytes. */
export const CONTROL_SLACK = 1024;

export interface BufferSettings {
  readonly highWaterMarkBytes: number;
  readonly preOpenQueueBytes: number;
}

/** The documented bound of each `stratix_relay_buffer_peak_bytes{buffer}`. */
export function bufferBounds(s: BufferSettings): Record<'preopen_queue' | 'client_write' | 'upstream_write', number> {
  return {
    preopen_queue: s.preOpenQueueBytes + READ_BYTES,
    client_write: s.highWaterMarkBytes + READ_BYTES + CONTROL_SLACK,
    // The pre-open queue is written to the upstream at once when it opens.
    upstream_write: Math.max(s.highWaterMarkBytes, s.preOpenQueueBytes + READ_BYTES) + READ_BYTES + CONTROL_SLACK,
  };
}

export function fuzzParameters(ciRuns: number): { runs: number; seed: number | undefined } {
  const runs = process.env.FUZZ_RUNS === undefined ? ciRuns : Number(process.env.FUZZ_RUNS);
  assert.ok(Number.isInteger(runs) && runs > 0, `FUZZ_RUNS must be a positive integer, not ${process.env.FUZZ_RUNS}`);
  const seed = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);
  assert.ok(seed === undefined || Number.isInteger(seed), `FUZZ_SEED must be an integer, not ${process.env.FUZZ_SEED}`);
  return { runs, seed };
}

/** Scrapes /metrics: every buffer-bound metric within its bound, no session or pause left. */
export async function checkBufferBounds(port: number, s: BufferSettings): Promise<Record<string, number>> {
  const res = await httpGet(port, '/metrics', { Accept: 'text/plain' });
  assert.equal(res.status, 200);
  const peaks: Record<string, number> = {};
  for (const [buffer, bound] of Object.entries(bufferBounds(s))) {
    const v = promSample(res.body, 'stratix_relay_buffer_peak_bytes', { buffer });
    assert.ok(v !== undefined, `stratix_relay_buffer_peak_bytes{buffer="${buffer}"} is exported`);
    assert.ok(v <= bound, `stratix_relay_buffer_peak_bytes{buffer="${buffer}"} = ${v}, over its bound ${bound}`);
    peaks[buffer] = v;
  }
  assert.equal(promSample(res.body, 'stratix_connections_active'), 0, 'stratix_connections_active');
  assert.equal(promSample(res.body, 'stratix_sessions_paused'), 0, 'stratix_sessions_paused');
  assert.equal(promSample(res.body, 'stratix_upstream_connects_in_flight') ?? 0, 0, 'stratix_upstream_connects_in_flight');
  assert.equal(promSample(res.body, 'stratix_upstream_connects_waiting') ?? 0, 0, 'stratix_upstream_connects_waiting');
  return peaks;
}
