import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeleteCommand, DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { MysqlSchemaInspector } from '#adapters/mysql-schema-inspector';
import { MysqlTenantSqlRunner } from '#adapters/mysql-tenant-sql-runner';
import type { LogRecord, QueryLogRecord } from '#core/ports';
import { databaseName } from '#core/ids';
import { BIN_FLOOR_MS, PERCENTILE_RELATIVE_ERROR } from '#core/query-stats';
import { loadConfig } from '#shared/config';
import { startTestOctoDb, type TestOctoDb } from '../support/octodb.ts';
import { TEST_TLS } from '../support/mysql-tls.ts';
import { serversUp } from '../support/servers.ts';

let octo: TestOctoDb;
interface Tenant {
  tenant_id: string;
  db_id: string;
  email: string;
  token: string;
}
let a: Tenant;
let b: Tenant;

const ACTIONS = ['get_user_info', 'list_databases', 'get_database_metadata', 'get_database_tables', 'get_log_table', 'get_query_logs', 'get_query_stats', 'get_migration_status', 'list_table_backups', 'restore_table', 'restore_database', 'get_restore_status', 'list_migrations', 'list_children', 'create_api_key', 'list_api_keys', 'revoke_api_key', 'delete_account'];

async function tenant(): Promise<Tenant> {
  const t = await octo.signUp();
  await octo.waitForDatabase(t.db_id);
  return { ...t, token: await octo.token(t.email, t.password) };
}

const dash = <T = Record<string, unknown>>(who: Tenant, body: unknown) => octo.post<T>('/dashboard', body, who.token);

const minutesAgo = (m: number, ms = 0) => new Date(Date.now() - m * 60_000 + ms).toISOString();
const logLine = (t: Tenant, i: number): LogRecord => ({
  tenant_id: t.tenant_id,
  source: 'migrate',
  level: i % 5 === 0 ? 'ERROR' : 'INFO',
  message: `step ${i}`,
  create_timestamp: minutesAgo(30, i),
  job_id: randomUUID(),
});
const queryLine = (t: Tenant, i: number, over: Partial<QueryLogRecord> = {}): QueryLogRecord => ({
  tenant_id: t.tenant_id,
  source: 'query',
  level: 'INFO',
  message: `SELECT ${i}`,
  create_timestamp: minutesAgo(10, i),
  db_id: t.db_id,
  statement_type: (['SELECT', 'INSERT', 'UPDATE'] as const)[i % 3]!,
  duration_ms: (i * 7) % 23,
  rows: i,
  outcome: i % 4 === 0 ? 'error' : 'ok',
  log_id: randomUUID(), // stamped by the producer: sending the record again is a redelivery
  ...over,
});

const nearestRank = (xs: number[], p: number) => [...xs].sort((x, y) => x - y)[Math.ceil((p / 100) * xs.length) - 1]!;
/** README's precision: within ±4.43% of the exact nearest-rank value (0 below 0.01 ms). */
const close = (reported: number | null, exact: number) =>
  exact < BIN_FLOOR_MS ? reported === 0 : reported !== null && Math.abs(reported - exact) <= PERCENTILE_RELATIVE_ERROR * exact * 1.001;
function expectStats(got: Record<string, unknown>, rs: QueryLogRecord[]) {
  expect(got).toMatchObject({ count: rs.length, errors: rs.filter((r) => r.outcome === 'error').length });
  const ds = rs.map((r) => r.duration_ms);
  if (ds.length === 0) return expect(got).toMatchObject({ p50_ms: null, p95_ms: null });
  expect(close(got.p50_ms as number, nearestRank(ds, 50)), `p50 ${got.p50_ms} vs ${nearestRank(ds, 50)}`).toBe(true);
  expect(close(got.p95_ms as number, nearestRank(ds, 95)), `p95 ${got.p95_ms} vs ${nearestRank(ds, 95)}`).toBe(true);
}

/** Walks every page of a log action; returns the pages' items in order. */
async function walk(who: Tenant, action: string, limit: number) {
  const pages: Record<string, unknown>[][] = [];
  let key: string | null | undefined;
  do {
    const res = await dash<{ items: Record<string, unknown>[]; last_evaluated_key: string | null }>(who, {
      action,
      limit,
      ...(key ? { last_evaluated_key: key } : {}),
    });
    expect(res.status).toBe(200);
    pages.push(res.body.items);
    key = res.body.last_evaluated_key;
  } while (key && pages.length < 100);
  return pages;
}

let aLogs: LogRecord[];
let aQueries: QueryLogRecord[];
let bQueries: QueryLogRecord[];

beforeAll(async () => {
  octo = await startTestOctoDb();
  [a, b] = await Promise.all([tenant(), tenant()]);
  aLogs = Array.from({ length: 23 }, (_, i) => logLine(a, i));
  aQueries = Array.from({ length: 31 }, (_, i) => queryLine(a, i));
  bQueries = Array.from({ length: 4 }, (_, i) => queryLine(b, i, { duration_ms: 1000 + i }));
  // Query records as the query path will send them, through the same log port.
  await (await octo.parts.get('logs')).send([...aLogs, ...aQueries, ...bQueries, logLine(b, 1)]);
  // Older than a 1h window: counted by 24h, not by 1h.
  await (await octo.parts.get('logs')).send([queryLine(a, 100, { create_timestamp: minutesAgo(120), duration_ms: 5000 })]);
  await octo.logQueue.idle();
});
afterAll(async () => octo?.close());

describe.skipIf(!serversUp)('POST /dashboard', () => {
  it('get_user_info answers the caller’s own tenant and its storage as last measured, never the password hash', async () => {
    // get_database_metadata measures the database: get_user_info must then show that measurement.
    const measured = (await dash<{ storage: { used_bytes: number; measured_at: string } }>(a, { action: 'get_database_metadata' })).body.storage;
    expect(measured.used_bytes).toBeGreaterThan(0);
    expect(Date.now() - Date.parse(measured.measured_at)).toBeLessThan(60_000);
    const res = await dash(a, { action: 'get_user_info' });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      tenant_id: a.tenant_id,
      name: 'Test Tenant',
      email: a.email,
      created_at: expect.any(String),
      is_admin: false,
      storage: { used_bytes: measured.used_bytes, quota_bytes: 1024 * 1024 * 1024, measured_at: measured.measured_at },
    });
    expect(JSON.stringify(res.body)).not.toMatch(/password|\$2[aby]\$/);
  });

  it('list_databases lists only the caller’s databases', async () => {
    // Another tenant's id in the body is refused like any unknown field (it used to be ignored).
    expect(await dash(a, { action: 'list_databases', tenant_id: b.tenant_id })).toMatchObject({ status: 400, body: { problems: [{ field: 'tenant_id' }] } });
    const res = await dash<{ databases: Record<string, unknown>[] }>(a, { action: 'list_databases' });
    expect(res.status).toBe(200);
    expect(res.body.databases).toEqual([
      { db_id: a.db_id, status: 'ready', status_reason: null, template: 'default', host_id: 'local', created_at: expect.any(String) },
    ]);
  });

  it('get_database_metadata reports status, size, tables, parent and customized tables', async () => {
    const res = await dash(a, { action: 'get_database_metadata', db_id: a.db_id });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ db_id: a.db_id, status: 'ready', table_count: 2, parent: 'default', customized_tables: [] });
    expect(res.body.size_bytes).toBeGreaterThan(0);
    const implicit = await dash(a, { action: 'get_database_metadata' });
    expect(implicit.body.db_id).toBe(a.db_id);
  });

  it('get_database_tables lists table names with row estimates', async () => {
    // Three customers and no order, with fresh statistics (ANALYZE): the estimates are exact.
    const db = `\`${databaseName(a.db_id)}\``;
    await octo.admin.query(`INSERT INTO ${db}.customers (name) VALUES ('c1'), ('c2'), ('c3')`);
    await octo.admin.query(`ANALYZE TABLE ${db}.customers, ${db}.orders`);
    const res = await dash<{ tables: { name: string; rows_estimate: number }[] }>(a, { action: 'get_database_tables', db_id: a.db_id });
    expect(res.status).toBe(200);
    expect(res.body.tables.map((t) => t.name)).toEqual(['customers', 'orders']);
    expect(res.body.tables.map((t) => t.rows_estimate)).toEqual([3, 0]);
    expect(res.body).toMatchObject({ truncated: false });
  });

  it('counts and sizes every table even when the listing stops at the row cap', async () => {
    const runner = new MysqlTenantSqlRunner(TEST_TLS, { rowLimit: 1, maxResultBytes: 4 * 1024 * 1024, timeoutMs: 5000, poolSize: 2, acquireTimeoutMs: 2000 });
    try {
      const facts = await new MysqlSchemaInspector(runner).describe(await (await octo.parts.get('tenantLogins')).resolve(a.tenant_id, a.db_id));
      expect(facts).toMatchObject({ tableCount: 2, truncated: true, tables: [{ name: 'customers' }] });
      expect(facts.sizeBytes).toBeGreaterThan(0);
    } finally {
      await runner.close();
    }
  });

  it('answers 404 for a database the caller does not own, or that does not exist', async () => {
    for (const action of ['get_database_metadata', 'get_database_tables']) {
      expect((await dash(a, { action, db_id: b.db_id })).status).toBe(404);
      expect((await dash(a, { action, db_id: 'f'.repeat(32) })).status).toBe(404);
    }
  });

  it('get_log_table pages through every log record exactly once, newest first', async () => {
    const pages = await walk(a, 'get_log_table', 7);
    const items = pages.flat();
    // Provisioning's own records are there too: read the expected set from what was sent plus those.
    const sentIds = new Set(items.filter((i) => i.source === 'migrate').map((i) => i.message));
    expect(sentIds).toEqual(new Set(aLogs.map((l) => l.message)));
    expect(items.filter((i) => i.source === 'provision').length).toBeGreaterThan(0);
    expect(new Set(items.map((i) => i.log_id)).size).toBe(items.length);
    expect(pages.slice(0, -1).every((p) => p.length === 7)).toBe(true);
    const times = items.map((i) => String(i.create_timestamp));
    expect(times).toEqual([...times].sort().reverse());
    expect(items.every((i) => i.source !== 'query' && !('tenant_id' in i) && !('sk' in i))).toBe(true);
  });

  it('get_query_logs pages through every query record exactly once', async () => {
    const items = (await walk(a, 'get_query_logs', 10)).flat();
    expect(items).toHaveLength(aQueries.length + 1);
    expect(new Set(items.map((i) => i.log_id)).size).toBe(items.length);
    expect(items.every((i) => i.source === 'query' && i.db_id === a.db_id)).toBe(true);
    const byId = new Map(items.map((i) => [i.log_id, i]));
    for (const sent of aQueries) {
      expect(byId.get(sent.log_id)).toMatchObject({ message: sent.message, statement_type: sent.statement_type, duration_ms: sent.duration_ms, outcome: sent.outcome });
    }
  });

  it('get_query_stats counts, errors and p50/p95 by statement type over the window', async () => {
    const res = await dash<Record<string, any>>(a, { action: 'get_query_stats', window: '1h' });
    expect(res.status).toBe(200);
    expectStats(res.body.total, aQueries);
    expect(Object.keys(res.body.by_statement_type)).toEqual(['INSERT', 'SELECT', 'UPDATE']);
    for (const type of ['SELECT', 'INSERT', 'UPDATE']) expectStats(res.body.by_statement_type[type], aQueries.filter((q) => q.statement_type === type));
    const day = await dash<Record<string, any>>(a, { action: 'get_query_stats', window: '24h' });
    expect(day.body.total.count).toBe(aQueries.length + 1);
  });

  it('never shows tenant B tenant A’s logs, query logs or stats (and the reverse)', async () => {
    const bLogs = (await walk(b, 'get_log_table', 50)).flat();
    const bQ = (await walk(b, 'get_query_logs', 50)).flat();
    const aIds = new Set([...(await walk(a, 'get_log_table', 50)).flat(), ...(await walk(a, 'get_query_logs', 50)).flat()].map((i) => i.log_id));
    expect([...bLogs, ...bQ].some((i) => aIds.has(i.log_id))).toBe(false);
    expect(bQ.map((i) => i.message).sort()).toEqual(bQueries.map((q) => q.message).sort());
    expect((await dash(b, { action: 'get_query_stats', window: '1h', tenant_id: a.tenant_id })).status).toBe(400);
    const stats = await dash<Record<string, any>>(b, { action: 'get_query_stats', window: '1h' });
    expectStats(stats.body.total, bQueries);
    expect(Object.keys(stats.body.by_statement_type).sort()).toEqual([...new Set(bQueries.map((q) => q.statement_type))].sort());
  });

  it('refuses a tampered, foreign or wrong-kind last_evaluated_key', async () => {
    const first = await dash<{ last_evaluated_key: string }>(a, { action: 'get_log_table', limit: 2 });
    const key = first.body.last_evaluated_key;
    expect(typeof key).toBe('string');
    const flip = (s: string, at: number) => s.slice(0, at) + (s[at] === 'A' ? 'B' : 'A') + s.slice(at + 1);
    for (const bad of [flip(key, key.length - 3), flip(key, 5), `${key}x`, 'v1.x.y.z', Buffer.from(JSON.stringify({ tenant_id: a.tenant_id, sk: 'log#' })).toString('base64')]) {
      const res = await dash(a, { action: 'get_log_table', last_evaluated_key: bad });
      expect(res.status, bad).toBe(400);
    }
    // A's genuine key, presented by B: refused, not a view into A's partition.
    const foreign = await dash(b, { action: 'get_log_table', last_evaluated_key: key });
    expect(foreign.status).toBe(400);
    const wrongKind = await dash(a, { action: 'get_query_logs', last_evaluated_key: key });
    expect(wrongKind.status).toBe(400);
    const genuine = await dash(a, { action: 'get_log_table', limit: 2, last_evaluated_key: key });
    expect(genuine.status).toBe(200);
  });

  it.each(['get_log_table', 'get_query_logs'])('%s takes last_evaluated_key: null (what the last page answers) as the first page', async (action) => {
    const first = await dash<{ items: { log_id: string }[] }>(a, { action, limit: 3 });
    const echoed = await dash<{ items: { log_id: string }[] }>(a, { action, limit: 3, last_evaluated_key: null });
    expect(echoed.status).toBe(200);
    expect(echoed.body.items.map((i) => i.log_id)).toEqual(first.body.items.map((i) => i.log_id));
  });

  it('answers 400 listing the valid actions for an unknown or missing action', async () => {
    for (const body of [{ action: 'drop_everything' }, {}, { action: 42 }, { action: '__proto__' }, { action: 'toString' }]) {
      const res = await dash<{ error: string; valid_actions: string[] }>(a, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.valid_actions).toEqual(ACTIONS);
    }
    expect((await dash(a, 'not json')).status).toBe(400);
  });

  it.each([
    [{ action: 'get_log_table', limit: 0 }],
    [{ action: 'get_log_table', limit: 101 }],
    [{ action: 'get_log_table', limit: 1.5 }],
    [{ action: 'get_query_logs', limit: '10' }],
    [{ action: 'get_query_logs', last_evaluated_key: 'k'.repeat(5000) }],
    [{ action: 'get_query_logs', last_evaluated_key: 7 }],
    [{ action: 'get_query_stats', window: 'forever' }],
    [{ action: 'get_query_stats', window: '31d' }],
    [{ action: 'get_query_stats', window: '0m' }],
    [{ action: 'get_database_metadata', db_id: 'nope' }],
    [{ action: 'get_database_tables', db_id: "x' OR 1=1 --" }],
    [{ action: 'get_database_tables', db_id: ['a'] }],
  ])('answers 400 for bad parameters: %j', async (body) => {
    const res = await dash(a, body);
    expect(res.status).toBe(400);
    expect(typeof res.body.error).toBe('string');
  });

  it('answers 503 while the log table is down, and pages again once it is back', async () => {
    await octo.dynalite!.stop();
    try {
      const down = await dash(a, { action: 'get_log_table' });
      expect(down.status).toBe(503);
      expect(down.body).toEqual({ error: 'The log table is unavailable, try again' });
      expect((await dash(a, { action: 'get_query_stats' })).status).toBe(503);
    } finally {
      await octo.dynalite!.start();
    }
    expect((await dash(a, { action: 'get_log_table' })).status).toBe(200);
  });

  it('is behind the authorizer', async () => {
    expect((await octo.post('/dashboard', { action: 'get_user_info' })).status).toBe(401);
    expect((await octo.post('/dashboard', { action: 'get_user_info' }, 'not-a-token')).status).toBe(401);
  });
});

describe.skipIf(!serversUp)('get_query_stats from hour buckets and the raw records of the edge hours', () => {
  const stats = (who: Tenant, window = '1h') => dash<Record<string, any>>(who, { action: 'get_query_stats', window });

  it('covers exactly [until − window, until]: a record just inside counts, one just outside or in the future not', async () => {
    const c = await tenant();
    const inside = queryLine(c, 1, { create_timestamp: minutesAgo(59), duration_ms: 3 });
    const outside = queryLine(c, 2, { create_timestamp: minutesAgo(61), duration_ms: 400, outcome: 'error' });
    const future = queryLine(c, 3, { create_timestamp: minutesAgo(-5), duration_ms: 9 });
    await (await octo.parts.get('logs')).send([inside, outside, future]);
    await octo.logQueue.idle();
    const res = await stats(c);
    expect(res.status).toBe(200);
    expect(Date.parse(res.body.until) - Date.parse(res.body.since)).toBe(3_600_000); // not rounded
    expectStats(res.body.total, [inside]);
    expectStats((await stats(c, '2h')).body.total, [inside, outside]);
    expectStats((await stats(c, '10m')).body.total, []);
  });

  // Last: it deletes tenant A's raw query records of the hours before the current one.
  it('answers full hours from the hour buckets: the same stats after those hours’ raw query records are deleted', async () => {
    const before = await stats(a, '24h');
    const doc = DynamoDBDocumentClient.from(await octo.parts.get('dynamo'));
    const table = loadConfig().OCTODB_LOG_TABLE;
    const raw = await doc.send(
      new QueryCommand({ TableName: table, KeyConditionExpression: 'tenant_id = :t AND begins_with(sk, :p)', ExpressionAttributeValues: { ':t': a.tenant_id, ':p': 'query#' } }),
    );
    expect(raw.Items!.length).toBe(aQueries.length + 1);
    const currentHour = new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000).toISOString();
    const old = raw.Items!.filter((item) => String(item.create_timestamp) < currentHour);
    expect(old.length).toBeGreaterThan(0); // at least the record from 2 hours ago
    for (const item of old) await doc.send(new DeleteCommand({ TableName: table, Key: { tenant_id: item.tenant_id, sk: item.sk } }));
    expect((await walk(a, 'get_query_logs', 100)).flat()).toHaveLength(aQueries.length + 1 - old.length);
    const after = await stats(a, '24h');
    expect(after.status).toBe(200);
    expect(after.body.total).toEqual(before.body.total);
    expect(after.body.by_statement_type).toEqual(before.body.by_statement_type);
    expect(after.body.total.count).toBe(aQueries.length + 1);
  });
});
