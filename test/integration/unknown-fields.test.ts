import type { RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dashboardActions } from '../../lambdas/dashboard/actions.ts';
import { handler as adminFunction } from '../../lambdas/admin/handler.ts';
import { startTestOctoDb, type TestOctoDb, uniqueEmail } from '../support/octodb.ts';
import { serversUp } from '../support/servers.ts';

/** Issue 14: a field the API does not know is a 400 naming it, on every route, and nothing happens. */
let octo: TestOctoDb;
let t: { tenant_id: string; db_id: string; email: string; password: string; token: string };
beforeAll(async () => {
  octo = await startTestOctoDb();
  const s = await octo.signUp();
  await octo.waitForDatabase(s.db_id);
  t = { ...s, token: await octo.token(s.email, s.password) };
});
afterAll(async () => octo?.close());

const meta = (table: string) => `\`${octo.metaDb}\`.${table}`;
const count = async (sql: string, params: unknown[] = []) => Number((await octo.admin.query<RowDataPacket[]>(sql, params))[0][0]!.n);
const refused = (field: string) => ({
  status: 400,
  body: { error: `Invalid request: ${field}: unknown field`, problems: [{ field, problem: 'unknown field' }] },
});

describe.skipIf(!serversUp)('unknown fields in a request body', () => {
  it('/token: a typo like "raed" issues no token and leaves the current one working', async () => {
    expect(await octo.post('/token', { email: t.email, password: t.password, raed: true })).toEqual(refused('raed'));
    expect((await octo.post('/query', { query: 'SELECT 1' }, t.token)).status).toBe(200);
  });

  it('/signup creates no tenant', async () => {
    const email = uniqueEmail();
    expect(await octo.post('/signup', { name: 'X', email, password: 'long-enough-1', plan: 'pro' })).toEqual(refused('plan'));
    expect(await count(`SELECT COUNT(*) AS n FROM ${meta('tenants')} WHERE email = ?`, [email])).toBe(0);
  });

  it('/query runs nothing', async () => {
    expect(await octo.post('/query', { query: 'CREATE TABLE strict_q (id INT)', parms: [] }, t.token)).toEqual(refused('parms'));
    expect(await octo.post('/query', { query: 'SELECT * FROM strict_q' }, t.token)).toMatchObject({ status: 400, body: { code: 'ER_NO_SUCH_TABLE' } });
  });

  it('/migrate queues no job', async () => {
    const sql = 'CREATE TABLE strict_m (id INT PRIMARY KEY);';
    expect(await octo.post('/migrate', { sql, allow_unsafe_: true }, t.token)).toEqual(refused('allow_unsafe_'));
    expect(await count(`SELECT COUNT(*) AS n FROM ${meta('migration_jobs')} WHERE db_id = ?`, [t.db_id])).toBe(0);
  });

  /** What an action requires besides `action`, so the unknown field is its one problem. */
  const REQUIRED: Record<string, Record<string, unknown>> = {
    create_api_key: { name: 'strict', scope: 'write' },
    revoke_api_key: { key_id: '00000000-0000-4000-8000-000000000000' },
    restore_table: { backup_id: '00000000-0000-4000-8000-000000000000' },
    delete_account: { password: 'not-checked' },
    restore_database: { db_id: '0123456789abcdef0123456789abcdef', to_time: '2026-01-31T12:00:00Z', target: 'new' },
    get_restore_status: { restore_id: '00000000-0000-4000-8000-000000000000' },
  };
  it.each(Object.keys(dashboardActions))('/dashboard %s', async (action) => {
    expect(await octo.post('/dashboard', { action, ...REQUIRED[action], tenant: 'other' }, t.token)).toEqual(refused('tenant'));
    expect(await count(`SELECT COUNT(*) AS n FROM ${meta('api_keys')} WHERE tenant_id = ?`, [t.tenant_id])).toBe(0);
  });

  it('names every unknown field, each once', async () => {
    const res = await octo.post<{ problems: unknown[] }>('/token', { email: t.email, password: t.password, a: 1, b: 2 });
    expect(res.body.problems).toEqual([
      { field: 'a', problem: 'unknown field' },
      { field: 'b', problem: 'unknown field' },
    ]);
  });

  it('the admin function refuses them too, and creates nothing', async () => {
    const email = uniqueEmail();
    expect(await adminFunction({ name: 'Ops', email, password: 'admin-password-1', admin: true })).toEqual({ error: 'admin: unknown field' });
    expect(await count(`SELECT COUNT(*) AS n FROM ${meta('tenants')} WHERE email = ?`, [email])).toBe(0);
    const limits = { action: 'set-limits', tenant: t.email, route: 'query', limit: 'default' };
    expect(await adminFunction({ ...limits, rout: 'query' })).toEqual({ error: 'rout: unknown field' });
    expect(await adminFunction({ action: 'set-quota', tenant_id: t.tenant_id, bytes: null, byte: 1 })).toEqual({ error: 'byte: unknown field' });
  });
});
