import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NOT_APPLIED } from '#core/migration-atomic';
import type { Invoker } from '#core/ports';
import { migrationHelpers } from '../support/migrations.ts';
import { startTestOctoDb, type TestOctoDb } from '../support/octodb.ts';
import { waitFor } from '../support/wait.ts';

let octo: TestOctoDb;
let h: ReturnType<typeof migrationHelpers>;

beforeAll(async () => {
  octo = await startTestOctoDb({ OCTODB_MIGRATION_BACKOFF_MS: '20' });
  h = migrationHelpers(octo);
});
afterAll(async () => {
  await octo?.close();
});

const table = (name: string, extra = '') => `CREATE TABLE ${name} (id int unsigned NOT NULL AUTO_INCREMENT, name varchar(20) NOT NULL,${extra} PRIMARY KEY (id));`;
/** Valid for the validator, refused by the server (Error 1074: column length too big). */
const BAD = 'CREATE TABLE bad (id int NOT NULL, v varchar(20000) NOT NULL, PRIMARY KEY (id));';

interface Summary {
  batch_id: string;
  db_id: string;
  kind: string;
  atomic: boolean;
  state: string;
  counts: Record<string, number>;
  tables: string[];
}
type ListAnswer = { migrations: Summary[]; last_evaluated_key?: string };

const DIGITS = `(${Array.from({ length: 10 }, (_, d) => `SELECT ${d} AS d`).join(' UNION ALL ')})`;

const dashboard = <T = Record<string, unknown>>(token: string, body: Record<string, unknown>) => octo.post<T>('/dashboard', body, token);
const list = (token: string, params: Record<string, unknown> = {}) => dashboard<ListAnswer>(token, { action: 'list_migrations', ...params });

/** Every page of list_migrations with these params, following last_evaluated_key. */
async function allPages(token: string, params: Record<string, unknown>) {
  const pages: Summary[][] = [];
  let key: string | undefined;
  do {
    const res = await list(token, { ...params, ...(key && { last_evaluated_key: key }) });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    pages.push(res.body.migrations);
    key = res.body.last_evaluated_key;
  } while (key && pages.length < 50);
  return pages;
}

describe('list_migrations', () => {
  let t: Awaited<ReturnType<typeof h.tenant>>;
  const batches: string[] = []; // oldest first

  beforeAll(async () => {
    t = await h.tenant();
    batches.push((await h.migrate(t.token, table('items'))).batch_id);
    batches.push((await h.migrate(t.token, [table('products'), table('brands'), table('notes')].join('\n'))).batch_id);
    batches.push((await h.migrate(t.token, BAD)).batch_id);
  }, 120_000);

  it('lists the tenant batches newest first over several pages, each once', async () => {
    const pages = await allPages(t.token, { limit: 2 });
    expect(pages.map((p) => p.length)).toEqual([2, 1]);
    const all = pages.flat();
    expect(all.map((b) => b.batch_id)).toEqual([...batches].reverse());
    expect(all[0]).toMatchObject({ db_id: t.db_id, kind: 'tenant', atomic: false, state: 'failed', counts: { failed: 1 }, tables: ['bad'] });
    expect(all[1]).toMatchObject({ state: 'succeeded', counts: { succeeded: 3 }, tables: ['products', 'brands', 'notes'] });
    expect(all[2]).toMatchObject({ state: 'succeeded', tables: ['items'] });
  });

  it('filters by state, table and database', async () => {
    const ids = async (params: Record<string, unknown>) => (await allPages(t.token, params)).flat().map((b) => b.batch_id);
    expect(await ids({ state: 'failed' })).toEqual([batches[2]]);
    expect(await ids({ state: 'succeeded' })).toEqual([batches[1], batches[0]]);
    expect(await ids({ state: 'running' })).toEqual([]);
    expect(await ids({ table: 'brands' })).toEqual([batches[1]]);
    expect(await ids({ table: 'brands', state: 'failed' })).toEqual([]);
    expect(await ids({ db_id: t.db_id, limit: 1 })).toEqual([...batches].reverse());
  });

  it("never lists another tenant's batches, and answers 404 for another tenant's db_id", async () => {
    const other = await h.tenant();
    const own = (await h.migrate(other.token, table('items'))).batch_id;
    expect((await allPages(other.token, {})).flat().map((b) => b.batch_id)).toEqual([own]);
    expect((await allPages(other.token, { table: 'products' })).flat()).toEqual([]);
    const res = await list(other.token, { db_id: t.db_id });
    expect(res.status).toBe(404);
  }, 60_000);

  it('refuses a key issued to another tenant, for another list, or altered', async () => {
    const first = await list(t.token, { limit: 1 });
    const key = first.body.last_evaluated_key!;
    expect(key).toBeTruthy();
    const other = await h.tenant();
    expect((await list(other.token, { last_evaluated_key: key })).status).toBe(400);
    // A key of get_migration_status's job pages, or of the logs, is not one of this list.
    const jobs = await dashboard<{ last_evaluated_key?: string }>(t.token, { action: 'get_migration_status', batch_id: batches[1], limit: 1 });
    expect((await list(t.token, { last_evaluated_key: jobs.body.last_evaluated_key })).status).toBe(400);
    expect((await dashboard(t.token, { action: 'get_log_table', last_evaluated_key: key })).status).toBe(400);
    const altered = key.slice(0, 10) + (key[10] === 'A' ? 'B' : 'A') + key.slice(11);
    expect((await list(t.token, { last_evaluated_key: altered })).status).toBe(400);
  }, 60_000);

  it.each([
    [{ state: 'done' }, 'state'],
    [{ limit: 0 }, 'limit'],
    [{ limit: 101 }, 'limit'],
    [{ table: 'x'.repeat(65) }, 'table'],
    [{ db_id: 'nope' }, 'db_id'],
    [{ batch_id: '00000000-0000-0000-0000-000000000000' }, 'batch_id'],
  ])('refuses %j', async (params, field) => {
    const res = await list(t.token, params);
    expect(res.status).toBe(400);
    expect(JSON.stringify(res.body)).toContain(field);
  });

  it('looks at no more than 1000 batches per request: a rare filter pages on with short pages', async () => {
    // 1500 later batches without the table, written directly: only their listing is the subject here.
    const tenant = await h.tenant();
    const old = (await h.migrate(tenant.token, table('rare'))).batch_id;
    await h.query(
      `INSERT INTO ${h.meta('migration_batches')} (batch_id, tenant_id, db_id, kind, created_at, finished_at, outcome)
       SELECT UUID(), ?, ?, 'tenant', CURRENT_TIMESTAMP(3) + INTERVAL i SECOND, CURRENT_TIMESTAMP(3) + INTERVAL i SECOND, 'succeeded'
       FROM (SELECT a.d * 1000 + b.d * 100 + c.d * 10 + e.d + 1 AS i FROM ${DIGITS} a, ${DIGITS} b, ${DIGITS} c, ${DIGITS} e) n WHERE i <= 1500`,
      [tenant.tenant_id, tenant.db_id],
    );
    const pages = await allPages(tenant.token, { table: 'rare' });
    expect(pages.map((p) => p.map((b) => b.batch_id))).toEqual([[], [old]]);
    const unfiltered = await allPages(tenant.token, { limit: 100 });
    expect(unfiltered.flat()).toHaveLength(1501);
    expect(new Set(unfiltered.flat().map((b) => b.batch_id)).size).toBe(1501);
  }, 60_000);
});

describe("get_migration_status's job pages", () => {
  it('pages the jobs of a batch, filtered by state, with the counts of the whole batch', async () => {
    const t = await h.tenant();
    const sql = [table('a1'), table('a2'), table('a3'), table('a4'), BAD].join('\n');
    const { batch_id } = await h.submit(t.token, sql);
    await h.waitForBatch(batch_id, 90_000);
    const seen: string[] = [];
    let key: string | undefined;
    let pages = 0;
    do {
      const res = await dashboard<{ jobs: Array<{ table: string; state: string }>; counts: object; total: number; jobs_truncated: boolean; last_evaluated_key?: string; state: string }>(
        t.token,
        { action: 'get_migration_status', batch_id, limit: 2, ...(key && { last_evaluated_key: key }) },
      );
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body).toMatchObject({ counts: { succeeded: 4, failed: 1 }, total: 5, state: 'failed' });
      expect(res.body.jobs_truncated).toBe(res.body.last_evaluated_key !== undefined);
      seen.push(...res.body.jobs.map((j) => j.table));
      key = res.body.last_evaluated_key;
      pages++;
    } while (key);
    expect(pages).toBe(3);
    expect(seen).toEqual(['a1', 'a2', 'a3', 'a4', 'bad']);

    const failed = await dashboard<{ jobs: Array<{ table: string }>; last_evaluated_key?: string }>(t.token, { action: 'get_migration_status', batch_id, state: 'failed' });
    expect(failed.body.jobs.map((j) => j.table)).toEqual(['bad']);
    expect(failed.body.last_evaluated_key).toBeUndefined();

    // A key names its batch: refused on another batch, and with job_id.
    const first = await dashboard<{ last_evaluated_key: string }>(t.token, { action: 'get_migration_status', batch_id, limit: 1 });
    const other = await h.migrate(t.token, table('a5'));
    const res = await dashboard(t.token, { action: 'get_migration_status', batch_id: other.batch_id, last_evaluated_key: first.body.last_evaluated_key });
    expect(res.status).toBe(400);
    const byJob = await dashboard(t.token, { action: 'get_migration_status', job_id: other.jobs[0]!.job_id, state: 'failed' });
    expect(byJob.status).toBe(400);
  }, 120_000);
});

describe('"atomic": true on /migrate', () => {
  const ITEMS_B = table('items', ' b int DEFAULT NULL,');

  /** A tenant with items and products holding a row each; their definitions as the server shows them. */
  async function tenantWithTables() {
    const t = await h.tenant();
    await h.migrate(t.token, `${table('items')}\n${table('products')}`);
    await h.query(`INSERT INTO \`${t.db}\`.items (name) VALUES ('kept')`);
    await h.query(`INSERT INTO \`${t.db}\`.products (name) VALUES ('kept')`);
    return { ...t, items: await h.showCreate(t.db, 'items'), products: await h.showCreate(t.db, 'products') };
  }

  /** Submits with the jobs held back: the test starts them itself, in the order it needs. */
  async function submitHeld(token: string, body: Record<string, unknown>) {
    const held: Array<Record<string, unknown>> = [];
    const invoker: Invoker = { invokeAsync: async (_fn, payload) => void held.push(payload) };
    const restore = octo.parts.override({ invoker });
    try {
      const res = await octo.post<{ batch_id: string; jobs: Array<{ job_id: string; table: string }> }>('/migrate', body, token);
      expect(res.status, JSON.stringify(res.body)).toBe(202);
      const jobOf = (name: string) => res.body.jobs.find((j) => j.table === name)!.job_id;
      return { ...res.body, start: (name: string) => octo.invoker.invokeAsync('migrate-run', { job_id: jobOf(name) }), jobOf };
    } finally {
      restore();
    }
  }
  const tableNames = async (db: string) => (await h.query(`SELECT table_name AS t FROM information_schema.tables WHERE table_schema = ? ORDER BY 1`, [db])).map((r) => String(r.t));

  it('restores every table when one fails, after the others succeeded; a later batch waits and applies over the restored table', async () => {
    const t = await tenantWithTables();
    const sql = [table('items', ' a int DEFAULT NULL,'), table('products', ' a int DEFAULT NULL,'), table('fresh'), BAD].join('\n');
    const batch = await submitHeld(t.token, { sql, atomic: true });
    for (const name of ['items', 'products', 'fresh']) {
      await batch.start(name);
      await waitFor(async () => (await h.jobRow(batch.jobOf(name))).state === 'succeeded', { what: `${name} to succeed` });
    }
    expect(await h.showCreate(t.db, 'items')).toContain('`a` int');
    // Another batch changing items meanwhile waits for the atomic one to settle.
    const later = await h.submit(t.token, ITEMS_B);
    await waitFor(async () => (await h.jobRow(later.jobs[0]!.job_id)).wait_reason === 'earlier_job', { what: 'the later job to wait' });

    await batch.start('bad');
    await h.waitForBatch(batch.batch_id, 60_000);
    await h.waitForBatch(later.batch_id, 60_000);
    await octo.invoker.idle();

    expect(await h.showCreate(t.db, 'products')).toBe(t.products);
    // The later batch's b over the restored table: a, the atomic batch's column, is gone.
    const items = await h.showCreate(t.db, 'items');
    expect(items).toContain('`b` int');
    expect(items).not.toContain('`a` int');
    expect(await tableNames(t.db)).toEqual(['customers', 'items', 'orders', 'products']); // fresh dropped again, bad never made
    expect((await h.query(`SELECT name FROM \`${t.db}\`.items`)).map((r) => r.name)).toEqual(['kept']);
    expect((await h.query(`SELECT name FROM \`${t.db}\`.products`)).map((r) => r.name)).toEqual(['kept']);

    const status = await dashboard<{ state: string; atomic: boolean; counts: object; jobs: Array<{ table: string; state: string; status_reason: string; flagged: boolean }> }>(t.token, {
      action: 'get_migration_status',
      batch_id: batch.batch_id,
    });
    expect(status.body).toMatchObject({ state: 'rolled_back', atomic: true, counts: { failed: 4 } });
    for (const job of status.body.jobs.filter((j) => j.table !== 'bad')) {
      expect(job).toMatchObject({ state: 'failed', flagged: false });
      expect(job.status_reason).toBe('the table was restored from its backup: table bad of this atomic batch failed');
    }
    expect((await h.jobRow(later.jobs[0]!.job_id)).state).toBe('succeeded');
    const listed = await list(t.token, { state: 'rolled_back' });
    expect(listed.body.migrations.map((b) => b.batch_id)).toEqual([batch.batch_id]);
  }, 180_000);

  it('applies nothing more once a table failed: the jobs after it end without a push', async () => {
    const t = await tenantWithTables();
    const batch = await submitHeld(t.token, { sql: `${BAD}\n${table('items', ' a int DEFAULT NULL,')}`, atomic: true });
    await batch.start('bad');
    await waitFor(async () => (await h.jobRow(batch.jobOf('bad'))).state === 'failed', { what: 'bad to fail' });
    await batch.start('items');
    await h.waitForBatch(batch.batch_id, 60_000);
    const items = await h.jobRow(batch.jobOf('items'));
    expect(items).toMatchObject({ state: 'failed', status_reason: NOT_APPLIED, flagged: 0 });
    expect(await h.stages(batch.jobOf('items'))).toEqual([]);
    expect(await h.showCreate(t.db, 'items')).toBe(t.items);
    expect((await h.query(`SELECT outcome FROM ${h.meta('migration_batches')} WHERE batch_id = ?`, [batch.batch_id]))[0]!.outcome).toBe('rolled_back');
  }, 120_000);

  it('without atomic, the tables that succeed keep their change', async () => {
    const t = await tenantWithTables();
    const { batch_id } = await h.migrate(t.token, [table('items', ' a int DEFAULT NULL,'), BAD].join('\n'));
    expect(await h.showCreate(t.db, 'items')).toContain('`a` int');
    const res = await list(t.token, { limit: 1 });
    expect(res.body.migrations[0]).toMatchObject({ batch_id, atomic: false, state: 'failed', counts: { succeeded: 1, failed: 1 } });
  }, 120_000);

  it('refuses a non-boolean atomic', async () => {
    const t = await h.tenant();
    const res = await octo.post('/migrate', { sql: table('x'), atomic: 'yes' }, t.token);
    expect(res.status).toBe(400);
    expect(JSON.stringify(res.body)).toContain('atomic');
  });
});
