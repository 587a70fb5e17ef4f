import type { Pool, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import type { TableBackupRecord, TableBackupStore } from '#core/backup-ports';

const COLUMNS = 'backup_id, job_id, tenant_id, db_id, host_id, table_name, definition, created_at, expires_at, kept_at, restored_at, dropped_at';
/** Restorable: moved, neither restored nor dropped, and not past its time (by the server's clock). */
const RESTORABLE = 'kept_at IS NOT NULL AND restored_at IS NULL AND dropped_at IS NULL AND expires_at > CURRENT_TIMESTAMP(3)';

const record = (r: RowDataPacket): TableBackupRecord => ({
  backupId: r.backup_id,
  jobId: r.job_id,
  tenantId: r.tenant_id,
  dbId: r.db_id,
  hostId: r.host_id,
  table: r.table_name,
  definition: r.definition,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
  keptAt: r.kept_at,
  restoredAt: r.restored_at,
  droppedAt: r.dropped_at,
});

/** MetaDB's `table_backups`. */
export class MysqlTableBackupStore implements TableBackupStore {
  constructor(private readonly pool: Pool) {}

  async recordBackup(b: Pick<TableBackupRecord, 'backupId' | 'jobId' | 'tenantId' | 'dbId' | 'hostId' | 'table'>, keepSeconds: number): Promise<TableBackupRecord> {
    await this.pool.execute(
      `INSERT IGNORE INTO table_backups (backup_id, job_id, tenant_id, db_id, host_id, table_name, expires_at)
       VALUES (?, ?, ?, ?, ?, ?, CURRENT_TIMESTAMP(3) + INTERVAL ? SECOND)`,
      [b.backupId, b.jobId, b.tenantId, b.dbId, b.hostId, b.table, keepSeconds],
    );
    const [rows] = await this.pool.execute<RowDataPacket[]>(`SELECT ${COLUMNS} FROM table_backups WHERE job_id = ?`, [b.jobId]);
    return record(rows[0]!);
  }

  async markKept(backupId: string, definition: string): Promise<void> {
    await this.pool.execute('UPDATE table_backups SET definition = ?, kept_at = COALESCE(kept_at, CURRENT_TIMESTAMP(3)) WHERE backup_id = ?', [definition, backupId]);
  }

  async getBackup(backupId: string): Promise<TableBackupRecord | undefined> {
    const [rows] = await this.pool.execute<RowDataPacket[]>(`SELECT ${COLUMNS} FROM table_backups WHERE backup_id = ?`, [backupId]);
    return rows[0] ? record(rows[0]) : undefined;
  }

  async listRestorable(dbId: string, limit: number): Promise<TableBackupRecord[]> {
    const [rows] = await this.pool.query<RowDataPacket[]>(`SELECT ${COLUMNS} FROM table_backups WHERE db_id = ? AND ${RESTORABLE} ORDER BY created_at DESC LIMIT ?`, [dbId, limit]);
    return rows.map(record);
  }

  async markRestored(backupId: string): Promise<boolean> {
    const [r] = await this.pool.execute<ResultSetHeader>(`UPDATE table_backups SET restored_at = CURRENT_TIMESTAMP(3) WHERE backup_id = ? AND ${RESTORABLE}`, [backupId]);
    return r.affectedRows === 1;
  }

  async listExpired(limit: number): Promise<TableBackupRecord[]> {
    const [rows] = await this.pool.query<RowDataPacket[]>(
      `SELECT ${COLUMNS} FROM table_backups WHERE dropped_at IS NULL AND restored_at IS NULL AND expires_at <= CURRENT_TIMESTAMP(3) ORDER BY expires_at LIMIT ?`,
      [limit],
    );
    return rows.map(record);
  }

  async markDropped(backupId: string): Promise<void> {
    await this.pool.execute('UPDATE table_backups SET dropped_at = CURRENT_TIMESTAMP(3) WHERE backup_id = ?', [backupId]);
  }
}
