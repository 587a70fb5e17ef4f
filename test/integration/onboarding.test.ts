import { mkdtempSync, cpSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConnection, type RowDataPacket } from 'mysql2/promise';
import { TEST_CA_FILE, TEST_TLS } from '../support/mysql-tls.ts';
import jwt from 'jsonwebtoken';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BashHostRunner } from '#adapters/bash-host-runner';
import { provisionRoot } from '#adapters/roots';
import { parseMysqlUrl } from '#shared/config';
import { provisionDatabase } from '#core/provisioning';
import { databaseName, databaseUser } from '#core/ids';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { handler as provisionHandler } from '../../lambdas/provision/handler.ts';
import { handler as signupHandler } from '../../lambdas/signup/handler.ts';
import { printedBy } from '../support/logged.ts';
import { MYSQL_URL, startTestOctoDb, type TestOctoDb, uniqueEmail } from '../support/octodb.ts';
import { serversUp } from '../support/servers.ts';

// Templates of this suite's own: the default one plus a `broken` one whose push fails.
const templatesDir = mkdtempSync(join(tmpdir(), 'octodb-templates-'));
cpSync('schemas/templates/default', join(templatesDir, 'default'), { recursive: true });
cpSync('schemas/templates/default', join(templatesDir, 'broken'), { recursive: true });
writeFileSync(join(templatesDir, 'broken', 'zz_bad.sql'), 'CREATE TABLE bad (id int PRIMARY KEY, id int);\n');
cpSync(join(templatesDir, 'broken'), join(templatesDir, 'always-broken'), { recursive: true });

let octo: TestOctoDb;
beforeAll(async () => {
  octo = await startTestOctoDb({ OCTODB_TEMPLATES_DIR: templatesDir });
});
afterAll(async () => octo?.close());

const count = async (sql: string, params: unknown[] = []) => {
  const [rows] = await octo.admin.query<RowDataPacket[]>(sql, params);
  return Number(rows[0]?.n);
};
const tenantsWithEmail = (email: string) =>
  count(`SELECT COUNT(*) AS n FROM \`${octo.metaDb}\`.tenants WHERE email = ?`, [email]);
const schemaExists = (dbId: string) =>
  count('SELECT COUNT(*) AS n FROM information_schema.schemata WHERE schema_name = ?', [databaseName(dbId)]);
const userExists = (user: string) => count('SELECT COUNT(*) AS n FROM mysql.user WHERE user = ?', [user]);
const mysqlUserOf = async (dbId: string) => {
  const [rows] = await octo.admin.query<RowDataPacket[]>(
    `SELECT mysql_user, mysql_password_sealed FROM \`${octo.metaDb}\`.tenant_databases WHERE db_id = ?`,
    [dbId],
  );
  return { user: String(rows[0]!.mysql_user), password: (await octo.parts.get('sealer')).open(String(rows[0]!.mysql_password_sealed)) };
};

/** A second database record of `tenantId`, still `provisioning` (claimed that many seconds ago, or never): its MySQL user. */
const addProvisioningDatabase = async (tenantId: string, dbId: string, claimedSecondsAgo: number | null = null) => {
  const user = databaseUser(dbId);
  await octo.admin.query(
    `INSERT INTO \`${octo.metaDb}\`.tenant_databases (db_id, tenant_id, host_id, template, status, mysql_user, claimed_at)
     VALUES (?, ?, 'local', 'default', 'provisioning', ?, IF(? IS NULL, NULL, CURRENT_TIMESTAMP(3) - INTERVAL ? SECOND))`,
    [dbId, tenantId, user, claimedSecondsAgo, claimedSecondsAgo],
  );
  return user;
};

/** Host scripts run with a password MySQL refuses: a permanent failure (ERROR 1045), never retried. */
const refusedLogin = () => {
  const login = parseMysqlUrl(MYSQL_URL);
  return new BashHostRunner({ ...login, password: 'not-the-password' }, { host: login.host, port: login.port, caFile: TEST_CA_FILE });
};

describe.skipIf(!serversUp)('signup → provisioning → token → authorizer', () => {
  it('provisions a database holding the template tables and lets its token through the authorizer', async () => {
    const tenant = await octo.signUp();
    expect(tenant.db_id).toMatch(/^[0-9a-f]{32}$/);

    const db = await octo.waitForDatabase(tenant.db_id);
    expect(db).toEqual({ status: 'ready', status_reason: null });
    const [tables] = await octo.admin.query<RowDataPacket[]>(
      'SELECT table_name AS t FROM information_schema.tables WHERE table_schema = ? ORDER BY table_name',
      [databaseName(tenant.db_id)],
    );
    expect(tables.map((r) => r.t)).toEqual(['customers', 'orders']);

    const token = await octo.token(tenant.email, tenant.password);
    const claims = jwt.decode(token) as Record<string, unknown>;
    expect(claims).toMatchObject({ tenant_id: tenant.tenant_id, db_id: tenant.db_id, is_admin: false });
    // Each guarded route answers as its handler does on success, with the tenant and database LF0 injected.
    const info = await octo.post('/dashboard', { action: 'get_user_info' }, token);
    expect(info).toMatchObject({ status: 200, body: { tenant_id: tenant.tenant_id, is_admin: false } });
    const query = await octo.post('/query', { query: 'SELECT COUNT(*) AS n FROM customers' }, token);
    expect(query).toMatchObject({ status: 200, body: { rowsAffected: 1, data: [{ n: '0' }] } }); // BIGINT as a string
    const migrate = await octo.post('/migrate', { sql: 'CREATE TABLE items (id int NOT NULL, PRIMARY KEY (id));' }, token);
    expect(migrate).toMatchObject({ status: 202, body: { jobs: [{ table: 'items' }] } });
  });

  it('logs the provisioning under the correlation id of the signup request that started it', async () => {
    // The signup as the gateway hands it over, with a request id this test knows.
    const signup = {
      body: JSON.stringify({ name: 'Traced Tenant', email: uniqueEmail(), password: 'pw-traced-0123' }),
      headers: {},
      isBase64Encoded: false,
      requestContext: { requestId: 'signup-trace-1', identity: { sourceIp: '127.0.0.1' } },
    } as unknown as APIGatewayProxyEvent;
    let dbId = '';
    const lines = await printedBy(async () => {
      const answer = await signupHandler(signup);
      expect(answer.statusCode).toBe(202);
      dbId = (JSON.parse(answer.body) as { db_id: string }).db_id;
      expect(await octo.waitForDatabase(dbId)).toMatchObject({ status: 'ready' });
      await octo.invoker.idle();
    });
    const provisioning = lines.filter((l) => l.db_id === dbId);
    expect(provisioning).toEqual([expect.objectContaining({ message: 'provisioning finished', correlation_id: 'signup-trace-1' })]);
    expect(provisioning[0]!.request_id).not.toBe('signup-trace-1'); // the provisioning function's own
  });

  it('never returns the password hash and stores only a bcrypt hash', async () => {
    const email = uniqueEmail();
    const res = await octo.post('/signup', { name: 'Hash', email, password: 'a-long-password' });
    expect(res.status).toBe(202);
    expect(Object.keys(res.body).sort()).toEqual(['db_id', 'status', 'tenant_id']);
    expect(JSON.stringify(res.body)).not.toMatch(/\$2[aby]\$/);
    const [rows] = await octo.admin.query<RowDataPacket[]>(
      `SELECT password_hash FROM \`${octo.metaDb}\`.tenants WHERE email = ?`,
      [email],
    );
    expect(rows[0]!.password_hash).toMatch(/^\$2[aby]\$\d\d\$/);
    expect(rows[0]!.password_hash).not.toContain('a-long-password');
  });

  it("gives each tenant a MySQL user that cannot read another tenant's database", async () => {
    const a = await octo.signUp();
    const b = await octo.signUp();
    await Promise.all([octo.waitForDatabase(a.db_id), octo.waitForDatabase(b.db_id)]);
    await octo.admin.query(`INSERT INTO \`${databaseName(b.db_id)}\`.customers (name) VALUES ('b-secret')`);

    const login = await mysqlUserOf(a.db_id);
    const asA = await createConnection({ host: '127.0.0.1', user: login.user, password: login.password, ssl: TEST_TLS });
    try {
      const [own] = await asA.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM \`${databaseName(a.db_id)}\`.customers`);
      expect(Number(own[0]!.n)).toBe(0);
      await expect(asA.query(`SELECT * FROM \`${databaseName(b.db_id)}\`.customers`)).rejects.toMatchObject({
        code: 'ER_TABLEACCESS_DENIED_ERROR',
      });
      await expect(asA.query(`DROP TABLE \`${databaseName(a.db_id)}\`.customers`)).rejects.toMatchObject({
        code: 'ER_TABLEACCESS_DENIED_ERROR',
      });
    } finally {
      await asA.end();
    }
  });
});

describe.skipIf(!serversUp)('duplicate emails', () => {
  it('refuses a second signup with the same email', async () => {
    const tenant = await octo.signUp();
    const res = await octo.post('/signup', { name: 'Again', email: tenant.email, password: 'another-password' });
    expect(res.status).toBe(409);
    expect(res.body.error).toMatch(/already exists/);
    expect(await tenantsWithEmail(tenant.email)).toBe(1);
  });

  it('creates exactly one tenant under 20 concurrent signups with one email', async () => {
    const email = uniqueEmail();
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => octo.post('/signup', { name: `Racer ${i}`, email, password: `password-${i}` })),
    );
    const statuses = results.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 202)).toHaveLength(1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(19);
    expect(await tenantsWithEmail(email)).toBe(1);
    expect(await count(`SELECT COUNT(*) AS n FROM \`${octo.metaDb}\`.tenants t JOIN \`${octo.metaDb}\`.tenant_databases d USING (tenant_id) WHERE t.email = ?`, [email])).toBe(1);
  });

  it('treats emails case-insensitively', async () => {
    const tenant = await octo.signUp();
    const res = await octo.post('/signup', { name: 'Upper', email: tenant.email.toUpperCase(), password: 'another-password' });
    expect(res.status).toBe(409);
  });
});

describe.skipIf(!serversUp)('signup input validation', () => {
  const valid = () => ({ name: 'Valid', email: uniqueEmail(), password: 'long-enough-password' });
  it.each([
    ['missing name', { name: undefined }, /name/],
    ['empty name', { name: '   ' }, /name is required/],
    ['name too long', { name: 'n'.repeat(101) }, /at most 100/],
    ['name with control characters', { name: 'a\u0000b' }, /control characters/],
    ['name of wrong type', { name: 42 }, /name/],
    ['missing email', { email: undefined }, /email/],
    ['malformed email', { email: 'not-an-email' }, /valid email/],
    ['email too long', { email: `${'a'.repeat(250)}@example.com` }, /254/],
    ['email of wrong type', { email: ['a@b.co'] }, /email/],
    ['missing password', { password: undefined }, /password/],
    ['short password', { password: 'short' }, /at least 8/],
    ['password over 72 bytes', { password: 'é'.repeat(37) }, /72 bytes/],
    ['password of wrong type', { password: 12345678 }, /password/],
    ['template with shell characters', { template: 'default; rm -rf /' }, /template/],
    ['template path traversal', { template: '../meta' }, /template/],
    ['unknown template', { template: 'nope' }, /Unknown template/],
  ])('answers 400 for %s and creates nothing', async (_label, patch, message) => {
    const body = { ...valid(), ...patch } as Record<string, unknown>;
    const res = await octo.post('/signup', body);
    expect(res.status).toBe(400);
    expect(String(res.body.error)).toMatch(message);
    if (typeof body.email === 'string') expect(await tenantsWithEmail(body.email.toLowerCase())).toBe(0);
  });

  it.each([
    ['invalid JSON', '{"name": '],
    ['a JSON array', '[1,2]'],
    ['an empty body', ''],
  ])('answers 400 for %s', async (_label, raw) => {
    const res = await octo.post('/signup', raw);
    expect(res.status).toBe(400);
    expect(res.body.error).toEqual(expect.any(String));
  });

  it('answers 413 for an oversized body, as API Gateway would', async () => {
    const res = await fetch(`${octo.url}/signup`, { method: 'POST', body: 'x'.repeat(1024 * 1024 + 1) });
    expect(res.status).toBe(413);
  });
});

describe.skipIf(!serversUp)('provisioning failures', () => {
  it('marks a failed push `failed` with the reason, leaves nothing behind, and lets the tenant retry', async () => {
    const tenant = await octo.signUp({ template: 'broken' });
    const db = await octo.waitForDatabase(tenant.db_id);
    expect(db.status).toBe('failed');
    expect(db.status_reason).toMatch(/error/i);
    expect(db.status_reason).not.toMatch(/IDENTIFIED BY/);
    const { user } = await octo.admin
      .query<RowDataPacket[]>(`SELECT mysql_user AS user FROM \`${octo.metaDb}\`.tenant_databases WHERE db_id = ?`, [tenant.db_id])
      .then(([rows]) => rows[0] as { user: string });
    expect(await schemaExists(tenant.db_id)).toBe(0);
    expect(await userExists(user)).toBe(0);

    // The operator fixes the template; the tenant signs up again with the same credentials.
    writeFileSync(join(templatesDir, 'broken', 'zz_bad.sql'), 'CREATE TABLE bad (id int PRIMARY KEY);\n');
    const retry = await octo.post('/signup', { name: 'Retry', email: tenant.email, password: tenant.password });
    expect(retry.status).toBe(202);
    expect(retry.body).toMatchObject({ tenant_id: tenant.tenant_id, db_id: tenant.db_id });
    expect((await octo.waitForDatabase(tenant.db_id)).status).toBe('ready');
    expect(await schemaExists(tenant.db_id)).toBe(1);
    expect(await userExists(user)).toBe(1);
  });

  it('refuses a retry with the wrong password, and any retry of a database that is not failed', async () => {
    const failed = await octo.signUp({ template: 'always-broken' });
    expect((await octo.waitForDatabase(failed.db_id)).status).toBe('failed');
    const thief = await octo.post('/signup', { name: 'Thief', email: failed.email, password: 'not-the-password' });
    expect(thief.status).toBe(409);
    expect((await octo.waitForDatabase(failed.db_id)).status).toBe('failed');

    const ready = await octo.signUp();
    await octo.waitForDatabase(ready.db_id);
    const again = await octo.post('/signup', { name: 'Again', email: ready.email, password: ready.password });
    expect(again.status).toBe(409);
  });

  it('ends in `failed` with nothing left behind when MySQL refuses the host script', async () => {
    const tenant = await octo.signUp();
    await octo.waitForDatabase(tenant.db_id);
    // A second database record for the same tenant, provisioned with a login MySQL refuses (for good, unlike an unreachable server).
    const dbId = '0'.repeat(16) + tenant.db_id.slice(16);
    const user = await addProvisioningDatabase(tenant.tenant_id, dbId);
    const refusing = refusedLogin();
    const outcome = await provisionDatabase(dbId, { ...(await provisionRoot(octo.parts)), hostRunner: refusing, scriptTimeoutSeconds: 30 }).finally(() => refusing.close());
    expect(outcome).toBe('failed');
    const [rows] = await octo.admin.query<RowDataPacket[]>(
      `SELECT status, status_reason, mysql_password_sealed FROM \`${octo.metaDb}\`.tenant_databases WHERE db_id = ?`,
      [dbId],
    );
    expect(rows[0]).toMatchObject({ status: 'failed', mysql_password_sealed: null });
    expect(rows[0]!.status_reason).toMatch(/Access denied/);
    expect(await schemaExists(dbId)).toBe(0);
    expect(await userExists(user)).toBe(0);
  });

  it('says so when the cleanup after a failure fails too, and the retry removes the leftover first', async () => {
    const tenant = await octo.signUp();
    await octo.waitForDatabase(tenant.db_id);
    const dbId = 'c'.repeat(16) + tenant.db_id.slice(16);
    const user = await addProvisioningDatabase(tenant.tenant_id, dbId);
    // What a provisioning script killed half-way leaves: the schema (a stray table in it) and the user.
    await octo.admin.query(`CREATE DATABASE \`${databaseName(dbId)}\``);
    await octo.admin.query(`CREATE TABLE \`${databaseName(dbId)}\`.half_made (id int PRIMARY KEY)`);
    await octo.admin.query(`CREATE USER '${user}'@'%' IDENTIFIED BY 'leftover-password'`);

    // MySQL refuses the attempt and its cleanup alike.
    const refusing = refusedLogin();
    const outcome = await provisionDatabase(dbId, { ...(await provisionRoot(octo.parts)), hostRunner: refusing, scriptTimeoutSeconds: 30 }).finally(() => refusing.close());
    expect(outcome).toBe('failed');
    const failed = await octo.waitForDatabase(dbId);
    expect(failed.status).toBe('failed');
    expect(failed.status_reason).toMatch(/cleanup failed/);
    expect(await schemaExists(dbId)).toBe(1); // as the reason says: left behind

    // The tenant's retry (what signing up again does) provisions over the leftover.
    expect(await (await octo.parts.get('meta')).resetFailedDatabase(dbId)).toBe(true);
    expect(await provisionDatabase(dbId, { ...(await provisionRoot(octo.parts)), scriptTimeoutSeconds: 30 })).toBe('ready');
    const [tables] = await octo.admin.query<RowDataPacket[]>(
      'SELECT table_name AS t FROM information_schema.tables WHERE table_schema = ? ORDER BY table_name',
      [databaseName(dbId)],
    );
    expect(tables.map((r) => r.t)).toEqual(['customers', 'orders']);
    const login = await mysqlUserOf(dbId);
    const asTenant = await createConnection({ host: '127.0.0.1', user: login.user, password: login.password, database: databaseName(dbId), ssl: TEST_TLS });
    await asTenant.query('SELECT COUNT(*) FROM customers').finally(() => asTenant.end());
  });

  it('removes the database and user when setting the password fails after the script succeeded', async () => {
    const tenant = await octo.signUp();
    await octo.waitForDatabase(tenant.db_id);
    const dbId = 'f'.repeat(16) + tenant.db_id.slice(16);
    const user = await addProvisioningDatabase(tenant.tenant_id, dbId);
    const accounts = { setPassword: () => Promise.reject(new Error('Lost connection to MySQL server')) };
    const outcome = await provisionDatabase(dbId, { ...(await provisionRoot(octo.parts)), accounts, scriptTimeoutSeconds: 30 });
    expect(outcome).toBe('failed');
    expect((await octo.waitForDatabase(dbId)).status_reason).toMatch(/Lost connection/);
    expect(await schemaExists(dbId)).toBe(0);
    expect(await userExists(user)).toBe(0);
  });

  it('does not leave a database `provisioning` when a step before the script throws', async () => {
    const tenant = await octo.signUp();
    await octo.waitForDatabase(tenant.db_id);
    const dbId = 'e'.repeat(16) + tenant.db_id.slice(16);
    await addProvisioningDatabase(tenant.tenant_id, dbId);
    const templates = { load: () => Promise.reject(new Error('Lost connection to MySQL server during query')), exists: async () => true };
    const outcome = await provisionDatabase(dbId, { ...(await provisionRoot(octo.parts)), templates, scriptTimeoutSeconds: 30 });
    expect(outcome).toBe('failed');
    expect(await octo.waitForDatabase(dbId)).toEqual({ status: 'failed', status_reason: 'provisioning failed: Lost connection to MySQL server during query' });
    expect(await schemaExists(dbId)).toBe(0);
  });

  it('has a sweep that provisions a database a dead worker left behind, and leaves live claims alone', async () => {
    const tenant = await octo.signUp();
    await octo.waitForDatabase(tenant.db_id);
    const [stalled, live] = ['a', 'b'].map((c) => c.repeat(16) + tenant.db_id.slice(16));
    await addProvisioningDatabase(tenant.tenant_id, stalled!, 86_400);
    await addProvisioningDatabase(tenant.tenant_id, live!, 1);
    // Ready is answered before LF6's base backup after provisioning is stored: the sweep would take
    // one of its own for the same database in the same second, and one of the two fail on the key.
    await octo.invoker.idle();
    const answer = await provisionHandler({ sweep: true });
    expect(answer).toEqual({ outcomes: { [stalled!]: 'ready' }, erasures: {}, baseBackups: expect.objectContaining({ failed: 0 }) });
    expect((await octo.waitForDatabase(stalled!)).status).toBe('ready');
    expect(await schemaExists(stalled!)).toBe(1);
    const [rows] = await octo.admin.query<RowDataPacket[]>(`SELECT status FROM \`${octo.metaDb}\`.tenant_databases WHERE db_id = ?`, [live]);
    expect(rows[0]!.status).toBe('provisioning');
    await octo.admin.query(`UPDATE \`${octo.metaDb}\`.tenant_databases SET status = 'failed' WHERE db_id = ?`, [live]);
  });

  it('does nothing for a duplicate delivery of the same provisioning event', async () => {
    const tenant = await octo.signUp();
    await octo.waitForDatabase(tenant.db_id);
    const outcome = await provisionDatabase(tenant.db_id, { ...(await provisionRoot(octo.parts)), scriptTimeoutSeconds: 30 });
    expect(outcome).toBe('skipped');
    expect(await schemaExists(tenant.db_id)).toBe(1);
  });
});
