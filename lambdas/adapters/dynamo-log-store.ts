import {
  ConditionalCheckFailedException,
  CreateTableCommand,
  DescribeTableCommand,
  type DynamoDBClient,
  ResourceNotFoundException,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, DeleteCommand, type DynamoDBDocumentClient, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { isServerError, isThrottlingError, isTransientError } from '@smithy/core/retry';
import { UnavailableError } from '#core/errors';
import { kindOf, sortKey } from '#core/logs';
import type { LogCursor, LogKind, LogPage, LogStore, QueryLogRecord, StatsBucket, StoredLog } from '#core/ports';
import { bucketKey, contributionOf } from '#core/query-stats';
import { logger } from '#shared/logger';

/** BatchWriteItem's cap on requests per call. */
const BATCH_WRITE_MAX = 25;
/** ADD clauses per UpdateItem, well inside DynamoDB's 4 KB expression limit. */
const ADDS_PER_UPDATE = 100;

interface PendingPut {
  item: Record<string, unknown> & { tenant_id: string; sk: string };
  resolve(): void;
  reject(error: unknown): void;
}

/** One statistics bucket's share of a flush: per attribute, what each record put adds to it. */
interface BucketUpdate {
  tenantId: string;
  sk: string;
  adds: Map<string, Map<PendingPut[], number>>;
}

/**
 * The log_table on DynamoDB (dynalite locally). Puts issued together (one SQS batch's records,
 * or several concurrent batches) are coalesced into BatchWriteItem calls of ≤ 25; items DynamoDB
 * leaves unprocessed are retried with backoff, and what still fails rejects its own put only.
 * A call refused for its content (one item DynamoDB will not take fails the whole call) is
 * retried item by item, so only the refused item's put fails.
 *
 * Query records are written one conditional PutItem each instead, and the new ones are folded
 * into their tenant's minute and hour statistics buckets, one UpdateItem (atomic ADDs) per bucket
 * per flush (see writeQueries for why).
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

  async statsBuckets(tenantId: string, ranges: [string, string][]): Promise<StatsBucket[]> {
    const buckets: StatsBucket[] = [];
    for (const [from, to] of ranges) {
      let start: Record<string, unknown> | undefined;
      do {
        const out = await this.query(
          new QueryCommand({
            TableName: this.table,
            KeyConditionExpression: 'tenant_id = :t AND sk BETWEEN :from AND :to',
            ExpressionAttributeValues: { ':t': tenantId, ':from': from, ':to': to },
            ExclusiveStartKey: start,
          }),
        );
        for (const { tenant_id: _t, sk: _sk, ...counters } of (out.Items ?? []) as StatsBucket[]) buckets.push(counters);
        start = out.LastEvaluatedKey;
      } while (start);
    }
    return buckets;
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
    const queries = groups.filter((g) => g[0]!.item.sk.startsWith('query#'));
    const others = groups.filter((g) => !g[0]!.item.sk.startsWith('query#'));
    if (queries.length) void this.writeQueries(queries);
    for (let i = 0; i < others.length; i += BATCH_WRITE_MAX) void this.write(others.slice(i, i + BATCH_WRITE_MAX));
  }

  /**
   * Query records, counted once each in the statistics however often SQS delivers them.
   *
   * Why a conditional put: ADD is not idempotent, so a redelivered message must not add again, and
   * only DynamoDB can say atomically whether a record is already there. Each query record is put
   * with `attribute_not_exists(sk)`; only the puts that created their item are counted, and a
   * refused condition means an earlier delivery stored it (and counted it): nothing to do. Two
   * deliveries racing each other cannot both win. (A per-batch marker would not do: SQS returns
   * only a batch's failed messages, so a redelivery comes in another batch, with other neighbours.)
   * The cost is one PutItem per query record instead of a 25-item BatchWriteItem; the buckets
   * still take one UpdateItem per tenant and minute/hour per flush.
   *
   * A bucket update that fails is compensated before the put is failed (and the message retried):
   * its record's ADDs to the buckets that did take them are undone, then its raw item is deleted,
   * so the redelivery is new again and counted in full. Remaining edges, each needing a failure
   * to coincide with another: if the undo fails the raw item is kept (the record stays
   * counted in the buckets that took it, missing from the others); if the delete fails, or L1 is
   * killed between the put and the ADDs, the record is stored but not counted; an ADD the SDK
   * retries after a lost response may count once more; and if SQS handed the same message to
   * another L1 at that very moment, whose put found the item and so was acknowledged, the deleted
   * record does not come back (stats stay exact, the raw record is lost). Never is a redelivery
   * counted twice.
   */
  private async writeQueries(groups: PendingPut[][]): Promise<void> {
    const fresh: PendingPut[][] = [];
    await Promise.all(
      groups.map(async (g) => {
        try {
          await this.doc.send(new PutCommand({ TableName: this.table, Item: g[0]!.item, ConditionExpression: 'attribute_not_exists(sk)' }));
          fresh.push(g);
        } catch (error) {
          if (error instanceof ConditionalCheckFailedException) resolveAll(g);
          else rejectAll(g, error);
        }
      }),
    );
    if (fresh.length === 0) return;

    const updates = this.bucketUpdates(fresh);
    const results = await Promise.allSettled(updates.map((u) => this.add(u, (byPut) => [...byPut.values()].reduce((a, b) => a + b, 0))));
    const failed = new Set<PendingPut[]>();
    let cause: unknown;
    updates.forEach((u, i) => {
      const result = results[i]!;
      if (result.status === 'fulfilled') return;
      cause ??= result.reason;
      for (const byPut of u.adds.values()) for (const g of byPut.keys()) failed.add(g);
    });
    for (const g of fresh) if (!failed.has(g)) resolveAll(g);
    if (failed.size === 0) return;

    const undo = async () => {
      const taken = updates.filter((_, i) => results[i]!.status === 'fulfilled');
      await Promise.all(taken.map((u) => this.add(u, (byPut) => -[...byPut].filter(([g]) => failed.has(g)).reduce((a, [, n]) => a + n, 0))));
    };
    try {
      await undo();
      await Promise.all([...failed].map((g) => this.doc.send(new DeleteCommand({ TableName: this.table, Key: { tenant_id: g[0]!.item.tenant_id, sk: g[0]!.item.sk } }))));
    } catch (error) {
      logger.warn('query statistics: compensation failed, records may be undercounted', { records: failed.size, reason: (error as Error).message });
    }
    for (const g of failed) rejectAll(g, cause);
  }

  /** Each new record's counters, by bucket (its minute and its hour), ≤ ADDS_PER_UPDATE per update. */
  private bucketUpdates(fresh: PendingPut[][]): BucketUpdate[] {
    const byBucket = new Map<string, BucketUpdate>();
    for (const g of fresh) {
      const record = g[0]!.item as unknown as QueryLogRecord;
      for (const tier of ['m', 'h'] as const) {
        const sk = bucketKey(tier, record.create_timestamp);
        const id = `${record.tenant_id}\u0000${sk}`;
        let u = byBucket.get(id);
        if (!u) byBucket.set(id, (u = { tenantId: record.tenant_id, sk, adds: new Map() }));
        for (const attr of contributionOf(record)) {
          const byPut = u.adds.get(attr) ?? new Map<PendingPut[], number>();
          byPut.set(g, (byPut.get(g) ?? 0) + 1);
          u.adds.set(attr, byPut);
        }
      }
    }
    const chunks: BucketUpdate[] = [];
    for (const u of byBucket.values()) {
      const attrs = [...u.adds];
      for (let i = 0; i < attrs.length; i += ADDS_PER_UPDATE) chunks.push({ ...u, adds: new Map(attrs.slice(i, i + ADDS_PER_UPDATE)) });
    }
    return chunks;
  }

  /** One UpdateItem ADDing `amount(contributions)` to each of the update's attributes (zeros left out). */
  private async add(u: BucketUpdate, amount: (byPut: Map<PendingPut[], number>) => number): Promise<void> {
    const names: Record<string, string> = {};
    const values: Record<string, number> = {};
    const clauses: string[] = [];
    for (const [attr, byPut] of u.adds) {
      const n = amount(byPut);
      if (n === 0) continue;
      const i = clauses.length;
      names[`#a${i}`] = attr;
      values[`:v${i}`] = n;
      clauses.push(`#a${i} :v${i}`);
    }
    if (clauses.length === 0) return;
    await this.doc.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { tenant_id: u.tenantId, sk: u.sk },
        UpdateExpression: `ADD ${clauses.join(', ')}`,
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
      }),
    );
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

const resolveAll = (group: PendingPut[]): void => group.forEach((put) => put.resolve());
const rejectAll = (group: PendingPut[], error: unknown): void => group.forEach((put) => put.reject(error));

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
