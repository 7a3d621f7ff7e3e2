import { test } from 'node:test';
import assert from 'node:assert/strict';
import { adviceFor, ReconnectPolicy } from '../src/reconnect-policy.js';

const o = { initialDelayMs: 1_000, maxDelayMs: 30_000, immediateMaxDelayMs: 5_000 };

test('backoff: full jitter under a ceiling that doubles from 1 s to 30 s; reset() starts over', () => {
  const top = new ReconnectPolicy(o, () => 0.999_999);
  assert.deepEqual(Array.from({ length: 8 }, () => top.next('backoff', undefined)), [1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000]);
  top.reset();
  assert.equal(top.next(undefined, undefined), 1_000);
  const bottom = new ReconnectPolicy(o, () => 0);
  assert.deepEqual(Array.from({ length: 4 }, () => bottom.next('backoff', undefined)), [0, 0, 0, 0]);
});

test('"immediately" waits a random 0-5 s; retry_after waits its delay plus jitter, but exactly as given for OVERLOADED and ADMISSION_LIMITED', () => {
  const p = new ReconnectPolicy(o, () => 0.5);
  assert.equal(p.next('immediately', undefined), 2_500);
  assert.equal(p.next('backoff', { ms: 3_000, code: 'STRATIX_ERR_DRAINING' }), 3_500);
  assert.equal(p.next('backoff', { ms: 3_000, code: undefined }), 3_500);
  assert.equal(p.next('backoff', { ms: 3_000, code: 'STRATIX_ERR_OVERLOADED' }), 3_000);
  assert.equal(p.next('backoff', { ms: 3_000, code: 'STRATIX_ERR_ADMISSION_LIMITED' }), 3_000);
  assert.equal(p.attempt, 5);
});

test('advice per close code, and backoff for codes not in the table (1006, unknown)', () => {
  assert.equal(adviceFor(1012), 'immediately');
  assert.equal(adviceFor(4307), 'immediately');
  assert.equal(adviceFor(4410), 'no');
  assert.equal(adviceFor(4404), 'no');
  assert.equal(adviceFor(4503), 'backoff');
  assert.equal(adviceFor(1006), 'backoff');
  assert.equal(adviceFor(4999), 'backoff');
});
