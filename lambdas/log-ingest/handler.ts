import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { ingestLogRecord } from '#core/logs';
import type { LogStore } from '#core/ports';
import { logIngestRoot } from '#adapters/roots';
import { parseLogMessage } from '#shared/log-messages';
import { invocationHandler } from '#shared/logger';

/**
 * L1 — the log queue's consumer: each message is parsed, validated and stored under its stable
 * log_id. Failures are reported per message (partial batch response), so only those return to
 * the queue; one that keeps failing (a malformed one always does) ends in the DLQ after 3 receives.
 */
export function createLogIngestHandler(store: () => Promise<LogStore>) {
  return invocationHandler(async (event: SQSEvent, log, context?: Context): Promise<SQSBatchResponse> => {
    const logStore = await store();
    // One processor per invocation: it keeps per-batch state, and the local queue overlaps batches.
    const processor = new BatchProcessor(EventType.SQS);
    const ingest = async (record: SQSRecord): Promise<void> => {
      let parsed;
      try {
        parsed = parseLogMessage(record.body);
      } catch (error) {
        log.warn('malformed log message', { message_id: record.messageId, reason: (error as Error).message });
        throw error;
      }
      await ingestLogRecord(parsed, record.body, logStore);
    };
    return processPartialResponse(event, ingest, processor, { context, throwOnFullBatchFailure: false });
  });
}

export const handler = createLogIngestHandler(() => logIngestRoot());
