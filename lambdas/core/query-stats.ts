import type { QueryLogRecord } from './ports.ts';

/**
 * Pre-aggregated query statistics: L1 folds every newly stored query record into two buckets of
 * its tenant's partition, the minute and the hour it was created in, each one item holding, per
 * statement type, the count, the errors and a fixed log-scale latency histogram. get_query_stats
 * then reads O(window / bucket) items instead of every record of the window.
 *
 * Item layout (same log_table, partition `tenant_id`): sort key `stats#m#<YYYY-MM-DDTHH:MM>` (minute)
 * or `stats#h#<YYYY-MM-DDTHH>` (hour), outside the `log#` and `query#` ranges the log actions read.
 * Attributes are top-level numbers, so one UpdateItem `ADD`s a whole batch's contribution atomically:
 * `n#<TYPE>` count, `e#<TYPE>` errors, `b#<TYPE>#<bin>` executions whose duration fell in that bin.
 */

export const STATS_PREFIX = 'stats#';
export type StatementType = QueryLogRecord['statement_type'];
export type BucketTier = 'm' | 'h';

/** Bin 0 is [0, BIN_FLOOR_MS); bin k ≥ 1 is [BIN_FLOOR_MS·G^(k-1), BIN_FLOOR_MS·G^k). */
export const BIN_FLOOR_MS = 0.01;
/** Eight bins per doubling: any value lies within a factor √G of its bin's geometric middle. */
export const BIN_GROWTH = 2 ** (1 / 8);
/** Worst relative error of a reported percentile against the exact nearest-rank one: √G − 1 ≈ 4.43%. */
export const PERCENTILE_RELATIVE_ERROR = Math.sqrt(BIN_GROWTH) - 1;

export function binOf(durationMs: number): number {
  if (!(durationMs >= BIN_FLOOR_MS)) return 0;
  return Math.floor(Math.log(durationMs / BIN_FLOOR_MS) / Math.log(BIN_GROWTH)) + 1;
}

/** What a bin reports: 0 for bin 0, else its geometric middle, to 4 significant digits. */
export function binValue(bin: number): number {
  if (bin <= 0) return 0;
  return Number((BIN_FLOOR_MS * BIN_GROWTH ** (bin - 0.5)).toPrecision(4));
}

export const bucketKey = (tier: BucketTier, iso: string): string => `${STATS_PREFIX}${tier}#${iso.slice(0, tier === 'm' ? 16 : 13)}`;

/** The attributes one record adds 1 to, in each of its two buckets. */
export function contributionOf(record: Pick<QueryLogRecord, 'statement_type' | 'duration_ms' | 'outcome'>): string[] {
  const t = record.statement_type;
  return [`n#${t}`, ...(record.outcome === 'error' ? [`e#${t}`] : []), `b#${t}#${binOf(record.duration_ms)}`];
}

const MINUTE = 60_000;
const HOUR = 3_600_000;

/**
 * The window [since, now] as bucket sort-key ranges (inclusive), whole minutes from the minute
 * `since` falls in through the current one: minute items up to the first full hour, hour items
 * for the full hours, minute items for the current hour. At most 59 + 720 + 60 items for 30 days.
 */
export function bucketRanges(sinceMinute: Date, now: Date): [string, string][] {
  const from = sinceMinute.getTime();
  const nowMinute = Math.floor(now.getTime() / MINUTE) * MINUTE;
  const firstHour = Math.ceil(from / HOUR) * HOUR;
  const currentHour = Math.floor(now.getTime() / HOUR) * HOUR;
  const m = (t: number) => bucketKey('m', new Date(t).toISOString());
  const h = (t: number) => bucketKey('h', new Date(t).toISOString());
  if (firstHour >= currentHour) return [[m(from), m(nowMinute)]];
  const ranges: [string, string][] = [];
  if (from < firstHour) ranges.push([m(from), m(firstHour - MINUTE)]);
  ranges.push([h(firstHour), h(currentHour - HOUR)]);
  ranges.push([m(currentHour), m(nowMinute)]);
  return ranges;
}

export const floorToMinute = (t: Date): Date => new Date(Math.floor(t.getTime() / MINUTE) * MINUTE);

export interface LatencySummary {
  count: number;
  errors: number;
  p50_ms: number | null;
  p95_ms: number | null;
}

interface TypeTotals {
  count: number;
  errors: number;
  bins: Map<number, number>;
}

/**
 * Sums bucket items and derives, overall and by statement type, count, errors and p50/p95: the
 * nearest-rank percentile's bin, reported as that bin's middle (within PERCENTILE_RELATIVE_ERROR
 * of the exact value; exact 0 below BIN_FLOOR_MS).
 */
export function summarizeBuckets(items: Record<string, unknown>[]): { total: LatencySummary; by_statement_type: Record<string, LatencySummary> } {
  const byType = new Map<string, TypeTotals>();
  const totals = (t: string) => {
    let got = byType.get(t);
    if (!got) byType.set(t, (got = { count: 0, errors: 0, bins: new Map() }));
    return got;
  };
  for (const item of items) {
    for (const [name, value] of Object.entries(item)) {
      if (typeof value !== 'number') continue;
      const [field, type, bin] = name.split('#');
      if (!type) continue;
      if (field === 'n') totals(type).count += value;
      else if (field === 'e') totals(type).errors += value;
      else if (field === 'b' && bin !== undefined) {
        const bins = totals(type).bins;
        bins.set(Number(bin), (bins.get(Number(bin)) ?? 0) + value);
      }
    }
  }
  const all: TypeTotals = { count: 0, errors: 0, bins: new Map() };
  const by_statement_type: Record<string, LatencySummary> = {};
  for (const [type, t] of [...byType].sort(([a], [b]) => a.localeCompare(b))) {
    if (t.count === 0) continue;
    by_statement_type[type] = summarize(t);
    all.count += t.count;
    all.errors += t.errors;
    for (const [bin, n] of t.bins) all.bins.set(bin, (all.bins.get(bin) ?? 0) + n);
  }
  return { total: summarize(all), by_statement_type };
}

function summarize(t: TypeTotals): LatencySummary {
  const bins = [...t.bins].filter(([, n]) => n > 0).sort(([a], [b]) => a - b);
  const inBins = bins.reduce((s, [, n]) => s + n, 0);
  const rank = (p: number): number | null => {
    if (inBins === 0) return null;
    const target = Math.ceil((p / 100) * inBins);
    let seen = 0;
    for (const [bin, n] of bins) if ((seen += n) >= target) return binValue(bin);
    return binValue(bins.at(-1)![0]);
  };
  return { count: t.count, errors: t.errors, p50_ms: rank(50), p95_ms: rank(95) };
}
