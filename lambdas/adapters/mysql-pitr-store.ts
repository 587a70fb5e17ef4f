import type { Pool, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import { ConflictError } from '#core/errors';
import type { BaseBackupRecord, BaseBackupStore, RestoreRecord, RestoreStore } from '#core/pitr-ports';
import { isDuplicateKey } from './mysql-errors.ts';

const BASE_COLUMNS = 'backup_key, db_id, host_id, reason, binlog_file, binlog_pos, size_bytes, started_at, finished_at';
const RESTORE_COLUMNS = 'restore_id, requested_by, tenant_id, db_id, target, target_db_id, to_time, base_key, state, reason, created_at, started_at, finished_at';

const base = (r: RowDataPacket): BaseBackupRecord => ({
  key: r.backup_key,
  dbId: r.db_id,
  hostId: r.host_id,
  reason: r.reason,
  binlogFile: r.binlog_file,
  binlogPos: Number(r.binlog_pos),
  sizeBytes: Number(r.size_bytes),
  startedAt: r.started_at,
  finishedAt: r.finished_at,
});

const restore = (r: RowDataPacket): RestoreRecord => ({
  restoreId: r.restore_id,
  requestedBy: r.requested_by,
  tenantId: r.tenant_id,
  dbId: r.db_id,
  target: r.target,
  targetDbId: r.target_db_id,
  toTime: r.to_time,
  baseKey: r.base_key,
  state: r.state,
  reason: r.reason,
  createdAt: r.created_at,
  startedAt: r.started_at,
  finishedAt: r.finished_at,
});

/** MetaDB's `base_backups` and `database_restores`. */
export class MysqlPitrStore implements BaseBackupStore, RestoreStore {
  constructor(
    private readonly pool: Pool,
    /** A restore queued or running this long has lost its worker: it no longer holds its database. */
    private readonly staleSeconds: number,
  ) {}

  async recordBaseBackup(b: BaseBackupRecord): Promise<void> {
    await this.pool.execute(
      `INSERT INTO base_backups (${BASE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [b.key, b.dbId, b.hostId, b.reason, b.binlogFile, b.binlogPos, b.sizeBytes, b.startedAt, b.finishedAt],
    );
  }

  async baseBackupBefore(dbId: string, at: Date): Promise<BaseBackupRecord | undefined> {
    const [rows] = await this.pool.execute<RowDataPacket[]>(
      `SELECT ${BASE_COLUMNS} FROM base_backups WHERE db_id = ? AND deleted_at IS NULL AND finished_at <= ? ORDER BY finished_at DESC LIMIT 1`,
      [dbId, at],
    );
    return rows[0] ? base(rows[0]) : undefined;
  }

  async oldestBaseBackup(dbId: string): Promise<BaseBackupRecord | undefined> {
    const [rows] = await this.pool.execute<RowDataPacket[]>(`SELECT ${BASE_COLUMNS} FROM base_backups WHERE db_id = ? AND deleted_at IS NULL ORDER BY finished_at LIMIT 1`, [dbId]);
    return rows[0] ? base(rows[0]) : undefined;
  }

  async listDueForBaseBackup(olderThan: Date, limit: number): Promise<{ dbId: string; hostId: string }[]> {
    const [rows] = await this.pool.query<RowDataPacket[]>(
      `SELECT d.db_id, d.host_id FROM tenant_databases d
       LEFT JOIN base_backups b ON b.db_id = d.db_id AND b.deleted_at IS NULL
       WHERE d.status = 'ready'
       GROUP BY d.db_id, d.host_id
       HAVING MAX(b.finished_at) IS NULL OR MAX(b.finished_at) < ?
       ORDER BY MAX(b.finished_at) LIMIT ?`,
      [olderThan, limit],
    );
    return rows.map((r) => ({ dbId: r.db_id, hostId: r.host_id }));
  }

  async listExpiredBaseBackups(before: Date, limit: number): Promise<BaseBackupRecord[]> {
    const [rows] = await this.pool.query<RowDataPacket[]>(
      `SELECT ${BASE_COLUMNS} FROM base_backups b WHERE b.deleted_at IS NULL AND b.finished_at < ?
         AND EXISTS (SELECT 1 FROM base_backups n WHERE n.db_id = b.db_id AND n.deleted_at IS NULL AND n.finished_at > b.finished_at)
       ORDER BY b.finished_at LIMIT ?`,
      [before, limit],
    );
    return rows.map(base);
  }

  async markBaseBackupDeleted(key: string): Promise<void> {
    await this.pool.execute('UPDATE base_backups SET deleted_at = CURRENT_TIMESTAMP(3) WHERE backup_key = ? AND deleted_at IS NULL', [key]);
  }

  async createRestore(r: Omit<RestoreRecord, 'state' | 'reason' | 'createdAt' | 'startedAt' | 'finishedAt'>): Promise<void> {
    // A worker that died leaves its restore holding the tenant: past the stale time it no longer does.
    await this.pool.execute(
      `UPDATE database_restores SET state = 'failed', reason = 'its worker stopped', active_tenant_id = NULL, finished_at = CURRENT_TIMESTAMP(3)
       WHERE active_tenant_id = ? AND COALESCE(started_at, created_at) < CURRENT_TIMESTAMP(3) - INTERVAL ? SECOND`,
      [r.tenantId, this.staleSeconds],
    );
    try {
      await this.pool.execute(
        `INSERT INTO database_restores (restore_id, requested_by, tenant_id, db_id, target, target_db_id, to_time, base_key, state, active_tenant_id)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?)`,
        [r.restoreId, r.requestedBy, r.tenantId, r.dbId, r.target, r.targetDbId, r.toTime, r.baseKey, r.tenantId],
      );
    } catch (error) {
      if (isDuplicateKey(error)) throw new ConflictError("A restore of this tenant's databases is queued or running: one at a time", { code: 'RESTORE_RUNNING' }, { cause: error });
      throw error;
    }
  }

  async getRestore(restoreId: string): Promise<RestoreRecord | undefined> {
    const [rows] = await this.pool.execute<RowDataPacket[]>(`SELECT ${RESTORE_COLUMNS} FROM database_restores WHERE restore_id = ?`, [restoreId]);
    return rows[0] ? restore(rows[0]) : undefined;
  }

  async startRestore(restoreId: string): Promise<boolean> {
    const [r] = await this.pool.execute<ResultSetHeader>("UPDATE database_restores SET state = 'running', started_at = CURRENT_TIMESTAMP(3) WHERE restore_id = ? AND state = 'queued'", [restoreId]);
    return r.affectedRows === 1;
  }

  async finishRestore(restoreId: string, state: 'succeeded' | 'failed', reason: string | null): Promise<void> {
    await this.pool.execute('UPDATE database_restores SET state = ?, reason = ?, active_tenant_id = NULL, finished_at = CURRENT_TIMESTAMP(3) WHERE restore_id = ?', [state, reason, restoreId]);
  }

  async inPlaceRestoreBetween(dbId: string, from: Date, to: Date): Promise<boolean> {
    const [rows] = await this.pool.execute<RowDataPacket[]>(
      `SELECT 1 FROM database_restores WHERE db_id = ? AND target = 'in_place' AND state <> 'queued'
         AND started_at < ? AND (finished_at IS NULL OR finished_at > ?) LIMIT 1`,
      [dbId, to, from],
    );
    return rows.length > 0;
  }

  async addRestoredDatabase(db: { dbId: string; tenantId: string; hostId: string; template: string; mysqlUser: string; sealedPassword: string }): Promise<void> {
    await this.pool.execute(
      `INSERT INTO tenant_databases (db_id, tenant_id, host_id, template, status, mysql_user, mysql_password_sealed) VALUES (?, ?, ?, ?, 'ready', ?, ?)`,
      [db.dbId, db.tenantId, db.hostId, db.template, db.mysqlUser, db.sealedPassword],
    );
  }
}
