import type { Pool, RowDataPacket } from 'mysql2/promise';
import type { CascadeStore, ChildListQuery, MigrationJobRecord, PendingParentChange } from '#core/ports';
import { pageChildren } from './mysql-children.ts';
import { mapMysqlError, mappedPool } from './mysql-errors.ts';

export const CHUNK = 500;
export const chunks = <T>(items: T[], size = CHUNK): T[][] =>
  Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, (i + 1) * size));

/** A job whose table's later jobs must wait: queued, running, or ended with its follow-up (a cascade to queue) pending. */
export const UNSETTLED = (alias: string) => `(${alias}.state IN ('queued', 'running') OR ${alias}.follow_up = 1)`;

export function toJob(r: RowDataPacket): MigrationJobRecord {
  return {
    jobId: r.job_id,
    batchId: r.batch_id,
    dbId: r.db_id,
    hostId: r.host_id,
    table: r.table_name,
    desiredSql: r.desired_sql,
    state: r.state,
    statusReason: r.status_reason,
    skipReason: r.skip_reason ?? null,
    waitReason: r.wait_reason ?? null,
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

/** An earlier unsettled job of the table of `j` (the outer query's job). */
const EARLIER_UNSETTLED = `SELECT 1 FROM migration_jobs e WHERE e.db_id = j.db_id AND e.table_name = j.table_name AND e.seq < j.seq AND ${UNSETTLED('e')}`;

/**
 * A parent's children, their cascade jobs per host and their customized tables in MetaDB
 * (schemas/meta/migration_jobs.sql, table_customizations.sql). Why a job is skipped or waits is
 * in the enum columns skip_reason and wait_reason; status_reason only holds the text for people.
 */
export class MysqlCascadeStore implements CascadeStore {
  /**
   * The pool, failing with the typed errors core checks (mapMysqlError), for the cascade worker's
   * calls: it tries them again while the server restarts (TransientError). The other calls keep
   * the driver's errors (an outage already is METADB_UNAVAILABLE: wiring's metaDbPool).
   */
  protected readonly db: Pool;

  /**
   * `owner`: this process (ClaimOwners.self), written with every claim it takes or keeps fresh
   * (`claimed_by`), so a restarted local OctoDB sees at once which claims a dead process held.
   */
  constructor(
    protected readonly pool: Pool,
    protected readonly owner: string,
  ) {
    this.db = mappedPool(pool, mapMysqlError);
  }

  async claimCascadeJobs(batchId: string, hostId: string, limit: number, staleAfterSeconds: number, worker: string): Promise<MigrationJobRecord[]> {
    const claim = `${this.owner}/${worker}`;
    const conn = await this.db.getConnection();
    try {
      await conn.beginTransaction();
      // FOR UPDATE keeps two workers of one host from taking the same jobs.
      const [rows] = await conn.query<RowDataPacket[]>(
        `SELECT j.job_id FROM migration_jobs j JOIN tenant_databases d ON d.db_id = j.db_id
         WHERE j.batch_id = ? AND j.host_id = ? AND d.status = 'ready' AND (j.state = 'queued'
           OR (j.state = 'running' AND (j.claimed_at < CURRENT_TIMESTAMP(3) - INTERVAL ? SECOND OR j.claimed_by = ?)))
           AND (j.retry_at IS NULL OR j.retry_at <= CURRENT_TIMESTAMP(3))
           AND NOT EXISTS (${EARLIER_UNSETTLED})
         ORDER BY j.job_id LIMIT ? FOR UPDATE`,
        [batchId, hostId, staleAfterSeconds, claim, limit],
      );
      const ids = rows.map((r) => String(r.job_id));
      if (ids.length > 0) {
        await conn.query(
          `UPDATE migration_jobs SET state = 'running', claimed_at = CURRENT_TIMESTAMP(3), claimed_by = ?,
             started_at = COALESCE(started_at, CURRENT_TIMESTAMP(3)), retry_at = NULL, wait_reason = NULL WHERE job_id IN (?)`,
          [claim, ids],
        );
      }
      await conn.commit();
      if (ids.length === 0) return [];
      const [jobs] = await this.pool.query<RowDataPacket[]>('SELECT * FROM migration_jobs WHERE job_id IN (?) ORDER BY job_id', [ids]);
      return jobs.map(toJob);
    } catch (error) {
      // A lost connection cannot roll back (the server does): the error that matters is the first.
      await conn.rollback().catch(() => undefined);
      throw mapMysqlError(error);
    } finally {
      conn.release();
    }
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
       WHERE j.db_id = ? AND j.state = 'skipped' AND j.skip_reason = 'customized' AND p.after_sql IS NOT NULL
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
      const [rows] = await this.db.query<RowDataPacket[]>(
        'SELECT db_id FROM table_customizations WHERE table_name = ? AND db_id IN (?)',
        [table, part],
      );
      for (const r of rows) out.add(String(r.db_id));
    }
    return out;
  }

  async nextCascadeRetry(batchId: string, hostId: string): Promise<number | undefined> {
    const [rows] = await this.db.query<RowDataPacket[]>(
      // Past its time by over a second and still not claimed: not claimable (its database went away), not waited for.
      `SELECT GREATEST(0, TIMESTAMPDIFF(MICROSECOND, CURRENT_TIMESTAMP(3), MIN(j.retry_at))) / 1000 AS ms
       FROM migration_jobs j JOIN tenant_databases d ON d.db_id = j.db_id AND d.status = 'ready'
       WHERE j.batch_id = ? AND j.host_id = ? AND j.state = 'queued' AND j.retry_at > CURRENT_TIMESTAMP(3) - INTERVAL 1 SECOND`,
      [batchId, hostId],
    );
    return rows[0]?.ms === null || rows[0]?.ms === undefined ? undefined : Number(rows[0].ms);
  }

  async parkCascadeJobs(batchId: string, hostId: string, text: { waiting: string; order: string }): Promise<void> {
    // A database that failed to provision has no tables: there is nothing to migrate (not customized).
    await this.db.query(
      `UPDATE migration_jobs j LEFT JOIN tenant_databases d ON d.db_id = j.db_id
       SET j.state = 'skipped', j.skip_reason = 'no_database', j.status_reason = CONCAT('database ', COALESCE(d.status, 'deleted'), ': no tables to migrate'),
         j.finished_at = CURRENT_TIMESTAMP(3)
       WHERE j.batch_id = ? AND j.host_id = ? AND j.state = 'queued' AND COALESCE(d.status, 'deleted') NOT IN ('ready', 'provisioning')`,
      [batchId, hostId],
    );
    // Behind an earlier job of their table: the end of that job starts them (the sweep, if it died).
    const [blocked] = await this.db.query<RowDataPacket[]>(
      `SELECT j.job_id FROM migration_jobs j WHERE j.batch_id = ? AND j.host_id = ? AND j.state = 'queued' AND EXISTS (${EARLIER_UNSETTLED})`,
      [batchId, hostId],
    );
    for (const part of chunks(blocked.map((r) => String(r.job_id)))) {
      if (part.length) await this.db.query(`UPDATE migration_jobs SET wait_reason = 'earlier_job', status_reason = ? WHERE job_id IN (?) AND state = 'queued'`, [text.order, part]);
    }
    // All the others wait, even one that became ready a moment ago: the sweep finds it by wait_reason.
    await this.db.query(
      `UPDATE migration_jobs SET wait_reason = 'database_not_ready', status_reason = ?
       WHERE batch_id = ? AND host_id = ? AND state = 'queued' AND (wait_reason IS NULL OR wait_reason <> 'earlier_job')`,
      [text.waiting, batchId, hostId],
    );
  }

  async listCascadesToResume(staleAfterSeconds: number, limit: number): Promise<Array<{ batchId: string; hostId: string }>> {
    const [rows] = await this.pool.query<RowDataPacket[]>(
      `SELECT DISTINCT j.batch_id, j.host_id FROM migration_jobs j LEFT JOIN tenant_databases d ON d.db_id = j.db_id
       WHERE j.desired_sql IS NULL AND ((j.state = 'running' AND j.claimed_at < CURRENT_TIMESTAMP(3) - INTERVAL ? SECOND)
         OR (j.state = 'queued' AND COALESCE(d.status, 'deleted') <> 'provisioning'
           AND (j.wait_reason = 'database_not_ready' OR COALESCE(j.claimed_at, j.created_at) < CURRENT_TIMESTAMP(3) - INTERVAL ? SECOND)))
       LIMIT ?`,
      [staleAfterSeconds, staleAfterSeconds, limit],
    );
    return rows.map((r) => ({ batchId: String(r.batch_id), hostId: String(r.host_id) }));
  }

  async handOverCascade(batchId: string, hostId: string, staleAfterSeconds: number): Promise<void> {
    await this.pool.query(
      `UPDATE migration_jobs SET state = 'queued', claimed_at = CURRENT_TIMESTAMP(3), claimed_by = ?, status_reason = NULL, wait_reason = NULL
       WHERE batch_id = ? AND host_id = ? AND (state = 'queued' OR (state = 'running' AND claimed_at < CURRENT_TIMESTAMP(3) - INTERVAL ? SECOND))`,
      [this.owner, batchId, hostId, staleAfterSeconds],
    );
  }

  async touchQueuedCascade(batchId: string, hostId: string): Promise<void> {
    await this.pool.query(`UPDATE migration_jobs SET claimed_at = CURRENT_TIMESTAMP(3), claimed_by = ? WHERE batch_id = ? AND host_id = ? AND state = 'queued'`, [this.owner, batchId, hostId]);
  }

  async listChildren(parentDbId: string): Promise<Array<{ dbId: string; hostId: string }>> {
    const [rows] = await this.pool.execute<RowDataPacket[]>(
      `SELECT db_id, host_id FROM tenant_databases WHERE template = ? AND status IN ('ready', 'provisioning') ORDER BY db_id`,
      [parentDbId],
    );
    return rows.map((r) => ({ dbId: String(r.db_id), hostId: String(r.host_id) }));
  }

  pageChildren(query: ChildListQuery) {
    return pageChildren(this.pool, query);
  }
}
