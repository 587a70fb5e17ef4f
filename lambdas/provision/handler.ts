import { runErasure, sweepStalledErasures } from '#core/offboarding';
import { provisionDatabase, sweepStalledProvisioning } from '#core/provisioning';
import { runRestore, sweepBaseBackups, takeBaseBackup } from '#core/pitr';
import { eraseRoot, pitrRoot, provisionRoot } from '#adapters/roots';
import { invocationHandler, type RequestLog } from '#shared/logger';

/**
 * LF6 — asynchronous: creates the tenant database named by {db_id} on its host. A scheduled
 * {sweep: true} provisions databases a dead worker left `provisioning`, or one that gave up on a
 * failure that lasted past its retries (`deferred`), and finishes erasures left `running`.
 * {erase: tenant_id}: runs a tenant's erasure (it holds the host runner the drops need).
 * {restore: restore_id}: runs a point-in-time restore queued by /dashboard restore_database. A
 * database made `ready` gets its first base backup; the sweep takes the scheduled ones and expires old ones.
 */
export const handler = invocationHandler(provision);

async function provision(event: { db_id?: unknown; sweep?: unknown; erase?: unknown; restore?: unknown }, log: RequestLog): Promise<Record<string, unknown>> {
  if (typeof event.erase === 'string') return erase(event.erase, log);
  if (typeof event.restore === 'string') return restore(event.restore, log);
  const d = await provisionRoot();
  if (event.sweep === true) {
    const outcomes = await sweepStalledProvisioning(d);
    const erasures = await sweepStalledErasures(await eraseRoot());
    const baseBackups = await sweepBaseBackups(await pitrRoot(log.keys));
    log.info('provisioning sweep finished', { outcomes, erasures, baseBackups });
    return { outcomes, erasures, baseBackups };
  }
  if (typeof event.db_id !== 'string') {
    log.error('provision event without db_id', { event });
    return { outcome: 'skipped' };
  }
  const outcome = await provisionDatabase(event.db_id, d);
  if (outcome === 'deferred') log.warn('provisioning deferred to the sweep: MySQL still unreachable after its retries', { db_id: event.db_id, outcome });
  else log.info('provisioning finished', { db_id: event.db_id, outcome });
  // Its restores start from here; failing that, the sweep takes the base backup it lacks.
  if (outcome === 'ready') await takeBaseBackup(event.db_id, 'provisioned', await pitrRoot(log.keys)).catch((error: Error) => log.warn('base backup after provisioning failed', { db_id: event.db_id, error }));
  return { outcome };
}

/** {restore: restore_id}: a failure ends the restore `failed` with its reason (the tenant polls get_restore_status). */
async function restore(restoreId: string, log: RequestLog): Promise<Record<string, unknown>> {
  const outcome = await runRestore(restoreId, await pitrRoot(log.keys));
  log.info('restore finished', { restore_id: restoreId, outcome });
  return { outcome };
}

/** {erase: tenant_id}: a tenant's erasure begun by /dashboard `delete_account`; a failure is left `running` for the sweep. */
async function erase(tenantId: string, log: RequestLog): Promise<Record<string, unknown>> {
  try {
    const outcome = await runErasure(tenantId, await eraseRoot());
    log.info('erasure finished', { tenant_id: tenantId, outcome });
    return { outcome };
  } catch (error) {
    log.error('erasure failed: the sweep takes it on', { tenant_id: tenantId, error: error as Error });
    return { outcome: 'failed' };
  }
}
