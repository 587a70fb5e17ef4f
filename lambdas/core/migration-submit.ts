import { randomUUID } from 'node:crypto';
import { UnavailableError } from './errors.ts';
import type { MigrationDeps } from './migration-deps.ts';
import { assertRemovalsAllowed, requestedTables, type MigrationInput } from './migration-plan.ts';
import type { Caller, StatementJudge } from './ports.ts';

export interface SubmitResult {
  message: string;
  batch_id: string;
  jobs: Array<{ job_id: string; table: string }>;
}

/**
 * POST /migrate (M0): accepts declarative table definitions for one of the caller's databases.
 * Primary course: validate every statement (nothing is queued if one is invalid), record one job
 * per table under a batch in MetaDB, invoke M1 asynchronously for each job.
 */
export async function submitMigration(
  input: MigrationInput,
  caller: Caller,
  deps: Pick<MigrationDeps, 'meta' | 'jobs' | 'batches' | 'invoker' | 'quotas'> & { judge: StatementJudge },
): Promise<SubmitResult> {
  const { db, dbId, tables } = await requestedTables(input, caller, deps);
  assertRemovalsAllowed(tables, input.allow_unsafe);
  await deps.quotas?.assertCanWrite(caller.tenantId, dbId);

  const batchId = randomUUID();
  const jobs = tables.map((t) => ({ jobId: randomUUID(), dbId, hostId: db.hostId, table: t.table, desiredSql: t.definition }));
  await deps.batches.createBatch(
    { batchId, tenantId: caller.tenantId, dbId, kind: 'tenant', parentJobId: null, allowUnsafe: input.allow_unsafe, atomic: input.atomic },
    jobs,
  );
  let started = 0;
  try {
    for (const job of jobs) {
      await deps.invoker.invokeAsync('migrate-run', { job_id: job.jobId });
      started++;
    }
  } catch (error) {
    // Jobs already handed over run as usual; the rest fail visibly rather than wait for a sweep.
    const notStarted = jobs.slice(started);
    await deps.jobs.finishJobs(notStarted.map((j) => j.jobId), { state: 'failed', reason: 'could not start the migration; submit it again', attempts: 0, flagged: true });
    await deps.batches.finishBatchIfDone(batchId);
    throw new UnavailableError(
      'Part of the migration could not be started; submit the tables not started again',
      { batch_id: batchId, started: jobs.slice(0, started).map((j) => j.table), not_started: notStarted.map((j) => j.table) },
      { cause: error },
    );
  }
  return { message: 'Migration job submitted', batch_id: batchId, jobs: jobs.map((j) => ({ job_id: j.jobId, table: j.table })) };
}
