import { SendMessageBatchCommand, type SendMessageBatchRequestEntry, type SQSClient } from '@aws-sdk/client-sqs';
import { UnavailableError } from '#core/errors';
import { retry } from '#core/retry';
import type { LogRecord, LogSink } from '#core/ports';
import { MAX_LOG_MESSAGE_BYTES } from '#shared/log-messages';
import { encodeLogMessage } from './log-encoding.ts';

/** SendMessageBatch's caps: 10 entries, and the same byte cap for the whole call as for one message. */
const MAX_ENTRIES = 10;

/**
 * The log port on AWS: records go to the SQS queue L1 consumes, in SendMessageBatch calls of
 * ≤ 10 entries and ≤ 256 KB. Entries SQS reports as failed through no fault of ours are sent
 * again with backoff; sender faults and what still fails after the retries make send() throw.
 */
export class SqsLogSink implements LogSink {
  constructor(
    private readonly sqs: Pick<SQSClient, 'send'>,
    private readonly queueUrl: string,
    private readonly retryDelaysMs: number[] = [100, 400],
  ) {}

  async send(records: LogRecord[]): Promise<void> {
    const bodies = records.map((r) => encodeLogMessage(r));
    const failures: string[] = [];
    for (const chunk of chunkBodies(bodies)) failures.push(...(await this.sendChunk(chunk)));
    if (failures.length > 0) throw new UnavailableError(`log queue refused ${failures.length} record(s)`, { reasons: failures.slice(0, 5) });
  }

  /** Sends one batch, re-sending only its retryable failed entries; returns why the rest failed. */
  private async sendChunk(bodies: string[]): Promise<string[]> {
    let entries: SendMessageBatchRequestEntry[] = bodies.map((body, i) => ({ Id: String(i), MessageBody: body }));
    const fatal: string[] = [];
    const delays = this.retryDelaysMs;
    // Each try answers the entries to send again, and the error when the SDK gave up on the whole call.
    const { value: last } = await retry(
      async (): Promise<{ again: SendMessageBatchRequestEntry[]; error?: Error }> => {
        try {
          const out = await this.sqs.send(new SendMessageBatchCommand({ QueueUrl: this.queueUrl, Entries: entries }));
          const failed = out.Failed ?? [];
          for (const f of failed) if (f.SenderFault) fatal.push(`${f.Code}: ${f.Message ?? ''}`);
          const retryIds = new Set(failed.filter((f) => !f.SenderFault).map((f) => f.Id));
          entries = entries.filter((e) => retryIds.has(e.Id));
          return { again: entries };
        } catch (error) {
          return { again: entries, error: error as Error }; // try the whole batch again
        }
      },
      { retryIf: ({ again }) => again.length > 0, maxAttempts: delays.length + 1, delayMs: (attempt) => delays[attempt - 1]! },
    );
    return [...fatal, ...last.again.map((e) => last.error?.message ?? `entry ${e.Id} still failing`)];
  }
}

/** Groups message bodies into batches of ≤ 10 entries whose bodies total ≤ 256 KB. */
export function chunkBodies(bodies: string[], maxBytes = MAX_LOG_MESSAGE_BYTES): string[][] {
  const chunks: string[][] = [];
  let current: string[] = [];
  let size = 0;
  for (const body of bodies) {
    const n = Buffer.byteLength(body, 'utf8');
    if (current.length === MAX_ENTRIES || (current.length > 0 && size + n > maxBytes)) {
      chunks.push(current);
      current = [];
      size = 0;
    }
    current.push(body);
    size += n;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}
