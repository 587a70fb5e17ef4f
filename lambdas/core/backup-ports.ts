/**
 * Table backups (issue 13): a table removed from the desired state (drop_tables) is moved, with
 * its rows, into a backup schema of its database on the same host, restorable for
 * OCTODB_TABLE_BACKUP_HOURS; then the sweep drops it. MetaDB's `table_backups` says where each is.
 */
export interface TableBackupRecord {
  backupId: string;
  jobId: string;
  tenantId: string;
  dbId: string;
  hostId: string;
  table: string;
  /** The table's definition when it was moved; null until the move went through. */
  definition: string | null;
  createdAt: Date;
  expiresAt: Date;
  keptAt: Date | null;
  restoredAt: Date | null;
  droppedAt: Date | null;
}

export interface TableBackupStore {
  /** Records a backup before its move (once per job: a re-run gets the same record back). */
  recordBackup(b: Pick<TableBackupRecord, 'backupId' | 'jobId' | 'tenantId' | 'dbId' | 'hostId' | 'table'>, keepSeconds: number): Promise<TableBackupRecord>;
  /** The move went through: the backup holds this definition and its rows. */
  markKept(backupId: string, definition: string): Promise<void>;
  getBackup(backupId: string): Promise<TableBackupRecord | undefined>;
  /** A database's backups that can still be restored (kept, not restored, not dropped, not expired), newest first. */
  listRestorable(dbId: string, limit: number): Promise<TableBackupRecord[]>;
  /** Marks it restored unless it was restored or dropped meanwhile: false then. */
  markRestored(backupId: string): Promise<boolean>;
  /** Backups past their time, not restored and not yet dropped. */
  listExpired(limit: number): Promise<TableBackupRecord[]>;
  markDropped(backupId: string): Promise<void>;
}
