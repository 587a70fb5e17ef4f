import type { MigrationDeps } from './migration-deps.ts';

/** At most this many queued jobs are started after one settled job (or one cascade chunk). */
const START_LIMIT = 1000;

/**
 * Jobs of one table (a database + table) run in the order they were submitted: a job waits while
 * an earlier one of its table is unsettled. When a job (or a cascade chunk) settles, this starts
 * the queued jobs of the same tables: tenant jobs one by one, cascade jobs once per (batch, host).
 * Each re-checks the order itself, so starting one that must still wait is harmless. If this is
 * lost (the worker died), the sweep starts them once their claims are stale.
 */
export async function startQueuedJobs(table: string, dbIds: string[], deps: Pick<MigrationDeps, 'jobs' | 'invoker'>): Promise<void> {
  const queued = await deps.jobs.listQueuedJobs(table, dbIds, START_LIMIT);
  const cascades = new Map<string, { cascade_batch_id: string; host_id: string }>();
  for (const q of queued) {
    if (q.tenant) await deps.invoker.invokeAsync('migrate-run', { job_id: q.jobId });
    else cascades.set(`${q.batchId}/${q.hostId}`, { cascade_batch_id: q.batchId, host_id: q.hostId });
  }
  for (const payload of cascades.values()) await deps.invoker.invokeAsync('migrate-run', payload);
}

/** status_reason of a job that waits for an earlier job of its table (wait_reason `earlier_job`). */
export const waitingFor = (jobId: string) => `waiting for migration job ${jobId} of this table to finish first`;
/** status_reason of a cascade's jobs waiting for an earlier job of their child's table. */
export const WAITING_FOR_EARLIER = 'waiting for an earlier migration of this table to finish first';
