import type { RateLimit } from '#core/token-bucket';

/**
 * Token bucket cases: the unit test runs them through drawTokens, the integration test through the
 * Redis script. [label, state, limit, want, now, expected, debt?]
 */
export const BUCKET_CASES: Array<[string, { tokens: number; atMs: number } | undefined, RateLimit, number, number, { granted: number; waitMs: number; tokens: number }, number?]> = [
  ['a missing bucket is full', undefined, { perSecond: 10, burst: 20 }, 1, 1000, { granted: 1, waitMs: 0, tokens: 19 }],
  ['a slice takes up to what it wants', undefined, { perSecond: 10, burst: 20 }, 8, 1000, { granted: 8, waitMs: 0, tokens: 12 }],
  ['a slice takes only whole tokens that are there', { tokens: 3.5, atMs: 1000 }, { perSecond: 10, burst: 20 }, 8, 1000, { granted: 3, waitMs: 0, tokens: 0.5 }],
  ['refills for the time passed', { tokens: 0, atMs: 1000 }, { perSecond: 10, burst: 20 }, 5, 1300, { granted: 3, waitMs: 0, tokens: 0 }],
  ['refills no further than the burst', { tokens: 0, atMs: 0 }, { perSecond: 10, burst: 20 }, 100, 3_600_000, { granted: 20, waitMs: 0, tokens: 0 }],
  ['an empty bucket says when a token will be there', { tokens: 0.25, atMs: 1000 }, { perSecond: 10, burst: 20 }, 1, 1000, { granted: 0, waitMs: 75, tokens: 0.25 }],
  ['a slow rate waits long', { tokens: 0, atMs: 1000 }, { perSecond: 5 / 3600, burst: 5 }, 1, 1000, { granted: 0, waitMs: 720_000, tokens: 0 }],
  ['a clock gone backwards refills nothing', { tokens: 0.5, atMs: 5000 }, { perSecond: 10, burst: 20 }, 1, 4000, { granted: 0, waitMs: 50, tokens: 0.5 }],
  ['a peek takes nothing from a full bucket', undefined, { perSecond: 1, burst: 3 }, 0, 1000, { granted: 0, waitMs: 0, tokens: 3 }],
  ['a peek at an empty bucket waits', { tokens: 0, atMs: 1000 }, { perSecond: 1, burst: 3 }, 0, 1500, { granted: 0, waitMs: 500, tokens: 0.5 }],
  ['a debt the bucket covers leaves the rest', { tokens: 50, atMs: 1000 }, { perSecond: 100, burst: 200 }, 0, 1000, { granted: 0, waitMs: 0, tokens: 20 }, 30],
  ['a debt past the bucket goes below zero and waits it off', { tokens: 50, atMs: 1000 }, { perSecond: 100, burst: 200 }, 0, 1000, { granted: 0, waitMs: 4510, tokens: -450 }, 500],
  ['a debt is taken before the draw', undefined, { perSecond: 100, burst: 200 }, 10, 1000, { granted: 5, waitMs: 0, tokens: 0 }, 195],
  ['a debt refills for the time passed first', { tokens: -450, atMs: 1000 }, { perSecond: 100, burst: 200 }, 1, 3000, { granted: 0, waitMs: 2510, tokens: -250 }, 0],
  ['debt stops at a minute of the rate…', { tokens: -5900, atMs: 1000 }, { perSecond: 100, burst: 200 }, 0, 1000, { granted: 0, waitMs: 60_010, tokens: -6000 }, 1_000_000],
  ['…or at the burst, when that is more', { tokens: 0, atMs: 1000 }, { perSecond: 1 / 360, burst: 50 }, 0, 1000, { granted: 0, waitMs: 18_360_000, tokens: -50 }, 500],
];

