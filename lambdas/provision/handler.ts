import { provisionDatabase } from '#core/provisioning';
import { deps } from '#adapters/wiring';
import { logger } from '#shared/logger';

/** LF6 — asynchronous: creates the tenant database named by {db_id} on its host. */
export async function handler(event: { db_id?: unknown }): Promise<{ outcome: string }> {
  if (typeof event.db_id !== 'string') {
    logger.error('provision event without db_id', { event });
    return { outcome: 'skipped' };
  }
  const d = await deps();
  const outcome = await provisionDatabase(event.db_id, {
    ...d,
    scriptTimeoutSeconds: d.config.OCTODB_HOST_SCRIPT_TIMEOUT_SECONDS,
  });
  logger.info('provisioning finished', { db_id: event.db_id, outcome });
  return { outcome };
}
