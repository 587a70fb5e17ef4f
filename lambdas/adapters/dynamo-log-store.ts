import {
  CreateTableCommand,
  DescribeTableCommand,
  type DynamoDBClient,
  ResourceNotFoundException,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, type DynamoDBDocumentClient, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { isServerError, isThrottlingError, isTransientError } from '@smithy/core/retry';
import { UnavailableError } from '#core/errors';
import { retry } from '#core/retry';
import { kindOf, sortKey } from '#core/logs';
import type { LogCursor, LogKind, LogPage, LogStore, QueryLogRecord, QuerySample, StatsBucket, StoredLog } from '#core/ports';
import { bucketKey, contributionOf } from '#core/query-stats';
import { LOG_TABLE_KEY_SCHEMA, LOG_TABLE_PARTITION_KEY as PK, LOG_TABLE_SORT_KEY as SK, LOG_TABLE_TTL_ATTRIBUTE as TTL, type LogTableKey } from '#shared/log-table';

/** BatchWriteItem's cap on requests per call. */
const BATCH_WRITE_MAX = 25;
/** ADD clauses per UpdateItem, well inside DynamoDB's 4 KB expression limit. */
const ADDS_PER_UPDATE = 100;

interface PendingPut {
  item: Record<string, unknown> & LogTableKey;
  resolve(): void;
  reject(error: unknown): void;
}

/** One UpdateItem of a flush: the ADDs of whole records (`groups`) to one tenant's hour bucket. */
interface BucketUpdate {
  tenantId: string;
  sk: string;
  adds: Map<string, number>;
  groups: PendingPut[][];
  /** Epoch seconds the bucket expires at (set by its first update): after the last record its hour can hold. */
  expiresAt?: number;
}

export interface DynamoLogStoreOptions {
  /** Days an item lives: written as the TTL attribute (epoch seconds) DynamoDB deletes it after; 0 = kept. */
  retentionDays?: number;
  unprocessedRetryDelaysMs?: number[];
}

const DAY_SECONDS = 86_400;
const HOUR_SECONDS = 3_600;

/**
 * The log_table on DynamoDB (dynalite locally). Puts issued together (one SQS batch's records,
 * or several concurrent batches) are coalesced into BatchWriteItem calls of ≤ 25; items DynamoDB
 * leaves unprocessed are retried with backoff, and what still fails rejects its own put only.
 * A call refused for its content (one item DynamoDB will not take fails the whole call) is
 * retried item by item, so only the refused item's put fails.
 *
 * Query records that were written are then folded into their tenant's hour statistics bucket:
 * one UpdateItem (atomic ADDs) per tenant × hour per flush (see fold for what redelivery does).
 */
export class DynamoLogStore implements LogStore {
  private pending: PendingPut[] = [];
  private flushScheduled = false;

  private readonly unprocessedRetryDelaysMs: number[];
  private readonly retentionSeconds: number;

  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly table: string,
    options: DynamoLogStoreOptions = {},
  ) {
    this.unprocessedRetryDelaysMs = options.unprocessedRetryDelaysMs ?? [50, 200, 800];
    this.retentionSeconds = (options.retentionDays ?? 0) * DAY_SECONDS;
  }

  /** When an item made at this time expires (epoch seconds), or nothing when items are kept. */
  private expiry(createTimestamp: string, extraSeconds = 0): Record<string, number> {
    if (this.retentionSeconds === 0) return {};
    return { [TTL]: Math.floor(Date.parse(createTimestamp) / 1000) + this.retentionSeconds + extraSeconds };
  }

  put(record: StoredLog): Promise<void> {
    const item = { ...record, sk: sortKey(kindOf(record), record.create_timestamp, record.log_id), ...this.expiry(record.create_timestamp) };
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
        KeyConditionExpression: `${PK} = :t AND begins_with(${SK}, :p)`,
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
      items: page.map(({ sk: _sk, [TTL]: _ttl, ...record }) => record as StoredLog),
      next: more && last ? { tenant_id: tenantId, sk: last.sk } : undefined,
    };
  }

  async statsBuckets(tenantId: string, range: [string, string]): Promise<StatsBucket[]> {
    const items = await this.queryRange(tenantId, range);
    return items.map(({ tenant_id: _t, sk: _sk, [TTL]: _ttl, ...counters }) => counters as StatsBucket);
  }

  async querySamples(tenantId: string, ranges: [string, string][]): Promise<QuerySample[]> {
    const pages = await Promise.all(ranges.map((range) => this.queryRange(tenantId, range, 'statement_type, duration_ms, outcome')));
    return pages.flat() as QuerySample[];
  }

  /** Every item of one inclusive sort-key range of the tenant's partition, page after page. */
  private async queryRange(tenantId: string, [from, to]: [string, string], projection?: string): Promise<Record<string, unknown>[]> {
    const items: Record<string, unknown>[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const out = await this.query(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: `${PK} = :t AND ${SK} BETWEEN :from AND :to`,
          ExpressionAttributeValues: { ':t': tenantId, ':from': from, ':to': to },
          ProjectionExpression: projection,
          ExclusiveStartKey: start,
        }),
      );
      items.push(...(out.Items ?? []));
      start = out.LastEvaluatedKey;
    } while (start);
    return items;
  }

  /** A read the dashboard waits on: an outage is a 503 (try again); anything else is a bug (500). */
  private async query(command: QueryCommand) {
    try {
      return await this.doc.send(command);
    } catch (error) {
      if (isAvailabilityError(error)) throw new UnavailableError('The log table is unavailable, try again', undefined, { cause: error });
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
    const written: PendingPut[][] = [];
    const stored = (g: PendingPut[]) => (g[0]!.item.sk.startsWith('query#') ? written.push(g) : resolveAll(g));
    const writes: Promise<void>[] = [];
    for (let i = 0; i < groups.length; i += BATCH_WRITE_MAX) writes.push(this.write(groups.slice(i, i + BATCH_WRITE_MAX), stored));
    void Promise.all(writes).then(() => this.fold(written));
  }

  /**
   * Adds the query records this flush stored to their tenants' hour buckets, then settles their
   * puts: one UpdateItem per tenant × hour (more only when a bucket's ADDs would not fit one), all
   * in flight at once. An update that fails fails its records' puts, so SQS redelivers those
   * messages: their raw write is an idempotent overwrite (same log_id, same key) and the ADD, which
   * added nothing, is made again, once. A record is never in two updates, so no update half counts it.
   *
   * Remaining double-count edges, each rare, none worth heavier machinery: L1 dying (or timing out)
   * after an ADD but before SQS learns the message succeeded; SQS's at-least-once delivery handing
   * the same message out twice; and the SDK retrying an ADD whose response was lost. Each counts
   * that record twice in its hour bucket (not in the raw records, so not at the window's edges).
   * And a message dead-lettered after its ADD failed on every receive is stored but not counted.
   */
  private async fold(written: PendingPut[][]): Promise<void> {
    let updates: BucketUpdate[];
    try {
      updates = bucketUpdates(written, (record) => this.expiry(record.create_timestamp, HOUR_SECONDS)[TTL]);
    } catch (error) {
      written.forEach((g) => rejectAll(g, error));
      return;
    }
    await Promise.all(
      updates.map(async (u) => {
        try {
          await this.add(u);
          u.groups.forEach(resolveAll);
        } catch (error) {
          u.groups.forEach((g) => rejectAll(g, error));
        }
      }),
    );
  }

  /** One UpdateItem ADDing the update's counters to its bucket. */
  private async add(u: BucketUpdate): Promise<void> {
    const names: Record<string, string> = {};
    const values: Record<string, number> = {};
    const clauses: string[] = [];
    for (const [attr, n] of u.adds) {
      const i = clauses.length;
      names[`#a${i}`] = attr;
      values[`:v${i}`] = n;
      clauses.push(`#a${i} :v${i}`);
    }
    // The bucket's first update fixes its expiry; later ones (later records of its hour) leave it.
    let expire = '';
    if (u.expiresAt !== undefined) {
      names['#ttl'] = TTL;
      values[':ttl'] = u.expiresAt;
      expire = ' SET #ttl = if_not_exists(#ttl, :ttl)';
    }
    await this.doc.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { tenant_id: u.tenantId, sk: u.sk } satisfies LogTableKey,
        UpdateExpression: `ADD ${clauses.join(', ')}${expire}`,
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
      }),
    );
  }

  /** Writes the groups' items; `stored(group)` for each item DynamoDB took, rejects the others' puts. */
  private async write(groups: PendingPut[][], stored: (group: PendingPut[]) => void): Promise<void> {
    const delays = this.unprocessedRetryDelaysMs;
    let todo = groups;
    // Each try answers what is still unprocessed; only items DynamoDB left unprocessed are sent again.
    const { value: left } = await retry(
      async (): Promise<PendingPut[][]> => {
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
            await Promise.all(todo.map((g) => this.write([g], stored)));
            return [];
          }
          // An outage the SDK has already retried (or the one refused item): back to the queue.
          for (const put of todo.flat()) put.reject(error);
          return [];
        }
        const keyOf = (g: PendingPut[]) => `${g[0]!.item.tenant_id}\u0000${g[0]!.item.sk}`;
        for (const g of todo) if (!unprocessed.has(keyOf(g))) stored(g);
        todo = todo.filter((g) => unprocessed.has(keyOf(g)));
        return todo;
      },
      { retryIf: (left) => left.length > 0, maxAttempts: delays.length + 1, delayMs: (attempt) => delays[attempt - 1]! },
    );
    const error = new UnavailableError('log table did not accept the write');
    for (const put of left.flat()) put.reject(error);
  }
}

/**
 * The flush's stored query records as UpdateItems, one per tenant × hour bucket; a bucket whose
 * ADDs would pass ADDS_PER_UPDATE is split between whole records, so each record is in one update.
 */
function bucketUpdates(written: PendingPut[][], expiresAt: (record: QueryLogRecord) => number | undefined): BucketUpdate[] {
  const byBucket = new Map<string, BucketUpdate[]>();
  for (const g of written) {
    const record = g[0]!.item as unknown as QueryLogRecord;
    const sk = bucketKey(record.create_timestamp);
    const id = `${record.tenant_id}\u0000${sk}`;
    const chunks = byBucket.get(id) ?? [];
    byBucket.set(id, chunks);
    const attrs = contributionOf(record);
    let u = chunks.at(-1);
    if (!u || u.adds.size + attrs.filter((a) => !u!.adds.has(a)).length > ADDS_PER_UPDATE) {
      chunks.push((u = { tenantId: record.tenant_id, sk, adds: new Map(), groups: [], expiresAt: expiresAt(record) }));
    }
    for (const attr of attrs) u.adds.set(attr, (u.adds.get(attr) ?? 0) + 1);
    u.groups.push(g);
  }
  return [...byBucket.values()].flat();
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
        AttributeDefinitions: [...LOG_TABLE_KEY_SCHEMA.AttributeDefinitions],
        KeySchema: [...LOG_TABLE_KEY_SCHEMA.KeySchema],
      }),
    );
  } catch (error) {
    // Two processes starting at once: the other one created it.
    if ((error as Error).name !== 'ResourceInUseException') throw error;
  }
  await waitUntilTableExists({ client, maxWaitTime: 60, minDelay: 1, maxDelay: 2 }, { TableName: table });
}
