import { UnavailableError } from './errors.ts';
import { TERMINAL, type MigrationDeps } from './migration-deps.ts';
import { holdLease, waitForLock } from './migration-lease.ts';
import { jobLog, scriptRunner } from './migration-log.ts';
import { ROLLBACK_NOTE, rollback, type Rollback } from './migration-rollback.ts';
import type { MigrationBatchRecord, MigrationJobRecord } from './ports.ts';

/** status_reason of an atomic batch's job not run because another of its tables had failed. */
export const NOT_APPLIED = 'not applied: another table of this atomic batch failed';

/**
 * `"atomic": true` on /migrate: all the batch's tables succeed, or each is restored from its backup.
 * Primary course: once the batch's last job has ended, when one failed, restore every table whose
 * job succeeded (under the database's lock, the rollback machinery of a failed job) and fail that
 * job; answer the jobs, whose follow-ups (cascade, batch end, next jobs of their tables) run next.
 * Until then its jobs keep their follow-up pending, so a later job of one of its tables (another
 * batch) waits (core/migration-order.ts): a restore never undoes later work. Undefined while a job
 * still runs. Repeatable (the sweep runs it again after a crash): each job is read again under the lock.
 */
export async function settleAtomicBatch(batch: MigrationBatchRecord, deps: MigrationDeps): Promise<MigrationJobRecord[] | undefined> {
  const jobs = await deps.batches.listJobs(batch.batchId);
  if (jobs.some((j) => !TERMINAL.includes(j.state))) return undefined;
  const succeeded = jobs.filter((j) => j.state === 'succeeded');
  // The failure that undid the batch ended first: restored and not applied jobs fail after it.
  const cause = jobs.filter((j) => j.state === 'failed').sort((a, b) => (a.finishedAt?.getTime() ?? 0) - (b.finishedAt?.getTime() ?? 0))[0];
  if (!cause || succeeded.length === 0) return jobs;
  await restore(batch, succeeded, cause, deps);
  return deps.batches.listJobs(batch.batchId);
}

async function restore(batch: MigrationBatchRecord, jobs: MigrationJobRecord[], cause: MigrationJobRecord, deps: MigrationDeps): Promise<void> {
  const first = jobs[0]!; // a tenant batch's jobs are all on one database
  const lock = await waitForLock(first, deps);
  // The follow-ups stay pending: the invoke's retries, or the sweep, settle the batch later.
  if (!lock) throw new UnavailableError(`database ${first.dbId} is busy with another migration`);
  const lease = holdLease(deps, [{ name: first.dbId, token: lock, jobId: first.jobId }]);
  const fence = () => lease.fence(first.dbId);
  try {
    const host = await deps.meta.getHost(first.hostId);
    for (const listed of jobs) {
      const job = await deps.jobs.getJob(listed.jobId);
      if (job?.state !== 'succeeded') continue; // restored by another run of this settle
      const log = jobLog(job, batch.tenantId, deps);
      let rolled: Rollback = 'failed';
      if (await deps.jobs.laterSucceededJob(job.jobId)) rolled = 'not-ours'; // only when the order was broken (an upgrade)
      else if (host && job.beforeSql !== null) rolled = await rollback(job, job.beforeSql, job.attempts, deps, scriptRunner(deps, host, log), fence, []);
      const reason = `${ROLLBACK_NOTE[rolled]}: table ${cause.table} of this atomic batch failed`;
      await fence();
      await deps.jobs.updateJob(job.jobId, { state: 'failed', statusReason: reason, flagged: rolled !== 'restored' });
      await log.outcome('failed', reason);
    }
  } finally {
    await lease.stop();
    await deps.locks.unlock(first.dbId, lock);
  }
}
