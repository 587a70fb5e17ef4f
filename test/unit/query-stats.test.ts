import { describe, expect, it } from 'vitest';
import type { QueryLogRecord } from '#core/ports';
import {
  BIN_FLOOR_MS,
  binOf,
  binValue,
  bucketKey,
  bucketRanges,
  contributionOf,
  PERCENTILE_RELATIVE_ERROR,
  summarizeBuckets,
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

describe('bucketRanges', () => {
  const at = (iso: string) => new Date(iso);
  it('reads minute items only within one hour boundary', () => {
    expect(bucketRanges(at('2030-01-01T10:05:00Z'), at('2030-01-01T10:50:30Z'))).toEqual([['stats#m#2030-01-01T10:05', 'stats#m#2030-01-01T10:50']]);
    expect(bucketRanges(at('2030-01-01T09:50:00Z'), at('2030-01-01T10:50:30Z'))).toEqual([['stats#m#2030-01-01T09:50', 'stats#m#2030-01-01T10:50']]);
  });

  it('reads hour items for the full hours of a long window, minute items at its edges', () => {
    expect(bucketRanges(at('2030-01-01T07:50:00Z'), at('2030-01-02T10:20:10Z'))).toEqual([
      ['stats#m#2030-01-01T07:50', 'stats#m#2030-01-01T07:59'],
      ['stats#h#2030-01-01T08', 'stats#h#2030-01-02T09'],
      ['stats#m#2030-01-02T10:00', 'stats#m#2030-01-02T10:20'],
    ]);
    expect(bucketRanges(at('2030-01-01T08:00:00Z'), at('2030-01-01T10:00:00Z'))).toEqual([
      ['stats#h#2030-01-01T08', 'stats#h#2030-01-01T09'],
      ['stats#m#2030-01-01T10:00', 'stats#m#2030-01-01T10:00'],
    ]);
  });

  it('names a record’s minute and hour buckets after its UTC creation time', () => {
    expect(bucketKey('m', '2030-01-01T07:50:59.999Z')).toBe('stats#m#2030-01-01T07:50');
    expect(bucketKey('h', '2030-01-01T07:50:59.999Z')).toBe('stats#h#2030-01-01T07');
  });
});
