/**
 * The admission building blocks with a clock moved by hand: the token bucket
 * (take / waitMs / charge), keyed buckets and their bound, the Retry-After spread,
 * the handshake queue (its bound per owner, the measured rate behind its
 * Retry-After), the upstream gate (concurrency, rate, FIFO, bounded queue, expiry), the
 * clientId registry's three policies, the nonce cache's generations and bound,
 * and per-source accounting per owner.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TokenBucket } from '../../src/admission/token-bucket.js';
import { KeyedBuckets } from '../../src/admission/keyed-buckets.js';
import { RetryAfterSpread } from '../../src/admission/retry-after.js';
import { HandshakeQueue } from '../../src/admission/handshake-queue.js';
import { UpstreamGate } from '../../src/admission/upstream-gate.js';
import { ClientIdRegistry } from '../../src/admission/client-id-registry.js';
import { SourceAdmission } from '../../src/admission/source-admission.js';
import { NonceCache } from '../../src/security/nonce-cache.js';
import { parseConfig } from '../../src/config/load.js';

function clock(start = 1_000): { now: () => number; advance(ms: number): void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

describe('TokenBucket', () => {
  it('starts full, takes up to burst, refills at the rate, never above burst', () => {
    const c = clock();
    const b = new TokenBucket({ ratePerSecond: 10, burst: 3, now: c.now });
    assert.equal(b.take(), true);
    assert.equal(b.take(2), true);
    assert.equal(b.take(), false, 'empty');
    assert.equal(b.waitMs(), 100);
    c.advance(99);
    assert.equal(b.take(), false);
    c.advance(1);
    assert.equal(b.take(), true);
    c.advance(60_000);
    assert.equal(b.tokens(), 3, 'capped at burst');
    assert.equal(b.waitMs(4), Infinity, 'more than burst never fits');
  });

  it('take is all or nothing', () => {
    const c = clock();
    const b = new TokenBucket({ ratePerSecond: 1, burst: 5, initial: 2, now: c.now });
    assert.equal(b.take(3), false);
    assert.equal(b.tokens(), 2);
  });

  it('charge goes into debt and says how long to pause', () => {
    const c = clock();
    const b = new TokenBucket({ ratePerSecond: 1000, burst: 1000, now: c.now });
    assert.equal(b.charge(400), 0);
    assert.equal(b.charge(1600), 1000, '1000 tokens of debt at 1000/s = 1 s');
    c.advance(500);
    assert.equal(b.tokens(), -500);
    c.advance(500);
    assert.equal(b.charge(0), 0);
  });

  it('rate 0 is unlimited', () => {
    const b = new TokenBucket({ ratePerSecond: 0, burst: 1 });
    for (let i = 0; i < 1000; i++) assert.equal(b.take(), true);
    assert.equal(b.charge(1e9), 0);
  });

  it('rejects nonsense', () => {
    assert.throws(() => new TokenBucket({ ratePerSecond: -1 }), RangeError);
    assert.throws(() => new TokenBucket({ ratePerSecond: 1, burst: 0 }), RangeError);
  });
});

describe('KeyedBuckets', () => {
  it('limits each key on its own', () => {
    const c = clock();
    const k = new KeyedBuckets({ ratePerSecond: 1, burst: 2, maxKeys: 10, now: c.now });
    assert.equal(k.take('a'), true);
    assert.equal(k.take('a'), true);
    assert.equal(k.take('a'), false);
    assert.equal(k.take('b'), true);
    assert.equal(k.waitMs('a'), 1000);
  });

  it('is bounded: refilled buckets are dropped first, else the oldest, counted', () => {
    const c = clock();
    const k = new KeyedBuckets({ ratePerSecond: 1, burst: 1, maxKeys: 3, now: c.now });
    for (const key of ['a', 'b', 'c']) assert.equal(k.take(key), true);
    c.advance(1_000); // all refilled: dropping them loses nothing
    assert.equal(k.take('d'), true);
    assert.equal(k.size, 1);
    assert.equal(k.evicted, 0);
    k.take('e');
    k.take('f');
    assert.equal(k.size, 3);
    assert.equal(k.take('g'), true, 'room is made');
    assert.equal(k.size, 3);
    assert.equal(k.evicted, 1, 'an empty bucket had to go');
    assert.equal(k.take('d'), true, 'the evicted (oldest) key starts afresh');
  });

  it('sweep (the owner\'s tick) forgets refilled buckets only, at most once a second', () => {
    const c = clock();
    const k = new KeyedBuckets({ ratePerSecond: 2, burst: 2, maxKeys: 100, now: c.now });
    k.take('a');
    k.take('b', 2);
    c.advance(500); // a refilled (1 token at 2/s), b has 1 of 2
    k.sweep();
    assert.equal(k.size, 1, 'a is gone, b kept');
    assert.equal(k.take('b'), true);
    assert.equal(k.take('b'), false, 'b kept its state');
    c.advance(2_000);
    k.sweep();
    assert.equal(k.size, 0, 'b refilled: forgotten');
    k.take('c');
    c.advance(600);
    k.sweep();
    assert.equal(k.size, 1, 'no second sweep within a second of the last');
    c.advance(400);
    k.sweep();
    assert.equal(k.size, 0);
    assert.equal(k.evicted, 0);
  });
});

describe('RetryAfterSpread', () => {
  it('spreads over the backlog / rate, within [1, max]', () => {
    const c = clock();
    let r = 0.999;
    const s = new RetryAfterSpread({ ratePerSecond: 100, maxSeconds: 30, now: c.now, random: () => r });
    assert.equal(s.next(), 1, 'a single refusal: 1 s');
    for (let i = 0; i < 998; i++) s.next();
    assert.equal(s.next(), 10, '1000 refusals at 100/s: up to 10 s');
    r = 0;
    assert.equal(s.next(), 1, 'the low end is 1 s');
    r = 0.999;
    for (let i = 0; i < 10_000; i++) s.next();
    assert.equal(s.next(), 30, 'capped at maxSeconds');
    c.advance(2_500);
    assert.equal(s.next(), 1, 'the backlog is forgotten after quiet seconds');
  });
});

describe('HandshakeQueue', () => {
  it('refuses an owner at its bound (others unaffected), frees on taken, forgets a dead owner', () => {
    const c = clock();
    const q = new HandshakeQueue({ maxPerOwner: 2, retryAfterMaxSeconds: 60, now: c.now, random: () => 0 });
    q.sent(0);
    q.sent(0);
    assert.equal(q.check(1), undefined, 'another owner has room');
    const refused = q.check(0);
    assert.equal(refused?.code, 'STRATIX_ERR_OVERLOADED');
    assert.equal(refused?.status, 503);
    assert.equal(refused?.headers['Retry-After'], '1');
    assert.equal(q.queued, 2);
    q.taken(0, 1);
    assert.equal(q.check(0), undefined, 'room again after one was taken');
    q.taken(0, 5);
    assert.equal(q.queued, 0, 'more taken than sent does not go below zero');
    q.sent(1);
    q.sent(1);
    q.ownerGone(1);
    assert.equal(q.queued, 0);
    assert.equal(q.check(1), undefined);
    assert.equal(new HandshakeQueue({ maxPerOwner: 0, retryAfterMaxSeconds: 60, now: c.now }).check(0), undefined, '0 = no bound');
  });

  it('measures the rate handshakes are taken at, and spreads Retry-After over backlog / that rate', () => {
    const c = clock();
    const q = new HandshakeQueue({ maxPerOwner: 1, retryAfterMaxSeconds: 60, now: c.now, random: () => 0.999 });
    for (let i = 0; i < 50; i++) {
      q.sent(0);
      q.taken(0, 1);
    }
    assert.equal(q.ratePerSecond, 50, 'this second so far');
    c.advance(1_000);
    assert.equal(q.ratePerSecond, 50, 'the last full second');
    q.sent(0);
    let last = '';
    for (let i = 0; i < 500; i++) last = q.check(0)!.headers['Retry-After']!;
    assert.equal(last, '10', '500 refused at a measured 50/s: up to 10 s');
    c.advance(2_000);
    assert.equal(q.ratePerSecond, 0, 'nothing taken for two seconds');
  });
});

describe('UpstreamGate', () => {
  function gate(opts: { maxConcurrent?: number; rate?: number; burst?: number; maxWaiting?: number }) {
    const c = clock();
    const started: string[] = [];
    const g = new UpstreamGate<{ id: string }>(
      { maxConcurrent: opts.maxConcurrent ?? 0, ratePerSecond: opts.rate ?? 0, burst: opts.burst ?? 1, maxWaiting: opts.maxWaiting ?? 100, now: c.now },
      (h) => started.push(h.id),
    );
    return { g, c, started };
  }

  it('at most maxConcurrent in flight per upstream; the rest start in order as slots free', () => {
    const { g, started } = gate({ maxConcurrent: 2 });
    const h = ['a', 'b', 'c', 'd'].map((id) => ({ id }));
    assert.deepEqual(h.map((x) => g.request('up1', x)), [true, true, false, false]);
    assert.equal(g.inFlight, 2);
    assert.equal(g.waiting, 2);
    assert.equal(g.request('up2', { id: 'other' }), true, 'another upstream has its own lane');
    g.done(h[0]!);
    assert.deepEqual(started, ['c']);
    g.done(h[2]!);
    assert.deepEqual(started, ['c', 'd']);
    g.done(h[0]!); // idempotent
    assert.equal(g.inFlight, 3);
  });

  it('a holder that leaves while waiting is skipped', () => {
    const { g, started } = gate({ maxConcurrent: 1 });
    const [a, b, c] = ['a', 'b', 'c'].map((id) => ({ id }));
    g.request('u', a!);
    g.request('u', b!);
    g.request('u', c!);
    g.done(b!);
    assert.equal(g.waiting, 1);
    g.done(a!);
    assert.deepEqual(started, ['c']);
  });

  it('connects per second: the bucket paces starts (the timer wakes the queue)', async () => {
    const { g, c, started } = gate({ rate: 50, burst: 1 });
    const hs = Array.from({ length: 3 }, (_, i) => ({ id: String(i) }));
    assert.deepEqual(hs.map((x) => g.request('u', x)), [true, false, false]);
    // The gate's timer fires after 20 ms of real time; the fake clock says whether a token is there.
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(started, [], 'no time passed on the clock: no token');
    c.advance(20);
    g.request('u', { id: 'late' }); // any activity pumps too, FIFO: '1' goes first
    assert.deepEqual(started, ['1']);
    c.advance(20);
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(started, ['1', '2'], 'the timer woke the queue');
    g.close();
  });

  it('canQueue is false at maxWaiting; expire hands out the late ones', () => {
    const { g, c } = gate({ maxConcurrent: 1, maxWaiting: 2 });
    const hs = Array.from({ length: 3 }, (_, i) => ({ id: String(i) }));
    for (const x of hs) g.request('u', x);
    assert.equal(g.canQueue('u'), false);
    assert.equal(g.canQueue('v'), true);
    c.advance(5_000);
    const late: string[] = [];
    g.expire(5_000, (x) => {
      late.push(x.id);
      g.done(x);
    });
    assert.deepEqual(late, ['1', '2'], 'only the waiting ones, not the one in flight');
    assert.equal(g.waiting, 0);
    assert.equal(g.canQueue('u'), true);
  });

  it('forgets idle lanes only once their bucket refilled', () => {
    const { g, c } = gate({ rate: 1, burst: 1 });
    const x = { id: 'x' };
    g.request('u', x);
    g.done(x);
    g.expire(1_000, () => {});
    assert.equal(g.lanes, 1, 'bucket still empty: the lane keeps its rate');
    c.advance(1_000);
    g.expire(1_000, () => {});
    assert.equal(g.lanes, 0);
  });
});

describe('ClientIdRegistry', () => {
  it('takeover: decided, then carried out once; the previous holder then no longer counts', () => {
    const r = new ClientIdRegistry<{ n: number }>('takeover');
    const a = { n: 1 };
    const b = { n: 2 };
    assert.deepEqual(r.decide('c1'), { kind: 'admit' });
    r.register('c1', a);
    const d = r.decide('c1');
    assert.equal(d.kind, 'takeover');
    assert.deepEqual(d.kind === 'takeover' ? d.previous : [], [a]);
    r.register('c1', b);
    // Decided, not carried out: a still holds (the newcomer has not shown it is alive).
    assert.deepEqual(r.holders('c1'), [a, b]);
    assert.equal(r.takeovers, 0);
    assert.deepEqual(r.takeOver('c1', [a]), [a]);
    assert.deepEqual(r.takeOver('c1', [a]), [], 'a holder is taken over once');
    assert.deepEqual(r.holders('c1'), [b]);
    r.unregister('c1', a);
    assert.deepEqual(r.holders('c1'), [b]);
    r.unregister('c1', b);
    assert.equal(r.size, 0);
    assert.equal(r.takeovers, 1);
  });

  it('reject: a held clientId is refused until its holder leaves', () => {
    const r = new ClientIdRegistry<object>('reject');
    const a = {};
    r.register('c1', a);
    assert.equal(r.decide('c1').kind, 'reject');
    assert.equal(r.decide('c2').kind, 'admit');
    r.unregister('c1', a);
    assert.equal(r.decide('c1').kind, 'admit');
    assert.equal(r.rejections, 1);
  });

  it('allow: everything is admitted and nothing is held', () => {
    const r = new ClientIdRegistry<object>('allow');
    r.register('c1', {});
    r.register('c1', {});
    assert.equal(r.decide('c1').kind, 'admit');
    assert.equal(r.size, 0);
  });
});

describe('NonceCache', () => {
  it('a nonce is accepted once, and remembered for at least 2 x skew', () => {
    const c = clock();
    const n = new NonceCache({ skewMs: 1_000, maxEntries: 100, now: c.now });
    assert.equal(n.add('x'), 'fresh');
    assert.equal(n.add('x'), 'replayed');
    c.advance(1_999);
    assert.equal(n.add('x'), 'replayed');
    c.advance(1); // rotation: x moves to the previous generation
    assert.equal(n.add('x'), 'replayed');
    c.advance(2_000); // second rotation: x is dropped (held 4 s >= 2 x skew)
    assert.equal(n.add('x'), 'fresh');
  });

  it('refuses rather than forgets when full', () => {
    const c = clock();
    const n = new NonceCache({ skewMs: 1_000, maxEntries: 2, now: c.now });
    assert.equal(n.add('a'), 'fresh');
    assert.equal(n.add('b'), 'fresh');
    assert.equal(n.add('c'), 'full');
    assert.equal(n.add('a'), 'replayed', 'a replay is still a replay');
    c.advance(4_000);
    assert.equal(n.add('c'), 'fresh');
  });
});

describe('SourceAdmission', () => {
  const cfg = (admission: Record<string, unknown>) => parseConfig({ admission }).admission;

  it('per-source handshake rate, then the connection cap, then the instance rate', () => {
    const c = clock();
    const s = new SourceAdmission(cfg({ source: { handshakesPerSecond: 1, handshakeBurst: 2, maxConnections: 3 }, instance: { handshakesPerSecond: 1, handshakeBurst: 3 } }), { now: c.now, random: () => 0 });
    assert.equal(s.check('10.0.0.1'), undefined);
    assert.equal(s.check('10.0.0.1'), undefined);
    const r = s.check('10.0.0.1');
    assert.equal(r?.code, 'STRATIX_ERR_SOURCE_RATE_LIMITED');
    assert.equal(r?.headers['Retry-After'], '1');
    assert.equal(s.check('10.0.0.2'), undefined);
    const i = s.check('10.0.0.3');
    assert.equal(i?.code, 'STRATIX_ERR_ADMISSION_LIMITED');
    assert.equal(i?.status, 503);
    assert.match(i?.headers['Retry-After'] ?? '', /^[1-9]\d*$/);
  });

  it('counts open connections per owner and releases an owner at once', () => {
    const s = new SourceAdmission(cfg({ source: { maxConnections: 2, handshakesPerSecond: 0 }, instance: { handshakesPerSecond: 0 } }));
    s.acquire('a', 0);
    s.acquire('a', 1);
    assert.equal(s.check('a')?.code, 'STRATIX_ERR_SOURCE_CONNECTIONS');
    s.release('a', 0);
    assert.equal(s.check('a'), undefined);
    s.release('a', 0); // not held by owner 0 any more: ignored
    assert.equal(s.connections('a'), 1);
    s.acquire('b', 1);
    s.releaseOwner(1);
    assert.equal(s.open, 0);
    assert.equal(s.sources, 0);
  });
});
