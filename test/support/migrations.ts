import type { RowDataPacket } from 'mysql2/promise';
import { expect } from 'vitest';
import { databaseName } from '#core/ids';
import type { TestOctoDb } from './octodb.ts';
import { waitFor } from './wait.ts';

/** Reading and driving migrations of one test OctoDB: tenants, batches, jobs, tables read back. */
export function migrationHelpers(octo: TestOctoDb) {
  const meta = (table: string) => `\`${octo.metaDb}\`.${table}`;
  const query = async (sql: string, params: unknown[] = []) => (await octo.admin.query<RowDataPacket[]>(sql, params))[0];
  const helpers = {
    meta,
    query,
    async tenant(overrides: Record<string, unknown> = {}) {
      const t = await octo.signUp(overrides);
      expect((await octo.waitForDatabase(t.db_id)).status).toBe('ready');
      return { ...t, token: await octo.token(t.email, t.password), db: databaseName(t.db_id) };
    },
    async waitForBatch(batchId: string, timeoutMs = 30_000) {
      await waitFor(async () => (await query(`SELECT finished_at FROM ${meta('migration_batches')} WHERE batch_id = ?`, [batchId]))[0]?.finished_at, {
        timeoutMs,
        intervalMs: 50,
        what: `batch ${batchId} to finish`,
      });
    },
    /** Submits a migration; returns its batch and jobs without waiting for them. */
    async submit(token: string, sql: string) {
      const res = await octo.post<{ batch_id: string; jobs: Array<{ job_id: string; table: string }> }>('/migrate', { sql }, token);
      expect(res.status, JSON.stringify(res.body)).toBe(202);
      return res.body;
    },
    async migrate(token: string, sql: string) {
      const body = await helpers.submit(token, sql);
      await helpers.waitForBatch(body.batch_id);
      await octo.invoker.idle();
      return body;
    },
    jobRow: async (jobId: string) => (await query(`SELECT * FROM ${meta('migration_jobs')} WHERE job_id = ?`, [jobId]))[0]!,
    stages: (jobId: string) => query(`SELECT stage, outcome, attempt, detail FROM ${meta('migration_audit')} WHERE job_id = ? ORDER BY audit_id`, [jobId]),
    async showCreate(db: string, table: string) {
      return String((await query(`SHOW CREATE TABLE \`${db}\`.\`${table}\``))[0]!['Create Table']).replace(/ AUTO_INCREMENT=\d+/, '');
    },
    async sweep() {
      await octo.invoker.invokeAsync('migrate-run', { sweep: true });
      await octo.invoker.idle();
    },
    /** An admin whose parent database holds `products` (created by `definition`), and `n` ready children made from it. */
    async parentWithChildren(n: number, definition: string) {
      const admin = await octo.signUpAdmin();
      const adminToken = admin.token;
      await helpers.migrate(adminToken, definition);
      const children = await Promise.all(Array.from({ length: n }, () => helpers.tenant({ template: admin.db_id })));
      return { admin, adminToken, parentDb: databaseName(admin.db_id), children };
    },
  };
  return helpers;
}
