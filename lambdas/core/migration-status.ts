import { NotFoundError, ValidationError } from './errors.ts';
import { cascadeBatchId } from './cascade.ts';
import type { AuditEntry, AuditLog, BatchStore, Caller, JobState, JobStore, MetaStore, MigrationJobRecord, MigrationStage } from './ports.ts';

export interface MigrationStatusDeps {
  meta: MetaStore;
  migrations: Pick<JobStore, 'getJob'> & Pick<BatchStore, 'getBatch' | 'countJobs' | 'listJobs'> & AuditLog;
}

export interface JobStatus {
  job_id: string;
  batch_id: string;
  db_id: string;
  table: string;
  state: JobState;
  status_reason: string | null;
  attempts: number;
  flagged: boolean;
  applied_sql: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  stages: Array<{ stage: MigrationStage; attempt: number; outcome: AuditEntry['outcome']; detail: string | null; started_at: string; finished_at: string }>;
  /** For a parent job that cascaded: the children's batch and its counts per state. */
  cascade?: { batch_id: string; counts: Partial<Record<JobState, number>>; finished_at: string | null };
}

export interface BatchStatus {
  batch_id: string;
  kind: 'tenant' | 'cascade';
  db_id: string;
  parent_job_id: string | null;
  created_at: string;
  finished_at: string | null;
  counts: Partial<Record<JobState, number>>;
  total: number;
  jobs: JobStatus[];
  jobs_truncated: boolean;
}

const MAX_JOBS = 200;

/**
 * /dashboard `get_migration_status`: where a batch or one job stands.
 * Primary course: load the batch (or the job and its batch), check the caller owns it, return each
 * job's state, attempts, stages with timestamps and errors, and the counts per state (cascades too).
 */
export async function getMigrationStatus(
  input: { batch_id?: string; job_id?: string; limit?: number },
  caller: Caller,
  deps: MigrationStatusDeps,
): Promise<BatchStatus | JobStatus> {
  if (!!input.batch_id === !!input.job_id) throw new ValidationError('Give exactly one of batch_id or job_id');
  const notFound = new NotFoundError('No such migration');
  if (input.job_id) {
    const job = await deps.migrations.getJob(input.job_id);
    if (!job || !(await mayRead(job.batchId, job.dbId, caller, deps))) throw notFound;
    return (await describeJobs([job], deps, true))[0]!;
  }
  const batch = await deps.migrations.getBatch(input.batch_id!);
  if (!batch || !(await mayRead(batch.batchId, batch.dbId, caller, deps))) throw notFound;
  // Counts from the same read as the jobs listed: two reads could straddle a job's finish and disagree.
  const all = await deps.migrations.listJobs(batch.batchId);
  const counts: Partial<Record<JobState, number>> = {};
  for (const job of all) counts[job.state] = (counts[job.state] ?? 0) + 1;
  const total = all.length;
  const jobs = all.slice(0, Math.min(input.limit ?? MAX_JOBS, MAX_JOBS));
  return {
    batch_id: batch.batchId,
    kind: batch.kind,
    db_id: batch.dbId,
    parent_job_id: batch.parentJobId,
    created_at: batch.createdAt.toISOString(),
    finished_at: batch.finishedAt?.toISOString() ?? null,
    counts,
    total,
    jobs: await describeJobs(jobs, deps, batch.kind === 'tenant'),
    jobs_truncated: total > jobs.length,
  };
}

/** The batch's owner, or the owner of the database a job runs on (a child sees its cascade job). */
async function mayRead(batchId: string, dbId: string, caller: Caller, deps: MigrationStatusDeps): Promise<boolean> {
  if (caller.key?.dbBound && dbId !== caller.dbId) return false; // a key bound to one database sees only its migrations
  const batch = await deps.migrations.getBatch(batchId);
  if (batch?.tenantId === caller.tenantId) return true;
  return (await deps.meta.getDatabase(dbId))?.tenantId === caller.tenantId;
}

async function describeJobs(jobs: MigrationJobRecord[], deps: MigrationStatusDeps, withCascade: boolean): Promise<JobStatus[]> {
  const audit = await deps.migrations.listAudit(jobs.map((j) => j.jobId));
  const out: JobStatus[] = [];
  for (const job of jobs) {
    const status: JobStatus = {
      job_id: job.jobId,
      batch_id: job.batchId,
      db_id: job.dbId,
      table: job.table,
      state: job.state,
      status_reason: job.statusReason,
      attempts: job.attempts,
      flagged: job.flagged,
      applied_sql: job.appliedSql,
      created_at: job.createdAt.toISOString(),
      started_at: job.startedAt?.toISOString() ?? null,
      finished_at: job.finishedAt?.toISOString() ?? null,
      stages: audit
        .filter((a) => a.jobId === job.jobId)
        .map((a) => ({
          stage: a.stage,
          attempt: a.attempt,
          outcome: a.outcome,
          detail: a.detail,
          started_at: a.startedAt.toISOString(),
          finished_at: a.finishedAt.toISOString(),
        })),
    };
    if (withCascade) {
      const cascade = await deps.migrations.getBatch(cascadeBatchId(job.jobId));
      if (cascade) {
        status.cascade = {
          batch_id: cascade.batchId,
          counts: await deps.migrations.countJobs(cascade.batchId),
          finished_at: cascade.finishedAt?.toISOString() ?? null,
        };
      }
    }
    out.push(status);
  }
  return out;
}

