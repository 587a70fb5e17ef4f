import type { RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrationHelpers } from '../support/migrations.ts';
import { startTestOctoDb, type TestOctoDb } from '../support/octodb.ts';

let octo: TestOctoDb;
let h: ReturnType<typeof migrationHelpers>;

beforeAll(async () => {
  octo = await startTestOctoDb({ OCTODB_MIGRATION_BACKOFF_MS: '20' });
  h = migrationHelpers(octo);
});
afterAll(async () => {
  await octo?.close();
});

interface Child {
  db_id: string;
  parent_db_id: string;
  status: string;
  created_at: string;
  customized_tables: string[];
}
type ListAnswer = { children: Child[]; last_evaluated_key?: string };

const list = (token: string, params: Record<string, unknown> = {}) => octo.post<ListAnswer>('/dashboard', { action: 'list_children', ...params }, token);
const PRODUCTS = 'CREATE TABLE products (id int unsigned NOT NULL AUTO_INCREMENT, title varchar(50) NOT NULL, PRIMARY KEY (id));';

describe('list_children', () => {
  let family: Awaited<ReturnType<typeof h.parentWithChildren>>;
  let first: Awaited<ReturnType<typeof h.tenant>>;
  let second: Awaited<ReturnType<typeof h.tenant>>;

  beforeAll(async () => {
    family = await h.parentWithChildren(0, PRODUCTS);
    // A second batch, so list_migrations hands the admin a key of another list.
    await h.migrate(family.adminToken, 'CREATE TABLE notes (id int unsigned NOT NULL AUTO_INCREMENT, PRIMARY KEY (id));');
    // One after the other: the second is the newer.
    first = await h.tenant({ template: family.admin.db_id });
    second = await h.tenant({ template: family.admin.db_id });
    // The first child makes products its own.
    await h.migrate(first.token, 'CREATE TABLE products (id int unsigned NOT NULL AUTO_INCREMENT, title varchar(50) NOT NULL, color varchar(9), PRIMARY KEY (id));');
  });

  it("shows an admin its databases' children newest first, with the tables each customized, and no personal data", async () => {
    const res = await list(family.adminToken);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.children).toEqual([
      { db_id: second.db_id, parent_db_id: family.admin.db_id, status: 'ready', created_at: expect.any(String), customized_tables: [] },
      { db_id: first.db_id, parent_db_id: family.admin.db_id, status: 'ready', created_at: expect.any(String), customized_tables: ['products'] },
    ]);
    expect(res.body.last_evaluated_key).toBeUndefined();
    const text = JSON.stringify(res.body);
    for (const personal of [first.email, second.email, first.tenant_id, second.tenant_id]) expect(text).not.toContain(personal);
  });

  it('pages with limit and last_evaluated_key, and refuses a key altered or issued for another list', async () => {
    const one = await list(family.adminToken, { limit: 1 });
    expect(one.status).toBe(200);
    expect(one.body.children.map((c) => c.db_id)).toEqual([second.db_id]);
    const key = one.body.last_evaluated_key!;
    expect(key).toEqual(expect.any(String));
    const two = await list(family.adminToken, { limit: 1, last_evaluated_key: key });
    expect(two.body.children.map((c) => c.db_id)).toEqual([first.db_id]);
    expect(two.body.last_evaluated_key).toBeUndefined();

    const migrationsKey = (await octo.post<{ last_evaluated_key?: string }>('/dashboard', { action: 'list_migrations', limit: 1 }, family.adminToken)).body.last_evaluated_key;
    expect(migrationsKey).toEqual(expect.any(String));
    for (const bad of [migrationsKey, `${key.slice(0, -2)}AA`, 'x']) {
      const res = await list(family.adminToken, { last_evaluated_key: bad });
      expect(res.status, String(bad)).toBe(400);
    }
  });

  it('refuses a limit outside 1–100 and unknown fields', async () => {
    for (const limit of [0, 101, 1.5, '5']) expect((await list(family.adminToken, { limit })).status, String(limit)).toBe(400);
    expect((await list(family.adminToken, { parent: family.admin.db_id })).status).toBe(400);
  });

  it('refuses a tenant that is no admin (403 ADMIN_ONLY) and an API key (TOKEN_ONLY); another admin sees none', async () => {
    const tenant = await list(first.token);
    expect(tenant.status).toBe(403);
    expect(tenant.body).toMatchObject({ code: 'ADMIN_ONLY' });

    const created = await octo.post<{ key: string }>('/dashboard', { action: 'create_api_key', name: 'app', scope: 'migrate' }, family.adminToken);
    expect(created.status, JSON.stringify(created.body)).toBe(200);
    const keyed = await list(created.body.key);
    expect(keyed.status).toBe(403);
    expect(keyed.body).toMatchObject({ code: 'TOKEN_ONLY' });

    const other = await list((await octo.signUpAdmin('Other')).token);
    expect(other.status).toBe(200);
    expect(other.body).toEqual({ children: [] });
  });

  it("reads a page of a parent's children along the (template, created_at, db_id) index, never sorting them all", async () => {
    const [plan] = await octo.admin.query<RowDataPacket[]>(
      `EXPLAIN SELECT db_id FROM \`${octo.metaDb}\`.tenant_databases WHERE template = ? ORDER BY created_at DESC, db_id DESC LIMIT 51`,
      [family.admin.db_id],
    );
    expect(plan[0]).toMatchObject({ key: 'ix_tenant_databases_template_created' });
    expect(String(plan[0]!.Extra)).not.toMatch(/filesort/);
  });
});
