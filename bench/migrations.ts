/**
 * `npm run bench -- migrations [--batches 20000] [--children 5000] [--seconds 4]`
 *
 * What the migration history costs on a tenant with a long one: `--batches` tenant batches of 3
 * jobs each and two cascades of `--children` jobs each, written straight into a real MetaDB, read
 * through the core functions /dashboard calls (no HTTP, no rate limit). Measured side by side:
 *   (a) the floor: one primary-key SELECT of a batch (one round trip on the same MetaDB pool),
 *   (b) list_migrations, first page (25), no filter,
 *   (c) list_migrations, a page 10,000 batches deep (its sealed key),
 *   (d) list_migrations filtered by a table no batch has: the 1000-batch scan bound,
 *   (e) list_migrations filtered by state `running` (none): the same bound,
 *   (f) get_migration_status of a cascade, first page of 200 jobs (counts over all its jobs),
 *   (g) the same, a page in the middle of the cascade (its sealed key).
 * The cost of (d)-(e) stays flat as the history grows; (b), (c), (f), (g) are one index range each.
 */
import { parseArgs } from 'node:util';
import type { RowDataPacket } from 'mysql2/promise';
import { listMigrations } from '../lambdas/core/migration-history.ts';
import { getMigrationStatus } from '../lambdas/core/migration-status.ts';
import { dashboardRoot } from '../lambdas/adapters/roots.ts';
import { startTestOctoDb } from '../test/support/octodb.ts';
import { percentile } from './stats.ts';

const DIGITS = `(${Array.from({ length: 10 }, (_, d) => `SELECT ${d} AS d`).join(' UNION ALL ')})`;
/** 0 … 99,999 as rows, for writing many rows in one statement on MySQL 8 and MariaDB alike. */
const NUMBERS = `(SELECT a.d * 10000 + b.d * 1000 + c.d * 100 + e.d * 10 + f.d AS i FROM ${DIGITS} a, ${DIGITS} b, ${DIGITS} c, ${DIGITS} e, ${DIGITS} f)`;

export async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { batches: { type: 'string', default: '20000' }, children: { type: 'string', default: '5000' }, seconds: { type: 'string', default: '4' } },
  });
  const batches = Number(values.batches);
  const children = Number(values.children);
  const seconds = Number(values.seconds);
  const octo = await startTestOctoDb();
  try {
    const t = await octo.signUp();
    await octo.waitForDatabase(t.db_id);
    const meta = (table: string) => `\`${octo.metaDb}\`.${table}`;
    const started = performance.now();
    await octo.admin.query(
      `INSERT INTO ${meta('migration_batches')} (batch_id, tenant_id, db_id, kind, created_at, finished_at, outcome)
       SELECT UUID(), ?, ?, 'tenant', NOW(3) - INTERVAL i SECOND, NOW(3) - INTERVAL i SECOND, 'succeeded' FROM ${NUMBERS} n WHERE i < ?`,
      [t.tenant_id, t.db_id, batches],
    );
    await octo.admin.query(
      `INSERT INTO ${meta('migration_jobs')} (job_id, batch_id, db_id, host_id, table_name, desired_sql, state, created_at)
       SELECT UUID(), b.batch_id, b.db_id, 'local', CONCAT('t', k.d), 'CREATE TABLE t (id int)', 'succeeded', b.created_at
       FROM ${meta('migration_batches')} b, (SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2) k WHERE b.tenant_id = ?`,
      [t.tenant_id],
    );
    const cascades: string[] = [];
    for (let c = 0; c < 2; c++) {
      const [[parent]] = (await octo.admin.query<RowDataPacket[]>(`SELECT job_id FROM ${meta('migration_jobs')} WHERE db_id = ? LIMIT 1 OFFSET ?`, [t.db_id, c])) as unknown as [[RowDataPacket]];
      const [[{ id }]] = (await octo.admin.query<RowDataPacket[]>('SELECT UUID() AS id')) as unknown as [[{ id: string }]];
      await octo.admin.query(
        `INSERT INTO ${meta('migration_batches')} (batch_id, tenant_id, db_id, kind, parent_job_id, finished_at, outcome) VALUES (?, ?, ?, 'cascade', ?, NOW(3), 'succeeded')`,
        [id, t.tenant_id, t.db_id, parent!.job_id],
      );
      await octo.admin.query(
        `INSERT INTO ${meta('migration_jobs')} (job_id, batch_id, db_id, host_id, table_name, state) SELECT UUID(), ?, LPAD(HEX(i), 32, '0'), 'local', 't0', 'succeeded' FROM ${NUMBERS} n WHERE i < ?`,
        [id, children],
      );
      cascades.push(id);
    }
    console.log(`\nwrote ${batches} batches (${batches * 3} jobs) and 2 cascades of ${children} jobs in ${((performance.now() - started) / 1000).toFixed(1)} s`);

    const deps = await dashboardRoot(undefined, octo.parts);
    const caller = { tenantId: t.tenant_id, dbId: t.db_id, isAdmin: false };
    const list = (p: Record<string, unknown>) => listMigrations({ limit: 25, ...p }, caller, deps);
    // A key 10,000 batches deep, and one in the middle of the first cascade.
    let deep: string | undefined;
    for (let page = 0; page < 10; page++) deep = (await list({ limit: 1000, last_evaluated_key: deep })).last_evaluated_key;
    const status = (key?: string) => getMigrationStatus({ batch_id: cascades[0]!, limit: 200, last_evaluated_key: key }, caller, deps);
    let middle: string | undefined;
    for (let page = 0; page < Math.floor(children / 400); page++) middle = ((await status(middle)) as { last_evaluated_key?: string }).last_evaluated_key;
    const check = await list({ table: 'nope' });
    if (check.migrations.length !== 0 || !check.last_evaluated_key) throw new Error('a rare filter should end its page short, with a key');

    const pool = await octo.parts.get('pool');
    const runs: Array<{ name: string; op: () => Promise<unknown> }> = [
      // The same MetaDB pool /dashboard reads through.
      { name: 'floor: one PK SELECT', op: () => pool.query(`SELECT * FROM migration_batches WHERE batch_id = ?`, [cascades[0]]) },
      { name: 'list, first page', op: () => list({}) },
      { name: 'list, 10,000 deep', op: () => list({ last_evaluated_key: deep }) },
      { name: 'list, table filter (none)', op: () => list({ table: 'nope' }) },
      { name: 'list, state running (none)', op: () => list({ state: 'running' }) },
      { name: 'cascade jobs, page 1 of 200', op: () => status() },
      { name: 'cascade jobs, middle page', op: () => status(middle) },
    ];
    const samples: number[][] = runs.map(() => []);
    for (const run of runs) await drive(run.op, 0.3, []); // warm-up
    for (let round = 0; round < 5; round++) {
      for (const [i, run] of runs.entries()) await drive(run.op, seconds / 5, samples[i]!);
    }
    const p50 = samples.map((s) => percentile(s, 50));
    console.log(`\n5 interleaved rounds, ${seconds} s per run, one call at a time\n`);
    console.log('run'.padEnd(30) + 'p50 ms'.padStart(10) + 'p99 ms'.padStart(10) + 'vs floor'.padStart(10));
    for (const [i, run] of runs.entries()) {
      console.log(run.name.padEnd(30) + p50[i]!.toFixed(2).padStart(10) + percentile(samples[i]!, 99).toFixed(2).padStart(10) + `×${(p50[i]! / p50[0]!).toFixed(1)}`.padStart(10));
    }
  } finally {
    await octo.close();
  }
}

async function drive(op: () => Promise<unknown>, seconds: number, samples: number[]): Promise<void> {
  const until = performance.now() + seconds * 1000;
  while (performance.now() < until) {
    const at = performance.now();
    await op();
    samples.push(performance.now() - at);
  }
}
