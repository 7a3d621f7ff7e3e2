/**
 * The duplicate cache (no sockets) against a reference model, a plain Map
 * (insertion order, the oldest evicted past the limit, expiry from the front up to
 * the first in-flight entry), on random sequences of operations: the same answers,
 * sizes, evictions and entries — for the cache in both its forms (a Map up to 64
 * entries, then the ring) and for the ring alone.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DuplicateCache, IN_FLIGHT } from '../../src/reliable/duplicate-cache.js';
import { DuplicateRing, hashOf } from '../../src/reliable/duplicate-ring.js';

class Reference {
  readonly map = new Map<string, { expires: number; outcome: number }>();
  readonly waiting = new Map<string, number>();
  constructor(readonly limit: number, readonly windowMs: number) {}
  remember(id: string, now: number, outcome: number): number {
    this.map.delete(id);
    this.map.set(id, { expires: now + this.windowMs, outcome });
    let evicted = 0;
    while (this.map.size > this.limit) {
      const oldest = this.map.keys().next().value as string;
      this.map.delete(oldest);
      this.waiting.delete(oldest);
      evicted++;
    }
    return evicted;
  }
  settle(id: string, outcome: number): number {
    const e = this.map.get(id);
    if (e !== undefined) e.outcome = outcome;
    const w = this.waiting.get(id);
    if (w === undefined) return -1;
    this.waiting.delete(id);
    return w;
  }
  expire(now: number): number {
    for (const [id, e] of this.map) {
      if (e.expires > now || e.outcome === IN_FLIGHT) break;
      this.map.delete(id);
    }
    return this.map.size;
  }
  entries(): Array<[string, number, number]> {
    return [...this.map].map(([id, e]) => [id, e.expires - this.windowMs, e.outcome]);
  }
}

// Short ids that share prefixes and hashes' low bits, and long ones (kept as strings).
const ids = [...Array(24).keys()].map((i) => `m-${i}`).concat(['x'.repeat(32), 'x'.repeat(33), `${'y'.repeat(40)}-1`, `${'y'.repeat(40)}-2`, '!', '~'.repeat(128)]);
// Many ids against a small limit: evictions take entries out of the index all the time.
const id = fc.oneof(fc.constantFrom(...ids), fc.nat({ max: 300 }).map((i) => `n-${i}`));
const outcome = fc.constantFrom(IN_FLIGHT, 0, 1, 5);
const op = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('remember' as const), id, outcome, dt: fc.nat({ max: 30 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('settle' as const), id, outcome: fc.constantFrom(0, 1, 5) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('lookup' as const), id }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('wait' as const), id, generation: fc.nat({ max: 9 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('expire' as const), dt: fc.nat({ max: 200 }) }) },
);

/** The ring behind the cache's interface (the cache keeps the waiting duplicates; here the adapter does). */
class RingAsCache {
  readonly ring: DuplicateRing;
  readonly waiting = new Map<string, number>();
  constructor(limit: number, windowMs: number) {
    this.ring = new DuplicateRing(limit, windowMs);
  }
  get size(): number {
    return this.ring.size;
  }
  lookup(id: string): number | undefined {
    return this.ring.lookup(id);
  }
  expiresAt(id: string): number | undefined {
    return this.ring.expiresAt(id);
  }
  remember(id: string, now: number, outcome: number): number {
    return this.ring.remember(id, now, outcome, this.waiting);
  }
  settle(id: string, outcome: number): number {
    this.ring.settle(id, outcome);
    const w = this.waiting.get(id);
    if (w === undefined) return -1;
    this.waiting.delete(id);
    return w;
  }
  wait(id: string, generation: number): void {
    this.waiting.set(id, generation);
  }
  expire(now: number): number {
    return this.ring.expire(now, this.waiting);
  }
  entries(): IterableIterator<[string, number, number]> {
    return this.ring.entries();
  }
}

type Cache = Pick<DuplicateCache, 'size' | 'lookup' | 'expiresAt' | 'remember' | 'settle' | 'wait' | 'expire' | 'entries'>;

function matchesReference(make: (limit: number, windowMs: number) => Cache, maxLimit: number, ops = op): void {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: maxLimit }), fc.integer({ min: 1, max: 300 }), fc.array(ops, { maxLength: 400 }), (limit, windowMs, ops) => {
      const cache = make(limit, windowMs);
      const ref = new Reference(limit, windowMs);
      let now = 1_000;
      for (const o of ops) {
        switch (o.kind) {
          case 'remember':
            now += o.dt;
            assert.equal(cache.remember(o.id, now, o.outcome), ref.remember(o.id, now, o.outcome));
            break;
          case 'settle':
            assert.equal(cache.settle(o.id, o.outcome), ref.settle(o.id, o.outcome));
            break;
          case 'lookup':
            assert.equal(cache.lookup(o.id), ref.map.get(o.id)?.outcome);
            assert.equal(cache.expiresAt(o.id), ref.map.get(o.id)?.expires);
            break;
          case 'wait':
            cache.wait(o.id, o.generation);
            ref.waiting.set(o.id, o.generation);
            break;
          case 'expire':
            now += o.dt;
            assert.equal(cache.expire(now), ref.expire(now));
            break;
        }
        assert.equal(cache.size, ref.map.size);
      }
      assert.deepEqual([...cache.entries()], ref.entries());
    }),
    { numRuns: 1_000 },
  );
}

test('the duplicate cache answers as the reference for any sequence of operations, in its Map form and after it moved to the ring', () => {
  matchesReference((limit, windowMs) => new DuplicateCache(limit, windowMs), 200);
});

test('the ring alone answers as the reference for any sequence of operations', () => {
  matchesReference((limit, windowMs) => new RingAsCache(limit, windowMs), 40);
});

// Ids whose home in the ring's first index (256 positions while the ring has 128 slots) is
// within four of its end: their runs of linear probing wrap around it, and each removal
// moves entries back across the wrap (deletion by backward shift).
const wrapping: string[] = [];
for (let i = 0; wrapping.length < 48; i++) {
  const home = hashOf(`w-${i}`) & 255;
  if (home >= 252 || home <= 3) wrapping.push(`w-${i}`);
}
const wrappingOp = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('remember' as const), id: fc.constantFrom(...wrapping), outcome, dt: fc.nat({ max: 30 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('settle' as const), id: fc.constantFrom(...wrapping), outcome: fc.constantFrom(0, 1, 5) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('lookup' as const), id: fc.constantFrom(...wrapping) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('expire' as const), dt: fc.nat({ max: 200 }) }) },
);

test('ids whose probe runs wrap around the end of the index are found after any removals (backward shift across the wrap)', () => {
  matchesReference((limit, windowMs) => new RingAsCache(limit, windowMs), 40, wrappingOp);
});

test('replacing an entry again and again among evictions keeps only the new one', () => {
  const cache = new RingAsCache(8, 1_000);
  const ref = new Reference(8, 1_000);
  for (let i = 0; i < 2_000; i++) {
    const id = i % 3 === 0 ? 'again' : `t-${i}`; // 'again' is replaced every third message, the others evict
    assert.equal(cache.remember(id, i, 0), ref.remember(id, i, 0));
    assert.equal(cache.lookup('again'), ref.map.get('again')?.outcome, `after message ${i}`);
  }
  assert.deepEqual([...cache.entries()], ref.entries());
});

test('a cache that grows to thousands of entries and is emptied again keeps answering', () => {
  const cache = new DuplicateCache(10_000, 1_000);
  for (let i = 0; i < 25_000; i++) cache.remember(`id-${i}`, i, 0);
  assert.equal(cache.size, 10_000);
  assert.equal(cache.lookup('id-14999'), undefined);
  assert.equal(cache.lookup('id-15000'), 0);
  assert.equal(cache.lookup('id-24999'), 0);
  assert.equal(cache.expire(24_500), 1_499); // taken after 23,500 (expiring after 24,500) stay: 23,501 to 24,999
  assert.equal(cache.expire(1e9), 0);
  assert.equal(cache.lookup('id-24999'), undefined);
});

// As a session uses it: messages are taken in flight and settle mostly in the order they
// were taken (the ring tries the entry after the last one settled first), with some
// settled out of order, some never, ids taken again, and the ring growing and wrapping.
const flowOp = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('take' as const), id: fc.nat({ max: 400 }).map((i) => `f-${i}`), dt: fc.nat({ max: 5 }) }) },
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('settleNext' as const), skip: fc.constantFrom(0, 0, 0, 0, 1, 2), outcome: fc.constantFrom(0, 0, 1) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('expire' as const), dt: fc.nat({ max: 100 }) }) },
);

test('messages settled in the order they were taken (and sometimes not) answer as the reference', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 300 }), fc.array(flowOp, { maxLength: 600 }), (limit, ops) => {
      const cache = new RingAsCache(limit, 50);
      const ref = new Reference(limit, 50);
      const inFlight: string[] = [];
      let now = 1_000;
      for (const o of ops) {
        if (o.kind === 'take') {
          now += o.dt;
          assert.equal(cache.remember(o.id, now, IN_FLIGHT), ref.remember(o.id, now, IN_FLIGHT));
          inFlight.push(o.id);
        } else if (o.kind === 'settleNext') {
          const [id] = inFlight.splice(Math.min(o.skip, inFlight.length - 1), 1);
          if (id !== undefined) assert.equal(cache.settle(id, o.outcome), ref.settle(id, o.outcome));
        } else {
          now += o.dt;
          assert.equal(cache.expire(now), ref.expire(now));
        }
        assert.equal(cache.size, ref.map.size);
      }
      for (const [id, e] of ref.map) assert.equal(cache.lookup(id), e.outcome, id);
      assert.deepEqual([...cache.entries()], ref.entries());
    }),
    { numRuns: 500 },
  );
});
