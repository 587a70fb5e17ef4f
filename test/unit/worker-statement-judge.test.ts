import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { STATEMENT_JUDGE_SCRIPT } from '#adapters/wiring';
import { type JudgeLimits, WorkerStatementJudge } from '#adapters/worker-statement-judge';
import type { JudgeTask, JudgeVerdict } from '#core/ports';

/** Nested simple CASE around a parenthesised operand: node-sql-parser's work doubles per level (seconds at 18). */
export const costlyCase = (depth: number) => {
  let e = 'id';
  for (let i = 0; i < depth; i++) e = `CASE (${e}) WHEN 1 THEN 2 END`;
  return `SELECT ${e} FROM customers`;
};
const query = (sql: string): JudgeTask => ({ kind: 'query', sql, database: 'db_test' });

// Generous budget: ordinary statements must pass on a loaded machine; the costly one needs far more.
const LIMITS: JudgeLimits = { budgetMs: 500, workers: 1, perTenantQueue: 2 };
const judges: WorkerStatementJudge[] = [];
const judgeWith = (limits: Partial<JudgeLimits> = {}) => {
  const judge = new WorkerStatementJudge(STATEMENT_JUDGE_SCRIPT, { ...LIMITS, ...limits });
  judges.push(judge);
  return judge;
};
afterEach(async () => Promise.all(judges.splice(0).map((j) => j.close())));

describe('WorkerStatementJudge', () => {
  it('judges a statement on its worker', async () => {
    const judge = judgeWith();
    await expect(judge.judge('t1', query('SELECT name FROM customers WHERE id = ? AND name = ?'))).resolves.toEqual({
      kind: 'statement',
      statement: { type: 'SELECT', placeholders: 2 },
    });
    expect(await judge.judge('t1', query('SELECT SLEEP(1)'))).toMatchObject({ kind: 'refused', refusal: { error: 'sql', code: 'PROHIBITED' } });
    expect(judge.counters.judged).toBe(2);
  });

  it('refuses a statement past its budget, stopped on its worker, which then serves the next statement', async () => {
    const judge = judgeWith();
    expect(await judge.judge('t1', query(costlyCase(18)))).toEqual({ kind: 'over-budget', step: 1 });
    // The worker stopped the parse itself: no replacement (which would load the parser again).
    expect(judge.counters).toMatchObject({ overBudget: 1, workersStarted: 1 });
    expect(await judge.judge('t1', query('DELETE FROM customers WHERE id = ?'))).toEqual({ kind: 'statement', statement: { type: 'DELETE', placeholders: 1 } });
    expect(await judge.judge('t1', query(costlyCase(18).replace('customers', 'orders')))).toEqual({ kind: 'over-budget', step: 1 });
    expect(await judge.judge('t1', query('SELECT name FROM customers WHERE id = ?'))).toEqual({ kind: 'statement', statement: { type: 'SELECT', placeholders: 1 } });
    expect(judge.counters).toMatchObject({ judged: 4, overBudget: 2, workersStarted: 1 });
  }, 30_000);

  it.runIf(process.platform === 'linux')(
    'a yielding worker that waited for a core most of its budget answers starved (nothing known), not over budget',
    async () => {
      const judge = judgeWith({ budgetMs: 200, yields: true });
      judge.warm();
      await judge.judge('t1', query('SELECT 1')); // ready, and yielding, before the host gets busy
      // Two processes spinning at the normal nice per core: the worker gets about a twentieth of a core.
      const spinners = Array.from({ length: 2 * availableParallelism() }, () => spawn(process.execPath, ['-e', 'for (;;);'], { stdio: 'ignore' }));
      try {
        await new Promise((resolve) => setTimeout(resolve, 200));
        expect(await judge.judge('t1', query(costlyCase(18)))).toEqual({ kind: 'starved' });
      } finally {
        for (const spinner of spinners) spinner.kill('SIGKILL');
      }
      expect(judge.counters).toMatchObject({ starved: 1, overBudget: 0, workersStarted: 1 });
      // The same worker judges the next statement once the host is quiet.
      expect(await judge.judge('t1', query('DELETE FROM customers WHERE id = ?'))).toEqual({ kind: 'statement', statement: { type: 'DELETE', placeholders: 1 } });
    },
    30_000,
  );

  it('replaces a worker that ran out of memory, and the replacement serves the next statement', async () => {
    // A small heap and a budget the parse never reaches: only the heap cap can stop it.
    const judge = judgeWith({ maxHeapMb: 24, budgetMs: 60_000 });
    const huge = `SELECT id FROM customers WHERE id IN (${Array.from({ length: 150_000 }, (_, i) => i).join(',')})`;
    expect(await judge.judge('t1', query(huge))).toEqual({ kind: 'over-budget', step: 1 });
    expect(judge.counters).toMatchObject({ overBudget: 1, workersStarted: 2 });
    expect(await judge.judge('t1', query('DELETE FROM customers WHERE id = ?'))).toEqual({ kind: 'statement', statement: { type: 'DELETE', placeholders: 1 } });
  }, 60_000);

  it('names the migration statement that ran out of budget', async () => {
    const judge = judgeWith();
    let e = '1';
    for (let i = 0; i < 18; i++) e = `CASE (${e}) WHEN 1 THEN 2 END`;
    const text = `CREATE TABLE a (id INT PRIMARY KEY); CREATE TABLE b (id INT PRIMARY KEY, x INT DEFAULT ((${e})));`;
    expect(await judge.judge('t1', { kind: 'migration', text })).toEqual({ kind: 'over-budget', step: 2 });
  }, 30_000);

  it('serves a waiting tenant before the next statement of a tenant flooding costly ones', async () => {
    const judge = judgeWith();
    await judge.judge('warm-up', query('SELECT 1')); // hostile 1 runs at once, 2 and 3 wait
    const order: string[] = [];
    const track = (label: string, p: Promise<JudgeVerdict>) => p.then((v) => (order.push(label), v));
    const first = track('hostile 1', judge.judge('hostile', query(costlyCase(18))));
    const second = track('hostile 2', judge.judge('hostile', query(costlyCase(19))));
    const third = track('hostile 3', judge.judge('hostile', query(costlyCase(20))));
    const overflow = await judge.judge('hostile', query(costlyCase(21)));
    const victim = track('victim', judge.judge('victim', query('SELECT 1')));
    expect(overflow).toEqual({ kind: 'busy' });
    expect(await victim).toMatchObject({ kind: 'statement' });
    await Promise.all([first, second, third]);
    expect(order).toEqual(['hostile 1', 'victim', 'hostile 2', 'hostile 3']);
  }, 60_000);

  it('keeps a tenant to one worker at a time while another worker is free for others', async () => {
    const judge = judgeWith({ workers: 2, budgetMs: 3000 });
    const order: string[] = [];
    const hostile = [18, 19].map((d, i) => judge.judge('hostile', query(costlyCase(d))).then(() => order.push(`hostile ${i + 1}`)));
    await judge.judge('victim', query('SELECT 1')).then(() => order.push('victim'));
    await Promise.all(hostile);
    expect(order).toEqual(['victim', 'hostile 1', 'hostile 2']);
  }, 60_000);
  it('holds a tenant flooding costly statements to its share of worker time, serving others meanwhile', async () => {
    const judge = judgeWith({ budgetMs: 100, tenantShare: { msPerSecond: 50, burstMs: 50 } });
    await judge.judge('warm-up', query('SELECT 1'));
    expect(await judge.judge('hostile', query(costlyCase(18)))).toEqual({ kind: 'over-budget', step: 1 });
    const refusedAt = performance.now();
    const next = judge.judge('hostile', query('SELECT 2')).then((verdict) => ({ verdict, at: performance.now() }));
    // The worker serves another tenant at once, while the hostile tenant's next statement waits.
    expect(await judge.judge('victim', query('SELECT 1'))).toMatchObject({ kind: 'statement' });
    expect(judge.counters.judged).toBe(3);
    const { verdict, at } = await next;
    expect(verdict).toMatchObject({ kind: 'statement' });
    // ≥ 100 ms of worker time (the budget) at 50 ms a second is ≥ 2 s to pay off, less the burst's 1 s.
    expect(at - refusedAt).toBeGreaterThanOrEqual(900);
  }, 40_000);

  it('answers busy a statement still waiting at maxWaitMs, so its request settles', async () => {
    // Long enough for a worker's start-up, short against what the hostile tenant will owe (> 2 s at 10 ms a second).
    const judge = judgeWith({ budgetMs: 20, maxWaitMs: 2000, tenantShare: { msPerSecond: 10, burstMs: 1 } });
    await judge.judge('warm-up', query('SELECT 1'));
    expect(await judge.judge('hostile', query(costlyCase(18)))).toEqual({ kind: 'over-budget', step: 1 });
    // Its next statement waits, then is given up.
    const next = judge.judge('hostile', query('SELECT 2'));
    expect(await judge.judge('victim', query('SELECT 1'))).toMatchObject({ kind: 'statement' });
    expect(await next).toEqual({ kind: 'busy' });
    expect(judge.counters.judged).toBe(3); // the given-up statement never reached a worker
  }, 40_000);

  it("terminates a worker stuck past its budget where it cannot stop itself, and charges the tenant for the replacement's start-up too", async () => {
    // A worker whose start-up takes 300 ms of CPU, and which blocks on HANG (test/support/stuck-judge-thread.mjs).
    // A quarter of a core: each ms of worker time the tenant uses is 4 ms before its next statement.
    const judge = new WorkerStatementJudge(new URL('../support/stuck-judge-thread.mjs', import.meta.url), {
      ...LIMITS,
      budgetMs: 20,
      tenantShare: { msPerSecond: 250, burstMs: 1 },
    });
    judges.push(judge);
    await judge.judge('warm-up', query('SELECT 1'));
    expect(await judge.judge('hostile', query('SELECT HANG'))).toEqual({ kind: 'over-budget', step: 1 });
    expect(judge.counters).toMatchObject({ overBudget: 1, workersStarted: 2 });
    const killedAt = performance.now();
    const servedAt = (tenant: string) => judge.judge(tenant, query(`SELECT '${tenant}'`)).then(() => performance.now() - killedAt);
    const [victimMs, hostileMs] = await Promise.all([servedAt('victim'), servedAt('hostile')]);
    // The victim is served once the replacement is ready (its start-up: S ≥ 300 ms). The hostile
    // tenant then still owes 4 × S (and 4 × the ~120 ms it held the stuck worker): about 5 × S in
    // all. Without the start-up's charge it would be served at about max(S, 480 ms) < 3 × S.
    expect(hostileMs).toBeGreaterThanOrEqual(3 * victimMs);
  }, 40_000);
});
