/**
 * Per-tenant point-in-time restore (issue 16): base backups of one database (a consistent dump with
 * its binlog coordinates, kept in the backup store) and the restores replaying that database's
 * binlog events onto one. MetaDB's `base_backups` and `database_restores` implement these ports.
 */

export type BaseBackupReason = 'provisioned' | 'scheduled' | 'before_restore' | 'after_restore';

export interface BaseBackupRecord {
  /** Its key under the store's root: base/<db name>/<YYYYMMDDTHHMMSSZ>.sql.gz. */
  key: string;
  dbId: string;
  hostId: string;
  reason: BaseBackupReason;
  /** Where the snapshot stands in the server's binlog, as its header says (the restore reads the header itself). */
  binlogFile: string;
  binlogPos: number;
  sizeBytes: number;
  startedAt: Date;
  /** The snapshot was taken before this: a restore to a time at or after it may start from it. */
  finishedAt: Date;
}

export type RestoreTarget = 'new' | 'in_place';
export type RestoreState = 'queued' | 'running' | 'succeeded' | 'failed';

export interface RestoreRecord {
  restoreId: string;
  /** The tenant whose token asked (the database's own, or an admin). */
  requestedBy: string;
  /** The database's tenant: a new database is theirs too. */
  tenantId: string;
  dbId: string;
  target: RestoreTarget;
  /** The database the restore writes: a new one, or dbId itself. */
  targetDbId: string;
  toTime: Date;
  /** The base backup chosen at the request (the run takes the newest by then again). */
  baseKey: string;
  state: RestoreState;
  reason: string | null;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
}

export interface BaseBackupStore {
  recordBaseBackup(b: BaseBackupRecord): Promise<void>;
  /** The newest live base backup of a database finished at or before `at`; undefined when none is. */
  baseBackupBefore(dbId: string, at: Date): Promise<BaseBackupRecord | undefined>;
  /** The oldest live base backup of a database (how far back it can be restored). */
  oldestBaseBackup(dbId: string): Promise<BaseBackupRecord | undefined>;
  /** Ready databases whose newest live base backup finished before `olderThan` (or that have none), oldest first. */
  listDueForBaseBackup(olderThan: Date, limit: number): Promise<{ dbId: string; hostId: string }[]>;
  /** Live base backups finished before `before`, except each database's newest one (it is what a restore starts from). */
  listExpiredBaseBackups(before: Date, limit: number): Promise<BaseBackupRecord[]>;
  markBaseBackupDeleted(key: string): Promise<void>;
}

export interface RestoreStore {
  /** Records a queued restore; ConflictError RESTORE_RUNNING when one of the same tenant's databases is queued or running. */
  createRestore(r: Omit<RestoreRecord, 'state' | 'reason' | 'createdAt' | 'startedAt' | 'finishedAt'>): Promise<void>;
  getRestore(restoreId: string): Promise<RestoreRecord | undefined>;
  /** queued → running; false when it was not queued (a second delivery). */
  startRestore(restoreId: string): Promise<boolean>;
  finishRestore(restoreId: string, state: 'succeeded' | 'failed', reason: string | null): Promise<void>;
  /** Whether an in-place restore of the database overlaps (from, to]: the binlog holds its swap there, which no replay reproduces. */
  inPlaceRestoreBetween(dbId: string, from: Date, to: Date): Promise<boolean>;
  /** Records the restored database as the tenant's, `ready`, with its sealed password. */
  addRestoredDatabase(db: { dbId: string; tenantId: string; hostId: string; template: string; mysqlUser: string; sealedPassword: string }): Promise<void>;
}
