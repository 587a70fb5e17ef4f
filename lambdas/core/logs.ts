import { createHash } from 'node:crypto';
import type { HostRunResult, LogCursor, LogKind, LogRecord, LogSink, LogStore, StoredLog } from './ports.ts';

/**
 * Log table layout: partition `tenant_id`, sort key `sk` = `<kind>#<ISO time>#<log_id>` (the key
 * names and types: lambdas/shared/log-table.ts).
 * Query records get their own prefix so get_query_logs reads one key range of one partition (a
 * Query, never a Scan), and the other logs are not buried under them. get_query_stats reads the
 * pre-aggregated `stats#` items instead (see query-stats.ts).
 */
export const kindOf = (record: LogRecord): LogKind => (record.source === 'query' ? 'query' : 'log');

/** Where records of `kind` created at `createdIso` start: it sorts before each of their keys. */
export const keyAt = (kind: LogKind, createdIso: string): string => `${kind}#${createdIso}`;

export const sortKey = (kind: LogKind, createdIso: string, logId: string): string => `${keyAt(kind, createdIso)}#${logId}`;

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

/** A host script's output as log lines: stdout INFO, stderr ERROR when the script failed; empty streams skipped. */
export function hostOutputLines(result: HostRunResult): Array<Pick<LogRecord, 'level' | 'message'>> {
  const lines: Array<Pick<LogRecord, 'level' | 'message'>> = [];
  if (result.stdout.trim()) lines.push({ level: 'INFO', message: result.stdout });
  if (result.stderr.trim()) lines.push({ level: result.exitCode === 0 ? 'INFO' : 'ERROR', message: result.stderr });
  return lines;
}

/** Sends records, never failing: a log outage must not fail (or undo) the work they describe. */
export async function sendBestEffort(logs: LogSink, records: LogRecord[]): Promise<void> {
  try {
    await logs.send(records);
  } catch {
    // The outcome is in MetaDB either way.
  }
}
