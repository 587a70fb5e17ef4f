import { NotFoundError, ValidationError } from './errors.ts';
import { cascadeBatchId } from './cascade.ts';
import { openPageKey, sealPageKey } from './page-keys.ts';
import type { AuditEntry, AuditLog, BatchState, BatchStore, Caller, JobState, JobStore, MetaStore, MigrationJobRecord, MigrationStage } from './ports.ts';
import type { Sealer } from './sealed.ts';

export interface MigrationStatusDeps {
  meta: MetaStore;
  migrations: Pick<JobStore, 'getJob'> & Pick<BatchStore, 'getBatch' | 'countJobs' | 'pageJobs'> & AuditLog;
  sealer: Sealer;
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
  atomic: boolean;
  state: BatchState;
  parent_job_id: string | null;
  created_at: string;
  finished_at: string | null;
  counts: Partial<Record<JobState, number>>;
  total: number;
  /** One page of the jobs (of `state`, when asked), in submission order. */
  jobs: JobStatus[];
  /** More jobs follow: ask again with last_evaluated_key. */
  jobs_truncated: boolean;
  last_evaluated_key?: string;
}

const MAX_JOBS = 200;

/**
 * /dashboard `get_migration_status`: where a batch or one job stands.
 * Primary course: load the batch (or the job and its batch), check the caller owns it, return one
 * page of its jobs (of a state, when asked) with each one's state, attempts, stages with timestamps
 * and errors, the counts per state of the whole batch (cascades too), and the sealed key of the next page.
 */
export async function getMigrationStatus(
  input: { batch_id?: string; job_id?: string; limit?: number; state?: JobState; last_evaluated_key?: string },
  caller: Caller,
  deps: MigrationStatusDeps,
): Promise<BatchStatus | JobStatus> {
  if (!!input.batch_id === !!input.job_id) throw new ValidationError('Give exactly one of batch_id or job_id');
  const notFound = new NotFoundError('No such migration');
  if (input.job_id) {
    if (input.state !== undefined || input.last_evaluated_key !== undefined) throw new ValidationError('state and last_evaluated_key page the jobs of a batch_id');
    const job = await deps.migrations.getJob(input.job_id);
    if (!job || !(await mayRead(job.batchId, job.dbId, caller, deps))) throw notFound;
    return (await describeJobs([job], deps, true))[0]!;
  }
  const batch = await deps.migrations.getBatch(input.batch_id!);
  if (!batch || !(await mayRead(batch.batchId, batch.dbId, caller, deps))) throw notFound;
  // The key names its batch: one issued for another batch's jobs is refused.
  const scope = `jobs:${batch.batchId}` as const;
  const afterSeq = input.last_evaluated_key ? openPageKey(deps.sealer, caller.tenantId, scope, input.last_evaluated_key, jobCursor) : undefined;
  // Counts from the same snapshot as the page: two reads could straddle a job's finish and disagree.
  const page = await deps.migrations.pageJobs(batch.batchId, { state: input.state, afterSeq, limit: Math.min(input.limit ?? MAX_JOBS, MAX_JOBS) });
  const counts = page.counts;
  const total = Object.values(counts).reduce((sum, n) => sum + n, 0);
  return {
    batch_id: batch.batchId,
    kind: batch.kind,
    db_id: batch.dbId,
    atomic: batch.atomic,
    state: batch.finishedAt === null ? 'running' : (batch.outcome ?? (counts.failed ? 'failed' : 'succeeded')),
    parent_job_id: batch.parentJobId,
    created_at: batch.createdAt.toISOString(),
    finished_at: batch.finishedAt?.toISOString() ?? null,
    counts,
    total,
    jobs: await describeJobs(page.jobs, deps, batch.kind === 'tenant'),
    jobs_truncated: page.nextSeq !== undefined,
    ...(page.nextSeq !== undefined && { last_evaluated_key: sealPageKey(deps.sealer, caller.tenantId, scope, { seq: page.nextSeq }) }),
  };
}

function jobCursor(c: unknown): number | undefined {
  const seq = (c as { seq?: unknown } | null)?.seq;
  return Number.isSafeInteger(seq) && (seq as number) > 0 ? (seq as number) : undefined;
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

