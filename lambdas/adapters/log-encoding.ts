import { randomUUID } from 'node:crypto';
import { ValidationError } from '#core/errors';
import type { LogRecord } from '#core/ports';
import { MAX_LOG_MESSAGE_BYTES } from '#shared/log-messages';

const bytes = (s: string): number => Buffer.byteLength(s, 'utf8');

/**
 * One record → one queue message body. The log_id is stamped here, before the first send attempt,
 * so a retried send and a redelivery carry the same id and L1 stores the record once. A record
 * over SQS's 256 KB cap keeps its head and is marked `truncated` instead of being refused.
 */
export function encodeLogMessage(record: LogRecord, maxBytes = MAX_LOG_MESSAGE_BYTES): string {
  const stamped = { ...record, log_id: typeof record.log_id === 'string' ? record.log_id : randomUUID() };
  let body = JSON.stringify(stamped);
  if (bytes(body) <= maxBytes) return body;
  let message = stamped.message;
  // JSON escaping makes the encoded size nonlinear in the text: shrink until it fits.
  while (bytes(body) > maxBytes && message.length > 0) {
    const excess = bytes(body) - maxBytes;
    message = message.slice(0, Math.max(0, message.length - Math.max(excess, 64)));
    if (/[\uD800-\uDBFF]$/.test(message)) message = message.slice(0, -1); // no lone surrogate
    body = JSON.stringify({ ...stamped, message, truncated: true });
  }
  if (bytes(body) > maxBytes) throw new ValidationError('log record too large even without its message');
  return body;
}
