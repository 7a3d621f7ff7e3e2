import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ResumeState, type ResumeStorage } from '../src/resume-state.js';
import type { RecoverableError } from '../src/errors.js';

class Mem implements ResumeStorage {
  map = new Map<string, string>();
  getItem(k: string) {
    return this.map.get(k) ?? null;
  }
  setItem(k: string, v: string) {
    this.map.set(k, v);
  }
  removeItem(k: string) {
    this.map.delete(k);
  }
}

const SID = 'q3Z6gC3r0s9vQnJxk0H1Xw';

test('stores the position, loads it back, clears it', () => {
  const m = new Mem();
  const a = new ResumeState(m, 'k', () => assert.fail('no error'));
  a.set(SID, 41);
  const b = new ResumeState(m, 'k', () => assert.fail('no error'));
  b.load();
  assert.deepEqual([b.sessionId, b.lastSeq], [SID, 41]);
  b.clear();
  assert.equal(m.map.size, 0);
  assert.deepEqual([b.sessionId, b.lastSeq], [undefined, 0]);
});

test('a stored state that is not well-formed is ignored (a new session starts)', () => {
  for (const raw of ['nope', '{"v":2,"sessionId":"q3Z6gC3r0s9vQnJxk0H1Xw","lastSeq":1}', '{"v":1,"sessionId":"short","lastSeq":1}', '{"v":1,"sessionId":"q3Z6gC3r0s9vQnJxk0H1Xw","lastSeq":-1}', '{"v":1,"sessionId":"q3Z6gC3r0s9vQnJxk0H1Xw","lastSeq":1.5}']) {
    const m = new Mem();
    m.map.set('k', raw);
    const s = new ResumeState(m, 'k', () => assert.fail('no error'));
    s.load();
    assert.equal(s.sessionId, undefined, raw);
  }
});

test('an asynchronous storage: set() returns a promise that settles after the write', async () => {
  const m = new Mem();
  const writes: string[] = [];
  const slow: ResumeStorage = {
    getItem: async (k) => m.getItem(k),
    setItem: (k, v) => new Promise((resolve) => setTimeout(() => {
      m.setItem(k, v);
      writes.push(v);
      resolve();
    }, 5)),
    removeItem: async (k) => m.removeItem(k),
  };
  const s = new ResumeState(slow, 'k', () => assert.fail('no error'));
  const p = s.set(SID, 3);
  assert.ok(p instanceof Promise);
  assert.equal(writes.length, 0);
  await p;
  assert.equal(writes.length, 1);
  const t = new ResumeState(slow, 'k', () => assert.fail('no error'));
  await t.load();
  assert.equal(t.lastSeq, 3);
});

test('a storage that throws is reported (STRATIX_CLIENT_ERR_STORAGE), not thrown', async () => {
  const errors: RecoverableError[] = [];
  const broken: ResumeStorage = {
    getItem: () => {
      throw new Error('denied');
    },
    setItem: () => {
      throw new Error('QuotaExceededError');
    },
    removeItem: () => Promise.reject(new Error('gone')),
  };
  const s = new ResumeState(broken, 'k', (e) => errors.push(e));
  s.load();
  s.set(SID, 1);
  await s.clear();
  assert.deepEqual(errors.map((e) => e.code), ['STRATIX_CLIENT_ERR_STORAGE', 'STRATIX_CLIENT_ERR_STORAGE', 'STRATIX_CLIENT_ERR_STORAGE']);
  assert.match(errors[1]!.message, /could not be saved: Error: QuotaExceededError/);
});
