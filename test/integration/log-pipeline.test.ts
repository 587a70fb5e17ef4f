import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeTableCommand, DynamoDBClient, DynamoDBServiceException } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, DeleteCommand, DynamoDBDocumentClient, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { SQSEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogTableIfMissing, DynamoLogStore } from '#adapters/dynamo-log-store';
import { LocalDynalite } from '#adapters/local-dynalite';
import { LocalLogQueue, type SqsConsumer } from '#adapters/local-log-queue';
import { UnavailableError } from '#core/errors';
import { ingestLogRecord } from '#core/logs';
import { getQueryStats } from '#core/dashboard';
import { STATS_PREFIX, statsReadPlan } from '#core/query-stats';
import type { LogRecord, QueryLogRecord } from '#core/ports';
import { LOG_TABLE_KEY_SCHEMA, LOG_TABLE_TTL_ATTRIBUTE } from '#shared/log-table';
import { createLogIngestHandler, handler as lambdaHandler } from '../../lambdas/log-ingest/handler.ts';
import { startTestOctoDb } from '../support/octodb.ts';
import { serversUp } from '../support/servers.ts';
import { waitFor } from '../support/wait.ts';

// The pipeline as `npm start` runs it: LocalLogQueue → L1 (log-ingest handler) → dynalite.
const dir = mkdtempSync(join(tmpdir(), 'octodb-pipeline-'));
const table = `logs_${randomBytes(4).toString('hex')}`;
const dynalite = new LocalDynalite(dir);
let client: DynamoDBClient;
let doc: DynamoDBDocumentClient;
let l1: SqsConsumer;

beforeAll(async () => {
  await dynalite.start();
  client = new DynamoDBClient({ endpoint: dynalite.endpoint, region: 'local', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
  doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  await createLogTableIfMissing(client, table);
  const store = new DynamoLogStore(doc, table);
  l1 = createLogIngestHandler(async () => store);
});
afterAll(async () => {
  client?.destroy();
  await dynalite.stop();
  rmSync(dir, { recursive: true, force: true });
});

const newTenant = () => randomUUID();
const record = (tenantId: string, i: number, extra: Partial<LogRecord> = {}): LogRecord => ({
  tenant_id: tenantId,
  source: 'provision',
  level: 'INFO',
  message: `line ${i}`,
  create_timestamp: new Date(Date.UTC(2030, 0, 1, 0, 0, 0, i)).toISOString(),
  ...extra,
});
const queryRecord = (tenantId: string, i: number): QueryLogRecord => ({
  ...record(tenantId, i),
  source: 'query',
  db_id: 'a'.repeat(32),
  statement_type: 'SELECT',
  duration_ms: i,
  rows: 1,
  outcome: 'ok',
});

/** Every log item (raw record, not statistics bucket) of a tenant's partition, read back from dynalite. */
async function itemsOf(tenantId: string): Promise<Record<string, unknown>[]> {
  return (await partitionOf(tenantId)).filter((i) => !String(i.sk).startsWith(STATS_PREFIX));
}

async function partitionOf(tenantId: string): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const out = await doc.send(
      new QueryCommand({ TableName: table, KeyConditionExpression: 'tenant_id = :t', ExpressionAttributeValues: { ':t': tenantId }, ExclusiveStartKey: start }),
    );
    items.push(...(out.Items ?? []));
    start = out.LastEvaluatedKey;
  } while (start);
  return items;
}

// A short visibility timeout for quick redeliveries, and a consumer time limit no busy machine
// reaches: a slow batch given up while it still runs would add its query records to the hour
// bucket twice (its redelivery adds them again), and count as failed receives.
const queue = (consumer: SqsConsumer, visibilityTimeoutMs = 500) => new LocalLogQueue(consumer, { visibilityTimeoutMs, consumerTimeoutMs: 30_000 });

describe.skipIf(!serversUp)('log pipeline: local queue → L1 → dynalite', () => {
  it('stores exactly N items for N messages, each under its time-ordered sort key', async () => {
    const tenant = newTenant();
    const q = queue(l1);
    const sent = [...Array.from({ length: 117 }, (_, i) => record(tenant, i)), ...Array.from({ length: 13 }, (_, i) => queryRecord(tenant, i))];
    await q.send(sent.slice(0, 60));
    await q.send(sent.slice(60));
    await q.idle();

    const items = await itemsOf(tenant);
    expect(items).toHaveLength(130);
    expect(new Set(items.map((i) => i.log_id)).size).toBe(130);
    expect(items.filter((i) => String(i.sk).startsWith('query#'))).toHaveLength(13);
    expect(items.filter((i) => String(i.sk).startsWith('log#')).map((i) => i.message).sort()).toEqual(
      sent.filter((r) => r.source !== 'query').map((r) => r.message).sort(),
    );
    const line5 = items.find((i) => i.message === 'line 5' && i.source === 'provision')!;
    expect(line5.sk).toBe(`log#2030-01-01T00:00:00.005Z#${line5.log_id}`);
    expect(q.deadLetters()).toEqual([]);
    q.close();
  });

  it('dead-letters a poisoned message after 3 receives while the rest of its batch is stored', async () => {
    const tenant = newTenant();
    const received: number[] = [];
    const q = queue(async (event) => {
      received.push(event.Records.length);
      return l1(event);
    });
    const poisoned = ['not json at all', JSON.stringify({ ...record(tenant, 1), level: 'LOUD' }), JSON.stringify({ ...queryRecord(tenant, 2), duration_ms: 'slow' })];
    q.sendRaw(poisoned.slice(0, 2));
    await q.send(Array.from({ length: 7 }, (_, i) => record(tenant, 10 + i)));
    q.sendRaw(poisoned.slice(2));
    await q.idle();

    expect(received[0]).toBe(10); // one batch: 7 good and 3 bad together
    expect((await itemsOf(tenant)).map((i) => i.message).sort()).toEqual(Array.from({ length: 7 }, (_, i) => `line ${10 + i}`).sort());
    expect(q.deadLetters().map((d) => d.body).sort()).toEqual([...poisoned].sort());
    expect(q.deadLetters().every((d) => d.receiveCount === 3)).toBe(true);
    expect(q.failedReceives).toBe(9);
    q.close();
  });

  it('dead-letters a message DynamoDB cannot encode without taking its batch with it', async () => {
    const tenant = newTenant();
    const q = queue(l1);
    // Each passed the old loose schema, and one such item failed the whole BatchWriteItem call.
    const poisoned = [
      JSON.stringify({ ...queryRecord(tenant, 1), duration_ms: 1e20 }),
      JSON.stringify(queryRecord(tenant, 2)).replace('"duration_ms":2', '"duration_ms":1e400'),
    ];
    q.sendRaw([poisoned[0]!]);
    await q.send(Array.from({ length: 20 }, (_, i) => record(tenant, 10 + i)));
    q.sendRaw([poisoned[1]!]);
    // An unknown field holding Infinity is dropped; the record itself is kept.
    q.sendRaw([JSON.stringify(record(tenant, 3)).replace('"tenant_id"', '"attempt":1e400,"tenant_id"')]);
    await q.idle();

    const items = await itemsOf(tenant);
    expect(items.map((i) => i.message).sort()).toEqual(['line 3', ...Array.from({ length: 20 }, (_, i) => `line ${10 + i}`)].sort());
    expect(items.find((i) => i.message === 'line 3')).not.toHaveProperty('attempt');
    expect(q.deadLetters().map((d) => d.body).sort()).toEqual([...poisoned].sort());
    q.close();
  });

  it('does not duplicate a redelivered message', async () => {
    const tenant = newTenant();
    let deliveries = 0;
    // The first delivery is stored but its acknowledgement is "lost": every message comes back.
    const q = queue(async (event: SQSEvent) => {
      const response = await l1(event);
      deliveries++;
      return deliveries === 1 ? { batchItemFailures: event.Records.map((r) => ({ itemIdentifier: r.messageId })) } : response;
    });
    await q.send(Array.from({ length: 10 }, (_, i) => record(tenant, i)));
    await q.idle();
    expect(deliveries).toBeGreaterThanOrEqual(2);
    expect(q.failedReceives).toBe(10);
    expect(await itemsOf(tenant)).toHaveLength(10);

    // A message without a producer log_id gets one derived from its body: the same on redelivery.
    const bare = JSON.stringify(record(tenant, 99));
    const event = (id: string): SQSEvent => ({ Records: [{ messageId: id, body: bare } as SQSEvent['Records'][number]] });
    expect(await l1(event('m-1'))).toEqual({ batchItemFailures: [] });
    expect(await l1(event('m-2'))).toEqual({ batchItemFailures: [] });
    expect((await itemsOf(tenant)).filter((i) => i.message === 'line 99')).toHaveLength(1);
    q.close();
  });

  it('retries, and loses nothing, when DynamoDB is down for a while', async () => {
    const tenant = newTenant();
    const q = new LocalLogQueue(l1, { visibilityTimeoutMs: 400 });
    await dynalite.stop();
    await q.send(Array.from({ length: 25 }, (_, i) => record(tenant, i)));
    await waitFor(() => q.failedReceives >= 25, { timeoutMs: 20_000, what: 'every message to fail its first receive' });
    expect(q.failedReceives).toBe(25); // every message failed its first receive

    await dynalite.start(); // same port, same data directory
    await q.idle();
    expect(q.deadLetters()).toEqual([]);
    expect(await itemsOf(tenant)).toHaveLength(25);
    q.close();
  });

  it('saves what DynamoDB did not take by shutdown, and stores it on the next start', async () => {
    const tenant = newTenant();
    const deadLetterFile = join(dir, 'dead-letters.jsonl');
    const before = new LocalLogQueue(l1, { visibilityTimeoutMs: 60_000, deadLetterFile });
    await dynalite.stop();
    try {
      await before.send(Array.from({ length: 30 }, (_, i) => record(tenant, i)));
      await waitFor(() => before.failedReceives >= 30, { what: 'every message to fail its first receive' });
      before.close(); // the messages wait out their visibility timeout: none may vanish
    } finally {
      await dynalite.start();
    }
    expect(await itemsOf(tenant)).toHaveLength(0);

    const after = new LocalLogQueue(l1, { deadLetterFile });
    expect(after.replaySaved()).toBe(30);
    await after.idle();
    expect((await itemsOf(tenant)).map((i) => i.message).sort()).toEqual(Array.from({ length: 30 }, (_, i) => `line ${i}`).sort());
    after.close();
  });

  it('runs as the Lambda entry point with only the log table configured', async () => {
    // No deps installed in this process: the handler builds its log store from the environment.
    process.env.OCTODB_DYNAMODB_ENDPOINT = dynalite.endpoint;
    process.env.OCTODB_LOG_TABLE = table;
    try {
      const tenant = newTenant();
      const body = JSON.stringify(record(tenant, 7));
      const response = await lambdaHandler({ Records: [{ messageId: 'm-1', body } as SQSEvent['Records'][number], { messageId: 'm-2', body: '{' } as SQSEvent['Records'][number]] });
      expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'm-2' }] });
      expect((await itemsOf(tenant)).map((i) => i.message)).toEqual(['line 7']);
    } finally {
      delete process.env.OCTODB_DYNAMODB_ENDPOINT; // startOctoDb below reads the environment too
      delete process.env.OCTODB_LOG_TABLE;
    }
  });
});

/** get_query_stats through this store for the window [since, now]. */
const statsAt = (store: DynamoLogStore, tenantId: string, since: string, now: string) =>
  getQueryStats(tenantId, { label: 'test', ms: Date.parse(now) - Date.parse(since) }, { logStore: store }, new Date(now)).then(
    ({ total, by_statement_type }) => ({ total, by_statement_type }),
  );

/**
 * What get_query_stats answers for queryRecord's hour (2030-01-01T00), read from its hour bucket
 * (a window holding that full hour) and again from the raw records (a window of two partial
 * hours around it): the two must agree.
 */
async function statsOf(store: DynamoLogStore, tenantId: string) {
  const fromBucket = await statsAt(store, tenantId, '2030-01-01T00:00:00.000Z', '2030-01-01T01:00:00.000Z');
  const fromRaw = await statsAt(store, tenantId, '2029-12-31T23:30:00.000Z', '2030-01-01T00:59:59.999Z');
  expect(fromBucket).toEqual(fromRaw);
  return fromBucket;
}

const mixedQueries = (tenantId: string, n: number, hours = 1): QueryLogRecord[] =>
  Array.from({ length: n }, (_, i) => ({
    ...queryRecord(tenantId, i),
    create_timestamp: new Date(Date.UTC(2030, 0, 1, i % hours, (i * 7) % 60, 0, i)).toISOString(),
    log_id: randomUUID(), // as the producer stamps it: the same on every delivery
    statement_type: (['SELECT', 'INSERT', 'DELETE'] as const)[i % 3]!,
    duration_ms: ((i * 13) % 40) + 0.25,
    outcome: i % 5 === 0 ? ('error' as const) : ('ok' as const),
  }));

const countsOf = (rs: QueryLogRecord[]) => ({ count: rs.length, errors: rs.filter((r) => r.outcome === 'error').length });

function expectExact(s: Awaited<ReturnType<typeof statsOf>>, sent: QueryLogRecord[]) {
  expect(s.total).toMatchObject(countsOf(sent));
  for (const type of ['SELECT', 'INSERT', 'DELETE']) expect(s.by_statement_type[type]).toMatchObject(countsOf(sent.filter((r) => r.statement_type === type)));
}

/** `doc` with some commands failing: `fail(command)` true makes that call reject as an outage would. */
const failing = (fail: (command: unknown) => boolean) =>
  new Proxy(doc, {
    get(target, prop, receiver) {
      if (prop !== 'send') return Reflect.get(target, prop, receiver);
      return (command: unknown) => {
        if (fail(command)) return Promise.reject(Object.assign(new Error('injected outage'), { name: 'InternalServerError', $fault: 'server', $metadata: { httpStatusCode: 500 } }));
        return target.send(command as never);
      };
    },
  });

describe.skipIf(!serversUp)('query statistics buckets', () => {
  it('adds each stored query record once to its hour bucket', async () => {
    const tenant = newTenant();
    const q = queue(l1);
    const sent = mixedQueries(tenant, 60);
    await q.send(sent);
    await q.idle();
    const buckets = (await partitionOf(tenant)).filter((i) => String(i.sk).startsWith(STATS_PREFIX));
    expect(buckets.map((b) => b.sk)).toEqual(['stats#h#2030-01-01T00']);
    expect(buckets[0]!['n#SELECT']).toBe(20);
    expect(buckets[0]!['e#SELECT']).toBe(sent.filter((r) => r.statement_type === 'SELECT' && r.outcome === 'error').length);
    expectExact(await statsOf(new DynamoLogStore(doc, table), tenant), sent);
    q.close();
  });

  it('counts a message whose raw write failed once, after its redelivery', async () => {
    const tenant = newTenant();
    let failWrites = 1;
    const store = new DynamoLogStore(failing((c) => c instanceof BatchWriteCommand && failWrites-- > 0), table);
    const q = queue(createLogIngestHandler(async () => store), 100);
    const sent = mixedQueries(tenant, 20);
    await q.send(sent);
    await q.idle();
    expect(q.failedReceives).toBeGreaterThan(0); // the batch failed once and came back
    expect(q.deadLetters()).toEqual([]);
    expectExact(await statsOf(store, tenant), sent);
    expect(await itemsOf(tenant)).toHaveLength(20);
    q.close();
  });

  it('counts a record whose bucket update failed exactly once, after its redelivery', async () => {
    const tenant = newTenant();
    let failUpdates = 1;
    // The first UpdateItem fails, as in a DynamoDB outage the SDK gave up on: its raw write had succeeded.
    const store = new DynamoLogStore(failing((c) => c instanceof UpdateCommand && failUpdates-- > 0), table);
    const q = queue(createLogIngestHandler(async () => store), 100);
    const sent = mixedQueries(tenant, 20);
    await q.send(sent);
    await q.idle();
    expect(q.failedReceives).toBeGreaterThan(0); // some messages failed once and came back
    expect(q.deadLetters()).toEqual([]);
    expectExact(await statsOf(store, tenant), sent);
    const [bucket] = (await partitionOf(tenant)).filter((i) => String(i.sk).startsWith(STATS_PREFIX));
    expect(['SELECT', 'INSERT', 'DELETE'].reduce((n, t) => n + Number(bucket![`n#${t}`] ?? 0), 0)).toBe(20);
    expect(await itemsOf(tenant)).toHaveLength(20);
    q.close();
  });

  it('keeps tenants apart: each tenant’s bucket and stats hold its own records only', async () => {
    const [t1, t2] = [newTenant(), newTenant()];
    const q = queue(l1);
    const s1 = mixedQueries(t1, 30);
    const s2 = mixedQueries(t2, 12);
    await q.send([...s1, ...s2].sort(() => Math.random() - 0.5));
    await q.idle();
    const store = new DynamoLogStore(doc, table);
    expectExact(await statsOf(store, t1), s1);
    expectExact(await statsOf(store, t2), s2);
    q.close();
  });

  it('reads the hour buckets and at most 2 hours of raw records; full hours survive their raw records’ deletion', async () => {
    const tenant = newTenant();
    const q = queue(l1);
    const sent = mixedQueries(tenant, 150, 6); // 2030-01-01T00 through T05
    await q.send(sent);
    await q.idle();
    const reads: { from: string; to: string; items: Record<string, unknown>[] }[] = [];
    const counting = new Proxy(doc, {
      get(target, prop, receiver) {
        if (prop !== 'send') return Reflect.get(target, prop, receiver);
        return async (command: QueryCommand) => {
          const out = (await target.send(command)) as { Items?: Record<string, unknown>[] };
          const values = command.input.ExpressionAttributeValues ?? {};
          reads.push({ from: String(values[':from']), to: String(values[':to']), items: out.Items ?? [] });
          return out;
        };
      },
    });
    const store = new DynamoLogStore(counting, table);
    // 30 days back from 05:30:00.5 on the records' day: 719 full hours, then 05:00 to now raw.
    const now = '2030-01-01T05:30:00.500Z';
    const since = new Date(Date.parse(now) - 30 * 86_400_000).toISOString();
    const inWindow = sent.filter((r) => r.create_timestamp <= now);
    const before = await statsAt(store, tenant, since, now);
    expectExact(before, inWindow);

    expect(reads.length).toBeLessThanOrEqual(3);
    const plan = statsReadPlan(new Date(since), new Date(now));
    const bucketReads = reads.filter((r) => r.from.startsWith(STATS_PREFIX));
    expect(bucketReads.map(({ from, to }) => [from, to])).toEqual([plan.hours]);
    expect(bucketReads.flatMap((r) => r.items.map((i) => i.sk))).toEqual(Array.from({ length: 5 }, (_, h) => `stats#h#2030-01-01T0${h}`));
    const rawReads = reads.filter((r) => !r.from.startsWith(STATS_PREFIX));
    expect(rawReads.every((r) => r.from.startsWith('query#') && r.to.startsWith('query#'))).toBe(true);
    expect(rawReads.map(({ from, to }) => [from, to]).sort()).toEqual([...plan.raw].sort()); // the window's partial first hour and 05:00 to now
    const rawMs = rawReads.reduce((n, r) => n + Date.parse(r.to.slice(6)) - Date.parse(r.from.slice(6)), 0);
    expect(rawMs).toBeLessThan(2 * 3_600_000);
    expect(rawReads.flatMap((r) => r.items)).toHaveLength(sent.filter((r) => r.create_timestamp >= '2030-01-01T05' && r.create_timestamp <= now).length);

    // Delete the raw records of the full hours (00 to 04): the stats do not change.
    for (const item of await itemsOf(tenant)) {
      if (String(item.create_timestamp) < '2030-01-01T05') await doc.send(new DeleteCommand({ TableName: table, Key: { tenant_id: tenant, sk: item.sk } }));
    }
    expect((await itemsOf(tenant)).length).toBeLessThan(sent.length / 5);
    expect(await statsAt(store, tenant, since, now)).toEqual(before);
    q.close();
  });

  it('counts the window’s edges from the raw records: since is not rounded, and now is inclusive', async () => {
    const tenant = newTenant();
    const q = queue(l1);
    const at = (create_timestamp: string, i: number) => ({ ...mixedQueries(tenant, i + 1)[i]!, create_timestamp });
    const sent = [at('2030-01-01T00:20:00.000Z', 0), at('2030-01-01T00:20:00.001Z', 1), at('2030-01-01T01:30:00.000Z', 2), at('2030-01-01T03:10:00.000Z', 3), at('2030-01-01T03:10:00.001Z', 4)];
    await q.send(sent);
    await q.idle();
    const store = new DynamoLogStore(doc, table);
    // [00:20:00.001, 03:10:00.000]: raw 00:20:00.001–01:00, bucket 01 and 02, raw 03:00–03:10:00.000.
    const s = await statsAt(store, tenant, '2030-01-01T00:20:00.001Z', '2030-01-01T03:10:00.000Z');
    expect(s.total.count).toBe(3);
    expect(s.total).toMatchObject(countsOf(sent.slice(1, 4)));
    expect((await statsAt(store, tenant, '2030-01-01T00:20:00.000Z', '2030-01-01T03:10:00.001Z')).total).toMatchObject(countsOf(sent));
    q.close();
  });
});

describe.skipIf(!serversUp)('DynamoLogStore', () => {
  it('fails only the item DynamoDB refuses, not the others sharing its BatchWriteItem call', async () => {
    const tenant = newTenant();
    const store = new DynamoLogStore(doc, table);
    // A second line of defence behind L1's schema: an L1 that skipped validation altogether.
    const unvalidated: SqsConsumer = async (event) => {
      const results = await Promise.allSettled(event.Records.map((r) => ingestLogRecord(JSON.parse(r.body), r.body, store)));
      return { batchItemFailures: event.Records.filter((_, i) => results[i]!.status === 'rejected').map((r) => ({ itemIdentifier: r.messageId })) };
    };
    const q = queue(unvalidated);
    const refused = [
      JSON.stringify({ ...queryRecord(tenant, 1), duration_ms: 1e20 }), // the client will not encode it
      JSON.stringify(record(tenant, 2, { message: 'x'.repeat(450_000) })), // DynamoDB: item over 400 KB
    ];
    q.sendRaw([refused[0]!]);
    await q.send(Array.from({ length: 48 }, (_, i) => record(tenant, 10 + i))); // several batches, coalesced
    q.sendRaw([refused[1]!]);
    await q.idle();

    const items = await itemsOf(tenant);
    expect(items.map((i) => i.message).sort()).toEqual(Array.from({ length: 48 }, (_, i) => `line ${10 + i}`).sort());
    expect(q.deadLetters().map((d) => d.body).sort()).toEqual([...refused].sort());
    expect(q.failedReceives).toBe(6); // the refused two, 3 receives each; no good message failed once
    q.close();
  });

  it('answers a read outage with UnavailableError (503) and any other read error as itself (500)', async () => {
    const store = new DynamoLogStore(doc, table);
    const tenant = newTenant();
    // A cursor outside the key range: DynamoDB's ValidationException is a bug, not an outage.
    await expect(store.page(tenant, 'log', 5, { tenant_id: newTenant(), sk: 'log#x' })).rejects.toSatisfy(
      (e) => e instanceof DynamoDBServiceException && e.$fault === 'client',
    );
    await expect(new DynamoLogStore(doc, 'no_such_table').page(tenant, 'log', 5)).rejects.toSatisfy((e) => !(e instanceof UnavailableError));
    await dynalite.stop();
    try {
      await expect(store.page(tenant, 'log', 5)).rejects.toBeInstanceOf(UnavailableError);
      await expect(store.statsBuckets(tenant, ['stats#h#1970', 'stats#h#2030'])).rejects.toBeInstanceOf(UnavailableError);
      await expect(store.querySamples(tenant, [['query#1970', 'query#2030']])).rejects.toBeInstanceOf(UnavailableError);
    } finally {
      await dynalite.start();
    }
  });
});

describe.skipIf(!serversUp)('LocalDynalite', () => {
  it('keeps its data across a restart: items written before are read after', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'octodb-dynalite-restart-'));
    const tenant = newTenant();
    const clientFor = (d: LocalDynalite) =>
      new DynamoDBClient({ endpoint: d.endpoint, region: 'local', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
    try {
      const before = new LocalDynalite(dataDir);
      await before.start();
      const c1 = clientFor(before);
      await createLogTableIfMissing(c1, 'restart_logs');
      const store = new DynamoLogStore(DynamoDBDocumentClient.from(c1), 'restart_logs');
      await Promise.all(Array.from({ length: 5 }, (_, i) => ingestLogRecord(record(tenant, i), JSON.stringify(record(tenant, i)), store)));
      c1.destroy();
      await before.stop();

      // A new instance on a thread of its own, as after `npm start` is run again.
      const after = new LocalDynalite(dataDir);
      await after.start();
      const c2 = clientFor(after);
      try {
        const page = await new DynamoLogStore(DynamoDBDocumentClient.from(c2), 'restart_logs').page(tenant, 'log', 10);
        expect(page.items.map((i) => i.message)).toEqual(['line 4', 'line 3', 'line 2', 'line 1', 'line 0']);
      } finally {
        c2.destroy();
        await after.stop();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!serversUp)('npm start', () => {
  it('saves the log messages it could not store by shutdown, and stores them after the restart', async () => {
    const state = mkdtempSync(join(tmpdir(), 'octodb-restart-'));
    const env = { OCTODB_DYNALITE_DIR: join(state, 'dynalite'), OCTODB_LOG_DEAD_LETTER_FILE: join(state, 'log-dead-letters.jsonl') };
    const tenant = newTenant();
    try {
      const first = await startTestOctoDb(env);
      await first.dynalite!.stop(); // DynamoDB down: every message waits out its visibility timeout
      await (await first.parts.get('logs')).send(Array.from({ length: 12 }, (_, i) => record(tenant, i)));
      await waitFor(() => first.logQueue.failedReceives >= 12, { what: 'every message to fail its first receive' });
      await first.close();
      const saved = readFileSync(env.OCTODB_LOG_DEAD_LETTER_FILE, 'utf8').trim().split('\n');
      expect(saved.map((l) => JSON.parse(l).reason)).toEqual(Array(12).fill('shutdown'));

      const second = await startTestOctoDb(env);
      try {
        await second.logQueue.idle();
        const page = await (await second.parts.get('logStore')).page(tenant, 'log', 100);
        expect(page.items.map((i) => i.message).sort()).toEqual(Array.from({ length: 12 }, (_, i) => `line ${i}`).sort());
      } finally {
        await second.close();
      }
    } finally {
      rmSync(state, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!serversUp)('retention: the writer stamps each item for DynamoDB’s TTL', () => {
  const DAYS = 7;
  const seconds = (iso: string) => Math.floor(Date.parse(iso) / 1000);

  it('expires raw records retention after they were made, an hour bucket retention after its hour, and never shows the stamp', async () => {
    const store = new DynamoLogStore(doc, table, { retentionDays: DAYS });
    const q = queue(createLogIngestHandler(async () => store));
    const tenant = newTenant();
    const sent = [...mixedQueries(tenant, 3, 2), record(tenant, 99)];
    await q.send(sent);
    await q.idle();
    q.close();
    const items = await partitionOf(tenant);
    const raw = items.filter((i) => !String(i.sk).startsWith(STATS_PREFIX));
    expect(raw).toHaveLength(sent.length);
    for (const item of raw) expect(item[LOG_TABLE_TTL_ATTRIBUTE], String(item.sk)).toBe(seconds(String(item.create_timestamp)) + DAYS * 86_400);
    const buckets = items.filter((i) => String(i.sk).startsWith(STATS_PREFIX));
    expect(buckets.map((b) => b.sk).sort()).toEqual(['stats#h#2030-01-01T00', 'stats#h#2030-01-01T01']);
    for (const b of buckets) {
      const hourEnd = seconds(`${String(b.sk).slice(-13)}:00:00Z`) + 3_600;
      // Past every record its hour can hold, by the retention.
      expect(b[LOG_TABLE_TTL_ATTRIBUTE] as number, String(b.sk)).toBeGreaterThanOrEqual(hourEnd + DAYS * 86_400);
      expect(b[LOG_TABLE_TTL_ATTRIBUTE] as number, String(b.sk)).toBeLessThan(hourEnd + DAYS * 86_400 + 3_600);
    }
    // The dashboard's reads return records and counters, not the stamp.
    const page = await store.page(tenant, 'log', 10);
    expect(page.items).toHaveLength(1);
    expect(page.items[0]).not.toHaveProperty(LOG_TABLE_TTL_ATTRIBUTE);
    const counters = await store.statsBuckets(tenant, ['stats#h#2030-01-01T00', 'stats#h#2030-01-01T01']);
    expect(counters).toHaveLength(2);
    for (const c of counters) expect(Object.keys(c)).not.toContain(LOG_TABLE_TTL_ATTRIBUTE);
  });

  it('keeps a bucket’s expiry when later records of its hour are added', async () => {
    const store = new DynamoLogStore(doc, table, { retentionDays: DAYS });
    const tenant = newTenant();
    const [first, later] = [queryRecord(tenant, 1), { ...queryRecord(tenant, 2), create_timestamp: '2030-01-01T00:59:00.000Z' }];
    await store.put({ ...first, log_id: randomUUID() });
    const before = (await partitionOf(tenant)).find((i) => String(i.sk).startsWith(STATS_PREFIX))!;
    await store.put({ ...later, log_id: randomUUID() });
    const after = (await partitionOf(tenant)).find((i) => String(i.sk).startsWith(STATS_PREFIX))!;
    expect(after['n#SELECT']).toBe(2);
    expect(after[LOG_TABLE_TTL_ATTRIBUTE]).toBe(before[LOG_TABLE_TTL_ATTRIBUTE]);
  });

  it('stamps nothing with retention 0 (kept for ever)', async () => {
    const store = new DynamoLogStore(doc, table, { retentionDays: 0 });
    const q = queue(createLogIngestHandler(async () => store));
    const tenant = newTenant();
    await q.send(mixedQueries(tenant, 2));
    await q.idle();
    q.close();
    const items = await partitionOf(tenant);
    expect(items.length).toBe(3); // two records and their bucket
    for (const item of items) expect(item).not.toHaveProperty(LOG_TABLE_TTL_ATTRIBUTE);
  });
});

describe('createLogTableIfMissing', () => {
  it('creates the key layout the CDK stack deploys (lambdas/shared/log-table.ts), no index and no TTL', async () => {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: table }));
    expect(Table?.KeySchema).toEqual(LOG_TABLE_KEY_SCHEMA.KeySchema);
    expect(Table?.AttributeDefinitions).toEqual(LOG_TABLE_KEY_SCHEMA.AttributeDefinitions);
    expect(Table?.GlobalSecondaryIndexes).toBeUndefined();
    expect(Table?.LocalSecondaryIndexes).toBeUndefined();
  });
});
