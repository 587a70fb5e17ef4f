import { databaseFor } from './api-keys.ts';
import type { TableBackupRecord, TableBackupStore } from './backup-ports.ts';
import { backupLocation, buildDropBackupScript, buildMoveToBackupScript, buildRestoreBackupScript, RestoreExit } from './backup-scripts.ts';
import { ConflictError, NotFoundError, UnavailableError } from './errors.ts';
import { newScriptMarkers, runOnHost } from './host-scripts.ts';
import { databaseName } from './ids.ts';
import type { MigrationDeps } from './migration-deps.ts';
import { auditor } from './migration-log.ts';
import { ownedDatabase } from './owned-database.ts';
import type { Caller, HostRunner, JobState, MetaStore, MigrationBatchRecord, MigrationJobRecord } from './ports.ts';
import { classify, normalizeDefinition, parseDefinition, type ScriptRun } from './skeema.ts';

/** A job's outcome as migration-job.ts's `end` takes it: state, reason, attempts, flagged. */
export type RemovalOutcome = [JobState, string | null, number, boolean];

/**
 * A removal job (drop_tables, allowed only with allow_unsafe): the table and its rows are moved
 * into a backup instead of dropped, so the tenant can restore them until the backup expires.
 * Primary course: record the backup in MetaDB (once per job), move the table on the host, mark
 * the backup kept with the table's definition. A table that is not there is nothing to remove.
 */
export async function removeTable(job: MigrationJobRecord, batch: MigrationBatchRecord, run: ScriptRun, deps: Pick<MigrationDeps, 'jobs' | 'audit' | 'settings' | 'backups'>): Promise<RemovalOutcome> {
  const attempt = job.attempts + 1;
  await deps.jobs.countAttempt(job.jobId);
  const started = new Date();
  const backup = await deps.backups.recordBackup({ backupId: crypto.randomUUID(), jobId: job.jobId, tenantId: batch.tenantId, dbId: job.dbId, hostId: job.hostId, table: job.table }, deps.settings.tableBackupSeconds);
  const where = backupLocation(job.dbId, backup.backupId);
  const markers = newScriptMarkers();
  const result = await run('update', buildMoveToBackupScript({ database: databaseName(job.dbId), table: job.table, backupSchema: where.schema, backupTable: where.table, markers }));
  const definition = parseDefinition(result.stdout, markers);
  const audit = auditor(job.jobId, deps);
  if (result.exitCode !== 0 || definition === undefined) {
    const failure = classify(result);
    await audit('update', attempt, started, 'failed', failure.reason);
    if (failure.kind === 'transient' && attempt <= deps.settings.maxRetries) {
      await deps.jobs.requeueJobs([job.jobId]);
      throw new UnavailableError(`moving the table to its backup failed, will retry: ${failure.reason}`); // the invoker retries
    }
    return ['failed', `the table was not removed: ${failure.reason}`, attempt, failure.kind === 'transient'];
  }
  if (definition === null) {
    await audit('update', attempt, started, 'ok', 'the table does not exist: nothing to remove');
    return ['succeeded', 'the table did not exist', attempt, false];
  }
  // Without AUTO_INCREMENT=n: a definition to read (and to re-submit), not a counter.
  await deps.backups.markKept(backup.backupId, normalizeDefinition(definition));
  await deps.jobs.updateJob(job.jobId, { beforeSql: definition, appliedSql: `RENAME TABLE \`${job.table}\` TO \`${where.schema}\`.\`${where.table}\`` });
  await audit('update', attempt, started, 'ok', `moved with its rows to backup ${backup.backupId}`);
  return ['succeeded', `removed; its definition and rows are kept in backup ${backup.backupId} until ${backup.expiresAt.toISOString()} (restore_table)`, attempt, false];
}

/** What the /dashboard backup actions need beside the dashboard's own deps. */
export interface TableBackupDeps {
  backups: TableBackupStore;
  hostRunner: HostRunner;
  scriptTimeoutSeconds: number;
}

export interface BackupView {
  backup_id: string;
  table: string;
  definition: string;
  created_at: string;
  expires_at: string;
}
const view = (b: TableBackupRecord): BackupView => ({
  backup_id: b.backupId,
  table: b.table,
  definition: b.definition ?? '',
  created_at: b.createdAt.toISOString(),
  expires_at: b.expiresAt.toISOString(),
});

/** /dashboard list_table_backups: a database's backups that can still be restored, newest first. */
export async function listTableBackups(caller: Caller, dbId: string | undefined, deps: { meta: Pick<MetaStore, 'getDatabase'> } & Pick<TableBackupDeps, 'backups'>): Promise<{ db_id: string; backups: BackupView[] }> {
  const id = databaseFor(caller, dbId);
  await ownedDatabase(deps.meta, caller.tenantId, id);
  return { db_id: id, backups: (await deps.backups.listRestorable(id, 100)).map(view) };
}

/**
 * /dashboard restore_table: the backup's table, rows included, back under its own name.
 * Primary course: the backup is the caller's and restorable, the name is free, move it back on
 * the host, mark it restored. Someone else's backup answers as one that does not exist.
 */
export async function restoreTableBackup(
  caller: Caller,
  backupId: string,
  deps: { meta: Pick<MetaStore, 'getDatabase' | 'getHost'> } & TableBackupDeps,
): Promise<{ backup_id: string; table: string; restored: true }> {
  const backup = await deps.backups.getBackup(backupId);
  const notFound = () => new NotFoundError('Backup not found', { code: 'BACKUP_NOT_FOUND' });
  if (!backup || backup.tenantId !== caller.tenantId) throw notFound();
  if (!backup.keptAt || backup.restoredAt || backup.droppedAt || backup.expiresAt.getTime() <= Date.now()) {
    throw new ConflictError('This backup can no longer be restored (restored already, or expired)', { code: 'BACKUP_GONE' });
  }
  const host = await deps.meta.getHost(backup.hostId);
  if (!host) throw new UnavailableError(`the database's host ${backup.hostId} is unknown`);
  const where = backupLocation(backup.dbId, backup.backupId);
  const result = await runOnHost(deps.hostRunner, host, buildRestoreBackupScript({ database: databaseName(backup.dbId), table: backup.table, backupSchema: where.schema, backupTable: where.table }), deps.scriptTimeoutSeconds);
  if (result.exitCode === RestoreExit.TableExists) throw new ConflictError(`A table named ${backup.table} exists: remove or rename it first`, { code: 'TABLE_EXISTS' });
  if (result.exitCode === RestoreExit.BackupGone) throw new ConflictError('This backup can no longer be restored (restored already, or expired)', { code: 'BACKUP_GONE' });
  if (result.exitCode !== 0) throw new UnavailableError(`the backup could not be restored: ${classify(result).reason}`);
  await deps.backups.markRestored(backupId);
  return { backup_id: backupId, table: backup.table, restored: true };
}

/** The sweep: drops backups past OCTODB_TABLE_BACKUP_HOURS on their host. Returns how many. */
export async function expireTableBackups(deps: Pick<MigrationDeps, 'meta' | 'hostRunner' | 'settings' | 'backups'>): Promise<number> {
  const expired = await deps.backups.listExpired(100);
  let dropped = 0;
  for (const b of expired) {
    const host = await deps.meta.getHost(b.hostId);
    if (!host) continue;
    const where = backupLocation(b.dbId, b.backupId);
    const result = await runOnHost(deps.hostRunner, host, buildDropBackupScript({ backupSchema: where.schema, backupTable: where.table }), deps.settings.scriptTimeoutSeconds);
    // One that failed (the host unreachable) stays listed for the next sweep.
    if (result.exitCode === 0) {
      await deps.backups.markDropped(b.backupId);
      dropped++;
    }
  }
  return dropped;
}
