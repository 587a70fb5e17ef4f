import { BatchWriteCommand, type DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { LogEraser } from '#core/offboarding-ports';
import { retry } from '#core/retry';
import { LOG_TABLE_PARTITION_KEY as PK, LOG_TABLE_SORT_KEY as SK, type LogTableKey } from '#shared/log-table';

/** Keys read per page: one Query of keys only (≈ 1 MB at most), then deletes of ≤ 25 each. */
export const ERASE_PAGE = 500;
const BATCH_WRITE_MAX = 25;
/** BatchWriteItems of one page in flight at once: a page is deleted in a few round trips, not 20 in a row. */
const PARALLEL_WRITES = 4;
const UNPROCESSED_DELAYS_MS = [50, 200, 800, 2000];

/**
 * The erasure's deletion of a tenant's log partition (logs, query records and statistics buckets
 * share it): a page of keys by Query (never a Scan), deleted by BatchWriteItem; what DynamoDB
 * leaves unprocessed (throttling) is sent again with backoff, and still left, fails the page so
 * the erasure is retried.
 */
export class DynamoLogEraser implements LogEraser {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async deletePage(tenantId: string): Promise<number> {
    const out = await this.doc.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: `${PK} = :t`,
        ExpressionAttributeValues: { ':t': tenantId },
        ProjectionExpression: `${PK}, ${SK}`,
        Limit: ERASE_PAGE,
      }),
    );
    const keys = (out.Items ?? []) as LogTableKey[];
    const chunks: LogTableKey[][] = [];
    for (let i = 0; i < keys.length; i += BATCH_WRITE_MAX) chunks.push(keys.slice(i, i + BATCH_WRITE_MAX));
    for (let i = 0; i < chunks.length; i += PARALLEL_WRITES) await Promise.all(chunks.slice(i, i + PARALLEL_WRITES).map((c) => this.delete(c)));
    return keys.length;
  }

  private async delete(keys: LogTableKey[]): Promise<void> {
    let todo = keys.map((Key) => ({ DeleteRequest: { Key } }));
    const { value: left } = await retry(
      async () => {
        const out = await this.doc.send(new BatchWriteCommand({ RequestItems: { [this.table]: todo } }));
        todo = (out.UnprocessedItems?.[this.table] ?? []) as typeof todo;
        return todo.length;
      },
      { retryIf: (n) => n > 0, maxAttempts: UNPROCESSED_DELAYS_MS.length + 1, delayMs: (attempt) => UNPROCESSED_DELAYS_MS[attempt - 1]! },
    );
    if (left > 0) throw new Error(`the log table left ${left} deletes unprocessed`);
  }
}
