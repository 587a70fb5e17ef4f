import { randomBytes } from 'node:crypto';
import { ConflictError, databaseNotFound, NotFoundError, UnavailableError, ValidationError } from './errors.ts';
import { runOnHost } from './host-scripts.ts';
import { databaseName, databaseUser, newDatabasePassword, newDbId } from './ids.ts';
import type { BaseBackupReason, BaseBackupRecord, BaseBackupStore, RestoreRecord, RestoreStore, RestoreTarget } from './pitr-ports.ts';
import { backupStamp, baseBackupKey, buildBaseBackupScript, buildDeleteBaseBackupsScript, buildRestoreScript, newBaseMarker, parseBaseBackup, PitrExit } from './pitr-scripts.ts';
import type { Caller, DatabaseAccounts, HostRunner, Invoker, MetaStore, StorageQuotas } from './ports.ts';
import { failureReason } from './provisioning.ts';
import type { Sealer } from './sealed.ts';

export interface PitrSettings {
  /** OCTODB_BACKUP_DIR: the store's root (an absolute directory, or s3://bucket on AWS). */
  backupRoot: string;
  scriptTimeoutSeconds: number;
  /** OCTODB_BASE_BACKUP_HOURS: a database's base backup is taken again once its newest is this old. */
  baseBackupHours: number;
  /** OCTODB_BASE_BACKUP_DAYS: base backups older than this are deleted (each database's newest kept). */
  baseBackupDays: number;
}

export interface PitrDeps {
  meta: Pick<MetaStore, 'getDatabase' | 'getHost'>;
  bases: BaseBackupStore;
  restores: RestoreStore;
  hostRunner: HostRunner;
  accounts: DatabaseAccounts;
  sealer: Sealer;
  invoker: Invoker;
  pitr: PitrSettings;
}

/** What /dashboard's restore actions use (no host runner: the restore itself runs on LF6), and the storage quota a new database would add to. */
export type PitrRequestDeps = Pick<PitrDeps, 'meta' | 'bases' | 'restores' | 'invoker' | 'pitr'> & { quotas: Pick<StorageQuotas, 'assertCanWrite'> };

/**
 * Takes one database's base backup into the store and records it.
 * Primary course: a stamp newer (to the second) than its last one, dump on the database's host
 * with the binlog coordinates, record key, coordinates and size in MetaDB.
 */
export async function takeBaseBackup(dbId: string, reason: BaseBackupReason, deps: Pick<PitrDeps, 'meta' | 'bases' | 'hostRunner' | 'pitr'>): Promise<BaseBackupRecord> {
  const db = await deps.meta.getDatabase(dbId);
  const host = db && (await deps.meta.getHost(db.hostId));
  if (!db || !host) throw new UnavailableError(`no database ${dbId} on a known host to back up`);
  // Listed ready by the sweep, maybe being erased since: an erasure's files must not come back after it.
  if (db.status !== 'ready') throw new UnavailableError(`database ${dbId} is ${db.status}, not backed up`);
  // Keys are to the second: a second backup within the same second would overwrite the first.
  const last = await deps.bases.baseBackupBefore(dbId, new Date('9999-12-31T00:00:00Z'));
  if (last && backupStamp(last.startedAt) === backupStamp(new Date())) await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 5));
  const startedAt = new Date();
  const marker = newBaseMarker();
  const stamp = backupStamp(startedAt);
  const result = await runOnHost(deps.hostRunner, host, buildBaseBackupScript({ database: databaseName(dbId), stamp, root: deps.pitr.backupRoot, marker }), deps.pitr.scriptTimeoutSeconds);
  const taken = result.exitCode === 0 ? parseBaseBackup(result.stdout, marker) : undefined;
  if (!taken) throw new UnavailableError(`the base backup of ${dbId} failed: ${failureReason(result)}`);
  const record: BaseBackupRecord = { key: baseBackupKey(databaseName(dbId), stamp), dbId, hostId: host.hostId, reason, ...taken, startedAt, finishedAt: new Date() };
  await deps.bases.recordBaseBackup(record);
  return record;
}

export interface RestoreView {
  restore_id: string;
  db_id: string;
  target: RestoreTarget;
  target_db_id: string;
  to_time: string;
  state: RestoreRecord['state'];
  reason: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
}
const view = (r: RestoreRecord): RestoreView => ({
  restore_id: r.restoreId,
  db_id: r.dbId,
  target: r.target,
  target_db_id: r.targetDbId,
  to_time: r.toTime.toISOString(),
  state: r.state,
  reason: r.reason,
  created_at: r.createdAt.toISOString(),
  started_at: r.startedAt?.toISOString() ?? null,
  finished_at: r.finishedAt?.toISOString() ?? null,
});

/** Replay stops at the first event of the second after `toTime`'s: a restore holds what was committed up to the end of that second. */
const stopOf = (toTime: Date): Date => new Date(Math.floor(toTime.getTime() / 1000) * 1000 + 1000);

/**
 * /dashboard restore_database: queues a restore of one database to a time, into a new database of
 * the same tenant or in place. Primary course: the caller owns the database (an admin: any), the
 * time is past and within reach (a base backup finished by then, no in-place restore of it in
 * between), a new copy within the tenant's storage quota, record the restore (one of the tenant's
 * at a time: each is heavy host work), start it on LF6 and answer `queued`.
 */
export async function requestRestore(caller: Caller, input: { db_id: string; to_time: Date; target: RestoreTarget }, deps: PitrRequestDeps, now = new Date()): Promise<RestoreView> {
  const db = await deps.meta.getDatabase(input.db_id);
  if (!db || (db.tenantId !== caller.tenantId && !caller.isAdmin)) throw databaseNotFound();
  if (db.status !== 'ready') throw new ConflictError('Only a ready database can be restored', { code: 'DATABASE_NOT_READY' });
  if (input.to_time.getTime() > now.getTime()) throw new ValidationError('to_time is in the future', { code: 'TIME_IN_FUTURE' });
  const stop = stopOf(input.to_time);
  const base = await deps.bases.baseBackupBefore(db.dbId, stop);
  if (!base) {
    const oldest = await deps.bases.oldestBaseBackup(db.dbId);
    throw new ValidationError('to_time is before the oldest base backup of this database', { code: 'BEFORE_OLDEST_BACKUP', oldest_restorable_at: oldest?.finishedAt.toISOString() ?? null });
  }
  if (await deps.restores.inPlaceRestoreBetween(db.dbId, base.finishedAt, stop)) {
    throw new ValidationError('to_time falls while this database was being restored in place: choose a time before or after it', { code: 'TIME_DURING_RESTORE' });
  }
  if (input.target === 'new') await deps.quotas.assertCanWrite(db.tenantId, db.dbId); // a copy adds to the tenant's storage
  const restoreId = crypto.randomUUID();
  const targetDbId = input.target === 'new' ? newDbId() : db.dbId;
  await deps.restores.createRestore({ restoreId, requestedBy: caller.tenantId, tenantId: db.tenantId, dbId: db.dbId, target: input.target, targetDbId, toTime: input.to_time, baseKey: base.key });
  // Read before LF6 starts: locally it may claim the restore (running) before this answers.
  const queued = view((await deps.restores.getRestore(restoreId))!);
  await deps.invoker.invokeAsync('provision', { restore: restoreId });
  return queued;
}

/** /dashboard get_restore_status: a restore the caller asked for or whose database is its own; any other is not found. */
export async function getRestoreStatus(caller: Caller, restoreId: string, deps: Pick<PitrDeps, 'restores'>): Promise<RestoreView> {
  const r = await deps.restores.getRestore(restoreId);
  if (!r || (r.requestedBy !== caller.tenantId && r.tenantId !== caller.tenantId)) throw new NotFoundError('Restore not found', { code: 'RESTORE_NOT_FOUND' });
  return view(r);
}

/**
 * LF6 {restore}: runs a queued restore. Primary course: claim it (queued → running), for in place
 * back the current state up first, load the base backup and replay the binlog to the time on the
 * host, then a new database gets its user's password and its MetaDB record (ready), an in-place one
 * a fresh base backup; end `succeeded`, or `failed` with why (the target dropped by the script).
 */
export async function runRestore(restoreId: string, deps: PitrDeps): Promise<'succeeded' | 'failed' | 'skipped'> {
  if (!(await deps.restores.startRestore(restoreId))) return 'skipped';
  const r = (await deps.restores.getRestore(restoreId))!;
  try {
    await restoreOnHost(r, deps);
    await deps.restores.finishRestore(restoreId, 'succeeded', null);
    return 'succeeded';
  } catch (error) {
    await deps.restores.finishRestore(restoreId, 'failed', (error as Error).message.slice(0, 1000));
    return 'failed';
  }
}

async function restoreOnHost(r: RestoreRecord, deps: PitrDeps): Promise<void> {
  const db = await deps.meta.getDatabase(r.dbId);
  const host = db && (await deps.meta.getHost(db.hostId));
  // The newest base by the time again: one taken since the request (the sweep's) is as good and closer.
  const base = await deps.bases.baseBackupBefore(r.dbId, stopOf(r.toTime));
  if (!db || !host) throw new Error('the database is gone');
  if (!base) throw new Error('its base backup is gone');
  const inPlace = r.target === 'in_place';
  if (inPlace) await takeBaseBackup(r.dbId, 'before_restore', deps);
  const user = databaseUser(r.targetDbId);
  const script = buildRestoreScript({
    source: databaseName(r.dbId),
    target: inPlace ? `octodb_rs_${randomBytes(8).toString('hex')}` : databaseName(r.targetDbId),
    baseKey: base.key,
    stopDatetime: stopOf(r.toTime).toISOString().slice(0, 19).replace('T', ' '),
    root: deps.pitr.backupRoot,
    ...(inPlace ? { swapInto: databaseName(r.dbId) } : { user }),
  });
  const result = await runOnHost(deps.hostRunner, host, script, deps.pitr.scriptTimeoutSeconds);
  if (result.exitCode === PitrExit.BinlogGone) throw new Error('the binary logs from its base backup on have expired on the server');
  if (result.exitCode !== 0) throw new Error(`the restore failed on the host: ${failureReason(result)}`);
  if (!inPlace) {
    const password = newDatabasePassword();
    await deps.accounts.setPassword(host, user, password);
    await deps.restores.addRestoredDatabase({ dbId: r.targetDbId, tenantId: r.tenantId, hostId: host.hostId, template: db.template, mysqlUser: user, sealedPassword: deps.sealer.seal(password) });
  }
  // The new state's own base: later restores start from it instead of replaying across this one.
  await takeBaseBackup(r.targetDbId, inPlace ? 'after_restore' : 'provisioned', deps).catch(() => undefined);
}

/**
 * LF6's sweep: base backups on schedule and expiry. Primary course: back up each ready database
 * whose newest base is OCTODB_BASE_BACKUP_HOURS old (or that has none), one after another within
 * a budget; delete base backups past OCTODB_BASE_BACKUP_DAYS (never a database's newest) per host.
 */
export async function sweepBaseBackups(deps: Pick<PitrDeps, 'meta' | 'bases' | 'hostRunner' | 'pitr'>, budgetMs = 120_000): Promise<{ taken: number; failed: number; deleted: number }> {
  const stopAt = Date.now() + budgetMs;
  const due = await deps.bases.listDueForBaseBackup(new Date(Date.now() - deps.pitr.baseBackupHours * 3_600_000), 200);
  let taken = 0;
  let failed = 0;
  for (const d of due) {
    if (Date.now() >= stopAt) break; // the rest: the next sweep
    await takeBaseBackup(d.dbId, 'scheduled', deps).then(() => taken++, () => failed++);
  }
  const expired = await deps.bases.listExpiredBaseBackups(new Date(Date.now() - deps.pitr.baseBackupDays * 86_400_000), 500);
  let deleted = 0;
  for (const hostId of new Set(expired.map((b) => b.hostId))) {
    const host = await deps.meta.getHost(hostId);
    const keys = expired.filter((b) => b.hostId === hostId).map((b) => b.key);
    if (!host) continue;
    const result = await runOnHost(deps.hostRunner, host, buildDeleteBaseBackupsScript({ keys, root: deps.pitr.backupRoot }), deps.pitr.scriptTimeoutSeconds);
    if (result.exitCode !== 0) continue; // listed again next sweep
    for (const key of keys) await deps.bases.markBaseBackupDeleted(key);
    deleted += keys.length;
  }
  return { taken, failed, deleted };
}
