import { describe, expect, it } from 'vitest';
import { clientOf, emailKey, QueryCharges, TenantPlans } from '#core/rate-limits';
import { drawTokens, formatRateLimit, parseRateLimit, type RateLimit, retryAfterSeconds } from '#core/token-bucket';
import { BUCKET_CASES } from '../support/bucket-cases.ts';
import { MemoryBuckets } from '#adapters/redis-rate-limiter';
import { SlicedRateLimiter } from '#adapters/sliced-rate-limiter';

describe('token bucket arithmetic', () => {
  it.each(BUCKET_CASES)('%s', (_label, state, limit, want, now, expected, debt) => {
    const draw = drawTokens(state, limit, want, now, debt);
    expect({ granted: draw.granted, waitMs: draw.waitMs }).toEqual({ granted: expected.granted, waitMs: expected.waitMs });
    expect(draw.state.tokens).toBeCloseTo(expected.tokens, 9);
    expect(draw.state.atMs).toBe(now);
  });

  it.each([
    [1, 1],
    [999, 1],
    [1000, 1],
    [1001, 2],
    [720_000, 720],
  ])('answers a wait of %i ms as Retry-After %i s', (ms, seconds) => expect(retryAfterSeconds(ms)).toBe(seconds));
});

describe('rate limit settings', () => {
  it.each([
    ['100/s burst 200', { perSecond: 100, burst: 200 }],
    ['100/s', { perSecond: 100, burst: 100 }],
    ['30/60s burst 10', { perSecond: 0.5, burst: 10 }],
    ['5/3600s', { perSecond: 5 / 3600, burst: 5 }],
    [' 2.5 / 1s  burst 3 ', { perSecond: 2.5, burst: 3 }],
  ])('reads %j', (spec, limit) => expect(parseRateLimit(spec)).toEqual(limit));

  it.each(['', '100', '0/s', '10/0s', '10/s burst 0', '-1/s', '10/s burst 2.5', '1e400/s', 'off', '10/s burst 10 extra', `${'9'.repeat(400)}/s`])(
    'refuses %j',
    (spec) => expect(parseRateLimit(spec)).toBeUndefined(),
  );

  it.each(['100/s burst 200', '30/3600s burst 10', '0.5/s burst 1'])('writes %j back in a form it reads as the same limit', (spec) => {
    const limit = parseRateLimit(spec)!;
    expect(parseRateLimit(formatRateLimit(limit))!.perSecond).toBeCloseTo(limit.perSecond, 9);
  });
});

describe('per-client keys', () => {
  it.each([
    ['203.0.113.7', '203.0.113.7'],
    ['::ffff:203.0.113.7', '203.0.113.7'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['2001:db8:1:2:ffff::1', '2001:db8:1:2::/64'],
    ['2001:0DB8:0001:0002::9', '2001:db8:1:2::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
  ])('keys %s as %s', (ip, key) => expect(clientOf(ip)).toBe(key));

  it('keys emails by a digest, whatever their case', () => {
    expect(emailKey('Ada@Example.com')).toBe(emailKey('ada@example.com'));
    expect(emailKey('ada@example.com')).not.toContain('ada');
    expect(emailKey('b@example.com')).not.toBe(emailKey('ada@example.com'));
  });
});

describe('what /query charges after the fact', () => {
  const charged = () => {
    const calls: Array<[string, number]> = [];
    const rates = { take: async () => ({ allowed: true as const }), peek: async () => ({ allowed: true as const }), reset: async () => undefined, charge: async (key: string, _l: RateLimit, tokens: number) => void calls.push([key, tokens]) };
    const plans = new TenantPlans({ getTenantRateLimits: async () => ({}) }, { query: { perSecond: 100, burst: 200 }, migrate: { perSecond: 1, burst: 1 }, dashboard: { perSecond: 1, burst: 1 } }, 60_000);
    return { calls, charges: new QueryCharges({ tenantRates: rates, plans }, { freeMs: 100, msPerToken: 10, tooBigTokens: 20 }) };
  };
  const settle = () => new Promise((r) => setTimeout(r, 10));

  it.each([
    [2, 0],
    [100, 0],
    [109, 0],
    [110, 1],
    [1000, 90],
    [5000, 490],
  ])('charges a connection held %i ms %i tokens beyond the request’s own', async (ms, tokens) => {
    const { calls, charges } = charged();
    charges.connectionHeld('t1', ms);
    await settle();
    expect(calls).toEqual(tokens ? [['query:t1', tokens]] : []);
  });

  it('charges a plan refused as too big to its tenant’s /query bucket', async () => {
    const { calls, charges } = charged();
    charges.refusedTooBig('t2');
    await settle();
    expect(calls).toEqual([['query:t2', 20]]);
  });
});

describe('local slices of a shared bucket', () => {
  const clock = () => {
    let now = 1_000_000;
    return { now: () => now, advance: (ms: number) => void (now += ms) };
  };
  const counting = (store: MemoryBuckets) => {
    const calls: number[] = [];
    return {
      calls,
      store: { draw: (k: string, l: RateLimit, w: number, debt?: number) => (calls.push(w), store.draw(k, l, w, debt)), reset: (k: string) => store.reset(k) },
    };
  };

  it('draws one slice for many requests, and never more than the shared bucket holds', async () => {
    const c = clock();
    const { store, calls } = counting(new MemoryBuckets(100, c.now));
    const limiter = new SlicedRateLimiter(store, { sliceSeconds: 10_000, sliceMax: 5, now: c.now });
    const limit = { perSecond: 0.001, burst: 12 };
    const outcomes = [];
    for (let i = 0; i < 14; i++) outcomes.push((await limiter.take('q:t1', limit)).allowed);
    expect(outcomes).toEqual([...Array(12).fill(true), false, false]);
    // Slices of 5, 5, then the 2 left; the 13th request's draw finds none, the 14th is refused from memory.
    expect(calls).toEqual([5, 5, 5, 5]);
  });

  it.each([
    [{ perSecond: 100, burst: 200 }, 0.1, 20, 10],
    [{ perSecond: 100_000, burst: 100_000 }, 0.1, 20, 20],
    [{ perSecond: 100, burst: 4 }, 0.1, 20, 4],
    [{ perSecond: 1, burst: 10 }, 0.1, 20, 1],
  ])('sizes the slice of %j at %s s (max %i) as %i tokens', (limit, sliceSeconds, sliceMax, slice) => {
    expect(new SlicedRateLimiter(new MemoryBuckets(), { sliceSeconds, sliceMax }).sliceOf(limit)).toBe(slice);
  });

  it('shares one bucket between two processes: together they pass the burst, not twice it', async () => {
    const c = clock();
    const shared = new MemoryBuckets(100, c.now);
    const a = new SlicedRateLimiter(shared, { sliceSeconds: 10_000, sliceMax: 5, now: c.now });
    const b = new SlicedRateLimiter(shared, { sliceSeconds: 10_000, sliceMax: 5, now: c.now });
    const limit = { perSecond: 0.001, burst: 20 };
    expect((await a.take('q:t', limit)).allowed).toBe(true); // a holds 4 more
    let passedB = 0;
    while ((await b.take('q:t', limit)).allowed) passedB++;
    expect(passedB).toBe(15); // refused while a still holds 4 (≤ slice − 1)
    let passedA = 0;
    while ((await a.take('q:t', limit)).allowed) passedA++;
    expect(1 + passedB + passedA).toBe(20);
  });

  it('drops held tokens after the hold time, and answers a refusal from memory until a token is due', async () => {
    const c = clock();
    const { store, calls } = counting(new MemoryBuckets(100, c.now));
    const limiter = new SlicedRateLimiter(store, { sliceSeconds: 1, sliceMax: 5, holdMs: 1000, now: c.now });
    const limit = { perSecond: 5, burst: 5 };
    expect((await limiter.take('k', limit)).allowed).toBe(true); // draws 5, holds 4
    c.advance(1500);
    expect((await limiter.take('k', limit)).allowed).toBe(true); // the 4 held expired: a new draw
    expect(calls).toHaveLength(2);
    for (let i = 0; i < 4; i++) await limiter.take('k', limit);
    const refused = await limiter.take('k', limit);
    expect(refused).toEqual({ allowed: false, retryAfterSeconds: 1 });
    const callsAtRefusal = calls.length;
    for (let i = 0; i < 50; i++) expect((await limiter.take('k', limit)).allowed).toBe(false);
    expect(calls).toHaveLength(callsAtRefusal); // a flood past the limit asks the store nothing
    c.advance(250);
    expect((await limiter.take('k', limit)).allowed).toBe(true);
  });

  it('makes concurrent requests of one process share a draw', async () => {
    const { store, calls } = counting(new MemoryBuckets());
    const limiter = new SlicedRateLimiter(store, { sliceSeconds: 1, sliceMax: 10 });
    const results = await Promise.all(Array.from({ length: 10 }, () => limiter.take('k', { perSecond: 10, burst: 10 })));
    expect(results.every((r) => r.allowed)).toBe(true);
    expect(calls).toEqual([10]);
  });

  it('pays a charge from the held slice without asking the store', async () => {
    const c = clock();
    const { store, calls } = counting(new MemoryBuckets(100, c.now));
    const limiter = new SlicedRateLimiter(store, { sliceSeconds: 1, sliceMax: 10, now: c.now });
    const limit = { perSecond: 10, burst: 10 };
    await limiter.take('k', limit); // draws 10, holds 9
    await limiter.charge('k', limit, 5);
    expect(calls).toEqual([10]);
    const passed = [];
    for (let i = 0; i < 5; i++) passed.push((await limiter.take('k', limit)).allowed);
    expect(passed).toEqual([true, true, true, true, false]); // 9 − 5 held, then the shared bucket is empty
  });

  it('puts a charge past the held slice into the shared bucket as debt, refused in every process until paid', async () => {
    const c = clock();
    const shared = new MemoryBuckets(100, c.now);
    const a = new SlicedRateLimiter(shared, { sliceSeconds: 0.1, sliceMax: 10, now: c.now });
    const b = new SlicedRateLimiter(shared, { sliceSeconds: 0.1, sliceMax: 10, now: c.now });
    const limit = { perSecond: 100, burst: 200 };
    await a.take('k', limit); // a holds 9; the shared bucket 190
    await a.charge('k', limit, 500); // 9 from the slice, 491 as debt: 190 − 491 = −301
    expect(await a.take('k', limit)).toEqual({ allowed: false, retryAfterSeconds: 4 });
    expect(await b.take('k', limit)).toEqual({ allowed: false, retryAfterSeconds: 4 });
    c.advance(3000);
    expect((await b.take('k', limit)).allowed).toBe(false); // −1 after 3 s
    c.advance(1100);
    expect((await b.take('k', limit)).allowed).toBe(true);
    expect((await a.take('k', limit)).allowed).toBe(true);
  });

  it('charges nothing for no tokens, and a failing store fails no charge', async () => {
    const failing = new SlicedRateLimiter({ draw: () => Promise.reject(new Error('down')), reset: async () => undefined }, { sliceSeconds: 1, sliceMax: 10 });
    await expect(failing.charge('k', { perSecond: 1, burst: 1 }, 0)).resolves.toBeUndefined();
  });

  it('lets a request through when the store fails unexpectedly, without looping', async () => {
    const limiter = new SlicedRateLimiter({ draw: () => Promise.reject(new Error('bug')), reset: async () => undefined }, { sliceSeconds: 1, sliceMax: 10 });
    expect(await limiter.take('k', { perSecond: 1, burst: 1 })).toEqual({ allowed: true });
  });
});
