import { z } from 'zod';
import { OPAQUE_ID as ID } from '#core/patterns';
import type { LogRecord, QueryLogRecord } from '#core/ports';
import { issuesOf } from './requests.ts';

/**
 * The log pipeline's message shape, validated where L1 receives it. Producers are our own
 * functions, but a message that does not fit is refused (and ends in the DLQ), never half-stored.
 * Whatever passes must be an item DynamoDB accepts: one it refuses fails the whole BatchWriteItem
 * call it shares with other messages. So only known fields are kept (unknown ones are dropped,
 * whatever they hold), numbers are finite, bounded and encodable, and text is capped so an item
 * stays far under DynamoDB's 400 KB.
 */

/** SQS's cap on one message; the sinks truncate `message` to stay under it. */
export const MAX_LOG_MESSAGE_BYTES = 256 * 1024;

/** A query longer than a day is no query this service runs: such a duration is a bug. */
const MAX_DURATION_MS = 86_400_000;

// z.object drops unknown keys.
const base = z.object({
  tenant_id: z.string().regex(ID, 'tenant_id must be an id'),
  source: z.string().regex(/^[a-z0-9_-]{1,32}$/, 'source must be a short lowercase name'),
  level: z.enum(['INFO', 'WARN', 'ERROR']),
  message: z.string().refine((m) => Buffer.byteLength(m, 'utf8') <= MAX_LOG_MESSAGE_BYTES, 'message must be at most 256 KB'),
  create_timestamp: z.iso.datetime({ offset: true }),
  job_id: z.string().regex(ID).optional(),
  db_id: z.string().regex(ID).optional(),
  log_id: z.string().regex(ID).optional(),
  /** Which stage of a migration job wrote it (M1's host script output). */
  stage: z.enum(['backup', 'update', 'validate', 'rollback', 'verify']).optional(),
  /** Set by the sinks when they cut an oversized message. */
  truncated: z.boolean().optional(),
});

const queryFields = z.object({
  source: z.literal('query'),
  db_id: z.string().regex(ID),
  statement_type: z.enum(['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'OTHER']),
  // Microseconds, as the query path records it; rounding also turns a tiny value into 0 (DynamoDB
  // refuses magnitudes under 1e-130).
  duration_ms: z
    .number()
    .min(0)
    .max(MAX_DURATION_MS)
    .transform((ms) => Math.round(ms * 1000) / 1000),
  rows: z.number().int().min(0), // a safe integer: the DynamoDB client refuses larger ones
  outcome: z.enum(['ok', 'error']),
  error_class: z.string().max(64).optional(),
});

export type ParsedLogMessage = (LogRecord | QueryLogRecord) & { log_id?: string };

/** Parses one message body; throws with the reason when it is not a log record. */
export function parseLogMessage(body: string): ParsedLogMessage {
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch {
    throw new Error('log message is not JSON');
  }
  const record = base.safeParse(raw);
  if (!record.success) throw new Error(`invalid log message: ${issuesOf(record.error)}`);
  if (record.data.source !== 'query') return record.data as ParsedLogMessage;
  const query = queryFields.safeParse(raw);
  if (!query.success) throw new Error(`invalid query log message: ${issuesOf(query.error)}`);
  return { ...record.data, ...query.data } as ParsedLogMessage;
}
