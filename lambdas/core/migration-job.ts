import { queueCascade } from './cascade.ts';
import { NOT_APPLIED, settleAtomicBatch } from './migration-atomic.ts';
import { UnavailableError } from './errors.ts';
import { buildTableBackupScript, newScriptMarkers } from './host-scripts.ts';
import { databaseName, isDbId } from './ids.ts';
import { TERMINAL, type MigrationDeps } from './migration-deps.ts';
import { LockLostError, holdLease, waitForLock } from './migration-lease.ts';
import { auditor, jobLog, scriptRunner, type JobLog } from './migration-log.ts';
import { finishBatch } from './migration-notify.ts';
import { startQueuedJobs, waitingFor } from './migration-order.ts';
import { ROLLBACK_NOTE, rollback } from './migration-rollback.ts';
import type { JobState, MigrationBatchRecord, MigrationJobRecord, SkipReason } from './ports.ts';
import { exponential, retry } from './retry.ts';
import { removeTable } from './table-backups.ts';
import { classify, normalizeDefinition, parseDefinition, sameDefinition, skeemaStep, type Failure, type ScriptRun } from './skeema.ts';

type Fence = () => Promise<void>;

/**
 * M1: runs one tenant job on its host with Skeema.
 * Primary course: lock the database, claim the job, back up the table's definition, `skeema push`
 * the desired definition, validate (diff clean + definition read back), mark `succeeded`, and
 * for an admin's parent database queue the same change for every child. Failures roll back.
 */
export async function runMigrationJob(jobId: string, deps: MigrationDeps): Promise<JobState> {
  const job = await deps.jobs.getJob(jobId);
  if (job && TERMINAL.includes(job.state) && job.followUp) {
    // A retry of a run that failed after the outcome (e.g. queuing the cascade): finish what follows it.
    await afterJob(job, job.state, deps);
    return job.state;
  }
  if (!job || TERMINAL.includes(job.state)) return job?.state ?? 'skipped';
  // A definition of null: a tenant's removal (drop_tables); a cascade's child job is the cascade worker's.
  if (job.desiredSql === null && (await deps.batches.getBatch(job.batchId))?.kind !== 'tenant') return job.state;
  // Jobs of one table run in submission order: the earlier one starts this one when it settles.
  const earlier = await deps.jobs.earlierUnsettledJob(jobId);
  if (earlier) {
    await deps.jobs.markWaiting(jobId, waitingFor(earlier));
    return job.state;
  }
  const lock = await waitForLock(job, deps);
  // Still queued: the async invoke's own retries (Lambda's, or the local invoker's) come back later.
  if (!lock) throw new UnavailableError(`database ${job.dbId} is busy with another migration`);
  let outcome: JobState;
  try {
    if (!(await deps.jobs.claimJob(jobId, deps.settings.staleSeconds))) return 'skipped';
    const lease = holdLease(deps, [{ name: job.dbId, token: lock, jobId }]);
    try {
      // Read again under the claim: a worker that died while this one waited may have tried (and backed up) already.
      outcome = await runClaimedJob((await deps.jobs.getJob(jobId))!, deps, () => lease.fence(job.dbId));
    } finally {
      await lease.stop();
    }
  } catch (error) {
    // Another worker has the database now: write nothing more. The claim, no longer renewed, goes
    // stale and the sweep runs the job again (a re-run after a push is harmless).
    if (error instanceof LockLostError) return 'running';
    throw error;
  } finally {
    await deps.locks.unlock(job.dbId, lock);
  }
  await afterJob(job, outcome, deps);
  return outcome;
}

async function runClaimedJob(job: MigrationJobRecord, deps: MigrationDeps, fence: Fence): Promise<JobState> {
  const batch = (await deps.batches.getBatch(job.batchId))!;
  const host = await deps.meta.getHost(job.hostId);
  const log = jobLog(job, batch.tenantId, deps);
  // Every write (a push, the outcome) is preceded by a fence: a worker that lost its lock stops.
  const end = async (...args: [JobState, string | null, number, boolean, SkipReason?]) => {
    await fence();
    return finish(job, args, deps, log);
  };
  if (!host) return end('failed', `unknown host ${job.hostId}`, 0, true);
  const run = scriptRunner(deps, host, log);

  // A later job of this table succeeded (this one's worker died, or it was recorded late): pushing
  // this older definition now, or rolling back to its backup, would undo that later work.
  const later = await deps.jobs.laterSucceededJob(job.jobId);
  if (later) return end('skipped', `superseded by migration job ${later} of this table, which succeeded: this job changes nothing`, job.attempts, false, 'superseded');

  // An atomic batch one of whose tables failed applies nothing more (no backup yet: nothing pushed).
  if (batch.atomic && job.beforeSql === null && (await deps.batches.countJobs(batch.batchId)).failed) return end('failed', NOT_APPLIED, job.attempts, false);
  // drop_tables: the table and its rows go to a restorable backup (table-backups.ts), no push.
  if (job.desiredSql === null) return end(...(await removeTable(job, batch, run, deps)));

  // Tries are counted in MetaDB before each push, so one whose worker died mid-push counts.
  const tries = job.attempts;
  if (tries > deps.settings.maxRetries) {
    // A worker died on the last try: its push may have gone through. Restore the backup (no
    // backup yet: nothing was pushed) so the failed job leaves the table as it was.
    const gaveUp = 'worker stopped and no tries left';
    if (job.beforeSql === null) return end('failed', gaveUp, tries, true);
    const rolled = await rollback(job, job.beforeSql, tries, deps, run, fence, []);
    return end('failed', `${gaveUp}; ${ROLLBACK_NOTE[rolled]}`, tries, true);
  }

  // Backup once: a re-run after a crash keeps the definition from before the first push.
  let before = job.beforeSql;
  if (before === null) {
    const audit = auditor(job.jobId, deps);
    const started = new Date();
    const markers = newScriptMarkers();
    const result = await run('backup', buildTableBackupScript({ database: databaseName(job.dbId), table: job.table, jobId: job.jobId, markers }));
    const parsed = parseDefinition(result.stdout, markers);
    if (result.exitCode !== 0 || parsed === undefined) {
      const failure = classify(result);
      await audit('backup', tries + 1, started, 'failed', failure.reason);
      if (failure.kind === 'transient' && tries < deps.settings.maxRetries) {
        await deps.jobs.countAttempt(job.jobId);
        await deps.jobs.requeueJobs([job.jobId]);
        throw new UnavailableError(`backup failed, will retry: ${failure.reason}`); // the invoker retries
      }
      return end('failed', `backup failed: ${failure.reason}`, tries + 1, failure.kind === 'transient');
    }
    before = parsed ?? '';
    await deps.jobs.updateJob(job.jobId, { beforeSql: before });
    await audit('backup', tries + 1, started, 'ok', before === '' ? 'table does not exist yet' : before);
  }

  // What this run's own pushes left: a rollback restores the backup only over these (or the desired definition).
  const pushed: string[] = [];
  const { value: step, attempt } = await retry((n) => pushAndValidate(job, batch, n, deps, run, fence, pushed), {
    nextAttempt: () => deps.jobs.countAttempt(job.jobId),
    retryIf: (s) => !s.ok && s.kind === 'transient',
    maxAttempts: deps.settings.maxRetries + 1,
    delayMs: exponential(deps.settings.backoffMs),
    sleep: deps.sleep,
  });
  if (step.ok) return end('succeeded', null, attempt, false);
  const rolled = await rollback(job, before, attempt, deps, run, fence, pushed);
  const restored = rolled === 'restored';
  const transient = step.kind === 'transient';
  if (step.stage === 'validate') return end('failed', `validation failed: ${step.reason}`, attempt, !restored || transient);
  const reason = transient ? `gave up after ${attempt} attempts: ${step.reason}` : step.reason;
  return end('failed', restored ? reason : `${reason}; ${ROLLBACK_NOTE[rolled]}`, attempt, transient || !restored);
}

type TryResult = { ok: true } | ({ ok: false; stage: 'update' | 'validate' } & Failure);

/** One try: push the desired definition, then validate it (diff clean, definition read back equal). */
async function pushAndValidate(job: MigrationJobRecord, batch: MigrationBatchRecord, attempt: number, deps: MigrationDeps, run: ScriptRun, fence: Fence, pushed: string[]): Promise<TryResult> {
  const audit = auditor(job.jobId, deps);
  const desired = job.desiredSql!;
  await deps.jobs.touchJobs([job.jobId]);
  const started = new Date();
  await fence();
  const push = await skeemaStep(run, 'update', job, desired, 'push', batch.allowUnsafe, deps.settings);
  if (!push.ok) {
    await audit('update', attempt, started, 'failed', push.reason);
    return { ok: false, stage: 'update', kind: push.kind, reason: push.reason };
  }
  if (push.definition !== null) pushed.push(push.definition);
  // A retry after the push went through prints no changes: keep the DDL an earlier try recorded.
  if (push.output) await deps.jobs.updateJob(job.jobId, { appliedSql: push.output });
  await audit('update', attempt, started, 'ok', push.output || 'no changes');

  const validated = new Date();
  const diff = await skeemaStep(run, 'validate', job, desired, 'diff', false, deps.settings);
  if (!diff.ok || diff.definition === null || !sameDefinition(diff.definition, diff.desired)) {
    // Diff clean is not enough: the definition read back must equal the desired one in the
    // server's canonical form (e.g. partitioning Skeema keeps would otherwise pass unnoticed).
    const reason = !diff.ok
      ? diff.reason
      : diff.definition === null
        ? 'table missing after push'
        : diff.desired === undefined
          ? 'the desired definition could not be read in canonical form'
          : `the definition read back differs from the desired one:\n${diff.definition}`;
    await audit('validate', attempt, validated, 'failed', reason);
    return { ok: false, stage: 'validate', kind: diff.ok ? 'permanent' : diff.kind, reason };
  }
  await fence();
  await deps.jobs.updateJob(job.jobId, { afterSql: diff.definition });
  await audit('validate', attempt, validated, 'ok', diff.definition);
  return { ok: true };
}

async function finish(job: MigrationJobRecord, outcome: [JobState, string | null, number, boolean, SkipReason?], deps: MigrationDeps, log: JobLog): Promise<JobState> {
  const [state, reason, attempts, flagged, skipReason] = outcome;
  // The follow-up (cascade, batch end) is recorded with the outcome: a worker dying before it is done leaves it for a retry or the sweep.
  await deps.jobs.updateJob(job.jobId, { state, statusReason: reason, skipReason, attempts, flagged, followUp: true });
  await log.outcome(state, reason);
  return state;
}

/**
 * After a tenant job: customization marks, the cascade of a parent change, the batch's end. Each
 * step can be repeated (upsert, cascade batch id derived from the job's, finish-once), so a retry
 * or the sweep runs it all again until the follow-up mark is cleared.
 */
export async function afterJob(job: MigrationJobRecord, outcome: JobState, deps: MigrationDeps): Promise<void> {
  const batch = await deps.batches.getBatch(job.batchId);
  if (!batch?.atomic) return followUp(job, outcome, deps);
  // An atomic batch is followed up as one, by whoever ends its last job (or the sweep).
  for (const settled of (await settleAtomicBatch(batch, deps)) ?? []) {
    if (settled.followUp) await followUp(settled, settled.state, deps);
  }
}

async function followUp(job: MigrationJobRecord, outcome: JobState, deps: MigrationDeps): Promise<void> {
  if (outcome === 'succeeded') {
    const done = (await deps.jobs.getJob(job.jobId))!;
    const db = await deps.meta.getDatabase(job.dbId);
    const changed = normalizeDefinition(done.beforeSql ?? '') !== normalizeDefinition(done.afterSql ?? '');
    // A child's own change to a table makes that table its own: parent changes stop there.
    if (changed && db && db.template !== 'default' && isDbId(db.template)) {
      await deps.cascades.markCustomized(job.dbId, job.table, job.jobId);
    }
    const owner = db && (await deps.meta.getTenant(db.tenantId));
    // A parent's removed table is not removed from its children: they keep their rows.
    if (changed && owner?.isAdmin && done.desiredSql !== null) await queueCascade(done, deps);
  }
  await finishBatch(job.batchId, deps);
  await deps.jobs.updateJob(job.jobId, { followUp: false });
  // Settled only now (a parent's cascade is queued): the next job of this table may start.
  await startQueuedJobs(job.table, [job.dbId], deps);
}
