import type { RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseName } from '#core/ids';
import type { LogRecord, QueryLogRecord } from '#core/ports';
import { startTestOctoDb, type TestOctoDb } from '../support/octodb.ts';
import { serversUp } from '../support/servers.ts';
import { waitFor } from '../support/wait.ts';

/**
 * One pooled connection for every tenant (OCTODB_QUERY_POOL_SIZE=1): each statement below runs
 * on the connection the other tenant's statement just used, switched with COM_CHANGE_USER.
 * Nothing of A's session may be seen by B; and every request settles, whatever happens to it.
 */
let octo: TestOctoDb;
type Tenant = { tenant_id: string; db_id: string; token: string; db: string };
let a: Tenant;
let b: Tenant;
const logged: LogRecord[] = [];
let restoreLogs: (() => void) | undefined;

beforeAll(async () => {
  octo = await startTestOctoDb({ OCTODB_QUERY_POOL_SIZE: '1', OCTODB_QUERY_TIMEOUT_MS: '20000', OCTODB_QUERY_ACQUIRE_TIMEOUT_MS: '5000' });
  restoreLogs = octo.parts.override({ queryLogs: { send: async (records) => void logged.push(...records) } });
  const [ta, tb] = await Promise.all([octo.signUp(), octo.signUp()]);
  await Promise.all([octo.waitForDatabase(ta.db_id), octo.waitForDatabase(tb.db_id)]);
  a = { ...ta, token: await octo.token(ta.email, ta.password), db: databaseName(ta.db_id) };
  b = { ...tb, token: await octo.token(tb.email, tb.password), db: databaseName(tb.db_id) };
  await octo.admin.query(`INSERT INTO \`${a.db}\`.customers (id, name) VALUES (1, 'a-one')`);
  await octo.admin.query(`INSERT INTO \`${b.db}\`.customers (id, name) VALUES (1, 'b-one')`);
});
afterAll(async () => {
  restoreLogs?.();
  await octo?.close();
});

type Answer = { status: number; body: Record<string, unknown> & { data: Record<string, unknown>[]; code?: string } };
const query = (t: Tenant, sql: string, params: unknown[] = []) => octo.post('/query', { query: sql, params }, t.token) as Promise<Answer>;
const ok = async (t: Tenant, sql: string, params: unknown[] = []) => {
  const res = await query(t, sql, params);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.data;
};
const connectionOf = async (t: Tenant) => (await ok(t, 'SELECT CONNECTION_ID() AS id'))[0]!.id;

describe.skipIf(!serversUp)('a pooled connection passed from one tenant to the next', () => {
  it("is the same connection, so what follows would see A's session if it survived", async () => {
    expect(await connectionOf(b)).toBe(await connectionOf(a));
  });

  it("does not show B the row count of A's SQL_CALC_FOUND_ROWS SELECT (FOUND_ROWS)", async () => {
    const id = await connectionOf(a);
    expect(await ok(a, 'SELECT SQL_CALC_FOUND_ROWS seq FROM seq_1_to_777 LIMIT 1')).toEqual([{ seq: '1' }]);
    expect(await ok(a, 'SELECT FOUND_ROWS() AS n')).toEqual([{ n: '777' }]); // A's own session keeps it
    await ok(a, 'SELECT SQL_CALC_FOUND_ROWS seq FROM seq_1_to_777 LIMIT 1');
    expect(await ok(b, 'SELECT FOUND_ROWS() AS n')).toEqual([{ n: '0' }]);
    expect(await connectionOf(b)).toBe(id);
  });

  it("does not show B A's user variables", async () => {
    expect(await ok(a, 'SELECT @leak := 4242 AS v')).toEqual([{ v: 4242 }]);
    expect(await ok(b, 'SELECT @leak AS v')).toEqual([{ v: null }]);
  });

  it("does not show B A's LAST_INSERT_ID", async () => {
    const res = await query(a, 'INSERT INTO orders (customer_id, total) VALUES (1, 5)');
    expect(res.body.insertId).toBeDefined();
    expect(await ok(a, 'SELECT LAST_INSERT_ID() AS id')).toEqual([{ id: res.body.insertId }]);
    await query(a, 'INSERT INTO orders (customer_id, total) VALUES (1, 6)');
    expect(await ok(b, 'SELECT LAST_INSERT_ID() AS id')).toEqual([{ id: '0' }]);
  });

  it("does not show B the rows A's last write changed (ROW_COUNT)", async () => {
    expect((await query(a, 'UPDATE orders SET total = total + 1')).body.rowsAffected).toBe(2);
    const [n] = await ok(b, 'SELECT ROW_COUNT() AS n');
    expect(n!.n).not.toBe('2');
  });

  it("runs B's statement on B's data when A prepared the same text (prepared statements)", async () => {
    const sql = 'SELECT name FROM customers WHERE id = ?';
    expect(await ok(a, sql, [1])).toEqual([{ name: 'a-one' }]);
    expect(await ok(b, sql, [1])).toEqual([{ name: 'b-one' }]);
    expect(await ok(a, sql, [1])).toEqual([{ name: 'a-one' }]);
    // Named server-side statements cannot be made through /query at all.
    expect((await query(a, "PREPARE leak FROM 'SELECT 1'")).status).toBe(403);
    expect((await query(b, 'EXECUTE leak')).status).toBe(403);
  });

  it('lets no tenant make temporary tables, so none can outlive its request', async () => {
    expect((await query(a, 'CREATE TEMPORARY TABLE leak (x int)')).status).toBe(403);
    const res = await query(b, 'SELECT * FROM leak');
    expect([res.status, res.body.code]).toEqual([400, 'ER_NO_SUCH_TABLE']);
  });

  it("does not show B the warnings of A's statement", async () => {
    expect(await ok(a, 'SELECT 1/0 AS x')).toEqual([{ x: null }]); // a division-by-zero warning on A's session
    expect((await query(b, 'SHOW WARNINGS')).status).toBe(403);
    expect((await query(b, 'SELECT @@warning_count AS n')).status).toBe(403);
    const res = await query(b, 'SELECT 1 AS one');
    expect(Object.keys(res.body).sort()).toEqual(['columns', 'data', 'message', 'rowsAffected', 'truncated']);
  });

  it("keeps B's session variables OctoDB's, whatever A tried", async () => {
    expect((await query(a, 'SET SESSION sql_select_limit = 1')).status).toBe(403);
    expect((await query(a, 'SELECT @@session.time_zone AS tz')).status).toBe(403);
    expect(await ok(b, 'SELECT seq FROM seq_1_to_3')).toEqual([{ seq: '1' }, { seq: '2' }, { seq: '3' }]);
    expect(await ok(b, "SELECT CAST(FROM_UNIXTIME(0) AS CHAR) AS t")).toEqual([{ t: '1970-01-01 00:00:00' }]);
  });
});

describe.skipIf(!serversUp)('every request settles', () => {
  it('answers a column named __proto__ with 400 and logs it, and the next query works', async () => {
    logged.length = 0;
    const res = await query(a, 'SELECT 1 AS `__proto__`');
    expect([res.status, res.body.code]).toEqual([400, 'UNSAFE_COLUMN_NAME']);
    expect(res.body.error).toMatch(/__proto__/);
    expect((logged as QueryLogRecord[]).map((r) => [r.outcome, r.error_class])).toEqual([['error', 'UNSAFE_COLUMN_NAME']]);
    expect(await ok(b, 'SELECT 1 AS one')).toEqual([{ one: 1 }]);
    expect(await ok(a, 'SELECT 1 AS `__proto`')).toEqual([{ __proto: 1 }]);
  });

  it('answers 503 when the connection is killed mid-statement, and the next query works', async () => {
    logged.length = 0;
    const user = (await (await octo.parts.get('tenantLogins')).resolve(a.tenant_id, a.db_id)).user;
    const slow = query(a, 'SELECT COUNT(*) AS n FROM seq_1_to_100000 x, seq_1_to_9000 y');
    const running = async () =>
      (await octo.admin.query<RowDataPacket[]>("SELECT id FROM information_schema.PROCESSLIST WHERE user = ? AND info LIKE 'SELECT COUNT(*)%'", [user]))[0];
    // The timeout guards against waiting for ever; it is not a timed assertion.
    const rows = await waitFor(
      async () => {
        const found = await running();
        return found.length > 0 && found;
      },
      { timeoutMs: 15_000, intervalMs: 20, what: 'the statement on the server' },
    );
    expect(rows).toHaveLength(1);
    await octo.admin.query('KILL CONNECTION ?', [rows[0]!.id]);
    const res = await slow;
    expect(res.status).toBe(503);
    expect((logged as QueryLogRecord[]).map((r) => r.outcome)).toEqual(['error']);
    expect(await ok(a, 'SELECT 1 AS one')).toEqual([{ one: 1 }]);
  });
});
