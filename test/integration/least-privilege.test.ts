import { createConnection, type Connection, type RowDataPacket } from 'mysql2/promise';
import { TEST_TLS } from '../support/mysql-tls.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MysqlTenantSqlRunner } from '#adapters/mysql-tenant-sql-runner';
import { UnavailableError } from '#core/errors';
import { databaseName } from '#core/ids';
import type { TenantLogin } from '#core/ports';
import { startTestOctoDb, type TestOctoDb } from '../support/octodb.ts';
import { serversUp } from '../support/servers.ts';

let octo: TestOctoDb;
let api: Connection;
let tenant: { tenant_id: string; db_id: string; email: string; password: string; token: string };
let other: { tenant_id: string; db_id: string };

beforeAll(async () => {
  octo = await startTestOctoDb();
  const [t, o] = await Promise.all([octo.signUp(), octo.signUp()]);
  await Promise.all([octo.waitForDatabase(t.db_id), octo.waitForDatabase(o.db_id)]);
  tenant = { ...t, token: await octo.token(t.email, t.password) };
  other = o;
  const login = (await octo.parts.get('logins')).meta;
  api = await createConnection({ host: login.host, port: login.port, user: login.user, password: login.password, ssl: TEST_TLS });
});
afterAll(async () => {
  await api?.end();
  await octo?.close();
});

/** The MySQL error number a statement run as the API account fails with (undefined: it ran). */
const refusal = (sql: string, params: unknown[] = []) =>
  api.query(sql, params).then(
    () => undefined,
    (error: { errno?: number }) => error.errno,
  );

describe.skipIf(!serversUp)('the API account (MetaDB reads and writes of every API function)', () => {
  it('is the account MetaDB is reached with, not the admin one', async () => {
    const logins = await octo.parts.get('logins');
    expect(logins.meta.user).not.toBe(logins.admin?.user);
  });

  it('holds exactly SELECT, INSERT, UPDATE, DELETE on the MetaDB and no global privilege', async () => {
    const [rows] = await api.query<RowDataPacket[]>('SHOW GRANTS');
    const grants = rows.map((r) => String(Object.values(r)[0]));
    expect(grants).toContainEqual(expect.stringMatching(/^GRANT USAGE ON \*\.\* TO /));
    expect(grants).toContainEqual(expect.stringMatching(new RegExp(`^GRANT SELECT, INSERT, UPDATE, DELETE ON \`${octo.metaDb}\`\\.\\* TO `)));
    // The one account serves every MetaDB on the server (other test files run theirs at the same
    // time): each grant beside USAGE is that DML on a MetaDB, never on a tenant database or *.*.
    const others = grants.filter((g) => !g.startsWith('GRANT USAGE ON *.*'));
    for (const g of others) expect(g).toMatch(/^GRANT SELECT, INSERT, UPDATE, DELETE ON `octodb_[a-z0-9_]+`\.\* TO /);
  });

  it('reads and writes MetaDB rows', async () => {
    const [rows] = await api.query<RowDataPacket[]>(`SELECT tenant_id FROM \`${octo.metaDb}\`.tenants WHERE tenant_id = ?`, [tenant.tenant_id]);
    expect(rows).toHaveLength(1);
    expect(await refusal(`UPDATE \`${octo.metaDb}\`.tenants SET name = name WHERE tenant_id = ?`, [tenant.tenant_id])).toBeUndefined();
  });

  it("cannot read or change a tenant's database", async () => {
    const db = databaseName(tenant.db_id);
    expect(await refusal(`SELECT * FROM \`${db}\`.customers`)).toBe(1142);
    expect(await refusal(`INSERT INTO \`${db}\`.customers (id, name) VALUES (99, 'x')`)).toBe(1142);
    expect(await refusal(`USE \`${db}\``)).toBe(1044);
    const [visible] = await api.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?', [db]);
    expect(Number(visible[0]!.n)).toBe(0);
  });

  it('cannot create users, grant, change schemas or read the grant tables', async () => {
    expect(await refusal("CREATE USER 'octodb_evil'@'%' IDENTIFIED BY 'x'")).toBe(1227);
    expect(await refusal(`GRANT SELECT ON \`${databaseName(tenant.db_id)}\`.* TO CURRENT_USER()`)).toBe(1044);
    expect(await refusal(`GRANT SELECT ON \`${octo.metaDb}\`.* TO 'u_${other.db_id.slice(0, 24)}'@'%'`)).toBe(1044);
    expect(await refusal(`ALTER TABLE \`${octo.metaDb}\`.tenants ADD COLUMN evil int`)).toBe(1142);
    expect(await refusal(`DROP TABLE \`${octo.metaDb}\`.tenants`)).toBe(1142);
    expect(await refusal('CREATE DATABASE octodb_evil')).toBe(1044);
    expect(await refusal('SELECT * FROM mysql.user')).toBe(1142);
    expect(await refusal(`ALTER USER 'u_${other.db_id.slice(0, 24)}'@'%' IDENTIFIED BY 'x'`)).toBe(1227);
  });
});

describe.skipIf(!serversUp)('tenant statements (/query and the dashboard table facts)', () => {
  const loginOf = async (t: { tenant_id: string; db_id: string }): Promise<TenantLogin> => (await octo.parts.get('tenantLogins')).resolve(t.tenant_id, t.db_id);

  it('run on connections logged in as the tenant itself', async () => {
    const res = await octo.post<{ data: { who: string }[] }>('/query', { query: 'SELECT CURRENT_USER() AS who' }, tenant.token);
    expect(res.status).toBe(200);
    expect(res.body.data[0]!.who).toBe(`u_${tenant.db_id.slice(0, 24)}@%`);
  });

  it('discard a connection whose switch of user failed, so it never runs a statement as anyone', async () => {
    const runner = new MysqlTenantSqlRunner(TEST_TLS, { rowLimit: 10, maxResultBytes: 100_000, timeoutMs: 5000, poolSize: 1, acquireTimeoutMs: 2000 });
    try {
      const own = await loginOf(tenant);
      const theirs = await loginOf(other);
      const threadOf = async (login: TenantLogin) => (await runner.run(login, 'SELECT CONNECTION_ID() AS id', [])).rows[0]!.id;
      const first = await threadOf(own);
      await expect(runner.run({ ...theirs, password: 'wrong' }, 'SELECT 1', [])).rejects.toBeInstanceOf(UnavailableError);
      // MariaDB leaves a connection whose COM_CHANGE_USER failed logged in as before: it was closed, not handed back.
      const next = await threadOf(own);
      expect(next).not.toBe(first);
      expect((await runner.run(theirs, 'SELECT CURRENT_USER() AS who', [])).rows[0]!.who).toBe(`${theirs.user}@%`);
    } finally {
      await runner.close();
    }
  });

  it('answer 503 for a tenant login MySQL refuses on a new connection', async () => {
    const runner = new MysqlTenantSqlRunner(TEST_TLS, { rowLimit: 10, maxResultBytes: 100_000, timeoutMs: 5000, poolSize: 1, acquireTimeoutMs: 2000 });
    try {
      const own = await loginOf(tenant);
      await expect(runner.run({ ...own, password: 'wrong' }, 'SELECT 1', [])).rejects.toBeInstanceOf(UnavailableError);
    } finally {
      await runner.close();
    }
  });

  it("list a tenant's tables through /dashboard with the tenant's own login", async () => {
    const res = await octo.post<{ tables: { name: string }[] }>('/dashboard', { action: 'get_database_tables', db_id: tenant.db_id }, tenant.token);
    expect(res.status).toBe(200);
    expect(res.body.tables.map((t) => t.name)).toEqual(expect.arrayContaining(['customers', 'orders']));
  });
});
