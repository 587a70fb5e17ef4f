import { runErasure, sweepStalledErasures } from '#core/offboarding';
import { provisionDatabase, sweepStalledProvisioning } from '#core/provisioning';
import { eraseRoot, provisionRoot } from '#adapters/roots';
import { invocationHandler, logger } from '#shared/logger';

/**
 * LF6 — asynchronous: creates the tenant database named by {db_id} on its host. A scheduled
 * {sweep: true} provisions databases a dead worker left `provisioning`, or one that gave up on a
 * failure that lasted past its retries (`deferred`), and finishes erasures left `running`.
 * {erase: tenant_id}: runs a tenant's erasure (it holds the host runner the drops need).
 */
export const handler = invocationHandler(provision);

async function provision(event: { db_id?: unknown; sweep?: unknown; erase?: unknown }): Promise<Record<string, unknown>> {
  if (typeof event.erase === 'string') return erase(event.erase);
  const d = await provisionRoot();
  if (event.sweep === true) {
    const outcomes = await sweepStalledProvisioning(d);
    const erasures = await sweepStalledErasures(await eraseRoot());
    logger.info('provisioning sweep finished', { outcomes, erasures });
    return { outcomes, erasures };
  }
  if (typeof event.db_id !== 'string') {
    logger.error('provision event without db_id', { event });
    return { outcome: 'skipped' };
  }
  const outcome = await provisionDatabase(event.db_id, d);
  if (outcome === 'deferred') logger.warn('provisioning deferred to the sweep: MySQL still unreachable after its retries', { db_id: event.db_id, outcome });
  else logger.info('provisioning finished', { db_id: event.db_id, outcome });
  return { outcome };
}

/** {erase: tenant_id}: a tenant's erasure begun by /dashboard `delete_account`; a failure is left `running` for the sweep. */
async function erase(tenantId: string): Promise<Record<string, unknown>> {
  try {
    const outcome = await runErasure(tenantId, await eraseRoot());
    logger.info('erasure finished', { tenant_id: tenantId, outcome });
    return { outcome };
  } catch (error) {
    logger.error('erasure failed: the sweep takes it on', { tenant_id: tenantId, error: error as Error });
    return { outcome: 'failed' };
  }
}
