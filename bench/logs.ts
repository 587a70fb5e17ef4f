/**
 * `npm run bench -- logs [messages=10000] [rounds=3]`: log records through the local pipeline as
 * `npm start` runs it (LocalLogQueue, batches of 25 → L1 log-ingest on a worker thread →
 * DynamoLogStore → dynalite) against the same items written directly with BatchWriteItem (25 per
 * call, as many calls in flight as the queue runs batches), in one run on one dynalite. Prints
 * both throughputs and the ratio; goal: pipeline ≥ 50% of direct. The pipeline does more than the
 * direct writes: after its batch is written, each query record is folded into its tenant's hour
 * statistics bucket (one UpdateItem per tenant × hour per flush); that cost is part of what is measured.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { createLogTableIfMissing } from '#adapters/dynamo-log-store';
import { LocalDynalite } from '#adapters/local-dynalite';
import { LocalLogQueue } from '#adapters/local-log-queue';
import { WorkerConsumer } from '#adapters/worker-consumer';
import { kindOf, sortKey } from '#core/logs';
import type { LogRecord } from '#core/ports';
import { loadConfig } from '#shared/config';
import { LOG_PIPELINE } from '#shared/log-pipeline';

const CONCURRENCY = 4;

function records(n: number): LogRecord[] {
  const tenants = Array.from({ length: 10 }, () => randomUUID());
  const start = Date.now();
  return Array.from({ length: n }, (_, i) => ({
    tenant_id: tenants[i % tenants.length]!,
    source: i % 4 === 0 ? 'query' : 'migrate',
    level: 'INFO',
    message: `step ${i}: ${'x'.repeat(160)}`,
    create_timestamp: new Date(start + i).toISOString(),
    log_id: randomUUID(),
    db_id: 'a'.repeat(32),
    ...(i % 4 === 0 ? { statement_type: 'SELECT', duration_ms: i % 50, rows: 1, outcome: 'ok' } : {}),
  }));
}

async function direct(doc: DynamoDBDocumentClient, table: string, recs: LogRecord[]): Promise<void> {
  const items = recs.map((r) => ({ ...r, sk: sortKey(kindOf(r), r.create_timestamp, String(r.log_id)) }));
  const chunks: (typeof items)[] = [];
  for (let i = 0; i < items.length; i += 25) chunks.push(items.slice(i, i + 25));
  const worker = async () => {
    for (let chunk = chunks.shift(); chunk; chunk = chunks.shift()) {
      let todo: Record<string, unknown>[] = chunk;
      while (todo.length) {
        const out = await doc.send(new BatchWriteCommand({ RequestItems: { [table]: todo.map((Item) => ({ PutRequest: { Item } })) } }));
        todo = (out.UnprocessedItems?.[table] ?? []).map((r) => r.PutRequest!.Item!);
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
}

/** L1 as bin/local.ts runs it: a worker thread with a log store of its own, for one table. */
async function workerL1(endpoint: string, table: string): Promise<WorkerConsumer> {
  const l1 = new WorkerConsumer(new URL('../bin/local-log-worker.mjs', import.meta.url), loadConfig({ OCTODB_DYNAMODB_ENDPOINT: endpoint, OCTODB_LOG_TABLE: table }));
  await l1.consume({ Records: [] }); // the thread starts and loads its modules before the clock runs
  return l1;
}

async function pipeline(l1: WorkerConsumer, recs: LogRecord[]): Promise<LocalLogQueue> {
  const queue = new LocalLogQueue((event) => l1.consume(event), { batchSize: LOG_PIPELINE.batchSize, concurrency: CONCURRENCY });
  // Producers send in modest groups, as provisioning and migrations do.
  for (let i = 0; i < recs.length; i += 100) await queue.send(recs.slice(i, i + 100));
  await queue.idle();
  queue.close();
  return queue;
}

async function count(client: DynamoDBClient, table: string): Promise<number> {
  let n = 0;
  let start: Record<string, never> | undefined;
  do {
    // Log records only: the pipeline also writes query statistics buckets (`stats#` sort keys).
    const out = await client.send(
      new ScanCommand({
        TableName: table,
        Select: 'COUNT',
        FilterExpression: 'NOT begins_with(sk, :s)',
        ExpressionAttributeValues: { ':s': { S: 'stats#' } },
        ExclusiveStartKey: start,
      }),
    );
    n += out.Count ?? 0;
    start = out.LastEvaluatedKey as never;
  } while (start);
  return n;
}

const time = async (run: () => Promise<unknown>): Promise<number> => {
  const t0 = performance.now();
  await run();
  return (performance.now() - t0) / 1000;
};

export async function main(args: string[]): Promise<void> {
  const n = Number(args[0] ?? 10_000);
  const dir = mkdtempSync(join(tmpdir(), 'octodb-bench-logs-'));
  const dynalite = new LocalDynalite(dir);
  await dynalite.start();
  const client = new DynamoDBClient({ endpoint: dynalite.endpoint, region: 'local', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
  const doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  try {
    for (const t of ['warm_direct', 'warm_pipeline']) await createLogTableIfMissing(client, t);
    await direct(doc, 'warm_direct', records(500));
    const warm = await workerL1(dynalite.endpoint, 'warm_pipeline');
    await pipeline(warm, records(500));
    await warm.close();

    // Rounds alternate direct and pipeline on fresh tables: the shared machine's noise hits both.
    const rounds = Number(args[1] ?? 3);
    const ratios: number[] = [];
    for (let round = 1; round <= rounds; round++) {
      const recs = records(n);
      const [directTable, pipelineTable] = [`direct_${round}`, `pipeline_${round}`];
      await createLogTableIfMissing(client, directTable);
      await createLogTableIfMissing(client, pipelineTable);
      const directSeconds = await time(() => direct(doc, directTable, recs));
      const l1 = await workerL1(dynalite.endpoint, pipelineTable);
      let dead = 0;
      const pipelineSeconds = await time(async () => {
        dead = (await pipeline(l1, recs)).deadLetters().length;
      });
      await l1.close();
      const [storedDirect, storedPipeline] = [await count(client, directTable), await count(client, pipelineTable)];
      if (storedDirect !== n || storedPipeline !== n || dead !== 0) throw new Error('bench: not every message was stored exactly once');
      const [directRate, pipelineRate] = [n / directSeconds, n / pipelineSeconds];
      ratios.push(pipelineRate / directRate);
      console.log(
        `round ${round}: direct BatchWriteItem (25/call) ${directRate.toFixed(0)} items/s | ` +
          `pipeline queue → L1 (worker) → store ${pipelineRate.toFixed(0)} items/s (stored ${storedPipeline}/${n}, DLQ ${dead}) | ` +
          `ratio ${(100 * ratios.at(-1)!).toFixed(1)}%`,
      );
    }
    const median = [...ratios].sort((a, b) => a - b)[Math.floor(ratios.length / 2)]!;
    console.log(`messages per round: ${n}, batches of 25, ${CONCURRENCY} batches/calls in flight, dynalite`);
    console.log(`ratio pipeline/direct, median of ${rounds}: ${(100 * median).toFixed(1)}%  (goal ≥ 50%)`);
  } finally {
    client.destroy();
    await dynalite.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
