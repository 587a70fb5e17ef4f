import {
  CreateTableCommand,
  DescribeTableCommand,
  type DynamoDBClient,
  ResourceNotFoundException,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, type DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { isServerError, isThrottlingError, isTransientError } from '@smithy/core/retry';
import { UnavailableError } from '#core/errors';
import { kindOf, sinceRange, sortKey } from '#core/logs';
import type { LogCursor, LogKind, LogPage, LogStore, QuerySample, StoredLog } from '#core/ports';

/** BatchWriteItem's cap on requests per call. */
const BATCH_WRITE_MAX = 25;

interface PendingPut {
  item: Record<string, unknown> & { tenant_id: string; sk: string };
  resolve(): void;
  reject(error: unknown): void;
}

/**
 * The log_table on DynamoDB (dynalite locally). Puts issued together (one SQS batch's records,
 * or several concurrent batches) are coalesced into BatchWriteItem calls of ≤ 25; items DynamoDB
 * leaves unprocessed are retried with backoff, and what still fails rejects its own put only.
 * A call refused for its content (one item DynamoDB will not take fails the whole call) is
 * retried item by item, so only the refused item's put fails.
 */
export class DynamoLogStore implements LogStore {
  private pending: PendingPut[] = [];
  private flushScheduled = false;

  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly table: string,
    private readonly unprocessedRetryDelaysMs: number[] = [50, 200, 800],
  ) {}

  put(record: StoredLog): Promise<void> {
    const item = { ...record, sk: sortKey(kindOf(record), record.create_timestamp, record.log_id) };
    return new Promise((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      if (this.flushScheduled) return;
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    });
  }

  async page(tenantId: string, kind: LogKind, limit: number, after?: LogCursor): Promise<LogPage> {
    // One item more than asked tells whether another page exists, so the last page has no key.
    const out = await this.query(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: 'tenant_id = :t AND begins_with(sk, :p)',
        ExpressionAttributeValues: { ':t': tenantId, ':p': `${kind}#` },
        ScanIndexForward: false,
        Limit: limit + 1,
        ExclusiveStartKey: after,
      }),
    );
    const rows = (out.Items ?? []) as (StoredLog & { sk: string })[];
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    const more = rows.length > limit || out.LastEvaluatedKey !== undefined;
    return {
      items: page.map(({ sk: _sk, ...record }) => record as StoredLog),
      next: more && last ? { tenant_id: tenantId, sk: last.sk } : undefined,
    };
  }

  async querySamplesSince(tenantId: string, sinceIso: string): Promise<QuerySample[]> {
    const [from, to] = sinceRange('query', sinceIso);
    const samples: QuerySample[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const out = await this.query(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: 'tenant_id = :t AND sk BETWEEN :from AND :to',
          ExpressionAttributeValues: { ':t': tenantId, ':from': from, ':to': to },
          ProjectionExpression: 'statement_type, duration_ms, outcome',
          ExclusiveStartKey: start,
        }),
      );
      samples.push(...((out.Items ?? []) as QuerySample[]));
      start = out.LastEvaluatedKey;
    } while (start);
    return samples;
  }

  /** A read the dashboard waits on: an outage is a 503 (try again); anything else is a bug (500). */
  private async query(command: QueryCommand) {
    try {
      return await this.doc.send(command);
    } catch (error) {
      if (isAvailabilityError(error)) throw new UnavailableError('The log table is unavailable, try again');
      throw error;
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    // One BatchWriteItem may not name a key twice: a message delivered twice at once shares a write.
    const byKey = new Map<string, PendingPut[]>();
    for (const put of this.pending) {
      const key = `${put.item.tenant_id}\u0000${put.item.sk}`;
      const group = byKey.get(key) ?? [];
      group.push(put);
      byKey.set(key, group);
    }
    this.pending = [];
    const groups = [...byKey.values()];
    for (let i = 0; i < groups.length; i += BATCH_WRITE_MAX) void this.write(groups.slice(i, i + BATCH_WRITE_MAX));
  }

  private async write(groups: PendingPut[][]): Promise<void> {
    let todo = groups;
    for (let attempt = 0; ; attempt++) {
      let unprocessed: Set<string>;
      try {
        const out = await this.doc.send(
          new BatchWriteCommand({ RequestItems: { [this.table]: todo.map((g) => ({ PutRequest: { Item: g[0]!.item } })) } }),
        );
        const left = out.UnprocessedItems?.[this.table] ?? [];
        unprocessed = new Set(left.map((r) => `${r.PutRequest?.Item?.tenant_id}\u0000${r.PutRequest?.Item?.sk}`));
      } catch (error) {
        if (todo.length > 1 && !isAvailabilityError(error)) {
          // Refused for its content: find the item(s) at fault by writing each alone.
          await Promise.all(todo.map((g) => this.write([g])));
          return;
        }
        // An outage the SDK has already retried (or the one refused item): back to the queue.
        for (const put of todo.flat()) put.reject(error);
        return;
      }
      const keyOf = (g: PendingPut[]) => `${g[0]!.item.tenant_id}\u0000${g[0]!.item.sk}`;
      for (const g of todo) if (!unprocessed.has(keyOf(g))) for (const put of g) put.resolve();
      todo = todo.filter((g) => unprocessed.has(keyOf(g)));
      if (todo.length === 0) return;
      const delay = this.unprocessedRetryDelaysMs[attempt];
      if (delay === undefined) {
        const error = new UnavailableError('log table did not accept the write');
        for (const put of todo.flat()) put.reject(error);
        return;
      }
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

/**
 * An error worth retrying later (network, timeout, throttling, a 5xx), as the SDK's own retry
 * strategy classifies it; anything else (ValidationException, a value the client cannot encode,
 * a missing table) is about the request itself and fails the same way again.
 */
function isAvailabilityError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  // What the SDK throws: an Error with optional $metadata and $retryable.
  const sdk = error as Parameters<typeof isTransientError>[0];
  return isTransientError(sdk) || isThrottlingError(sdk) || isServerError(sdk);
}

/** Creates the log table when it does not exist (local start-up; on AWS the CDK stack owns it). */
export async function createLogTableIfMissing(client: DynamoDBClient, table: string): Promise<void> {
  try {
    await client.send(new DescribeTableCommand({ TableName: table }));
    return;
  } catch (error) {
    if (!(error instanceof ResourceNotFoundException)) throw error;
  }
  try {
    await client.send(
      new CreateTableCommand({
        TableName: table,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [
          { AttributeName: 'tenant_id', AttributeType: 'S' },
          { AttributeName: 'sk', AttributeType: 'S' },
        ],
        KeySchema: [
          { AttributeName: 'tenant_id', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
      }),
    );
  } catch (error) {
    // Two processes starting at once: the other one created it.
    if ((error as Error).name !== 'ResourceInUseException') throw error;
  }
  await waitUntilTableExists({ client, maxWaitTime: 60, minDelay: 1, maxDelay: 2 }, { TableName: table });
}
