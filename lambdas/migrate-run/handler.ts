import { runCascade } from '#core/cascade';
import { runMigrationJob } from '#core/migration-job';
import { recoverStaleJobs } from '#core/migration-sweep';
import { migrateRunRoot } from '#adapters/roots';
import { invocationHandler, type RequestLog } from '#shared/logger';

/**
 * M1 — asynchronous: {job_id} runs one tenant job; {cascade_batch_id, host_id} runs a cascade's
 * jobs on one host; {sweep: true} (a schedule) only restarts jobs whose worker died.
 */
export const handler = invocationHandler(migrateRun);

async function migrateRun(event: { job_id?: unknown; cascade_batch_id?: unknown; host_id?: unknown; sweep?: unknown }, log: RequestLog): Promise<unknown> {
  const d = await migrateRunRoot(log.keys);
  const recovered = await recoverStaleJobs(d);
  if (recovered > 0) log.warn('restarted stale migration jobs', { recovered });
  if (typeof event.job_id === 'string') {
    const outcome = await runMigrationJob(event.job_id, d);
    log.info('migration job finished', { job_id: event.job_id, outcome });
    return { outcome };
  }
  if (typeof event.cascade_batch_id === 'string' && typeof event.host_id === 'string') {
    const counts = await runCascade(event.cascade_batch_id, event.host_id, d);
    log.info('cascade finished on host', { batch_id: event.cascade_batch_id, host_id: event.host_id, counts });
    return { counts };
  }
  if (event.sweep !== true) log.error('migrate-run event without job_id or cascade_batch_id', { event });
  return { recovered };
}
