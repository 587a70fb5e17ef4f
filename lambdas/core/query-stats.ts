import { keyAt } from './logs.ts';
import type { QueryLogRecord, QuerySample, StatsBucket } from './ports.ts';

/**
 * Pre-aggregated query statistics: after L1 has stored a batch's query records it folds them into
 * their tenant's hour buckets, one item per tenant and hour holding, per statement type, the
 * count, the errors and a fixed log-scale latency histogram. get_query_stats reads the window's
 * full hours from those items (≤ 720 for 30 days) and only its two partial edge hours from the raw
 * query records, so it reads O(window / hour) + ≤ 2 hours of records, whatever the window.
 *
 * Item layout (same log_table, partition `tenant_id`): sort key `stats#h#<YYYY-MM-DDTHH>`, outside
 * the `log#` and `query#` ranges the log actions read. Attributes are top-level numbers, so one
 * UpdateItem `ADD`s a whole flush's contribution atomically: `n#<TYPE>` count, `e#<TYPE>` errors,
 * `b#<TYPE>#<bin>` executions whose duration fell in that bin.
 */

export const STATS_PREFIX = 'stats#';
export type StatementType = QueryLogRecord['statement_type'];

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

/** The hour bucket of a record created at `iso` (UTC ISO, as L1 stores it). */
export const bucketKey = (iso: string): string => `${STATS_PREFIX}h#${iso.slice(0, 13)}`;

/** The attributes one record adds 1 to in its hour bucket. */
export function contributionOf(record: QuerySample): string[] {
  const t = record.statement_type;
  return [`n#${t}`, ...(record.outcome === 'error' ? [`e#${t}`] : []), `b#${t}#${binOf(record.duration_ms)}`];
}

const HOUR = 3_600_000;

const rawKey = (t: number): string => keyAt('query', new Date(t).toISOString());
const hourKey = (t: number): string => bucketKey(new Date(t).toISOString());

/** What get_query_stats reads for a window: inclusive sort-key ranges of hour buckets and of raw records. */
export interface StatsReadPlan {
  /** The full hours inside the window, as one range of hour bucket keys (absent when there is none). */
  hours?: [string, string];
  /** The partial hours at the window's edges, as ranges of raw query record keys. */
  raw: [string, string][];
}

/**
 * The window [since, now] split into the full hours inside it (read from hour buckets) and the
 * partial hours at both ends, [since, first full hour) and [current hour, now], read from the raw
 * records: at most 720 bucket items for 30 days and less than 2 hours of raw records, whatever the
 * window. `since` is not rounded. When no full hour lies inside, the two edges are one range.
 */
export function statsReadPlan(since: Date, now: Date): StatsReadPlan {
  const from = since.getTime();
  const to = now.getTime();
  const firstFullHour = Math.ceil(from / HOUR) * HOUR;
  const currentHour = Math.floor(to / HOUR) * HOUR;
  // rawKey(t) sorts before every record created at t, so [rawKey(a), rawKey(b)] holds exactly the
  // records created in [a, b).
  const untilNow = rawKey(to + 1);
  if (firstFullHour >= currentHour) return { raw: [[rawKey(from), untilNow]] };
  const raw: [string, string][] = [];
  if (from < firstFullHour) raw.push([rawKey(from), rawKey(firstFullHour)]);
  raw.push([rawKey(currentHour), untilNow]);
  return { hours: [hourKey(firstFullHour), hourKey(currentHour - HOUR)], raw };
}

/** Raw samples as one bucket's counters, so they merge into the same histogram as the buckets. */
export function tally(samples: QuerySample[]): StatsBucket {
  const item: StatsBucket = {};
  for (const s of samples) for (const attr of contributionOf(s)) item[attr] = (item[attr] ?? 0) + 1;
  return item;
}

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
