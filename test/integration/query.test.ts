import { randomBytes } from 'node:crypto';
import { createConnection, type RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MysqlTenantSqlRunner, TENANT_SQL_MODE, type TenantSqlLimits } from '#adapters/mysql-tenant-sql-runner';
import { BusyError, ProhibitedError, QueryTimeoutError } from '#core/errors';
import { databaseName } from '#core/ids';
import type { LogRecord, QueryLogRecord, TenantLogin } from '#core/ports';
import { hostileCases } from '../support/hostile-queries.ts';
import { startTestOctoDb, type TestOctoDb } from '../support/octodb.ts';
import { TEST_TLS } from '../support/mysql-tls.ts';
import { serversUp } from '../support/servers.ts';
import { waitFor } from '../support/wait.ts';

const ROW_LIMIT = 5;
const TIMEOUT_MS = 400;
const RESULT_BYTES = 50_000;

let octo: TestOctoDb;
let a: { tenant_id: string; db_id: string; token: string; db: string };
let b: { tenant_id: string; db_id: string; token: string; db: string };
const logged: LogRecord[] = [];
let restoreLogs: (() => void) | undefined;

beforeAll(async () => {
  octo = await startTestOctoDb({
    OCTODB_QUERY_ROW_LIMIT: String(ROW_LIMIT),
    OCTODB_QUERY_TIMEOUT_MS: String(TIMEOUT_MS),
    OCTODB_QUERY_MAX_RESULT_BYTES: String(RESULT_BYTES),
    // Two connections for all tenants: every test below makes them switch user back and forth.
    OCTODB_QUERY_POOL_SIZE: '2',
  });
  // The log pipeline is another issue's: capture what the query path hands to its port.
  restoreLogs = octo.parts.override({ queryLogs: { send: async (records) => void logged.push(...records) } });
  const [ta, tb] = await Promise.all([octo.signUp(), octo.signUp()]);
  await Promise.all([octo.waitForDatabase(ta.db_id), octo.waitForDatabase(tb.db_id)]);
  a = { ...ta, token: await octo.token(ta.email, ta.password), db: databaseName(ta.db_id) };
  b = { ...tb, token: await octo.token(tb.email, tb.password), db: databaseName(tb.db_id) };
  await octo.admin.query(`INSERT INTO \`${a.db}\`.customers (id, name) VALUES (1, 'a-one'), (2, 'a-two')`);
  await octo.admin.query(`INSERT INTO \`${a.db}\`.orders (customer_id, total) VALUES (1, 10.50)`);
  await octo.admin.query(`INSERT INTO \`${b.db}\`.customers (id, name) VALUES (1, 'b-secret'), (2, 'b-secret-2')`);
  await octo.admin.query(`INSERT INTO \`${b.db}\`.orders (customer_id, total) VALUES (1, 99.99)`);
});
afterAll(async () => {
  restoreLogs?.();
  await octo?.close();
});

const query = (token: string, body: Record<string, unknown>) =>
  octo.post<Record<string, unknown> & { data: Record<string, unknown>[]; error: string }>('/query', body, token);
const rowsOf = async (sql: string, params: unknown[] = []) => (await octo.admin.query<RowDataPacket[]>(sql, params))[0];
/** Statements of this MySQL user the server is running now (or waiting on a lock in). */
const onServer = async (user: string, like: string) =>
  Number((await rowsOf('SELECT COUNT(*) AS c FROM information_schema.processlist WHERE user = ? AND info LIKE ?', [user, like]))[0]!.c);

/** Row counts, content checksums, tables and grants of both tenants: what no refused request may change. */
async function snapshot() {
  const counts = await rowsOf(
    `SELECT (SELECT COUNT(*) FROM \`${a.db}\`.customers) ac, (SELECT COUNT(*) FROM \`${a.db}\`.orders) ao,
            (SELECT COUNT(*) FROM \`${b.db}\`.customers) bc, (SELECT COUNT(*) FROM \`${b.db}\`.orders) bo`,
  );
  const sums = await rowsOf(`CHECKSUM TABLE \`${a.db}\`.customers, \`${a.db}\`.orders, \`${b.db}\`.customers, \`${b.db}\`.orders`);
  const tables = await rowsOf(
    'SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema IN (?, ?) ORDER BY 1, 2',
    [a.db, b.db],
  );
  const grants = await rowsOf(`SHOW GRANTS FOR 'u_${a.db_id.slice(0, 24)}'@'%'`);
  return { counts, sums, tables, grants };
}

async function loginOf(tenant: { tenant_id: string; db_id: string }): Promise<TenantLogin> {
  return (await octo.parts.get('tenantLogins')).resolve(tenant.tenant_id, tenant.db_id);
}

/** A runner of its own (limits of its own, no validator in front), closed after the test. */
const runners: MysqlTenantSqlRunner[] = [];
afterAll(async () => Promise.all(runners.map((r) => r.close())));
function runnerWith(limits: Partial<TenantSqlLimits>): MysqlTenantSqlRunner {
  const defaults = { rowLimit: 1000, maxResultBytes: 4 * 1024 * 1024, timeoutMs: 5000, poolSize: 8, acquireTimeoutMs: 2000 };
  const runner = new MysqlTenantSqlRunner(TEST_TLS, { ...defaults, ...limits });
  runners.push(runner);
  return runner;
}

/** An admin transaction holding row n = 1 of a tenant's `numbers`: statements on it wait, idle. */
async function lockNumberOne(db: string) {
  const locker = await createConnection((await octo.parts.get('logins')).admin!);
  await locker.query('BEGIN');
  await locker.query(`SELECT n FROM \`${db}\`.numbers WHERE n = 1 FOR UPDATE`);
  return { release: async () => (await locker.query('ROLLBACK'), await locker.end()) };
}

describe.skipIf(!serversUp)('the hostile corpus over HTTP', () => {
  let before: Awaited<ReturnType<typeof snapshot>>;
  beforeAll(async () => {
    before = await snapshot();
    expect(Number(before.counts[0]!.ac)).toBe(2);
  });

  it.each(hostileCases.map((c) => [c.label, c] as const))('%s → its status, and nothing changed', async (_label, c) => {
    const body =
      typeof c.body === 'string'
        ? c.body
        : JSON.parse(JSON.stringify(c.body).replaceAll('{SELF}', a.db).replaceAll('{OTHER}', b.db));
    const res = await query(a.token, body);
    expect(res.status).toBe(c.status);
    if (c.error) expect(res.body.error).toMatch(c.error);
    if (c.status === 200) expect(JSON.stringify(res.body)).not.toContain('b-secret');
    expect(await snapshot()).toEqual(before);
  });
});

describe.skipIf(!serversUp)('cross-tenant canaries', () => {
  it("never returns tenant B's rows to tenant A, whatever A names", async () => {
    const attempts = [
      { query: 'SELECT * FROM customers' },
      { query: 'SELECT * FROM customers', db_id: b.db_id },
      { query: `SELECT * FROM \`${b.db}\`.customers` },
      { query: `SELECT * FROM \`${b.db}\`.customers`, db_id: b.db_id },
      { query: 'SELECT name FROM customers WHERE name LIKE ?', params: ['b-%'] },
    ];
    for (const attempt of attempts) {
      const res = await query(a.token, attempt);
      expect(JSON.stringify(res.body)).not.toContain('b-secret');
    }
    const own = await query(a.token, { query: 'SELECT name FROM customers ORDER BY id' });
    expect(own.body.data).toEqual([{ name: 'a-one' }, { name: 'a-two' }]);
  });

  it("answers another tenant's database exactly like one that does not exist", async () => {
    const theirs = await query(a.token, { query: 'SELECT 1', db_id: b.db_id });
    const nowhere = await query(a.token, { query: 'SELECT 1', db_id: 'f'.repeat(32) });
    expect(theirs).toEqual({ status: 404, body: { error: 'Database not found', code: 'DATABASE_NOT_FOUND' } });
    expect(nowhere).toEqual(theirs);
  });

  it('refuses a db_id that is not one (400), as /migrate and /dashboard do', async () => {
    for (const db_id of ['../../etc', 'a b', '', 'F'.repeat(32)]) {
      const res = await query(a.token, { query: 'SELECT 1', db_id });
      expect(res.status).toBe(400);
      expect(String(res.body.error)).toMatch(/db_id must be 32 hex characters/);
    }
  });

  it('still refuses with MySQL grants when the validator is bypassed', async () => {
    const login = await loginOf(a);
    const run = async (sql: string) => (await octo.parts.get('tenantSql')).run(login, sql, []);
    for (const sql of [
      `SELECT * FROM \`${b.db}\`.customers`,
      `INSERT INTO \`${b.db}\`.customers (name) VALUES ('from-a')`,
      `DELETE FROM \`${b.db}\`.customers`,
      `DROP TABLE \`${a.db}\`.customers`,
      'CREATE TABLE evil (id int)',
      'SELECT * FROM mysql.user',
      "SELECT * FROM customers INTO OUTFILE '/tmp/octodb-canary'",
      'GRANT SELECT ON *.* TO CURRENT_USER',
    ]) {
      await expect(run(sql), sql).rejects.toBeInstanceOf(ProhibitedError);
    }
    // What needs no grant shows nothing of anyone else.
    expect((await run("SELECT LOAD_FILE('/etc/passwd') AS f")).rows).toEqual([{ f: null }]);
    const visible = await run("SELECT DISTINCT table_schema AS s FROM information_schema.tables WHERE table_schema LIKE 'db\\_%'");
    expect(visible.rows).toEqual([{ s: a.db }]);
    const me = await run('SELECT CURRENT_USER() AS u, DATABASE() AS d');
    expect(me.rows).toEqual([{ u: `u_${a.db_id.slice(0, 24)}@%`, d: a.db }]);
    expect(await rowsOf(`SELECT name FROM \`${b.db}\`.customers ORDER BY id`)).toEqual([{ name: 'b-secret' }, { name: 'b-secret-2' }]);
  });

  it('keeps identities apart while two pooled connections switch between tenants under load', async () => {
    const asks = Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b));
    const results = await Promise.all(
      asks.map((t) => query(t.token, { query: 'SELECT CURRENT_USER() AS u, DATABASE() AS d, COUNT(*) AS n FROM customers' })),
    );
    results.forEach((res, i) => {
      const t = asks[i]!;
      expect(res.status).toBe(200);
      expect(res.body.data).toEqual([{ u: `u_${t.db_id.slice(0, 24)}@%`, d: t.db, n: '2' }]);
    });
  });
});

describe.skipIf(!serversUp)('happy paths', () => {
  it('runs INSERT, SELECT, UPDATE and DELETE with bound params', async () => {
    const ins = await query(a.token, { query: 'INSERT INTO customers (name, email) VALUES (?, ?)', params: ['Ada', 'ada@example.com'] });
    expect(ins.status).toBe(200);
    expect(ins.body).toMatchObject({ message: 'Query executed successfully', rowsAffected: 1, columns: [], data: [] });
    const id = String(ins.body.insertId);
    expect(await rowsOf(`SELECT name, email FROM \`${a.db}\`.customers WHERE id = ?`, [id])).toEqual([{ name: 'Ada', email: 'ada@example.com' }]);

    const sel = await query(a.token, { query: 'SELECT id, name FROM customers WHERE email = ? AND id > ?', params: ['ada@example.com', 0] });
    const columns = [{ name: 'id', type: 'BIGINT UNSIGNED' }, { name: 'name', type: 'VARCHAR' }];
    expect(sel.body).toEqual({ message: 'Query executed successfully', rowsAffected: 1, columns, data: [{ id, name: 'Ada' }], truncated: false });

    const upd = await query(a.token, { query: 'UPDATE customers SET name = ? WHERE id = ?', params: ['Ada L.', Number(id)] });
    expect(upd.body).toEqual({ message: 'Query executed successfully', rowsAffected: 1, columns: [], data: [] });
    expect(await rowsOf(`SELECT name FROM \`${a.db}\`.customers WHERE id = ?`, [id])).toEqual([{ name: 'Ada L.' }]);

    const del = await query(a.token, { query: 'DELETE FROM customers WHERE id = ?', params: [id] });
    expect(del.body).toEqual({ message: 'Query executed successfully', rowsAffected: 1, columns: [], data: [] });
    expect(await rowsOf(`SELECT id FROM \`${a.db}\`.customers WHERE id = ?`, [id])).toEqual([]);
  });

  it('binds params as values, never as SQL', async () => {
    const hostile = "x'); DELETE FROM customers; -- ";
    const ins = await query(a.token, { query: 'INSERT INTO customers (name) VALUES (?)', params: [hostile] });
    expect(ins.status).toBe(200);
    expect(await rowsOf(`SELECT COUNT(*) AS n FROM \`${a.db}\`.customers WHERE name = ?`, [hostile])).toEqual([{ n: 1 }]);
    await octo.admin.query(`DELETE FROM \`${a.db}\`.customers WHERE name = ?`, [hostile]);
  });

  it('accepts its own database named explicitly, by db_id and in the SQL', async () => {
    const res = await query(a.token, { query: `SELECT COUNT(*) AS n FROM \`${a.db}\`.customers`, db_id: a.db_id });
    expect(res.body.data).toEqual([{ n: '2' }]);
  });

  it('answers 409 with the status of a database still provisioning or failed', async () => {
    for (const status of ['provisioning', 'failed']) {
      const dbId = randomBytes(16).toString('hex');
      await octo.admin.query(
        `INSERT INTO \`${octo.metaDb}\`.tenant_databases (db_id, tenant_id, host_id, template, status, mysql_user)
         VALUES (?, ?, 'local', 'default', ?, ?)`,
        [dbId, a.tenant_id, status, `u_${dbId.slice(0, 24)}`],
      );
      const res = await query(a.token, { query: 'SELECT 1', db_id: dbId });
      expect(res).toEqual({ status: 409, body: { error: `Database is ${status}`, status } });
      await octo.admin.query(`DELETE FROM \`${octo.metaDb}\`.tenant_databases WHERE db_id = ?`, [dbId]);
    }
  });

  it('answers 401 without a token, before any SQL is looked at', async () => {
    const res = await octo.post('/query', { query: 'DROP TABLE customers' });
    expect(res.status).toBe(401);
  });
});

describe.skipIf(!serversUp)('JSON-safe values', () => {
  it('maps BIGINT/DECIMAL to strings, dates to ISO-8601, binary to base64, JSON to JSON', async () => {
    await octo.admin.query(`CREATE TABLE \`${a.db}\`.typed (
      id bigint unsigned NOT NULL PRIMARY KEY, small int, amount decimal(30,4), ratio double, flag tinyint(1),
      day date, at datetime(3), stamp timestamp NULL, clock time, raw varbinary(8), blob_col blob, bits bit(8),
      doc json, label varchar(20) CHARACTER SET utf8mb4, nothing int)`);
    // Written two hours east of UTC: the TIMESTAMP holds 00:00:01 UTC.
    await octo.admin.query("SET time_zone = '+02:00'");
    await octo.admin.query(
      `INSERT INTO \`${a.db}\`.typed VALUES (18446744073709551615, -7, 12345678901234567890.1234, 0.5, 1,
        '2024-02-29', '2024-02-29 13:14:15.678', '2024-03-01 02:00:01', '23:59:58', x'00ff10', x'deadbeef', b'10100101',
        '{"a": [1, 2]}', 'héllo 🐙', NULL)`,
    );
    await octo.admin.query('SET time_zone = DEFAULT');
    const res = await query(a.token, { query: 'SELECT * FROM typed' });
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual([
      {
        id: '18446744073709551615',
        small: -7,
        amount: '12345678901234567890.1234',
        ratio: 0.5,
        flag: 1,
        day: '2024-02-29',
        at: '2024-02-29T13:14:15.678Z',
        stamp: '2024-03-01T00:00:01Z',
        clock: '23:59:58',
        raw: Buffer.from([0x00, 0xff, 0x10]).toString('base64'),
        blob_col: Buffer.from('deadbeef', 'hex').toString('base64'),
        bits: Buffer.from([0b10100101]).toString('base64'),
        doc: { a: [1, 2] }, // JSON columns stay JSON
        label: 'héllo 🐙',
        nothing: null,
      },
    ]);
    const count = await query(a.token, { query: 'SELECT COUNT(*) AS n, SUM(amount) AS s FROM typed' });
    expect(count.body.data).toEqual([{ n: '1', s: '12345678901234567890.1234' }]);
  });

  it('runs every session in UTC, whatever the server time zone', async () => {
    const run = async (sql: string) => (await octo.parts.get('tenantSql')).run(await loginOf(a), sql, []);
    expect((await run('SELECT @@session.time_zone AS tz')).rows).toEqual([{ tz: '+00:00' }]);
    // What NOW() writes reads back as the same instant.
    const { rows } = await run('SELECT CAST(NOW() AS DATETIME) AS now');
    expect(Math.abs(Date.parse(String(rows[0]!.now)) - Date.now())).toBeLessThan(5000);
  });

  it('runs every statement under the SQL mode the validator lexes by, not the server default', async () => {
    const run = async (sql: string) => (await octo.parts.get('tenantSql')).run(await loginOf(b), sql, []);
    const [[server]] = (await octo.admin.query('SELECT @@GLOBAL.sql_mode AS mode')) as unknown as [[{ mode: string }]];
    expect(server.mode).not.toBe(TENANT_SQL_MODE);
    expect((await run('SELECT @@session.sql_mode AS mode')).rows).toEqual([{ mode: TENANT_SQL_MODE }]);
    // Backslash escapes hold and "..." is a string, as the validator reads them.
    expect((await run(`SELECT 'a\\\\b' AS s, "x" AS d`)).rows).toEqual([{ s: 'a\\b', d: 'x' }]);
  });

  it('gives zero dates as null', async () => {
    await octo.admin.query(`CREATE TABLE \`${a.db}\`.zeroes (id int PRIMARY KEY, d date, dt datetime, ts timestamp NULL)`);
    // MySQL 8's default strict mode (NO_ZERO_DATE, NO_ZERO_IN_DATE) refuses zero dates; data
    // written under an older mode still holds them.
    const [[{ mode }]] = (await octo.admin.query('SELECT @@SESSION.sql_mode AS mode')) as unknown as [[{ mode: string }]];
    await octo.admin.query("SET SESSION sql_mode = ''");
    try {
      await octo.admin.query(
        `INSERT INTO \`${a.db}\`.zeroes VALUES (1, '0000-00-00', '0000-00-00 00:00:00', '0000-00-00 00:00:00'),
          (2, '2024-02-00', '2024-00-10 10:00:00', NULL), (3, '0000-01-01', '2024-01-02 03:04:05', '2024-01-02 03:04:05')`,
      );
    } finally {
      await octo.admin.query('SET SESSION sql_mode = ?', [mode]);
    }
    const res = await query(a.token, { query: 'SELECT d, dt, ts FROM zeroes ORDER BY id' });
    expect(res.body.data).toEqual([
      { d: null, dt: null, ts: null },
      { d: null, dt: null, ts: null },
      { d: '0000-01-01', dt: '2024-01-02T03:04:05Z', ts: '2024-01-02T03:04:05Z' },
    ]);
  });
});

describe.skipIf(!serversUp)('result columns', () => {
  // One column of each type, and the name /query gives it (the same on MySQL 8 and MariaDB).
  const declared: [column: string, type: string][] = [
    ['ti tinyint', 'TINYINT'], ['flag tinyint(1)', 'TINYINT'], ['si smallint', 'SMALLINT'], ['mi mediumint', 'MEDIUMINT'],
    ['i int', 'INT'], ['iu int unsigned', 'INT UNSIGNED'], ['bi bigint', 'BIGINT'], ['biu bigint unsigned', 'BIGINT UNSIGNED'],
    ['de decimal(10,2)', 'DECIMAL'], ['f float', 'FLOAT'], ['d double', 'DOUBLE'], ['bt bit(8)', 'BIT'], ['y year', 'YEAR'],
    ['da date', 'DATE'], ['dt datetime(3)', 'DATETIME'], ['ts timestamp NULL', 'TIMESTAMP'], ['tm time', 'TIME'],
    ['c char(3)', 'CHAR'], ['vc varchar(20)', 'VARCHAR'], ['bn binary(3)', 'BINARY'], ['vb varbinary(8)', 'VARBINARY'],
    ['tt tinytext', 'TINYTEXT'], ['tx text', 'TEXT'], ['tl text CHARACTER SET latin1', 'TEXT'], ['mt mediumtext', 'MEDIUMTEXT'],
    ['lt longtext', 'LONGTEXT'], ['tb tinyblob', 'TINYBLOB'], ['bl blob', 'BLOB'], ['mb mediumblob', 'MEDIUMBLOB'],
    ['lb longblob', 'LONGBLOB'], ['j json', 'JSON'], ['e enum(\'a\',\'b\')', 'ENUM'], ['st set(\'x\',\'y\')', 'SET'],
    ['g geometry', 'GEOMETRY'],
  ];
  const expected = declared.map(([column, type]) => ({ name: column.split(' ')[0]!, type }));
  beforeAll(async () => {
    await octo.admin.query(`CREATE TABLE \`${a.db}\`.every_type (${declared.map(([column]) => column).join(', ')})`);
  });

  it('gives every column its MySQL type, in the order selected, even for an empty result', async () => {
    const empty = await query(a.token, { query: 'SELECT * FROM every_type' });
    expect(empty.body).toEqual({ message: 'Query executed successfully', rowsAffected: 0, columns: expected, data: [], truncated: false });
    await octo.admin.query(`INSERT INTO \`${a.db}\`.every_type (iu, biu, dt, j, e, st) VALUES (7, 18446744073709551615, '2024-02-29 13:14:15.678', '[1]', 'b', 'x,y')`);
    const one = await query(a.token, { query: 'SELECT * FROM every_type' });
    expect(one.body.columns).toEqual(expected);
    // The values keep their JSON mapping; the row has a key for every column.
    expect(Object.keys(one.body.data[0]!).sort()).toEqual(expected.map((c) => c.name).sort());
    expect(one.body.data[0]).toMatchObject({ iu: 7, biu: '18446744073709551615', dt: '2024-02-29T13:14:15.678Z', j: [1], e: 'b', st: 'x,y', ti: null });
    const reordered = await query(a.token, { query: 'SELECT vb, iu FROM every_type WHERE 0' });
    expect(reordered.body.columns).toEqual([{ name: 'vb', type: 'VARBINARY' }, { name: 'iu', type: 'INT UNSIGNED' }]);
  });

  it('lists a name once, as the row holds it: the last value of that name, with its type', async () => {
    const res = await query(a.token, { query: 'SELECT iu AS a, e AS a, biu AS `2`, dt AS b FROM every_type' });
    expect(res.body.columns).toEqual([{ name: 'a', type: 'ENUM' }, { name: '2', type: 'BIGINT UNSIGNED' }, { name: 'b', type: 'DATETIME' }]);
    expect(res.body.data).toEqual([{ a: 'b', 2: '18446744073709551615', b: '2024-02-29T13:14:15.678Z' }]);
    // A name's value converts by the type of the column it came from, not by another of that name.
    const shadowed = await query(a.token, { query: "SELECT dt AS a, '2024-01-02 03:04:05' AS a FROM every_type" });
    expect(shadowed.body.data).toEqual([{ a: '2024-01-02 03:04:05' }]);
  });

  it('gives a write no columns', async () => {
    for (const sql of ["INSERT INTO every_type (vc) VALUES ('w')", "UPDATE every_type SET vc = 'v' WHERE vc = 'w'", "DELETE FROM every_type WHERE vc = 'v'"]) {
      const res = await query(a.token, { query: sql });
      expect(res.body).toEqual({ message: 'Query executed successfully', rowsAffected: 1, columns: [], data: [] });
    }
  });

  it('keeps the columns of a truncated result', async () => {
    const res = await query(a.token, { query: "SELECT vb, REPEAT('x', 60000) AS pad FROM every_type" });
    expect(res.body).toMatchObject({ rowsAffected: 0, data: [], truncated: true });
    expect(res.body.columns).toEqual([{ name: 'vb', type: 'VARBINARY' }, { name: 'pad', type: expect.stringMatching(/TEXT$/) }]);
  });
});

describe.skipIf(!serversUp)('limits', () => {
  beforeAll(async () => {
    await octo.admin.query(`CREATE TABLE \`${a.db}\`.numbers (n int NOT NULL PRIMARY KEY)`);
    await octo.admin.query(`INSERT INTO \`${a.db}\`.numbers (n) WITH RECURSIVE r (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 300) SELECT n FROM r`);
  });

  it.each([
    ['no LIMIT', 'SELECT n FROM numbers ORDER BY n', ROW_LIMIT, true],
    ['a LIMIT above the cap', 'SELECT n FROM numbers ORDER BY n LIMIT 200', ROW_LIMIT, true],
    ['a LIMIT below the cap', 'SELECT n FROM numbers ORDER BY n LIMIT 3', 3, false],
    ['exactly the cap', `SELECT n FROM numbers ORDER BY n LIMIT ${ROW_LIMIT}`, ROW_LIMIT, false],
  ])('caps a SELECT with %s and says when it truncated', async (_label, sql, rows, truncated) => {
    const res = await query(a.token, { query: sql });
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual(Array.from({ length: rows }, (_, i) => ({ n: i + 1 })));
    expect(res.body).toMatchObject({ rowsAffected: rows, truncated });
  });

  it('stops at the byte budget and says it truncated', async () => {
    // Each row is ~20 KB of JSON: two fit in the 50 KB budget, a third would not.
    const res = await query(a.token, { query: "SELECT n, REPEAT('x', 20000) AS pad FROM numbers ORDER BY n" });
    expect(res.status).toBe(200);
    expect(res.body.data.map((r) => r.n)).toEqual([1, 2]);
    expect(res.body).toMatchObject({ rowsAffected: 2, truncated: true });
    expect(JSON.stringify(res.body.data).length).toBeLessThanOrEqual(RESULT_BYTES);
  });

  it('answers a row larger than the whole budget with no rows, truncated', async () => {
    const res = await query(a.token, {
      query: "WITH RECURSIVE r (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 1000) SELECT REPEAT('x', 16000000) AS pad FROM r",
    });
    expect(res).toEqual({
      status: 200,
      body: { message: 'Query executed successfully', rowsAffected: 0, columns: [{ name: 'pad', type: expect.stringMatching(/TEXT$/) }], data: [], truncated: true },
    });
    // The connection it stopped reading is gone; the next statement gets a sound one.
    expect((await query(a.token, { query: 'SELECT COUNT(*) AS n FROM numbers' })).body.data).toEqual([{ n: '300' }]);
  });

  it('keeps memory bounded by the budget, not by what the statement would return (1 GB here)', async () => {
    const runner = runnerWith({ rowLimit: 1000, maxResultBytes: 4 * 1024 * 1024 });
    const login = await loginOf(a);
    const sql = "WITH RECURSIVE r (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 1000) SELECT n, REPEAT('x', 1000000) AS pad FROM r";
    const rssBefore = process.memoryUsage().rss;
    const result = await runner.run(login, sql, []);
    // Four rows of ~1 MB fit in 4 MiB; the 1000 the row cap allows would be 1 GB.
    expect(result.rows.map((r) => r.n)).toEqual([1, 2, 3, 4]);
    expect(result.truncated).toBe(true);
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(200 * 1024 * 1024);
    // The server stops producing the rest too: its thread leaves the statement.
    await waitFor(async () => (await onServer(login.user, '%REPEAT(%')) === 0, { timeoutMs: 3000, intervalMs: 50, what: 'the server to leave the statement' });
    expect(await onServer(login.user, '%REPEAT(%')).toBe(0);
  });

  it('does not cap the rows a write changes', async () => {
    const res = await query(a.token, { query: 'UPDATE numbers SET n = n + 1000 WHERE n <= ?', params: [20] });
    expect(res.body.rowsAffected).toBe(20);
    await octo.admin.query(`UPDATE \`${a.db}\`.numbers SET n = n - 1000 WHERE n > 1000`);
  });

  it('has the server stop a SELECT that runs past the time limit', async () => {
    const started = Date.now();
    // 300³ × 30 = 8.1 × 10^8 row combinations: past the time limit, under the estimate bound.
    const res = await query(a.token, { query: 'SELECT COUNT(*) FROM numbers a, numbers b, numbers c, seq_1_to_30 d' });
    const elapsed = Date.now() - started;
    expect(res).toEqual({
      status: 408,
      body: { error: `Query exceeded the time limit of ${TIMEOUT_MS} ms and was stopped`, code: 'STATEMENT_TIMEOUT', limit_ms: TIMEOUT_MS },
    });
    expect(elapsed).toBeGreaterThanOrEqual(TIMEOUT_MS - 50);
    expect(elapsed).toBeLessThan(TIMEOUT_MS + 1500);
    // The connection it ran on serves the next statement.
    expect((await query(a.token, { query: 'SELECT COUNT(*) AS n FROM numbers' })).body.data).toEqual([{ n: '300' }]);
  });

  it('has the server stop a write that runs past the time limit, changing nothing', async () => {
    const res = await query(a.token, {
      query: 'INSERT INTO orders (customer_id) SELECT COUNT(*) FROM numbers a, numbers b, numbers c, seq_1_to_30 d',
    });
    expect([res.status, res.body.code]).toEqual([408, 'STATEMENT_TIMEOUT']);
    expect(await rowsOf(`SELECT COUNT(*) AS n FROM \`${a.db}\`.orders`)).toEqual([{ n: 1 }]);
  });

  it('refuses, before it runs, a SELECT the server estimates past the row-combination bound', async () => {
    // 10^10 pairs: the statement would hold a core until its time limit; refused at planning instead.
    const user = (await loginOf(a)).user;
    const res = await query(a.token, { query: 'SELECT COUNT(*) FROM seq_1_to_100000 x JOIN seq_1_to_100000 y ON x.seq * y.seq = 77' });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code: 'QUERY_TOO_BIG', limit_rows: 1_000_000_000 });
    expect(res.body.error).toMatch(/examine more than 1000000000 rows/);
    expect(res.body.error).not.toMatch(/SQL_BIG_SELECTS|MAX_JOIN_SIZE/);
    // It never ran: the server is not still working on it.
    expect(await onServer(user, 'SELECT COUNT(*) FROM seq_1_to_100000%')).toBe(0);
    // The same bound holds inside a batch, and the session keeps it after the refusal.
    const batch = await octo.post<{ code: string; statement: number }>(
      '/query',
      { statements: [{ query: 'SELECT 1 AS one' }, { query: 'SELECT COUNT(*) FROM seq_1_to_100000 x, seq_1_to_100000 y' }] },
      a.token,
    );
    expect([batch.status, batch.body.code, batch.body.statement]).toEqual([400, 'QUERY_TOO_BIG', 1]);
    // A join under the bound runs and answers.
    expect((await query(a.token, { query: 'SELECT COUNT(*) AS n FROM numbers x, numbers y' })).body.data).toEqual([{ n: '90000' }]);
  });

  it("still answers tenant B while tenant A's statements hold connections", async () => {
    // Two connections, at most one per tenant; a time limit no test reaches, so A's statements end
    // only once the lock is released: B's answer cannot have waited for one of them.
    const runner = runnerWith({ poolSize: 2, timeoutMs: 30_000, acquireTimeoutMs: 5_000 });
    const [la, lb] = [await loginOf(a), await loginOf(b)];
    const lock = await lockNumberOne(a.db);
    try {
      let aFinished = 0;
      const blocked = [1, 2].map(() =>
        runner.run(la, 'UPDATE numbers SET n = n WHERE n = ?', [1]).finally(() => aFinished++),
      );
      // Wait until one of A's statements is on the server, waiting on the lock (the other queues).
      await waitFor(async () => (await onServer(la.user, 'UPDATE numbers%')) > 0, { timeoutMs: 20_000, intervalMs: 20, what: "one of A's statements on the server" });
      expect(await onServer(la.user, 'UPDATE numbers%')).toBe(1);
      // With no per-tenant cap, A's two would hold both connections and B would get a 503 BUSY.
      expect((await runner.run(lb, 'SELECT COUNT(*) AS n FROM customers', [])).rows).toEqual([{ n: '2' }]);
      expect(aFinished).toBe(0);
      await lock.release();
      expect((await Promise.all(blocked)).map((r) => r.rows)).toEqual([[], []]);
    } finally {
      await lock.release().catch(() => {});
    }
  });

  it('caps the connections one tenant holds and bounds its wait with a 503 BUSY', async () => {
    const runner = runnerWith({ poolSize: 4, tenantConcurrency: 2, acquireTimeoutMs: 300, timeoutMs: 3000 });
    const [la, lb] = [await loginOf(a), await loginOf(b)];
    const lock = await lockNumberOne(a.db);
    try {
      // A saturates: four statements that wait on the lock; two run (its cap), two queue.
      let gaveUp = 0;
      const outcomes = Array.from({ length: 4 }, () =>
        runner.run(la, 'UPDATE numbers SET n = n WHERE n = 1', []).then(
          () => 'ran',
          (e: unknown) => (gaveUp++, e),
        ),
      );
      await waitFor(async () => (await onServer(la.user, 'UPDATE numbers%')) === 2, { intervalMs: 20, what: "A's two running statements on the server" });
      // B finds room at once (with no cap, A's four would hold all four and B would get the 503).
      expect((await runner.run(lb, 'SELECT COUNT(*) AS n FROM customers', [])).rows).toEqual([{ n: '2' }]);
      // A's queued two give up after the acquire timeout, with a 503 that says why.
      await waitFor(() => gaveUp === 2, { what: "A's two queued statements to give up" });
      await lock.release();
      const settled = await Promise.all(outcomes);
      expect(settled.filter((o) => o === 'ran')).toHaveLength(2);
      const busy = settled.filter((o) => o !== 'ran');
      expect(busy).toHaveLength(2);
      for (const e of busy) {
        expect(e).toBeInstanceOf(BusyError);
        expect((e as BusyError).status).toBe(503);
        expect((e as BusyError).toJSON()).toEqual({ error: 'Too many statements of this tenant at once (at most 2 run together), try again', code: 'BUSY' });
      }
    } finally {
      await lock.release().catch(() => {});
    }
  });

  it('never hands a connection a watchdog KILL was aimed at to another tenant', async () => {
    // The watchdog fires 200 ms in, well before the server's own limit: as on MySQL for writes.
    const runner = runnerWith({ poolSize: 1, timeoutMs: 3000, watchdogGraceMs: -2800 });
    const [la, lb] = [await loginOf(a), await loginOf(b)];
    const threadOf = async (login: TenantLogin) => (await runner.run(login, 'SELECT CONNECTION_ID() AS id', [])).rows[0]!.id;
    const first = await threadOf(la);
    expect(await threadOf(la)).toBe(first); // without a kill, the one connection is reused
    const lock = await lockNumberOne(a.db);
    try {
      const stopped = runner.run(la, 'UPDATE numbers SET n = n WHERE n = 1', []);
      await expect(stopped).rejects.toBeInstanceOf(QueryTimeoutError);
      await expect(stopped).rejects.toMatchObject({ code: 'STATEMENT_TIMEOUT' });
    } finally {
      await lock.release();
    }
    expect(await threadOf(lb)).not.toBe(first);
  });

  it('answers a write stopped mid-way before its rollback ends, and serves others meanwhile', async () => {
    // One connection; the watchdog answers 1.5 s in, long before the server's own limit, as on
    // MySQL for writes: by then the INSERT has written rows that take a while to roll back.
    const runner = runnerWith({ poolSize: 1, tenantConcurrency: 1, timeoutMs: 20_000, watchdogGraceMs: -18_500, acquireTimeoutMs: 10_000 });
    const [la, lb] = [await loginOf(a), await loginOf(b)];
    const threadOfA = (await runner.run(la, 'SELECT CONNECTION_ID() AS id', [])).rows[0]!.id;
    const stopped = runner.run(la, 'INSERT INTO orders (customer_id) SELECT seq FROM seq_1_to_100000000', []);
    await expect(stopped).rejects.toMatchObject({ code: 'STATEMENT_TIMEOUT' });
    // B is served on the one connection's room while A's thread is still rolling back on the server.
    expect((await runner.run(lb, 'SELECT COUNT(*) AS n FROM customers', [])).rows).toEqual([{ n: '2' }]);
    const stillThere = await rowsOf('SELECT COMMAND AS c FROM information_schema.PROCESSLIST WHERE ID = ?', [threadOfA]);
    expect(stillThere).toEqual([{ c: 'Killed' }]);
    // The rollback counts against A (its cap is 1): A's next statement runs only once it is gone.
    expect((await runner.run(la, 'SELECT COUNT(*) AS n FROM orders', [])).rows).toEqual([{ n: '1' }]);
    expect(await rowsOf('SELECT ID FROM information_schema.PROCESSLIST WHERE ID = ?', [threadOfA])).toEqual([]);
  });

  it('answers 413 for a body over the cap, as API Gateway would', async () => {
    const res = await fetch(`${octo.url}/query`, {
      method: 'POST',
      headers: { authorization: `Bearer ${a.token}` },
      body: 'x'.repeat(octo.parts.config.OCTODB_MAX_BODY_BYTES + 1),
    });
    expect(res.status).toBe(413);
  });
});

describe.skipIf(!serversUp)('query logs', () => {
  it('records tenant, database, type, duration, rows and outcome, never the params', async () => {
    logged.length = 0;
    const secret = `param-${Math.random().toString(36).slice(2)}`;
    await query(a.token, { query: 'SELECT * FROM customers WHERE name = ?', params: [secret] });
    await query(a.token, { query: 'DROP TABLE customers' });
    await query(a.token, { query: 'SELECT * FROM no_such_table' });
    const records = logged as QueryLogRecord[];
    expect(records.map((r) => [r.statement_type, r.outcome, r.error_class])).toEqual([
      ['SELECT', 'ok', undefined],
      ['OTHER', 'error', 'PROHIBITED'],
      ['SELECT', 'error', 'ER_NO_SUCH_TABLE'],
    ]);
    for (const r of records) {
      expect(r).toMatchObject({ tenant_id: a.tenant_id, db_id: a.db_id, source: 'query', rows: 0 });
      expect(r.duration_ms).toBeGreaterThan(0);
      expect(Date.parse(r.create_timestamp)).not.toBeNaN();
    }
    expect(JSON.stringify(records)).not.toContain(secret);
  });
});
