import type { RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { databaseName, databaseUser, newDbId } from '#core/ids';
import type { LogEraser } from '#core/offboarding-ports';
import type { HostRunner } from '#core/ports';
import { handler as adminFunction } from '../../lambdas/admin/handler.ts';
import { handler as provisionFunction } from '../../lambdas/provision/handler.ts';
import { main as adminCommand } from '../../bin/admin.ts';
import { MYSQL_URL, startTestOctoDb, type TestOctoDb } from '../support/octodb.ts';
import { serversUp } from '../support/servers.ts';
import { waitFor } from '../support/wait.ts';

/** Offboarding (issue 16): erasure and suspension over real HTTP, MariaDB, Redis and dynalite, read back from each. */

interface Tenant {
  tenant_id: string;
  db_id: string;
  email: string;
  password: string;
  token: string;
  key: string;
}

let octo: TestOctoDb;
beforeAll(async () => {
  octo = await startTestOctoDb();
});
afterAll(async () => octo?.close());

const dash = (bearer: string, body: unknown) => octo.post('/dashboard', body, bearer);
const query = (bearer: string, sql: string) => octo.post('/query', { query: sql }, bearer);

async function tenant(overrides: Record<string, unknown> = {}): Promise<Tenant> {
  const t = await octo.signUp(overrides);
  expect((await octo.waitForDatabase(t.db_id)).status).toBe('ready');
  const token = await octo.token(t.email, t.password);
  const key = await dash(token, { action: 'create_api_key', name: 'app', scope: 'write' });
  expect(key.status).toBe(200);
  // Some rows of its own, and query records in the log table.
  expect((await query(token, "INSERT INTO customers (id, name) VALUES (1, 'x')")).status).toBe(200);
  expect((await query(token, 'SELECT * FROM customers')).status).toBe(200);
  return { ...t, token, key: String(key.body.key) };
}

/** Every MetaDB row that names the tenant or its databases, by table. */
async function metaRows(t: Pick<Tenant, 'tenant_id' | 'db_id'>): Promise<Record<string, number>> {
  const m = `\`${octo.metaDb}\``;
  const counts: Record<string, number> = {};
  const byTenant = ['tenants', 'tenant_databases', 'api_keys', 'issued_tokens', 'tenant_quotas', 'tenant_rate_limits', 'migration_batches', 'table_backups'];
  for (const table of byTenant) {
    const [rows] = await octo.admin.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM ${m}.${table} WHERE tenant_id = ?`, [t.tenant_id]);
    counts[table] = Number(rows[0]!.n);
  }
  for (const table of ['migration_jobs', 'table_customizations', 'signup_verifications']) {
    const [rows] = await octo.admin.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM ${m}.${table} WHERE db_id = ?`, [t.db_id]);
    counts[table] = Number(rows[0]!.n);
  }
  return counts;
}

async function onHost(dbId: string): Promise<{ database: boolean; user: boolean }> {
  const [dbs] = await octo.admin.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM information_schema.schemata WHERE schema_name = ?', [databaseName(dbId)]);
  const [users] = await octo.admin.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM mysql.user WHERE user = ?', [databaseUser(dbId)]);
  return { database: Number(dbs[0]!.n) > 0, user: Number(users[0]!.n) > 0 };
}

async function logItems(tenantId: string): Promise<number> {
  const store = await octo.parts.get('logStore');
  const [logs, queries] = await Promise.all([store.page(tenantId, 'log', 100), store.page(tenantId, 'query', 100)]);
  return logs.items.length + queries.items.length;
}

async function erasure(tenantId: string): Promise<RowDataPacket | undefined> {
  const [rows] = await octo.admin.query<RowDataPacket[]>(`SELECT * FROM \`${octo.metaDb}\`.tenant_erasures WHERE tenant_id = ?`, [tenantId]);
  return rows[0];
}

const waitErased = (tenantId: string) =>
  waitFor(async () => (await erasure(tenantId))?.state === 'done', { timeoutMs: 60_000, intervalMs: 100, what: `the erasure of ${tenantId}` });

/** What another tenant still has: its rows, its database, its token and key working. */
async function expectUntouched(t: Tenant): Promise<void> {
  expect(await metaRows(t)).toMatchObject({ tenants: 1, tenant_databases: 1, api_keys: 1, issued_tokens: 1 });
  expect(await onHost(t.db_id)).toEqual({ database: true, user: true });
  expect((await dash(t.token, { action: 'get_user_info' })).status).toBe(200);
  const rows = await query(t.key, 'SELECT name FROM customers');
  expect(rows).toMatchObject({ status: 200, body: { data: [{ name: 'x' }] } });
  expect(await logItems(t.tenant_id)).toBeGreaterThan(0);
}

describe.skipIf(!serversUp)('a tenant deleting its own account (/dashboard delete_account)', () => {
  it('refuses a wrong password and keeps everything; with the right one erases everything of it and nothing of others', async () => {
    const [a, b] = await Promise.all([tenant(), tenant()]);
    // A removed table kept restorable in the database's backup schema: erased with the database.
    const removal = await octo.post<{ batch_id: string }>('/migrate', { drop_tables: ['orders'], allow_unsafe: true }, a.token);
    expect(removal.status).toBe(202);
    const backupSchema = `octodb_bk_${a.db_id}`;
    const schemaThere = async () => Number((await octo.admin.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = ?', [backupSchema]))[0][0]!.n);
    await waitFor(async () => (await schemaThere()) === 1, { timeoutMs: 60_000, intervalMs: 200, what: 'the removed table in its backup' });
    await octo.logQueue.idle();
    expect(await logItems(a.tenant_id)).toBeGreaterThan(0);

    const wrong = await dash(a.token, { action: 'delete_account', password: 'not-the-password' });
    expect(wrong).toMatchObject({ status: 403, body: { code: 'WRONG_PASSWORD' } });
    expect(await erasure(a.tenant_id)).toBeUndefined();
    expect(await metaRows(a)).toMatchObject({ tenants: 1, tenant_databases: 1 });
    expect((await dash(a.token, { action: 'get_user_info' })).status).toBe(200);
    // An API key may not erase the account, even with the password.
    expect(await dash(a.key, { action: 'delete_account', password: a.password })).toMatchObject({ status: 403, body: { code: 'TOKEN_ONLY' } });

    const done = await dash(a.token, { action: 'delete_account', password: a.password });
    expect(done).toMatchObject({ status: 200, body: { tenant_id: a.tenant_id, requested_by: 'tenant', db_ids: [a.db_id] } });
    await waitErased(a.tenant_id);

    expect(await onHost(a.db_id)).toEqual({ database: false, user: false });
    expect(await schemaThere()).toBe(0);
    expect(Object.values(await metaRows(a)).every((n) => n === 0)).toBe(true);
    expect(await logItems(a.tenant_id)).toBe(0);
    expect((await dash(a.token, { action: 'get_user_info' })).status).toBe(401);
    expect((await query(a.key, 'SELECT 1')).status).toBe(401);
    expect((await octo.post('/token', { email: a.email, password: a.password })).status).toBe(401);

    const record = (await erasure(a.tenant_id))!;
    expect(record).toMatchObject({ requested_by: 'tenant', state: 'done', databases_dropped: 1, api_keys_deleted: 1 });
    expect(Number(record.log_items_deleted)).toBeGreaterThan(0);
    const kept = JSON.stringify(record);
    expect(kept).not.toContain(a.email);
    expect(kept).not.toContain('Test Tenant');
    expect(kept).not.toMatch(/\$2[aby]\$/); // no password hash

    await expectUntouched(b);
  });

  it("spends the email's login failure budget: wrong passwords here lock /token out too", async () => {
    const restore = octo.parts.override({ config: { OCTODB_LOGIN_FAILURES: { perSecond: 1 / 3600, burst: 2 } } });
    try {
      const t = await tenant();
      for (let i = 0; i < 2; i++) expect((await dash(t.token, { action: 'delete_account', password: `wrong-${i}` })).status).toBe(403);
      expect((await dash(t.token, { action: 'delete_account', password: t.password })).status).toBe(429);
      expect((await octo.post('/token', { email: t.email, password: t.password })).status).toBe(429);
      expect(await erasure(t.tenant_id)).toBeUndefined();
    } finally {
      restore();
    }
  });

  it('refuses bad input with 400 and erases nothing', async () => {
    const t = await tenant();
    for (const body of [{ action: 'delete_account' }, { action: 'delete_account', password: 5 }, { action: 'delete_account', password: t.password, tenant_id: 'x' }]) {
      expect((await dash(t.token, body)).status).toBe(400);
    }
    expect(await erasure(t.tenant_id)).toBeUndefined();
  });
});

describe.skipIf(!serversUp)('an operator deleting a tenant (npm run admin -- delete-tenant, the admin function)', () => {
  const lambda = vi.fn((_name: string, payload: Record<string, unknown>) => adminFunction(payload));
  const env = { OCTODB_ADMIN_FUNCTION: 'OctoDb-admin' };
  const quiet = () => {
    const out = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    const err = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    return () => (out.mockRestore(), err.mockRestore());
  };

  it('finishes, on a rerun, an erasure that crashed after the MetaDB rows; a rerun of a finished one answers its record', async () => {
    const [c, other] = await Promise.all([tenant(), tenant()]);
    await octo.logQueue.idle();
    const crash: LogEraser = { deletePage: () => Promise.reject(new Error('worker died')) };
    const restore = octo.parts.override({ logEraser: crash });
    const unquiet = quiet();
    try {
      expect(await adminCommand(['delete-tenant', '--tenant', c.email], env, lambda)).toBe(1);
    } finally {
      restore();
      unquiet();
    }
    expect((await erasure(c.tenant_id))?.state).toBe('running');
    expect(await onHost(c.db_id)).toEqual({ database: false, user: false });
    expect(await metaRows(c)).toMatchObject({ tenants: 0, tenant_databases: 0 });
    expect(await logItems(c.tenant_id)).toBeGreaterThan(0);
    expect((await dash(c.token, { action: 'get_user_info' })).status).toBe(401);

    // By id now: the email went with the tenant row.
    const answer = await adminFunction({ action: 'delete-tenant', tenant: c.tenant_id });
    expect(answer).toMatchObject({ tenant_id: c.tenant_id, state: 'done', requested_by: 'operator', databases_dropped: 1 });
    expect(await logItems(c.tenant_id)).toBe(0);
    expect(await adminFunction({ action: 'delete-tenant', tenant: c.tenant_id })).toMatchObject({ state: 'done' });
    expect(await adminFunction({ action: 'delete-tenant', tenant: 'nobody@example.com' })).toMatchObject({ error: 'No tenant nobody@example.com' });
    await expectUntouched(other);
  });

  it("on this machine (no OCTODB_ADMIN_FUNCTION) drops everything but the logs, which npm start's sweep deletes", async () => {
    const t = await tenant();
    await octo.logQueue.idle();
    const env: NodeJS.ProcessEnv = { ...process.env, OCTODB_MYSQL_URL: MYSQL_URL.replace(/\/[^/]*$/, `/${octo.metaDb}`) };
    delete env.OCTODB_ADMIN_FUNCTION;
    delete env.OCTODB_DYNAMODB_ENDPOINT;
    const unquiet = quiet();
    try {
      expect(await adminCommand(['delete-tenant', '--tenant', t.email], env)).toBe(1);
    } finally {
      unquiet();
    }
    expect(await onHost(t.db_id)).toEqual({ database: false, user: false });
    expect(await metaRows(t)).toMatchObject({ tenants: 0, tenant_databases: 0 });
    expect((await erasure(t.tenant_id))?.state).toBe('running');
    expect(await provisionFunction({ sweep: true })).toMatchObject({ erasures: { [t.tenant_id]: 'done' } });
    expect(await logItems(t.tenant_id)).toBe(0);
  });

  it('leaves an erasure whose host drop failed running and suspended; the existing sweep finishes it', async () => {
    const d = await tenant();
    const failing: HostRunner = { run: async () => ({ exitCode: 1, stdout: '', stderr: 'ERROR 2013 (HY000): Lost connection' }) };
    const restore = octo.parts.override({ hostRunner: failing });
    try {
      expect(await adminFunction({ action: 'delete-tenant', tenant: d.tenant_id })).toMatchObject({ error: expect.stringMatching(/stays recorded as running/) });
    } finally {
      restore();
    }
    expect((await erasure(d.tenant_id))?.state).toBe('running');
    expect(await onHost(d.db_id)).toEqual({ database: true, user: true });
    expect(await adminFunction({ action: 'resume-tenant', tenant: d.tenant_id })).toMatchObject({ error: expect.stringMatching(/erased tenant stays suspended/) });
    // Midway: the tenant is suspended, its data kept, every bearer refused with the one 403.
    expect(await dash(d.token, { action: 'get_user_info' })).toMatchObject({ status: 403, body: { code: 'TENANT_SUSPENDED' } });
    expect(await query(d.key, 'SELECT 1')).toMatchObject({ status: 403, body: { code: 'TENANT_SUSPENDED' } });

    expect(await provisionFunction({ sweep: true })).toMatchObject({ erasures: { [d.tenant_id]: 'done' } });
    expect(await onHost(d.db_id)).toEqual({ database: false, user: false });
    expect(Object.values(await metaRows(d)).every((n) => n === 0)).toBe(true);
    expect((await erasure(d.tenant_id))?.state).toBe('done');
  });

  it("drops a tenant's many databases a chunk per host script, and detaches a parent's children", async () => {
    const parent = await adminFunction({ name: 'Parent', email: `p-${Date.now()}@example.com`, password: 'admin-password-1' });
    expect(parent).toMatchObject({ status: 'ready' });
    const child = await tenant({ template: parent.db_id });
    // 119 more databases of the parent, made as provisioning makes them (a database and its user).
    const extra = Array.from({ length: 119 }, () => newDbId());
    for (const id of extra) {
      await octo.admin.query(`CREATE DATABASE \`${databaseName(id)}\``);
      await octo.admin.query(`CREATE USER '${databaseUser(id)}'@'%' IDENTIFIED BY 'x-${id}'`);
    }
    await octo.admin.query(
      `INSERT INTO \`${octo.metaDb}\`.tenant_databases (db_id, tenant_id, host_id, template, status, mysql_user) VALUES ?`,
      [extra.map((id) => [id, parent.tenant_id, 'local', 'default', 'ready', databaseUser(id)])],
    );
    const runner = await octo.parts.get('hostRunner');
    const run = vi.spyOn(runner, 'run');
    try {
      const answer = await adminFunction({ action: 'delete-tenant', tenant: parent.tenant_id });
      expect(answer).toMatchObject({ state: 'done', databases_dropped: 120, children_detached: 1 });
      // 120 databases, 100 per script (the migration sweep may run host scripts of its own meanwhile).
      const drops = run.mock.calls.filter(([, script]) => String(script).includes('DROP DATABASE'));
      expect(drops).toHaveLength(2);
    } finally {
      run.mockRestore();
    }
    for (const id of [parent.db_id as string, ...extra]) expect(await onHost(id)).toEqual({ database: false, user: false });
    await expectUntouched(child);
  }, 180_000);
});

describe.skipIf(!serversUp)('suspending and resuming a tenant', () => {
  it('refuses every route with 403 TENANT_SUSPENDED at once, keeps the data, and serves the same token again after a resume', async () => {
    const [t, other] = await Promise.all([tenant(), tenant()]);
    expect(await adminFunction({ action: 'suspend-tenant', tenant: t.email })).toEqual({ tenant_id: t.tenant_id, status: 'suspended' });

    const refused = { status: 403, body: { code: 'TENANT_SUSPENDED' } };
    expect(await dash(t.token, { action: 'get_user_info' })).toMatchObject(refused);
    expect(await query(t.token, 'SELECT 1')).toMatchObject(refused);
    expect(await octo.post('/migrate', { statements: ['CREATE TABLE t1 (id INT PRIMARY KEY)'] }, t.token)).toMatchObject(refused);
    expect(await query(t.key, 'SELECT 1')).toMatchObject(refused);
    expect(await octo.post('/token', { email: t.email, password: t.password })).toMatchObject(refused);
    expect(await octo.post('/token', { email: t.email, password: t.password, read: true })).toMatchObject(refused);
    // With the registry's mark lost (a Redis restart), MetaDB still refuses it, and nothing caches it as current.
    const redis = await octo.parts.get('redis');
    await redis.del(`octodb:token:${t.tenant_id}`);
    expect(await dash(t.token, { action: 'get_user_info' })).toMatchObject(refused);
    expect(await redis.get(`octodb:token:${t.tenant_id}`)).toBeNull();

    expect(await onHost(t.db_id)).toEqual({ database: true, user: true });
    expect(await metaRows(t)).toMatchObject({ tenants: 1, tenant_databases: 1, api_keys: 1, issued_tokens: 1 });
    await expectUntouched(other);

    expect(await adminFunction({ action: 'resume-tenant', tenant: t.tenant_id })).toEqual({ tenant_id: t.tenant_id, status: 'active' });
    expect(await query(t.token, 'SELECT name FROM customers')).toMatchObject({ status: 200, body: { data: [{ name: 'x' }] } });
    expect((await query(t.key, 'SELECT 1')).status).toBe(200);
    expect((await octo.post('/token', { email: t.email, password: t.password })).status).toBe(200);
  });

  it('names an unknown tenant and refuses a malformed request', async () => {
    expect(await adminFunction({ action: 'suspend-tenant', tenant: '00000000-0000-4000-8000-000000000000' })).toMatchObject({ error: expect.stringMatching(/No tenant/) });
    expect(await adminFunction({ action: 'resume-tenant', tenant: 'x' })).toMatchObject({ error: expect.stringMatching(/No tenant/) });
    expect(await adminFunction({ action: 'delete-tenant' })).toMatchObject({ error: expect.stringMatching(/tenant/) });
  });
});
