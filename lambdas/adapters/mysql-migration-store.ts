import type { ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import type { AuditEntry, BatchListQuery, JobOutcome, JobPatch, JobState, MigrationBatchRecord, MigrationJobRecord, MigrationStore, NewMigrationJob, QueuedJob } from '#core/ports';
import { chunks, MysqlCascadeStore, toJob, UNSETTLED } from './mysql-cascade-store.ts';
import { mapMysqlError } from './mysql-errors.ts';
import { listBatches, pageJobs } from './mysql-migration-history.ts';

const TERMINAL = "('succeeded','failed','skipped')";
/** A job of batch `b`, the outer query's. */
const JOB_OF_BATCH = 'SELECT 1 FROM migration_jobs j WHERE j.batch_id = b.batch_id';
/** The server's clock in a bulk insert, as every other timestamp here (not this process's clock). */
const SERVER_NOW = { toSqlString: () => 'CURRENT_TIMESTAMP(3)' };

/**
 * Migration batches, jobs and audit rows in MetaDB (schemas/meta/migration_*.sql); with the
 * cascade queries it extends, the one adapter of every migration store port.
 */
export class MysqlMigrationStore extends MysqlCascadeStore implements MigrationStore {
  async createBatch(batch: Omit<MigrationBatchRecord, 'createdAt' | 'finishedAt' | 'atomic' | 'outcome'> & { atomic?: boolean }, jobs: NewMigrationJob[]): Promise<void> {
    const conn = await this.pool.getConnection();
    try {
      await conn.beginTransaction();
      await conn.execute(
        'INSERT INTO migration_batches (batch_id, tenant_id, db_id, kind, parent_job_id, allow_unsafe, atomic) VALUES (?, ?, ?, ?, ?, ?, ?)',
        [batch.batchId, batch.tenantId, batch.dbId, batch.kind, batch.parentJobId, batch.allowUnsafe ? 1 : 0, batch.atomic ? 1 : 0],
      );
      for (const part of chunks(jobs)) {
        await conn.query(
          `INSERT INTO migration_jobs (job_id, batch_id, db_id, host_id, table_name, desired_sql, state, status_reason, skip_reason, finished_at) VALUES ?`,
          [
            part.map((j) => {
              const state = j.state ?? 'queued';
              return [j.jobId, batch.batchId, j.dbId, j.hostId, j.table, j.desiredSql, state, j.statusReason ?? null, j.skipReason ?? null, state === 'queued' ? null : SERVER_NOW];
            }),
          ],
        );
      }
      await conn.commit();
    } catch (error) {
      await conn.rollback();
      throw mapMysqlError(error); // a taken batch id: DuplicateError
    } finally {
      conn.release();
    }
  }

  async getBatch(batchId: string): Promise<MigrationBatchRecord | undefined> {
    const [rows] = await this.pool.execute<RowDataPacket[]>('SELECT * FROM migration_batches WHERE batch_id = ?', [batchId]);
    const r = rows[0];
    return (
      r && {
        batchId: r.batch_id,
        tenantId: r.tenant_id,
        dbId: r.db_id,
        kind: r.kind,
        parentJobId: r.parent_job_id,
        allowUnsafe: r.allow_unsafe === 1,
        atomic: r.atomic === 1,
        outcome: r.outcome ?? null,
        createdAt: new Date(r.created_at),
        finishedAt: r.finished_at ? new Date(r.finished_at) : null,
      }
    );
  }

  async getJob(jobId: string): Promise<MigrationJobRecord | undefined> {
    const [rows] = await this.pool.execute<RowDataPacket[]>('SELECT * FROM migration_jobs WHERE job_id = ?', [jobId]);
    return rows[0] && toJob(rows[0]);
  }

  async listJobs(batchId: string): Promise<MigrationJobRecord[]> {
    const [rows] = await this.pool.execute<RowDataPacket[]>(
      'SELECT * FROM migration_jobs WHERE batch_id = ? ORDER BY created_at, job_id',
      [batchId],
    );
    return rows.map(toJob);
  }

  pageJobs(batchId: string, query: { state?: JobState; afterSeq?: number; limit: number }) {
    return pageJobs(this.pool, batchId, query);
  }

  listBatches(query: BatchListQuery) {
    return listBatches(this.pool, query);
  }

  async countJobs(batchId: string): Promise<Partial<Record<JobState, number>>> {
    const [rows] = await this.pool.execute<RowDataPacket[]>(
      'SELECT state, COUNT(*) AS n FROM migration_jobs WHERE batch_id = ? GROUP BY state',
      [batchId],
    );
    return Object.fromEntries(rows.map((r) => [r.state, Number(r.n)]));
  }

  async claimJob(jobId: string, staleAfterSeconds: number): Promise<boolean> {
    const [result] = await this.pool.execute<ResultSetHeader>(
      `UPDATE migration_jobs SET state = 'running', claimed_at = CURRENT_TIMESTAMP(3), claimed_by = ?,
         started_at = COALESCE(started_at, CURRENT_TIMESTAMP(3)),
         status_reason = IF(wait_reason IS NULL, status_reason, NULL), wait_reason = NULL
       WHERE job_id = ? AND (state = 'queued'
         OR (state = 'running' AND claimed_at < CURRENT_TIMESTAMP(3) - INTERVAL ? SECOND))`,
      [this.owner, jobId, staleAfterSeconds],
    );
    return result.affectedRows === 1;
  }

  async touchJobs(jobIds: string[]): Promise<void> {
    for (const part of chunks(jobIds)) {
      // A running job keeps the claim it was taken with (a cascade run's); a queued one: this process is on its way.
      if (part.length) {
        await this.pool.query(
          `UPDATE migration_jobs SET claimed_at = CURRENT_TIMESTAMP(3), claimed_by = IF(state = 'running' AND claimed_by IS NOT NULL, claimed_by, ?)
           WHERE job_id IN (?) AND state IN ('running', 'queued')`,
          [this.owner, part],
        );
      }
    }
  }

  async listClaimOwners(): Promise<string[]> {
    const [rows] = await this.pool.query<RowDataPacket[]>(
      `SELECT DISTINCT claimed_by FROM migration_jobs WHERE state IN ('queued', 'running') AND claimed_by IS NOT NULL LIMIT 1000`,
    );
    return rows.map((r) => String(r.claimed_by));
  }

  async expireClaims(claims: string[]): Promise<string[]> {
    const dbIds = new Set<string>();
    for (const part of chunks(claims)) {
      if (part.length === 0) continue;
      const held = `claimed_by IN (?) AND state IN ('queued', 'running')`;
      const [rows] = await this.pool.query<RowDataPacket[]>(`SELECT DISTINCT db_id FROM migration_jobs WHERE ${held}`, [part]);
      for (const r of rows) dbIds.add(String(r.db_id));
      // A day ago is older than any lease: every query that takes over a lapsed claim sees these as lapsed.
      await this.pool.query(`UPDATE migration_jobs SET claimed_at = CURRENT_TIMESTAMP(3) - INTERVAL 1 DAY, claimed_by = NULL WHERE ${held}`, [part]);
    }
    return [...dbIds];
  }

  async countAttempt(jobId: string): Promise<number> {
    // LAST_INSERT_ID(expr) hands the new count back with the UPDATE itself: one atomic round trip.
    const [result] = await this.pool.execute<ResultSetHeader>('UPDATE migration_jobs SET attempts = LAST_INSERT_ID(attempts + 1) WHERE job_id = ?', [jobId]);
    return Number(result.insertId);
  }

  async updateJob(jobId: string, patch: JobPatch): Promise<void> {
    const columns: Record<string, string> = {
      state: 'state',
      statusReason: 'status_reason',
      skipReason: 'skip_reason',
      attempts: 'attempts',
      flagged: 'flagged',
      followUp: 'follow_up',
      beforeSql: 'before_sql',
      appliedSql: 'applied_sql',
      afterSql: 'after_sql',
    };
    const sets: string[] = [];
    const values: unknown[] = [];
    for (const [key, value] of Object.entries(patch)) {
      if (value === undefined) continue;
      sets.push(`${columns[key]} = ?`);
      values.push(typeof value === 'boolean' ? Number(value) : value);
    }
    if (patch.state && patch.state !== 'running' && patch.state !== 'queued') sets.push('finished_at = CURRENT_TIMESTAMP(3)');
    if (sets.length === 0) return;
    await this.pool.execute(`UPDATE migration_jobs SET ${sets.join(', ')} WHERE job_id = ?`, [...values, jobId] as never);
  }

  async finishJobs(jobIds: string[], o: JobOutcome): Promise<void> {
    for (const part of chunks(jobIds)) {
      if (part.length === 0) continue;
      await this.db.query(
        `UPDATE migration_jobs SET state = ?, status_reason = ?, skip_reason = ?, wait_reason = NULL, attempts = GREATEST(attempts, ?), flagged = ?,
           finished_at = CURRENT_TIMESTAMP(3) WHERE job_id IN (?)`,
        [o.state, o.reason, o.skipReason ?? null, o.attempts, o.flagged ? 1 : 0, part],
      );
    }
  }

  async requeueJobs(jobIds: string[]): Promise<void> {
    for (const part of chunks(jobIds)) {
      if (part.length) await this.db.query(`UPDATE migration_jobs SET state = 'queued', claimed_at = NULL, claimed_by = NULL WHERE job_id IN (?)`, [part]);
    }
  }

  async deferJobs(jobIds: string[], retry: { delayMs: number; attempts: number; reason: string }): Promise<void> {
    for (const part of chunks(jobIds)) {
      if (part.length === 0) continue;
      await this.db.query(
        `UPDATE migration_jobs SET state = 'queued', claimed_at = CURRENT_TIMESTAMP(3), claimed_by = ?, retry_at = CURRENT_TIMESTAMP(3) + INTERVAL ? MICROSECOND,
           attempts = GREATEST(attempts, ?), wait_reason = 'retrying', status_reason = ? WHERE job_id IN (?)`,
        [this.owner, Math.round(retry.delayMs * 1000), retry.attempts, retry.reason.slice(0, 2000), part],
      );
    }
  }

  async earlierUnsettledJob(jobId: string): Promise<string | undefined> {
    const [rows] = await this.pool.execute<RowDataPacket[]>(
      `SELECT e.job_id FROM migration_jobs j JOIN migration_jobs e ON e.db_id = j.db_id AND e.table_name = j.table_name AND e.seq < j.seq
       WHERE j.job_id = ? AND ${UNSETTLED('e')} ORDER BY e.seq LIMIT 1`,
      [jobId],
    );
    return rows[0]?.job_id;
  }

  async laterSucceededJob(jobId: string): Promise<string | undefined> {
    const [rows] = await this.pool.execute<RowDataPacket[]>(
      `SELECT l.job_id FROM migration_jobs j JOIN migration_jobs l ON l.db_id = j.db_id AND l.table_name = j.table_name AND l.seq > j.seq
       WHERE j.job_id = ? AND l.state = 'succeeded' ORDER BY l.seq DESC LIMIT 1`,
      [jobId],
    );
    return rows[0]?.job_id;
  }

  async markWaiting(jobId: string, reason: string): Promise<void> {
    await this.pool.execute(`UPDATE migration_jobs SET wait_reason = 'earlier_job', status_reason = ? WHERE job_id = ? AND state = 'queued'`, [reason.slice(0, 2000), jobId]);
  }

  async listQueuedJobs(table: string, dbIds: string[], limit: number): Promise<QueuedJob[]> {
    if (dbIds.length === 0) return [];
    const [rows] = await this.db.query<RowDataPacket[]>(
      `SELECT job_id, batch_id, host_id, desired_sql IS NOT NULL AS tenant FROM migration_jobs
       WHERE table_name = ? AND db_id IN (?) AND state = 'queued' ORDER BY seq LIMIT ?`,
      [table, dbIds, limit],
    );
    return rows.map((r) => ({ jobId: String(r.job_id), batchId: String(r.batch_id), hostId: String(r.host_id), tenant: Number(r.tenant) === 1 }));
  }

  async addAudit(entries: AuditEntry[]): Promise<void> {
    for (const part of chunks(entries)) {
      if (part.length === 0) continue;
      await this.db.query('INSERT INTO migration_audit (job_id, attempt, stage, outcome, detail, started_at, finished_at) VALUES ?', [
        part.map((e) => [e.jobId, e.attempt, e.stage, e.outcome, e.detail?.slice(0, 60000) ?? null, e.startedAt, e.finishedAt]),
      ]);
    }
  }

  async listAudit(jobIds: string[]): Promise<AuditEntry[]> {
    const out: AuditEntry[] = [];
    for (const part of chunks(jobIds)) {
      if (part.length === 0) continue;
      const [rows] = await this.pool.query<RowDataPacket[]>('SELECT * FROM migration_audit WHERE job_id IN (?) ORDER BY audit_id', [part]);
      for (const r of rows) {
        out.push({
          jobId: r.job_id,
          attempt: Number(r.attempt),
          stage: r.stage,
          outcome: r.outcome,
          detail: r.detail,
          startedAt: new Date(r.started_at),
          finishedAt: new Date(r.finished_at),
        });
      }
    }
    return out;
  }

  async finishBatchIfDone(batchId: string): Promise<boolean> {
    const [result] = await this.db.execute<ResultSetHeader>(
      `UPDATE migration_batches b SET b.finished_at = CURRENT_TIMESTAMP(3), b.notify_pending = 1,
         b.outcome = CASE WHEN NOT EXISTS (${JOB_OF_BATCH} AND j.state = 'failed') THEN 'succeeded'
           WHEN b.atomic = 1 AND NOT EXISTS (${JOB_OF_BATCH} AND j.flagged = 1) THEN 'rolled_back' ELSE 'failed' END
       WHERE b.batch_id = ? AND b.finished_at IS NULL
         AND NOT EXISTS (SELECT 1 FROM migration_jobs j WHERE j.batch_id = b.batch_id AND j.state NOT IN ${TERMINAL})`,
      [batchId],
    );
    return result.affectedRows === 1;
  }

  async listUnnotifiedBatches(minAgeSeconds: number, limit: number): Promise<string[]> {
    const [rows] = await this.pool.query<RowDataPacket[]>(
      `SELECT batch_id FROM migration_batches
       WHERE notify_pending = 1 AND finished_at < CURRENT_TIMESTAMP(3) - INTERVAL ? SECOND
         AND finished_at > CURRENT_TIMESTAMP(3) - INTERVAL 1 DAY
       LIMIT ?`,
      [minAgeSeconds, limit],
    );
    return rows.map((r) => String(r.batch_id));
  }

  async markNotified(batchId: string): Promise<void> {
    await this.pool.execute('UPDATE migration_batches SET notify_pending = 0 WHERE batch_id = ?', [batchId]);
  }

  async dropExpiredNotifications(limit: number): Promise<string[]> {
    const [rows] = await this.pool.query<RowDataPacket[]>(
      'SELECT batch_id FROM migration_batches WHERE notify_pending = 1 AND finished_at <= CURRENT_TIMESTAMP(3) - INTERVAL 1 DAY LIMIT ?',
      [limit],
    );
    const dropped: string[] = [];
    for (const { batch_id: batchId } of rows) {
      // Cleared by exactly one sweep: two racing report each batch once between them.
      const [result] = await this.pool.execute<ResultSetHeader>('UPDATE migration_batches SET notify_pending = 0 WHERE batch_id = ? AND notify_pending = 1', [batchId]);
      if (result.affectedRows === 1) dropped.push(String(batchId));
    }
    return dropped;
  }

  async listStaleJobs(staleAfterSeconds: number, limit: number): Promise<MigrationJobRecord[]> {
    const [rows] = await this.pool.query<RowDataPacket[]>(
      `SELECT * FROM migration_jobs WHERE desired_sql IS NOT NULL AND ((state = 'running' AND claimed_at < CURRENT_TIMESTAMP(3) - INTERVAL ? SECOND)
         OR (state = 'queued' AND COALESCE(claimed_at, created_at) < CURRENT_TIMESTAMP(3) - INTERVAL ? SECOND))
       LIMIT ?`,
      [staleAfterSeconds, staleAfterSeconds, limit],
    );
    return rows.map(toJob);
  }

  async listDoneUnfinishedBatches(staleAfterSeconds: number, limit: number): Promise<string[]> {
    const [rows] = await this.pool.query<RowDataPacket[]>(
      `SELECT b.batch_id FROM migration_batches b JOIN migration_jobs j ON j.batch_id = b.batch_id
       WHERE b.finished_at IS NULL
       GROUP BY b.batch_id
       HAVING SUM(j.state NOT IN ${TERMINAL} OR j.follow_up = 1) = 0 AND MAX(j.finished_at) < CURRENT_TIMESTAMP(3) - INTERVAL ? SECOND
       LIMIT ?`,
      [staleAfterSeconds, limit],
    );
    return rows.map((r) => String(r.batch_id));
  }

  async listPendingFollowUps(staleAfterSeconds: number, limit: number): Promise<MigrationJobRecord[]> {
    const [rows] = await this.pool.query<RowDataPacket[]>(
      `SELECT * FROM migration_jobs WHERE follow_up = 1 AND finished_at < CURRENT_TIMESTAMP(3) - INTERVAL ? SECOND LIMIT ?`,
      [staleAfterSeconds, limit],
    );
    return rows.map(toJob);
  }
}
