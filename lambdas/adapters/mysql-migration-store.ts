import type { Pool, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import type {
  AuditEntry,
  JobState,
  MigrationBatchRecord,
  MigrationJobRecord,
  MigrationStore,
  NewMigrationJob,
  PendingParentChange,
} from '#core/ports';

const CHUNK = 500;
const chunks = <T>(items: T[], size = CHUNK): T[][] =>
  Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, (i + 1) * size));
const TERMINAL = "('succeeded','failed','skipped')";
/** The server's clock in a bulk insert, as every other timestamp here (not this process's clock). */
const SERVER_NOW = { toSqlString: () => 'CURRENT_TIMESTAMP(3)' };

/** Migration batches, jobs, audit rows and customized tables in MetaDB (schemas/meta/migration_*.sql). */
export class MysqlMigrationStore implements MigrationStore {
  constructor(private readonly pool: Pool) {}

  async createBatch(batch: Omit<MigrationBatchRecord, 'createdAt' | 'finishedAt'>, jobs: NewMigrationJob[]): Promise<void> {
    const conn = await this.pool.getConnection();
    try {
      await conn.beginTransaction();
      await conn.execute(
        'INSERT INTO migration_batches (batch_id, tenant_id, db_id, kind, parent_job_id, allow_unsafe) VALUES (?, ?, ?, ?, ?, ?)',
        [batch.batchId, batch.tenantId, batch.dbId, batch.kind, batch.parentJobId, batch.allowUnsafe ? 1 : 0],
      );
      for (const part of chunks(jobs)) {
        await conn.query(
          `INSERT INTO migration_jobs (job_id, batch_id, db_id, host_id, table_name, desired_sql, state, status_reason, finished_at) VALUES ?`,
          [
            part.map((j) => {
              const state = j.state ?? 'queued';
              return [j.jobId, batch.batchId, j.dbId, j.hostId, j.table, j.desiredSql, state, j.statusReason ?? null, state === 'queued' ? null : SERVER_NOW];
            }),
          ],
        );
      }
      await conn.commit();
    } catch (error) {
      await conn.rollback();
      throw error;
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

  async countJobs(batchId: string): Promise<Partial<Record<JobState, number>>> {
    const [rows] = await this.pool.execute<RowDataPacket[]>(
      'SELECT state, COUNT(*) AS n FROM migration_jobs WHERE batch_id = ? GROUP BY state',
      [batchId],
    );
    return Object.fromEntries(rows.map((r) => [r.state, Number(r.n)]));
  }

  async claimJob(jobId: string, staleAfterSeconds: number): Promise<boolean> {
    const [result] = await this.pool.execute<ResultSetHeader>(
      `UPDATE migration_jobs SET state = 'running', claimed_at = CURRENT_TIMESTAMP(3),
         started_at = COALESCE(started_at, CURRENT_TIMESTAMP(3))
       WHERE job_id = ? AND (state = 'queued'
         OR (state = 'running' AND claimed_at < CURRENT_TIMESTAMP(3) - INTERVAL ? SECOND))`,
      [jobId, staleAfterSeconds],
    );
    return result.affectedRows === 1;
  }

  async claimCascadeJobs(batchId: string, hostId: string, limit: number, staleAfterSeconds: number): Promise<MigrationJobRecord[]> {
    const conn = await this.pool.getConnection();
    try {
      await conn.beginTransaction();
      // FOR UPDATE keeps two workers of one host from taking the same jobs.
      const [rows] = await conn.query<RowDataPacket[]>(
        `SELECT j.job_id FROM migration_jobs j JOIN tenant_databases d ON d.db_id = j.db_id
         WHERE j.batch_id = ? AND j.host_id = ? AND d.status = 'ready' AND (j.state = 'queued'
           OR (j.state = 'running' AND j.claimed_at < CURRENT_TIMESTAMP(3) - INTERVAL ? SECOND))
         ORDER BY j.job_id LIMIT ? FOR UPDATE`,
        [batchId, hostId, staleAfterSeconds, limit],
      );
      const ids = rows.map((r) => String(r.job_id));
      if (ids.length > 0) {
        await conn.query(
          `UPDATE migration_jobs SET state = 'running', claimed_at = CURRENT_TIMESTAMP(3),
             started_at = COALESCE(started_at, CURRENT_TIMESTAMP(3)) WHERE job_id IN (?)`,
          [ids],
        );
      }
      await conn.commit();
      if (ids.length === 0) return [];
      const [jobs] = await this.pool.query<RowDataPacket[]>('SELECT * FROM migration_jobs WHERE job_id IN (?) ORDER BY job_id', [ids]);
      return jobs.map(toJob);
    } catch (error) {
      await conn.rollback();
      throw error;
    } finally {
      conn.release();
    }
  }

  async touchJobs(jobIds: string[]): Promise<void> {
    for (const part of chunks(jobIds)) {
      if (part.length) await this.pool.query(`UPDATE migration_jobs SET claimed_at = CURRENT_TIMESTAMP(3) WHERE job_id IN (?) AND state IN ('running', 'queued')`, [part]);
    }
  }

  async updateJob(jobId: string, patch: Parameters<MigrationStore['updateJob']>[1]): Promise<void> {
    const columns: Record<string, string> = {
      state: 'state',
      statusReason: 'status_reason',
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

  async finishJobs(jobIds: string[], state: JobState, reason: string | null, attempts: number, flagged = false): Promise<void> {
    for (const part of chunks(jobIds)) {
      if (part.length === 0) continue;
      await this.pool.query(
        `UPDATE migration_jobs SET state = ?, status_reason = ?, attempts = GREATEST(attempts, ?), flagged = ?,
           finished_at = CURRENT_TIMESTAMP(3) WHERE job_id IN (?)`,
        [state, reason, attempts, flagged ? 1 : 0, part],
      );
    }
  }

  async requeueJobs(jobIds: string[]): Promise<void> {
    for (const part of chunks(jobIds)) {
      if (part.length) await this.pool.query(`UPDATE migration_jobs SET state = 'queued', claimed_at = NULL WHERE job_id IN (?)`, [part]);
    }
  }

  async addAudit(entries: AuditEntry[]): Promise<void> {
    for (const part of chunks(entries)) {
      if (part.length === 0) continue;
      await this.pool.query('INSERT INTO migration_audit (job_id, attempt, stage, outcome, detail, started_at, finished_at) VALUES ?', [
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
    const [result] = await this.pool.execute<ResultSetHeader>(
      `UPDATE migration_batches b SET b.finished_at = CURRENT_TIMESTAMP(3), b.notify_pending = 1
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

  async markCustomized(dbId: string, table: string, jobId: string): Promise<void> {
    await this.pool.execute(
      `INSERT INTO table_customizations (db_id, table_name, job_id) VALUES (?, ?, ?)
       ON DUPLICATE KEY UPDATE job_id = VALUES(job_id), customized_at = CURRENT_TIMESTAMP(3)`,
      [dbId, table, jobId],
    );
  }

  async customizedTables(dbId: string): Promise<string[]> {
    const [rows] = await this.pool.query<RowDataPacket[]>(
      'SELECT table_name FROM table_customizations WHERE db_id = ? ORDER BY table_name',
      [dbId],
    );
    return rows.map((r) => String(r.table_name));
  }

  async pendingParentChanges(dbId: string): Promise<PendingParentChange[]> {
    // The cascade jobs skipped on this database since its tenant last changed the table itself
    // (adopting a change with its own migration clears it; a cascade that found the table changed
    // marks the customization itself, with its job), newest first, with the parent's definition.
    const [rows] = await this.pool.query<RowDataPacket[]>(
      `SELECT j.table_name, j.job_id, p.job_id AS parent_job_id, p.after_sql, j.finished_at
       FROM migration_jobs j
       JOIN migration_batches b ON b.batch_id = j.batch_id AND b.kind = 'cascade'
       JOIN migration_jobs p ON p.job_id = b.parent_job_id
       JOIN table_customizations c ON c.db_id = j.db_id AND c.table_name = j.table_name
       WHERE j.db_id = ? AND j.state = 'skipped' AND j.status_reason = 'customized' AND p.after_sql IS NOT NULL
         AND (j.finished_at >= c.customized_at OR c.job_id = j.job_id)
       ORDER BY j.finished_at DESC, j.job_id`,
      [dbId],
    );
    const newest = new Map<string, PendingParentChange>();
    for (const r of rows) {
      const table = String(r.table_name);
      if (!newest.has(table)) {
        newest.set(table, { table, parentJobId: String(r.parent_job_id), cascadeJobId: String(r.job_id), definition: String(r.after_sql), skippedAt: r.finished_at as Date });
      }
    }
    return [...newest.values()].sort((x, y) => x.table.localeCompare(y.table));
  }

  async customizedDatabases(dbIds: string[], table: string): Promise<Set<string>> {
    const out = new Set<string>();
    for (const part of chunks(dbIds)) {
      if (part.length === 0) continue;
      const [rows] = await this.pool.query<RowDataPacket[]>(
        'SELECT db_id FROM table_customizations WHERE table_name = ? AND db_id IN (?)',
        [table, part],
      );
      for (const r of rows) out.add(String(r.db_id));
    }
    return out;
  }

  async parkCascadeJobs(batchId: string, hostId: string, waitingReason: string): Promise<void> {
    // A database that failed to provision has no tables: there is nothing to migrate (not customized).
    await this.pool.query(
      `UPDATE migration_jobs j LEFT JOIN tenant_databases d ON d.db_id = j.db_id
       SET j.state = 'skipped', j.status_reason = CONCAT('database ', COALESCE(d.status, 'deleted'), ': no tables to migrate'),
         j.finished_at = CURRENT_TIMESTAMP(3)
       WHERE j.batch_id = ? AND j.host_id = ? AND j.state = 'queued' AND COALESCE(d.status, 'deleted') NOT IN ('ready', 'provisioning')`,
      [batchId, hostId],
    );
    // All the others wait, even one that became ready a moment ago: the sweep finds it by this reason.
    await this.pool.query(`UPDATE migration_jobs SET status_reason = ? WHERE batch_id = ? AND host_id = ? AND state = 'queued'`, [
      waitingReason,
      batchId,
      hostId,
    ]);
  }

  async listCascadesToResume(waitingReason: string, staleAfterSeconds: number, limit: number): Promise<Array<{ batchId: string; hostId: string }>> {
    const [rows] = await this.pool.query<RowDataPacket[]>(
      `SELECT DISTINCT j.batch_id, j.host_id FROM migration_jobs j LEFT JOIN tenant_databases d ON d.db_id = j.db_id
       WHERE j.desired_sql IS NULL AND ((j.state = 'running' AND j.claimed_at < CURRENT_TIMESTAMP(3) - INTERVAL ? SECOND)
         OR (j.state = 'queued' AND COALESCE(d.status, 'deleted') <> 'provisioning'
           AND (j.status_reason = ? OR COALESCE(j.claimed_at, j.created_at) < CURRENT_TIMESTAMP(3) - INTERVAL ? SECOND)))
       LIMIT ?`,
      [staleAfterSeconds, waitingReason, staleAfterSeconds, limit],
    );
    return rows.map((r) => ({ batchId: String(r.batch_id), hostId: String(r.host_id) }));
  }

  async handOverCascade(batchId: string, hostId: string, staleAfterSeconds: number): Promise<void> {
    await this.pool.query(
      `UPDATE migration_jobs SET state = 'queued', claimed_at = CURRENT_TIMESTAMP(3), status_reason = NULL
       WHERE batch_id = ? AND host_id = ? AND (state = 'queued' OR (state = 'running' AND claimed_at < CURRENT_TIMESTAMP(3) - INTERVAL ? SECOND))`,
      [batchId, hostId, staleAfterSeconds],
    );
  }

  async touchQueuedCascade(batchId: string, hostId: string): Promise<void> {
    await this.pool.query(`UPDATE migration_jobs SET claimed_at = CURRENT_TIMESTAMP(3) WHERE batch_id = ? AND host_id = ? AND state = 'queued'`, [batchId, hostId]);
  }

  async listChildren(parentDbId: string): Promise<Array<{ dbId: string; hostId: string }>> {
    const [rows] = await this.pool.execute<RowDataPacket[]>(
      `SELECT db_id, host_id FROM tenant_databases WHERE template = ? AND status IN ('ready', 'provisioning') ORDER BY db_id`,
      [parentDbId],
    );
    return rows.map((r) => ({ dbId: String(r.db_id), hostId: String(r.host_id) }));
  }
}

function toJob(r: RowDataPacket): MigrationJobRecord {
  return {
    jobId: r.job_id,
    batchId: r.batch_id,
    dbId: r.db_id,
    hostId: r.host_id,
    table: r.table_name,
    desiredSql: r.desired_sql,
    state: r.state,
    statusReason: r.status_reason,
    attempts: Number(r.attempts),
    flagged: r.flagged === 1,
    followUp: r.follow_up === 1,
    beforeSql: r.before_sql,
    appliedSql: r.applied_sql,
    afterSql: r.after_sql,
    createdAt: new Date(r.created_at),
    startedAt: r.started_at ? new Date(r.started_at) : null,
    finishedAt: r.finished_at ? new Date(r.finished_at) : null,
  };
}
