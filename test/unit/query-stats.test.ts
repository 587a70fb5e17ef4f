import { describe, expect, it } from 'vitest';
import type { QueryLogRecord } from '#core/ports';
import {
  BIN_FLOOR_MS,
  binOf,
  binValue,
  bucketKey,
  contributionOf,
  PERCENTILE_RELATIVE_ERROR,
  statsReadPlan,
  summarizeBuckets,
  tally,
} from '#core/query-stats';

type Sample = Pick<QueryLogRecord, 'statement_type' | 'duration_ms' | 'outcome'>;

/** The bucket items L1 would write for these samples, all in one bucket. */
function bucketOf(samples: Sample[]): Record<string, number> {
  const item: Record<string, number> = {};
  for (const s of samples) for (const attr of contributionOf(s)) item[attr] = (item[attr] ?? 0) + 1;
  return item;
}

const nearestRank = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.ceil((p / 100) * xs.length) - 1]!;
const within = (reported: number | null, exact: number) =>
  exact < BIN_FLOOR_MS ? reported === 0 : Math.abs(reported! - exact) <= PERCENTILE_RELATIVE_ERROR * exact * 1.001;

describe('latency histogram', () => {
  it.each([0, 0.004, 0.01, 0.0123, 1, 1.204, 7, 22, 999.9, 1000, 29_000, 86_400_000])('reports %d ms within one bin (±4.43%%)', (ms) => {
    expect(PERCENTILE_RELATIVE_ERROR).toBeLessThan(0.0445);
    expect(within(binValue(binOf(ms)), ms)).toBe(true);
  });

  it('orders bins by duration', () => {
    const durations = Array.from({ length: 2000 }, (_, i) => i ** 2.3 / 100);
    const bins = durations.map(binOf);
    expect(bins).toEqual([...bins].sort((a, b) => a - b));
    expect(binOf(86_400_000)).toBeLessThan(300);
  });
});

describe('summarizeBuckets', () => {
  it('sums buckets into exact counts and errors, and p50/p95 within the documented precision', () => {
    const samples: Sample[] = [
      ...Array.from({ length: 200 }, (_, i) => ({ statement_type: 'SELECT' as const, duration_ms: (i * 37) % 191 + 0.5, outcome: i % 9 === 0 ? ('error' as const) : ('ok' as const) })),
      ...Array.from({ length: 7 }, (_, i) => ({ statement_type: 'DELETE' as const, duration_ms: 50 * (i + 1), outcome: 'error' as const })),
    ];
    // Spread over several buckets, as minutes and hours of one window are.
    const s = summarizeBuckets([bucketOf(samples.slice(0, 50)), bucketOf(samples.slice(50, 120)), bucketOf(samples.slice(120))]);
    for (const [type, group] of [['SELECT', samples.filter((x) => x.statement_type === 'SELECT')], ['DELETE', samples.filter((x) => x.statement_type === 'DELETE')], ['total', samples]] as const) {
      const got = type === 'total' ? s.total : s.by_statement_type[type]!;
      expect(got.count).toBe(group.length);
      expect(got.errors).toBe(group.filter((x) => x.outcome === 'error').length);
      const ds = group.map((x) => x.duration_ms);
      expect(within(got.p50_ms, nearestRank(ds, 50))).toBe(true);
      expect(within(got.p95_ms, nearestRank(ds, 95))).toBe(true);
    }
    expect(Object.keys(s.by_statement_type)).toEqual(['DELETE', 'SELECT']);
  });

  it('answers null percentiles and zero counts for no buckets', () => {
    expect(summarizeBuckets([])).toEqual({ total: { count: 0, errors: 0, p50_ms: null, p95_ms: null }, by_statement_type: {} });
  });
});

describe('statsReadPlan', () => {
  const at = (iso: string) => new Date(iso);
  it('reads raw records only when no full hour lies inside the window, from the unrounded since through now', () => {
    expect(statsReadPlan(at('2030-01-01T10:05:12.345Z'), at('2030-01-01T10:50:30.000Z'))).toEqual({
      raw: [['query#2030-01-01T10:05:12.345Z', 'query#2030-01-01T10:50:30.001Z']],
    });
    // since in the previous hour: the two partial hours are contiguous, one range.
    expect(statsReadPlan(at('2030-01-01T09:50:00.000Z'), at('2030-01-01T10:50:30.000Z'))).toEqual({
      raw: [['query#2030-01-01T09:50:00.000Z', 'query#2030-01-01T10:50:30.001Z']],
    });
  });

  it('reads hour buckets for the full hours of a long window, raw records for the partial hour at each edge', () => {
    expect(statsReadPlan(at('2030-01-01T07:50:00.500Z'), at('2030-01-02T10:20:10.000Z'))).toEqual({
      hours: ['stats#h#2030-01-01T08', 'stats#h#2030-01-02T09'],
      raw: [
        ['query#2030-01-01T07:50:00.500Z', 'query#2030-01-01T08:00:00.000Z'],
        ['query#2030-01-02T10:00:00.000Z', 'query#2030-01-02T10:20:10.001Z'],
      ],
    });
    // since on an hour boundary: that hour is full, no raw range before it.
    expect(statsReadPlan(at('2030-01-01T08:00:00.000Z'), at('2030-01-01T10:00:00.000Z'))).toEqual({
      hours: ['stats#h#2030-01-01T08', 'stats#h#2030-01-01T09'],
      raw: [['query#2030-01-01T10:00:00.000Z', 'query#2030-01-01T10:00:00.001Z']],
    });
  });

  it('reads at most 720 hour buckets and under 2 hours of raw records for 30 days', () => {
    const now = at('2030-02-01T10:20:10.000Z');
    const plan = statsReadPlan(new Date(now.getTime() - 30 * 86_400_000), now);
    const hours = (Date.parse(`${plan.hours![1].slice(8)}:00:00Z`) - Date.parse(`${plan.hours![0].slice(8)}:00:00Z`)) / 3_600_000 + 1;
    expect(hours).toBeLessThanOrEqual(720);
    const rawMs = plan.raw.reduce((sum, [from, to]) => sum + Date.parse(to.slice(6)) - Date.parse(from.slice(6)), 0);
    expect(rawMs).toBeLessThan(2 * 3_600_000);
  });

  it('names a record’s hour bucket after its UTC creation time', () => {
    expect(bucketKey('2030-01-01T07:50:59.999Z')).toBe('stats#h#2030-01-01T07');
  });
});

describe('tally', () => {
  it('merges raw samples into the same histogram as bucket items', () => {
    const samples: Sample[] = Array.from({ length: 30 }, (_, i) => ({ statement_type: 'UPDATE', duration_ms: i + 0.5, outcome: i % 3 ? 'ok' : 'error' }));
    const s = summarizeBuckets([bucketOf(samples.slice(0, 12)), tally(samples.slice(12))]);
    expect(s).toEqual(summarizeBuckets([bucketOf(samples)]));
    expect(s.total).toMatchObject({ count: 30, errors: 10 });
  });
});
