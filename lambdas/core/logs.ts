import { createHash } from 'node:crypto';
import type { LogCursor, LogKind, LogRecord, LogStore, QuerySample, StoredLog } from './ports.ts';

/**
 * Log table layout: partition `tenant_id`, sort key `sk` = `<kind>#<ISO time>#<log_id>`.
 * Query records get their own prefix so get_query_logs and get_query_stats read one key range
 * of one partition (a Query, never a Scan), and the other logs are not buried under them.
 */
export const kindOf = (record: LogRecord): LogKind => (record.source === 'query' ? 'query' : 'log');

export const sortKey = (kind: LogKind, createdIso: string, logId: string): string => `${kind}#${createdIso}#${logId}`;

/** The sort-key range [from, to] holding every record of `kind` created at or after `sinceIso`. */
export const sinceRange = (kind: LogKind, sinceIso: string): [string, string] => [`${kind}#${sinceIso}`, `${kind}#~`];

/** True when a cursor points into this tenant's partition and this kind's key range. */
export const cursorFits = (cursor: LogCursor, tenantId: string, kind: LogKind): boolean =>
  cursor.tenant_id === tenantId && cursor.sk.startsWith(`${kind}#`);

/**
 * L1, one message: give it its stable log_id and store it.
 * Primary course: take the producer's log_id (stamped before its first send attempt), else derive
 * one from the message body itself; normalise the time to UTC ISO so sort keys order by time;
 * put it, so a redelivered message overwrites its own item instead of adding one.
 */
export async function ingestLogRecord(record: LogRecord & { log_id?: string }, body: string, store: LogStore): Promise<StoredLog> {
  const logId = record.log_id ?? createHash('sha256').update(body).digest('hex').slice(0, 32);
  const stored: StoredLog = { ...record, log_id: logId, create_timestamp: new Date(record.create_timestamp).toISOString() };
  await store.put(stored);
  return stored;
}

export interface LatencySummary {
  count: number;
  errors: number;
  p50_ms: number | null;
  p95_ms: number | null;
}

/** count, errors and nearest-rank p50/p95 latency, overall and by statement type. */
export function summarizeQuerySamples(samples: QuerySample[]): { total: LatencySummary; by_statement_type: Record<string, LatencySummary> } {
  const groups = new Map<string, QuerySample[]>();
  for (const s of samples) {
    const group = groups.get(s.statement_type) ?? [];
    group.push(s);
    groups.set(s.statement_type, group);
  }
  const byType: Record<string, LatencySummary> = {};
  for (const [type, group] of [...groups].sort(([a], [b]) => a.localeCompare(b))) byType[type] = summarize(group);
  return { total: summarize(samples), by_statement_type: byType };
}

function summarize(samples: QuerySample[]): LatencySummary {
  const durations = samples.map((s) => s.duration_ms).sort((a, b) => a - b);
  const rank = (p: number) => (durations.length ? durations[Math.ceil((p / 100) * durations.length) - 1]! : null);
  return { count: samples.length, errors: samples.filter((s) => s.outcome === 'error').length, p50_ms: rank(50), p95_ms: rank(95) };
}
