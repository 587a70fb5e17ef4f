import type { RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseName } from '#core/ids';
import type { PlanResult } from '#core/migration-plan';
import { startTestOctoDb, type TestOctoDb } from '../support/octodb.ts';
import { serversUp } from '../support/servers.ts';
import { waitFor } from '../support/wait.ts';

let octo: TestOctoDb;
beforeAll(async () => {
  octo = await startTestOctoDb({ OCTODB_MIGRATION_BACKOFF_MS: '20' });
});
afterAll(async () => {
  await octo?.close();
});

const meta = (table: string) => `\`${octo.metaDb}\`.${table}`;
async function tenant() {
  const t = await octo.signUp();
  expect((await octo.waitForDatabase(t.db_id)).status).toBe('ready');
  return { ...t, token: await octo.token(t.email, t.password), db: databaseName(t.db_id) };
}
async function rows(sql: string, params: unknown[] = []) {
  const [r] = await octo.admin.query<RowDataPacket[]>(sql, params);
  return r;
}
/** Every table of a database with its definition: what a dry run must leave as it was. */
async function schemaOf(db: string): Promise<Record<string, string>> {
  const names = await rows('SELECT table_name AS t FROM information_schema.tables WHERE table_schema = ? ORDER BY table_name', [db]);
  const out: Record<string, string> = {};
  for (const { t } of names) out[t] = String((await rows(`SHOW CREATE TABLE \`${db}\`.\`${t}\``))[0]!['Create Table']);
  return out;
}
async function plan(token: string, body: Record<string, unknown>) {
  return octo.post<PlanResult & { error?: string; code?: string; tables: unknown }>('/migrate', { dry_run: true, ...body }, token);
}
async function applied(token: string, body: Record<string, unknown>) {
  const res = await octo.post<{ batch_id: string; jobs: Array<{ job_id: string; table: string }> }>('/migrate', body, token);
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  await waitFor(async () => (await rows(`SELECT finished_at FROM ${meta('migration_batches')} WHERE batch_id = ?`, [res.body.batch_id]))[0]?.finished_at, {
    timeoutMs: 30_000,
    what: 'the batch to finish',
  });
  await octo.invoker.idle();
  return rows(`SELECT table_name, state, status_reason, applied_sql FROM ${meta('migration_jobs')} WHERE batch_id = ? ORDER BY table_name`, [res.body.batch_id]);
}

const ORDERS_WITH_NOTE =
  "CREATE TABLE orders (id bigint unsigned NOT NULL AUTO_INCREMENT, customer_id bigint unsigned NOT NULL, total decimal(12,2) NOT NULL DEFAULT 0.00, status varchar(20) NOT NULL DEFAULT 'new', created_at datetime NOT NULL DEFAULT CURRENT_TIMESTAMP, note varchar(100) DEFAULT NULL, PRIMARY KEY (id), KEY ix_orders_customer (customer_id), KEY ix_orders_status (status)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;";
const CUSTOMERS_WITHOUT_EMAIL =
  'CREATE TABLE customers (id bigint unsigned NOT NULL AUTO_INCREMENT, name varchar(200) NOT NULL, created_at datetime NOT NULL DEFAULT CURRENT_TIMESTAMP, PRIMARY KEY (id)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;';
const NO_PK = 'CREATE TABLE tags (name varchar(30) NOT NULL, KEY k1 (name), KEY k2 (name));';

describe.skipIf(!serversUp)('POST /migrate dry_run', () => {
  it('answers the plan per table (create, alter, none), changes nothing, and the real push then runs exactly that DDL', async () => {
    const t = await tenant();
    await rows(`INSERT INTO \`${t.db}\`.orders (customer_id, total) VALUES (1, 9.50)`);
    const before = await schemaOf(t.db);
    const sql = `${ORDERS_WITH_NOTE}\nCREATE TABLE items (id int unsigned NOT NULL AUTO_INCREMENT, name varchar(20) NOT NULL, PRIMARY KEY (id));\n${
      'CREATE TABLE customers (id bigint unsigned NOT NULL AUTO_INCREMENT, name varchar(200) NOT NULL, email varchar(254) DEFAULT NULL, created_at datetime NOT NULL DEFAULT CURRENT_TIMESTAMP, PRIMARY KEY (id), KEY ix_customers_email (email)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;'
    }`;
    const res = await plan(t.token, { sql });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.dry_run).toBe(true);
    expect(res.body.db_id).toBe(t.db_id);
    const [orders, items, customers] = res.body.tables;
    expect(orders).toMatchObject({ table: 'orders', change: 'alter', unsafe: false, unsafe_reasons: [], lint: [] });
    expect(orders!.ddl).toEqual(['ALTER TABLE `orders` ADD COLUMN `note` varchar(100) DEFAULT NULL, ADD KEY `ix_orders_status` (`status`);']);
    expect(items).toMatchObject({ table: 'items', change: 'create', unsafe: false });
    expect(items!.ddl[0]).toMatch(/^CREATE TABLE `items` \(\n {2}`id` int\(10\) unsigned NOT NULL AUTO_INCREMENT,/);
    expect(customers).toEqual({ table: 'customers', change: 'none', ddl: [], unsafe: false, unsafe_reasons: [], lint: [] });
    expect(await schemaOf(t.db)).toEqual(before);
    // No job, no batch: a dry run records nothing.
    expect(await rows(`SELECT job_id FROM ${meta('migration_jobs')} WHERE db_id = ?`, [t.db_id])).toEqual([]);

    const jobs = await applied(t.token, { sql });
    const ddlOf = (table: string) => jobs.find((j) => j.table_name === table)!;
    expect(ddlOf('orders')).toMatchObject({ state: 'succeeded', applied_sql: orders!.ddl.join('\n') });
    expect(ddlOf('items')).toMatchObject({ state: 'succeeded', applied_sql: items!.ddl.join('\n') });
    expect((await rows(`SELECT total FROM \`${t.db}\`.orders`))[0]!.total).toBe('9.50');
  });

  it('says which changes are unsafe and why, and lints what changes', async () => {
    const t = await tenant();
    const before = await schemaOf(t.db);
    const res = await plan(t.token, { sql: `${CUSTOMERS_WITHOUT_EMAIL}\n${NO_PK}\n${ORDERS_WITH_NOTE}` });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const [customers, tags, orders] = res.body.tables;
    expect(customers).toMatchObject({ table: 'customers', change: 'alter', unsafe: true });
    expect(customers!.ddl.join('\n')).toMatch(/DROP COLUMN `email`/);
    expect(customers!.unsafe_reasons).toContain("DROP COLUMN `email`: the column's values are lost");
    // Only customers is unsafe: Skeema stops at the first unsafe statement, each table is asked alone.
    expect(orders).toMatchObject({ change: 'alter', unsafe: false, unsafe_reasons: [] });
    expect(tags).toMatchObject({ change: 'create', unsafe: false });
    expect(tags!.lint.map((l) => l.rule).sort()).toEqual(['dupe-index', 'pk']);
    expect(tags!.lint.find((l) => l.rule === 'pk')!.message).toMatch(/^Table tags does not define a PRIMARY KEY/);
    expect(JSON.stringify(res.body)).not.toMatch(/tmp\.|\/tmp|127\.0\.0\.1|__OCTODB/);
    expect(await schemaOf(t.db)).toEqual(before);
  });

  it('plans a drop and a rename (removed tables) as unsafe, dropping nothing', async () => {
    const t = await tenant();
    const before = await schemaOf(t.db);
    const clients = before.customers!.replace('CREATE TABLE `customers`', 'CREATE TABLE `clients`');
    const res = await plan(t.token, { sql: `${clients};`, drop_tables: ['customers', 'orders', 'ghost'] });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const byName = Object.fromEntries(res.body.tables.map((p) => [p.table, p]));
    expect(byName.clients).toMatchObject({ change: 'create', unsafe: false });
    expect(byName.customers).toMatchObject({ change: 'rename', ddl: ['DROP TABLE `customers`;'], unsafe: true });
    expect(byName.customers!.unsafe_reasons.join('\n')).toMatch(/rename to `clients`/);
    expect(byName.orders).toMatchObject({ change: 'drop', ddl: ['DROP TABLE `orders`;'], unsafe: true });
    expect(byName.orders!.unsafe_reasons[0]).toMatch(/^DROP TABLE `orders`: the table and all its rows are removed/);
    expect(byName.ghost).toMatchObject({ change: 'none', ddl: [], unsafe: false });
    expect(await schemaOf(t.db)).toEqual(before);
  });

  it('answers 400 PLAN_REFUSED with the server error for a definition the server refuses', async () => {
    const t = await tenant();
    const res = await plan(t.token, { sql: 'CREATE TABLE wide (id int NOT NULL, v varchar(99999), PRIMARY KEY (id));' });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('PLAN_REFUSED');
    expect(res.body.error).toMatch(/Error 1074: Column length too big for column 'v'/);
    expect(res.body.error).not.toMatch(/tmp\.|127\.0\.0\.1/);
  });

  it.each([
    ['dry_run not a boolean', { sql: NO_PK, dry_run: 'yes' }, /dry_run/],
    ['a drop_tables name that is not a table name', { drop_tables: ['a;b'] }, /drop_tables/],
    ['drop_tables not a list', { drop_tables: 'orders' }, /drop_tables/],
    ['more than 50 tables dropped', { drop_tables: Array.from({ length: 51 }, (_, i) => `t${i}`) }, /at most 50/],
    ['neither sql nor drop_tables', {}, /sql is required/],
    ['a table both defined and dropped', { sql: NO_PK, drop_tables: ['tags'] }, /both defined and dropped/],
    ['a table dropped twice', { drop_tables: ['orders', 'orders'] }, /dropped twice/],
  ])('refuses %s with 400 and runs nothing', async (_, body, message) => {
    const t = await tenant();
    const res = await plan(t.token, body);
    expect(res.status, JSON.stringify(res.body)).toBe(400);
    expect(JSON.stringify(res.body)).toMatch(message);
  });
});

describe.skipIf(!serversUp)('removing tables', () => {
  it('refuses drop_tables without allow_unsafe: 400 UNSAFE_CHANGE, no job, the table and rows kept', async () => {
    const t = await tenant();
    await rows(`INSERT INTO \`${t.db}\`.customers (name) VALUES ('Ada')`);
    const res = await octo.post<{ code: string; tables: string[] }>('/migrate', { drop_tables: ['customers'] }, t.token);
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code: 'UNSAFE_CHANGE', tables: ['customers'] });
    expect(await rows(`SELECT job_id FROM ${meta('migration_jobs')} WHERE db_id = ?`, [t.db_id])).toEqual([]);
    expect((await rows(`SELECT name FROM \`${t.db}\`.customers`)).map((r) => r.name)).toEqual(['Ada']);
  });
});

describe.skipIf(!serversUp)('removed tables kept in a restorable backup', () => {
  const dashboard = <T = Record<string, unknown>>(token: string, body: Record<string, unknown>) => octo.post<T & { code?: string; error?: string }>('/dashboard', body, token);
  type Backups = { db_id: string; backups: Array<{ backup_id: string; table: string; definition: string; expires_at: string }> };
  const inDb = async (db: string, table: string) => (await rows('SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = ? AND table_name = ?', [db, table]))[0]!.n;

  it('with allow_unsafe moves the table and its rows to a backup; restore_table brings both back, once', async () => {
    const t = await tenant();
    await rows(`INSERT INTO \`${t.db}\`.customers (name, email) VALUES ('Ada', 'ada@example.com'), ('Bob', NULL)`);
    const definition = (await schemaOf(t.db)).customers!.replace(/ AUTO_INCREMENT=\d+/, '');
    const jobs = await applied(t.token, { drop_tables: ['customers'], allow_unsafe: true });
    expect(jobs).toMatchObject([{ table_name: 'customers', state: 'succeeded' }]);
    expect(jobs[0]!.status_reason).toMatch(/kept in backup [0-9a-f-]{36} until/);
    expect(await inDb(t.db, 'customers')).toBe(0);
    // Out of the tenant's reach meanwhile: its own MySQL user has no grant on the backup.
    const gone = await octo.post<{ error: string }>('/query', { query: 'SELECT * FROM customers' }, t.token);
    expect(gone.status).toBe(400);

    const list = await dashboard<Backups>(t.token, { action: 'list_table_backups' });
    expect(list.status).toBe(200);
    expect(list.body.backups).toHaveLength(1);
    const [backup] = list.body.backups;
    expect(backup).toMatchObject({ table: 'customers', definition });
    expect(new Date(backup!.expires_at).getTime() - Date.now()).toBeGreaterThan(71 * 3600_000);

    const restored = await dashboard(t.token, { action: 'restore_table', backup_id: backup!.backup_id });
    expect(restored.status, JSON.stringify(restored.body)).toBe(200);
    expect(restored.body).toEqual({ backup_id: backup!.backup_id, table: 'customers', restored: true });
    expect((await schemaOf(t.db)).customers!.replace(/ AUTO_INCREMENT=\d+/, '')).toBe(definition);
    expect((await rows(`SELECT name, email FROM \`${t.db}\`.customers ORDER BY id`)).map((r) => [r.name, r.email])).toEqual([
      ['Ada', 'ada@example.com'],
      ['Bob', null],
    ]);
    const again = await dashboard(t.token, { action: 'restore_table', backup_id: backup!.backup_id });
    expect([again.status, again.body.code]).toEqual([409, 'BACKUP_GONE']);
    expect((await dashboard<Backups>(t.token, { action: 'list_table_backups' })).body.backups).toEqual([]);
  });

  it("refuses a restore over a table of the same name (409 TABLE_EXISTS) and another tenant's backup (404)", async () => {
    const t = await tenant();
    const other = await tenant();
    await applied(t.token, { drop_tables: ['orders'], allow_unsafe: true });
    const [backup] = (await dashboard<Backups>(t.token, { action: 'list_table_backups' })).body.backups;
    const peek = await dashboard(other.token, { action: 'restore_table', backup_id: backup!.backup_id });
    expect([peek.status, peek.body.code]).toEqual([404, 'BACKUP_NOT_FOUND']);
    await applied(t.token, { sql: 'CREATE TABLE orders (id int NOT NULL, PRIMARY KEY (id));' });
    const taken = await dashboard(t.token, { action: 'restore_table', backup_id: backup!.backup_id });
    expect([taken.status, taken.body.code]).toEqual([409, 'TABLE_EXISTS']);
    expect((await schemaOf(t.db)).orders).toMatch(/^CREATE TABLE `orders` \(\n {2}`id` int\(11\) NOT NULL,\n {2}PRIMARY KEY/);
    const bad = await dashboard(t.token, { action: 'restore_table', backup_id: 'nope' });
    expect(bad.status).toBe(400);
  });

  it('drops a backup past its time on the sweep; it can no longer be restored', async () => {
    const t = await tenant();
    await applied(t.token, { drop_tables: ['orders'], allow_unsafe: true });
    const [backup] = (await dashboard<Backups>(t.token, { action: 'list_table_backups' })).body.backups;
    const [where] = await rows(`SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = ?`, [`octodb_bk_${t.db_id}`]);
    expect(where!.n).toBe(1);
    // Time passing is the subject: the backup's time is moved into the past rather than waited for.
    await rows(`UPDATE ${meta('table_backups')} SET expires_at = CURRENT_TIMESTAMP(3) - INTERVAL 1 SECOND WHERE backup_id = ?`, [backup!.backup_id]);
    expect((await dashboard<Backups>(t.token, { action: 'list_table_backups' })).body.backups).toEqual([]);
    await octo.invoker.invokeAsync('migrate-run', { sweep: true });
    await octo.invoker.idle();
    expect((await rows(`SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = ?`, [`octodb_bk_${t.db_id}`]))[0]!.n).toBe(0);
    expect((await rows(`SELECT dropped_at FROM ${meta('table_backups')} WHERE backup_id = ?`, [backup!.backup_id]))[0]!.dropped_at).not.toBeNull();
    const late = await dashboard(t.token, { action: 'restore_table', backup_id: backup!.backup_id });
    expect([late.status, late.body.code]).toEqual([409, 'BACKUP_GONE']);
  });

  it('a declarative rename: the new table is created, the old one kept in a backup with its rows', async () => {
    const t = await tenant();
    await rows(`INSERT INTO \`${t.db}\`.customers (name) VALUES ('Ada')`);
    const clients = (await schemaOf(t.db)).customers!.replace('CREATE TABLE `customers`', 'CREATE TABLE `clients`').replace(/ AUTO_INCREMENT=\d+/, '');
    const jobs = await applied(t.token, { sql: `${clients};`, drop_tables: ['customers'], allow_unsafe: true });
    expect(jobs.map((j) => [j.table_name, j.state])).toEqual([
      ['clients', 'succeeded'],
      ['customers', 'succeeded'],
    ]);
    expect(await inDb(t.db, 'customers')).toBe(0);
    expect(await rows(`SELECT * FROM \`${t.db}\`.clients`)).toEqual([]);
    const [backup] = (await dashboard<Backups>(t.token, { action: 'list_table_backups' })).body.backups;
    expect(backup!.table).toBe('customers');
  });
});

describe.skipIf(!serversUp)('bounded dry runs and removals', () => {
  it('refuses a removal of a table other tables reference, naming them; the table and its rows stay', async () => {
    const t = await tenant();
    await rows(`CREATE TABLE \`${t.db}\`.parents (id int NOT NULL, PRIMARY KEY (id))`);
    await rows(`CREATE TABLE \`${t.db}\`.kids (id int NOT NULL, parent_id int NOT NULL, PRIMARY KEY (id), CONSTRAINT fk_kids_parent FOREIGN KEY (parent_id) REFERENCES parents (id))`);
    await rows(`INSERT INTO \`${t.db}\`.parents VALUES (1)`);
    const jobs = await applied(t.token, { drop_tables: ['parents'], allow_unsafe: true });
    expect(jobs[0]).toMatchObject({ table_name: 'parents', state: 'failed' });
    expect(jobs[0]!.status_reason).toBe('the table was not removed: cannot remove parents: foreign keys of kids reference it; change those tables first');
    expect((await rows(`SELECT id FROM \`${t.db}\`.parents`)).map((r) => r.id)).toEqual([1]);
  });

  it('counts dry runs against the tenant’s /migrate rate limit: 429 past it, with a retry time', async () => {
    const limited = await startTestOctoDb({ OCTODB_RATE_MIGRATE: '1/60s burst 2' });
    try {
      const t = await limited.signUp();
      await limited.waitForDatabase(t.db_id);
      const token = await limited.token(t.email, t.password);
      const body = { sql: NO_PK, dry_run: true };
      expect((await limited.post('/migrate', body, token)).status).toBe(200);
      expect((await limited.post('/migrate', body, token)).status).toBe(200);
      const third = await limited.post<{ code: string; retry_after_seconds: number }>('/migrate', body, token);
      expect([third.status, third.body.code]).toEqual([429, 'RATE_LIMITED']);
      expect(third.body.retry_after_seconds).toBeGreaterThan(0);
      // A submission shares the bucket.
      expect((await limited.post('/migrate', { sql: NO_PK }, token)).status).toBe(429);
    } finally {
      await limited.close();
    }
  });
});
