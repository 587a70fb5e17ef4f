import { provisionDatabase, sweepStalledProvisioning } from '#core/provisioning';
import { provisionRoot } from '#adapters/roots';
import { invocationHandler, logger } from '#shared/logger';

/**
 * LF6 — asynchronous: creates the tenant database named by {db_id} on its host. A scheduled
 * {sweep: true} provisions databases a dead worker left `provisioning`, or one that gave up on a
 * failure that lasted past its retries (`deferred`).
 */
export const handler = invocationHandler(provision);

async function provision(event: { db_id?: unknown; sweep?: unknown }): Promise<Record<string, unknown>> {
  const d = await provisionRoot();
  if (event.sweep === true) {
    const outcomes = await sweepStalledProvisioning(d);
    logger.info('provisioning sweep finished', { outcomes });
    return { outcomes };
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
