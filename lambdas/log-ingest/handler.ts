import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { logger } from '#shared/logger';

/**
 * L1 — placeholder so the CDK stack can bundle it; the logs issue replaces this file. It reports
 * every record as failed, so nothing is dropped before the real writer lands (after 3 receives
 * records move to the dead-letter queue).
 */
export async function handler(event: SQSEvent): Promise<SQSBatchResponse> {
  logger.warn('log-ingest is not implemented yet', { records: event.Records.length });
  return { batchItemFailures: event.Records.map((r) => ({ itemIdentifier: r.messageId })) };
}
