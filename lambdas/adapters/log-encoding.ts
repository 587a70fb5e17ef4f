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
  // A UTF-16 unit is at most 3 bytes of UTF-8: most records fit without counting.
  if (body.length * 3 <= maxBytes || bytes(body) <= maxBytes) return body;
  // JSON escaping makes the encoded size nonlinear in the text: binary-search the longest head that fits.
  const encode = (n: number) => {
    let head = stamped.message.slice(0, n);
    if (/[\uD800-\uDBFF]$/.test(head)) head = head.slice(0, -1); // never a lone surrogate
    return JSON.stringify({ ...stamped, message: head, truncated: true });
  };
  let lo = 0;
  let hi = stamped.message.length;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (bytes(encode(mid)) <= maxBytes) lo = mid;
    else hi = mid - 1;
  }
  body = encode(lo);
  if (bytes(body) > maxBytes) throw new ValidationError('log record too large even without its message');
  return body;
}
