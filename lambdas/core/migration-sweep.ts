import { ALARM, logger } from '#shared/logger';
import type { MigrationDeps } from './migration-deps.ts';
import { afterJob } from './migration-job.ts';
import { finishBatch, notifyPending } from './migration-notify.ts';
import { expireTableBackups } from './table-backups.ts';

/** A follow-up still failing this many stale periods after its job ended is flagged for manual attention. */
const FOLLOW_UP_FLAG_AFTER_STALE = 4;

/**
 * Finds jobs whose worker died (`running` with a lapsed claim, or one of a process known to be gone) or that nobody runs (a tenant job
 * `queued` that long) and starts them again (one out of tries is rolled back and failed by its
 * worker); finishes what followed a job whose worker died after its outcome; resumes cascades;
 * closes batches whose jobs all ended but whose worker died before closing them; sends the emails
 * a mail outage held back.
 * Runs at the start of every M1 invocation and on a schedule.
 */
export async function recoverStaleJobs(deps: MigrationDeps): Promise<number> {
  // A killed local OctoDB's claims lapse at once, and the database locks it held are freed (their
  // tokens name it): a restart takes its work over now; other claims and locks wait for their lease.
  const gone = (await deps.jobs.listClaimOwners()).filter((claim) => deps.owners.isGone(claim));
  if (gone.length > 0) {
    const held = await deps.locks.holders(await deps.jobs.expireClaims(gone));
    await deps.locks.unlockMany(held.filter((lock) => deps.owners.isGone(lock.token)));
  }
  const followUps = await deps.jobs.listPendingFollowUps(deps.settings.staleSeconds, 50);
  for (const job of followUps) {
    try {
      await afterJob(job, job.state, deps);
    } catch (error) {
      // Still failing (e.g. the invoke quota): the mark stays and the next sweep tries again. One
      // failing that long is flagged and its batch closed, so the admin is told instead of waiting.
      const longAgo = Date.now() - (job.finishedAt?.getTime() ?? Date.now()) > FOLLOW_UP_FLAG_AFTER_STALE * deps.settings.staleSeconds * 1000;
      if (longAgo && !job.flagged) {
        const reason = `what follows the job (its cascade to child databases) keeps failing: ${error instanceof Error ? error.message : String(error)}`;
        await deps.jobs.updateJob(job.jobId, { flagged: true, statusReason: reason.slice(0, 2000) });
        await finishBatch(job.batchId, deps);
      }
    }
  }
  const stale = await deps.jobs.listStaleJobs(deps.settings.staleSeconds, 200);
  for (const job of stale) {
    // Even one out of tries goes to a worker: under the database's lock it restores the backup
    // before failing the job. A queued one (its invocations gave up on a busy database) is
    // marked handed over first, so the new invocation's own sweep does not start it once more.
    if (job.state === 'queued') await deps.jobs.touchJobs([job.jobId]);
    await deps.invoker.invokeAsync('migrate-run', { job_id: job.jobId });
  }
  // Cascades on a host whose worker died (mid-chunk or between chunks), whose invocation was lost,
  // or with children that waited for their database and are ready (or failed) now. Marked handed
  // over first, so the new invocation's own sweep does not start the same host once more.
  const cascades = await deps.cascades.listCascadesToResume(deps.settings.staleSeconds, 100);
  for (const c of cascades) {
    await deps.cascades.handOverCascade(c.batchId, c.hostId, deps.settings.staleSeconds);
    await deps.invoker.invokeAsync('migrate-run', { cascade_batch_id: c.batchId, host_id: c.hostId });
  }
  // A worker that died between its batch's last job and closing the batch: close it, send its emails.
  const done = await deps.batches.listDoneUnfinishedBatches(deps.settings.staleSeconds, 100);
  for (const batchId of done) await finishBatch(batchId, deps);
  // Emails a mail outage held back (a minute's grace: the worker that finished a batch sends its own).
  const unsent = await deps.batches.listUnnotifiedBatches(60, 50);
  for (const batchId of unsent) await notifyPending(batchId, deps);
  // Emails still unsent a day on are given up: said once, for an operator, never dropped silently.
  const dropped = await deps.batches.dropExpiredNotifications(50);
  if (dropped.length > 0) logger.error('migration emails given up: still unsent a day after their batch finished', { alarm: ALARM.emailDropped, batch_ids: dropped });
  // Removed tables' backups past OCTODB_TABLE_BACKUP_HOURS are dropped on their host.
  const expired = await expireTableBackups(deps);
  return stale.length + followUps.length + cascades.length + done.length + unsent.length + expired;
}
