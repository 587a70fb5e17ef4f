import { z } from 'zod';
import type { LogRecord, QueryLogRecord } from '#core/ports';

/**
 * The log pipeline's message shape, validated where L1 receives it. Producers are our own
 * functions, but a message that does not fit is refused (and ends in the DLQ), never half-stored.
 */

/** SQS's cap on one message; the sinks truncate `message` to stay under it. */
export const MAX_LOG_MESSAGE_BYTES = 256 * 1024;

const ID = /^[A-Za-z0-9_-]{1,64}$/;

const base = z.looseObject({
  tenant_id: z.string().regex(ID, 'tenant_id must be an id'),
  source: z.string().regex(/^[a-z0-9_-]{1,32}$/, 'source must be a short lowercase name'),
  level: z.enum(['INFO', 'WARN', 'ERROR']),
  message: z.string(),
  create_timestamp: z.iso.datetime({ offset: true }),
  job_id: z.string().regex(ID).optional(),
  db_id: z.string().regex(ID).optional(),
  log_id: z.string().regex(ID).optional(),
});

const queryFields = z.object({
  source: z.literal('query'),
  db_id: z.string().regex(ID),
  statement_type: z.enum(['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'OTHER']),
  duration_ms: z.number().finite().min(0),
  rows: z.number().int().min(0),
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
  if (!record.success) throw new Error(`invalid log message: ${describe(record.error)}`);
  if (record.data.source !== 'query') return record.data as ParsedLogMessage;
  const query = queryFields.safeParse(raw);
  if (!query.success) throw new Error(`invalid query log message: ${describe(query.error)}`);
  return { ...record.data, ...query.data } as ParsedLogMessage;
}

function describe(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ');
}
