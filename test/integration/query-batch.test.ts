import type { RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MysqlTenantSqlRunner } from '#adapters/mysql-tenant-sql-runner';
import { databaseName } from '#core/ids';
import type { LogRecord, QueryLogRecord } from '#core/ports';
import { hostileCases } from '../support/hostile-queries.ts';
import { startTestOctoDb, type TestOctoDb } from '../support/octodb.ts';
import { TEST_TLS } from '../support/mysql-tls.ts';
import { serversUp } from '../support/servers.ts';

/**
 * POST /query with `statements`: over real HTTP and MariaDB. One pooled connection for every
 * tenant (pool size 1), so a batch's session is the one the next tenant's statement gets.
 */
const ROW_LIMIT = 5;
const RESULT_BYTES = 2000;
const TIMEOUT_MS = 400;
const MAX_STATEMENTS = 5;
/** About 300 ms of server work here (a million-row join the server cannot shortcut). */
const SLOW = 'SELECT SUM(a.seq * b.seq) AS s FROM seq_1_to_1000 a, seq_1_to_1000 b';

let octo: TestOctoDb;
type Tenant = { tenant_id: string; db_id: string; token: string; db: string };
let a: Tenant;
let b: Tenant;
const logged: LogRecord[] = [];
let restoreLogs: (() => void) | undefined;

beforeAll(async () => {
  octo = await startTestOctoDb({
    OCTODB_QUERY_POOL_SIZE: '1',
    OCTODB_QUERY_ROW_LIMIT: String(ROW_LIMIT),
    OCTODB_QUERY_MAX_RESULT_BYTES: String(RESULT_BYTES),
    OCTODB_QUERY_TIMEOUT_MS: String(TIMEOUT_MS),
    OCTODB_QUERY_BATCH_MAX_STATEMENTS: String(MAX_STATEMENTS),
    OCTODB_QUERY_ACQUIRE_TIMEOUT_MS: '5000',
    // Not about rate limits (rate-limits.test.ts is): a batch costs a token per statement and slow
    // statements their connection time, so at the default plan a later test's answer (400 or 429)
    // depended on how fast the earlier ones ran.
    OCTODB_RATE_QUERY: '100000/s burst 100000',
  });
  restoreLogs = octo.parts.override({ queryLogs: { send: async (records) => void logged.push(...records) } });
  const [ta, tb] = await Promise.all([octo.signUp(), octo.signUp()]);
  await Promise.all([octo.waitForDatabase(ta.db_id), octo.waitForDatabase(tb.db_id)]);
  a = { ...ta, token: await octo.token(ta.email, ta.password), db: databaseName(ta.db_id) };
  b = { ...tb, token: await octo.token(tb.email, tb.password), db: databaseName(tb.db_id) };
});
beforeEach(async () => {
  for (const t of [a, b]) {
    await octo.admin.query(`DELETE FROM \`${t.db}\`.orders`);
    await octo.admin.query(`DELETE FROM \`${t.db}\`.customers`);
    await octo.admin.query(`INSERT INTO \`${t.db}\`.customers (id, name) VALUES (1, 'one'), (2, 'two')`);
  }
});
afterAll(async () => {
  restoreLogs?.();
  await octo?.close();
});

type Body = Record<string, unknown> & { results: Array<Record<string, unknown> & { data: Record<string, unknown>[] }>; error: string; code?: string };
const batch = (t: Tenant, statements: unknown, transaction?: boolean) =>
  octo.post<Body>('/query', transaction === undefined ? { statements } : { statements, transaction }, t.token);
const st = (query: string, ...params: unknown[]) => ({ query, params });
const rowsOf = async (sql: string) => (await octo.admin.query<RowDataPacket[]>(sql))[0];
const customersOf = (t: Tenant) => rowsOf(`SELECT id, name FROM \`${t.db}\`.customers ORDER BY id`);
const untouched = [{ id: 1, name: 'one' }, { id: 2, name: 'two' }];

describe.skipIf(!serversUp)('a batch', () => {
  it('runs its statements in order on one connection and answers one result per statement', async () => {
    const res = await batch(a, [
      st('INSERT INTO customers (name) VALUES (?)', 'three'),
      st('SELECT LAST_INSERT_ID() AS id'),
      st('UPDATE customers SET name = ? WHERE id = ?', 'uno', 1),
      st('SELECT id, name FROM customers WHERE id IN (?, ?) ORDER BY id', 1, 3),
      st('DELETE FROM customers WHERE id = 2'),
    ]);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const [inserted, lastId, updated, selected, deleted] = res.body.results;
    expect(inserted).toEqual({ message: 'Query executed successfully', rowsAffected: 1, columns: [], data: [], insertId: '3' });
    // The same session: LAST_INSERT_ID() sees the batch's own INSERT.
    expect(lastId!.data).toEqual([{ id: '3' }]);
    expect(updated!.rowsAffected).toBe(1);
    expect(selected).toEqual({
      message: 'Query executed successfully',
      rowsAffected: 2,
      columns: [{ name: 'id', type: 'BIGINT UNSIGNED' }, { name: 'name', type: 'VARCHAR' }],
      data: [{ id: '1', name: 'uno' }, { id: '3', name: 'three' }],
      truncated: false,
    });
    expect(deleted!.rowsAffected).toBe(1);
    expect(await customersOf(a)).toEqual([{ id: 1, name: 'uno' }, { id: 3, name: 'three' }]);
  });

  it('logs one record per statement that ran, with its own type and outcome, never the params', async () => {
    logged.length = 0;
    await batch(a, [st('SELECT 1 AS x'), st('UPDATE customers SET name = ? WHERE id = 1', 'secret-param'), st('SELECT * FROM nowhere'), st('SELECT 2')]);
    const records = logged as QueryLogRecord[];
    expect(records.map((r) => [r.statement_type, r.outcome, r.error_class ?? null, r.rows])).toEqual([
      ['SELECT', 'ok', null, 1],
      ['UPDATE', 'ok', null, 1],
      ['SELECT', 'error', 'ER_NO_SUCH_TABLE', 0],
    ]);
    expect(JSON.stringify(records)).not.toContain('secret-param');
  });

  it('without a transaction, stops at the first failing statement and keeps what ran before it', async () => {
    const res = await batch(a, [st('INSERT INTO customers (id, name) VALUES (10, ?)', 'ten'), st("INSERT INTO customers (id, name) VALUES (1, 'dup')"), st("INSERT INTO customers (id, name) VALUES (11, 'eleven')")], false);
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code: 'ER_DUP_ENTRY', statement: 1, results: [{ rowsAffected: 1 }] });
    expect(res.body.error).toMatch(/^statements\[1\]: Query failed: Duplicate entry/);
    expect(await customersOf(a)).toEqual([...untouched, { id: 10, name: 'ten' }]);
  });
});

describe.skipIf(!serversUp)('a transaction', () => {
  it('commits every statement together', async () => {
    const res = await batch(a, [st("INSERT INTO customers (id, name) VALUES (3, 'three')"), st("INSERT INTO orders (customer_id, total) VALUES (3, '9.50')"), st('SELECT COUNT(*) AS n FROM orders')], true);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.results[2]!.data).toEqual([{ n: '1' }]);
    expect(await rowsOf(`SELECT customer_id, total FROM \`${a.db}\`.orders`)).toEqual([{ customer_id: 3, total: '9.50' }]);
  });

  it('rolls everything back when a statement fails, says which one and why, and changes no row', async () => {
    const res = await batch(
      a,
      [st("UPDATE customers SET name = 'changed' WHERE id = 1"), st("INSERT INTO customers (id, name) VALUES (3, 'three')"), st("INSERT INTO customers (id, name) VALUES (2, 'dup')"), st('DELETE FROM customers')],
      true,
    );
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: expect.stringMatching(/^statements\[2\]: Query failed: Duplicate entry '2'/), code: 'ER_DUP_ENTRY', statement: 2, rolled_back: true });
    expect(await customersOf(a)).toEqual(untouched);
    // Nothing is left open either: the row A's UPDATE locked is free at once.
    await octo.admin.query('SET SESSION innodb_lock_wait_timeout = 1');
    try {
      await octo.admin.query(`UPDATE \`${a.db}\`.customers SET name = 'one' WHERE id = 1`);
    } finally {
      await octo.admin.query('SET SESSION innodb_lock_wait_timeout = DEFAULT');
    }
  });

  it('rolls back a statement stopped at its time limit and answers 408 STATEMENT_TIMEOUT, not bad SQL', async () => {
    const started = Date.now();
    const res = await batch(a, [st("UPDATE customers SET name = 'changed' WHERE id = 1"), st(SLOW.replace('seq_1_to_1000 b', 'seq_1_to_1000 b, seq_1_to_100 c'))], true);
    expect(Date.now() - started).toBeLessThan(TIMEOUT_MS + 2500);
    expect(res.status).toBe(408);
    expect(res.body).toEqual({ error: `statements[1]: Query exceeded the time limit of ${TIMEOUT_MS} ms and was stopped`, code: 'STATEMENT_TIMEOUT', limit_ms: TIMEOUT_MS, statement: 1, rolled_back: true });
    expect(await customersOf(a)).toEqual(untouched);
  });

  it("leaves nothing of A's batch session to B on the same pooled connection", async () => {
    const id = (t: Tenant) => batch(t, [st('SELECT CONNECTION_ID() AS id')]).then((r) => r.body.results[0]!.data[0]!.id);
    const connection = await id(a);
    const res = await batch(a, [st('SELECT SQL_CALC_FOUND_ROWS seq FROM seq_1_to_777 LIMIT 1'), st('SELECT @leak := 42 AS v'), st("INSERT INTO customers (name) VALUES ('x')"), st('SELECT FOUND_ROWS() AS n')], true);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const seen = await batch(b, [st('SELECT FOUND_ROWS() AS n'), st('SELECT @leak AS v'), st('SELECT LAST_INSERT_ID() AS id')]);
    expect(seen.body.results.map((r) => r.data[0])).toEqual([{ n: '0' }, { v: null }, { id: '0' }]);
    expect(await id(b)).toBe(connection);
  });

  it('refuses statements that would end or nest the transaction (COMMIT, ROLLBACK, SAVEPOINT, BEGIN)', async () => {
    for (const sql of ['COMMIT', 'ROLLBACK', 'SAVEPOINT s1', 'BEGIN', 'START TRANSACTION', 'SET autocommit = 1']) {
      const res = await batch(a, [st("INSERT INTO customers (id, name) VALUES (3, 'three')"), st(sql)], true);
      expect([sql, res.status, res.body.statement]).toEqual([sql, 403, 1]);
    }
    expect(await customersOf(a)).toEqual(untouched);
  });
});

describe.skipIf(!serversUp)('batch validation: every statement before any runs', () => {
  it('answers a refused third statement with its index, and nothing ran', async () => {
    const res = await batch(a, [st("INSERT INTO customers (id, name) VALUES (3, 'three')"), st('SELECT 1'), st('DROP TABLE customers')]);
    expect(res.status).toBe(403);
    expect(res.body).toEqual({ error: 'statements[2]: Prohibited operation detected: DROP', code: 'PROHIBITED', statement: 2 });
    expect(await customersOf(a)).toEqual(untouched);
  });

  it('counts each statement’s params against its placeholders', async () => {
    const res = await batch(a, [st("INSERT INTO customers (id, name) VALUES (3, 'three')"), st('SELECT * FROM customers WHERE id = ?')]);
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code: 'PARAMS', statement: 1, error: 'statements[1]: params has 0 values but the statement has 1 ? placeholders' });
    expect(await customersOf(a)).toEqual(untouched);
  });

  const sqlRefusals = hostileCases.filter((c) => c.status === 403 && typeof c.body === 'object' && c.body !== null && 'query' in c.body);
  it.each(sqlRefusals.map((c) => [c.label, c] as const))('refuses %s as the second statement of a batch', async (_label, c) => {
    const hostile = JSON.parse(JSON.stringify(c.body).replaceAll('{SELF}', a.db).replaceAll('{OTHER}', b.db)) as { query: string; params?: unknown[] };
    const res = await batch(a, [st("INSERT INTO customers (id, name) VALUES (3, 'three')"), { params: [], ...hostile }], true);
    expect(res.status).toBe(403);
    expect(res.body.statement).toBe(1);
    expect(res.body.error.replace(/^statements\[1\]: /, '')).toMatch(c.error!);
    expect(await customersOf(a)).toEqual(untouched);
  });
});

describe.skipIf(!serversUp)('bad batch requests: 400 naming the field, nothing run', () => {
  const many = (n: number) => Array.from({ length: n }, () => st('SELECT 1'));
  it.each([
    ['statements not an array', { statements: 'SELECT 1' }, 'statements: statements must be an array of {query, params?}'],
    ['an empty batch', { statements: [] }, 'statements: statements must hold at least one statement'],
    ['more statements than the setting allows', { statements: many(MAX_STATEMENTS + 1) }, `statements: statements must hold at most ${MAX_STATEMENTS} statements`],
    ['more statements than any setting allows', { statements: many(101) }, 'statements: statements must hold at most 100 statements'],
    ['a statement that is a string', { statements: [st('SELECT 1'), 'SELECT 2'] }, 'statements[1]: each statement must be an object {query, params?}'],
    ['an unknown field in a statement', { statements: [st('SELECT 1'), { qurey: 'SELECT 2' }] }, 'statements[1].query: query must be a string'],
    ['an unknown field beside statements', { statements: [st('SELECT 1')], transactoin: true }, 'transactoin: unknown field'],
    ['query and statements together', { query: 'SELECT 1', statements: [st('SELECT 1')] }, 'query: query goes with a single statement, not with statements: send one or the other'],
    ['transaction without statements', { query: 'SELECT 1', transaction: true }, 'transaction: transaction goes with statements (a batch)'],
    ['transaction not a boolean', { statements: [st('SELECT 1')], transaction: 'yes' }, 'transaction: transaction must be true or false'],
    ['params of a statement not scalars', { statements: [st('SELECT 1'), { query: 'SELECT ?', params: [{ a: 1 }] }] }, 'statements[1].params[0]: each param must be a string, a finite number, a boolean or null'],
    ['an oversized statement', { statements: [st(`SELECT '${'x'.repeat(70_000)}'`)] }, 'statements[0].query: query must be at most 65536 characters'],
  ])('%s', async (_label, body, problem) => {
    logged.length = 0;
    const res = await octo.post<Body>('/query', body, a.token);
    expect(res.status).toBe(400);
    expect(res.body.error).toBe(`Invalid request: ${problem}`);
    expect(logged).toEqual([]);
  });

  it('names the unknown field itself inside a statement', async () => {
    const res = await octo.post<Body & { problems: unknown[] }>('/query', { statements: [{ query: 'SELECT 1', parms: [] }] }, a.token);
    expect([res.status, res.body.problems]).toEqual([400, [{ field: 'statements[0].parms', problem: 'unknown field' }]]);
  });

  it('answers a body over the cap with 413 before anything runs', async () => {
    const res = await octo.post<Body>('/query', { statements: Array.from({ length: 20 }, () => st(`SELECT '${'x'.repeat(60_000)}'`)) }, a.token);
    expect(res.status).toBe(413);
  });
});

describe.skipIf(!serversUp)("a batch's cost is bounded as one request's", () => {
  it('shares the row limit across its statements, keeps the connection past it, and the next request gets the full limit', async () => {
    const statements = [st('SELECT seq FROM seq_1_to_2'), st('SELECT seq FROM seq_1_to_4'), st('SELECT seq FROM seq_1_to_100 LIMIT 50'), st('SELECT seq FROM seq_1_to_2')];
    const res = await batch(a, [st('SELECT CONNECTION_ID() AS id'), ...statements], true);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.results.slice(1).map((r) => [r.data.length, r.truncated])).toEqual([[2, false], [2, true], [0, true], [0, true]]);
    const connection = res.body.results[0]!.data;
    expect((await batch(a, [st('SELECT CONNECTION_ID() AS id')])).body.results[0]!.data).toEqual(connection);
    const single = await octo.post<Body & { data: unknown[] }>('/query', { query: 'SELECT seq FROM seq_1_to_9' }, a.token);
    expect([single.body.data.length, single.body.truncated]).toEqual([ROW_LIMIT, true]);
  });

  it('shares the byte budget: a later result past what is left fails the transaction (RESULT_TOO_LARGE), rolled back', async () => {
    const res = await batch(a, [st("UPDATE customers SET name = 'changed' WHERE id = 1"), st("SELECT REPEAT('x', 1500) AS v"), st("SELECT REPEAT('y', 1500) AS v")], true);
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code: 'RESULT_TOO_LARGE', statement: 2, rolled_back: true });
    expect(await customersOf(a)).toEqual(untouched);
    // Without a transaction the last statement is cut as a single one is.
    const last = await batch(a, [st("SELECT REPEAT('x', 1500) AS v"), st("SELECT REPEAT('y', 1500) AS v")]);
    expect(last.body.results.map((r) => [r.data.length, r.truncated])).toEqual([[1, false], [0, true]]);
  });

  it('stops a batch of many slow statements at the batch time limit (408 BATCH_TIMEOUT), however many are left', async () => {
    // Each statement may run 5 s (none reaches it), the whole batch 1 s.
    const runner = new MysqlTenantSqlRunner(TEST_TLS, { rowLimit: ROW_LIMIT, maxResultBytes: RESULT_BYTES, timeoutMs: 5000, batchTimeoutMs: 1000, poolSize: 1, acquireTimeoutMs: 5000 });
    const restore = octo.parts.override({ tenantSql: runner });
    try {
      // 20 million rows each (about 1 s on this machine): four take a few times the batch's time (texts apart: no cache answers them).
      const slower = (i: number) => st(`${SLOW.replace('seq_1_to_1000 b', 'seq_1_to_20000 b')} WHERE a.seq > ${i}`);
      const slow = Array.from({ length: MAX_STATEMENTS - 1 }, (_, i) => slower(i + 1));
      const res = await batch(a, [st("UPDATE customers SET name = 'changed' WHERE id = 1"), ...slow], true);
      expect(res.status, JSON.stringify(res.body)).toBe(408);
      // Stopped by the batch's 1 s (its code and limit), not by a statement's own 5 s, before the last statement ran.
      expect(res.body).toMatchObject({ code: 'BATCH_TIMEOUT', limit_ms: 1000, rolled_back: true });
      expect(res.body.statement).toBeLessThan(slow.length);
      expect(await customersOf(a)).toEqual(untouched);
    } finally {
      restore();
      await runner.close();
    }
    // The connection that ran it was given up; the next request runs on a sound one.
    expect((await batch(a, [st('SELECT 1 AS one')])).body.results[0]!.data).toEqual([{ one: 1 }]);
  });
});
