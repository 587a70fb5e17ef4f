import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LogRecord, QueryLogRecord } from '#core/ports';
import { startTestOctoDb, type TestOctoDb } from '../support/octodb.ts';

let octo: TestOctoDb;
interface Tenant {
  tenant_id: string;
  db_id: string;
  email: string;
  token: string;
}
let a: Tenant;
let b: Tenant;

const ACTIONS = ['get_user_info', 'list_databases', 'get_database_metadata', 'get_database_tables', 'get_log_table', 'get_query_logs', 'get_query_stats', 'get_migration_status'];

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
  ...over,
});

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
  await octo.deps.logs.send([...aLogs, ...aQueries, ...bQueries, logLine(b, 1)]);
  // Older than a 1h window: counted by 24h, not by 1h.
  await octo.deps.logs.send([queryLine(a, 100, { create_timestamp: minutesAgo(120), duration_ms: 5000 })]);
  await octo.logQueue.idle();
});
afterAll(async () => octo?.close());

describe('POST /dashboard', () => {
  it('get_user_info answers the caller’s own tenant, never the password hash', async () => {
    const res = await dash(a, { action: 'get_user_info' });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ tenant_id: a.tenant_id, name: 'Test Tenant', email: a.email, created_at: expect.any(String), is_admin: false });
    expect(JSON.stringify(res.body)).not.toMatch(/password|\$2[aby]\$/);
  });

  it('list_databases lists only the caller’s databases', async () => {
    const res = await dash<{ databases: Record<string, unknown>[] }>(a, { action: 'list_databases', tenant_id: b.tenant_id });
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
    const res = await dash<{ tables: { name: string; rows_estimate: number }[] }>(a, { action: 'get_database_tables', db_id: a.db_id });
    expect(res.status).toBe(200);
    expect(res.body.tables.map((t) => t.name)).toEqual(['customers', 'orders']);
    for (const t of res.body.tables) expect(t.rows_estimate).toBeGreaterThanOrEqual(0);
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
    expect(items[0]).toMatchObject({ statement_type: expect.any(String), duration_ms: expect.any(Number), outcome: expect.any(String) });
  });

  it('get_query_stats counts, errors and p50/p95 by statement type over the window', async () => {
    const res = await dash<Record<string, any>>(a, { action: 'get_query_stats', window: '1h' });
    expect(res.status).toBe(200);
    const nearestRank = (xs: number[], p: number) => [...xs].sort((x, y) => x - y)[Math.ceil((p / 100) * xs.length) - 1];
    const expectFor = (rs: QueryLogRecord[]) => ({
      count: rs.length,
      errors: rs.filter((r) => r.outcome === 'error').length,
      p50_ms: nearestRank(rs.map((r) => r.duration_ms), 50),
      p95_ms: nearestRank(rs.map((r) => r.duration_ms), 95),
    });
    expect(res.body.total).toEqual(expectFor(aQueries));
    for (const type of ['SELECT', 'INSERT', 'UPDATE']) {
      expect(res.body.by_statement_type[type]).toEqual(expectFor(aQueries.filter((q) => q.statement_type === type)));
    }
    const day = await dash<Record<string, any>>(a, { action: 'get_query_stats', window: '24h' });
    expect(day.body.total.count).toBe(aQueries.length + 1);
  });

  it('never shows tenant B tenant A’s logs, query logs or stats (and the reverse)', async () => {
    const bLogs = (await walk(b, 'get_log_table', 50)).flat();
    const bQ = (await walk(b, 'get_query_logs', 50)).flat();
    const aIds = new Set([...(await walk(a, 'get_log_table', 50)).flat(), ...(await walk(a, 'get_query_logs', 50)).flat()].map((i) => i.log_id));
    expect([...bLogs, ...bQ].some((i) => aIds.has(i.log_id))).toBe(false);
    expect(bQ.map((i) => i.message).sort()).toEqual(bQueries.map((q) => q.message).sort());
    const stats = await dash<Record<string, any>>(b, { action: 'get_query_stats', window: '1h', tenant_id: a.tenant_id });
    expect(stats.body.total.count).toBe(bQueries.length);
    expect(stats.body.total.p50_ms).toBeGreaterThanOrEqual(1000);
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
