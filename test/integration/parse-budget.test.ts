import type { RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseName } from '#core/ids';
import { startTestOctoDb, type TestOctoDb } from '../support/octodb.ts';
import { serversUp } from '../support/servers.ts';
import { waitFor } from '../support/wait.ts';

/**
 * Bounded validation over real HTTP: a statement whose parse would take seconds to minutes is
 * refused (403) once its budget runs out, on a worker, while other tenants are served; its refusal
 * is remembered; extra params are refused instead of shifting values.
 */
let octo: TestOctoDb;
let victim: { token: string; db: string };
let hostile: { token: string; db: string };

beforeAll(async () => {
  // A budget far above any ordinary statement on a loaded machine, far below the hostile ones.
  // The hostile tenant's refusals leave it owing seconds of worker time (its share), which its next
  // costly statement waits out: these tests are about the budget, not about that wait's bound.
  octo = await startTestOctoDb({ OCTODB_VALIDATOR_BUDGET_MS: '1000', OCTODB_VALIDATOR_MAX_WAIT_MS: '60000' });
  const [v, h] = await Promise.all([octo.signUp(), octo.signUp()]);
  await Promise.all([octo.waitForDatabase(v.db_id), octo.waitForDatabase(h.db_id)]);
  victim = { token: await octo.token(v.email, v.password), db: databaseName(v.db_id) };
  hostile = { token: await octo.token(h.email, h.password), db: databaseName(h.db_id) };
}, 120_000);
afterAll(async () => octo?.close());

type Answer = { status: number; body: Record<string, unknown> & { error?: string } };
const post = (path: string, token: string, body: Record<string, unknown>) => octo.post(path, body, token) as Promise<Answer>;

/** ~500 characters of nested simple CASE: node-sql-parser backtracks for minutes on it. */
const nestedCase = (depth: number, leaf = 'id') => {
  let e = leaf;
  for (let i = 0; i < depth; i++) e = `CASE (${e}) WHEN 1 THEN 2 END`;
  return e;
};
const COSTLY_SELECT = `SELECT ${nestedCase(20)} FROM customers`;

describe.skipIf(!serversUp)('bounded validation', () => {
  it('refuses a statement too costly to parse with 403 while another tenant is served first', async () => {
    expect(COSTLY_SELECT.length).toBeGreaterThan(450);
    expect((await post('/query', victim.token, { query: 'SELECT 1 AS one' })).status).toBe(200);
    const counters = (await octo.parts.get('statementJudge')).counters;
    const judged = counters.judged;
    const order: string[] = [];
    const attack = post('/query', hostile.token, { query: COSTLY_SELECT }).then((r) => (order.push('hostile'), r));
    await waitFor(() => counters.judged > judged, { intervalMs: 5, what: 'the hostile statement to be parsed' });
    const served = await post('/query', victim.token, { query: 'SELECT 1 AS one' }).then((r) => (order.push('victim'), r));
    const refused = await attack;

    expect(served).toMatchObject({ status: 200, body: { data: [{ one: 1 }] } });
    expect(refused.status).toBe(403);
    expect(refused.body.error).toBe('SQL could not be parsed: statement is too costly to validate (its validation ran out of its time budget)');
    expect(order).toEqual(['victim', 'hostile']);
    expect(counters.overBudget).toBeGreaterThanOrEqual(1);
  }, 120_000);

  it('answers a repeated refused statement from the cache, without a worker', async () => {
    const first = await post('/query', hostile.token, { query: `${COSTLY_SELECT} WHERE id = 2` });
    const counters = { ...(await octo.parts.get('statementJudge')).counters };
    const again = await post('/query', hostile.token, { query: `${COSTLY_SELECT} WHERE id = 2` });
    expect(again).toEqual(first);
    expect(again.status).toBe(403);
    expect((await octo.parts.get('statementJudge')).counters).toEqual(counters);
  }, 120_000);

  it('refuses a migration whose DEFAULT expression is too costly to parse with a 403 naming the statement', async () => {
    const sql = [
      'CREATE TABLE fine (id INT PRIMARY KEY);',
      `CREATE TABLE costly (id INT PRIMARY KEY, a INT DEFAULT ((${nestedCase(24, '1')})));`,
    ].join('\n');
    const res = await post('/migrate', hostile.token, { sql });
    expect(res.status).toBe(403);
    expect(res.body.statements).toEqual([
      { index: 2, table: null, valid: false, kind: 'prohibited', rule: 'cost', reason: 'statement is too costly to validate (its validation ran out of its time budget)' },
    ]);
    const [tables] = await octo.admin.query<RowDataPacket[]>('SELECT table_name FROM information_schema.tables WHERE table_schema = ? AND table_name IN (?, ?)', [hostile.db, 'fine', 'costly']);
    expect(tables).toEqual([]);
  }, 120_000);
});

describe.skipIf(!serversUp)('params and placeholders', () => {
  it('refuses more params than ? placeholders with 400 and writes nothing', async () => {
    const res = await post('/query', victim.token, { query: 'INSERT INTO customers (name, email) VALUES (?, ?)', params: ['Ada', 'ada@example.com', 'extra'] });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('params has 3 values but the statement has 2 ? placeholders');
    const [rows] = await octo.admin.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM \`${victim.db}\`.customers WHERE name = 'Ada'`);
    expect(rows[0]!.n).toBe(0);
  });

  it('does not count a ? inside a string as a placeholder', async () => {
    const res = await post('/query', victim.token, { query: "SELECT '?' AS q, ? AS p", params: ['x'] });
    expect(res).toMatchObject({ status: 200, body: { data: [{ q: '?', p: 'x' }] } });
  });
});
