import { createHash, randomUUID } from 'node:crypto';
import { DuplicateError, NotFoundError, StatementTimeoutError, TransientError, UnavailableError } from './errors.ts';
import { buildAlterPlanScript } from './host-scripts.ts';
import { databaseName, scratchSchemaName, tempSchemaName } from './ids.ts';
import type { MigrationDeps } from './migration-deps.ts';
import { LockLostError, holdLease, type HeldLock, type Lease } from './migration-lease.ts';
import { runScript } from './migration-log.ts';
import { finishBatch } from './migration-notify.ts';
import { startQueuedJobs, WAITING_FOR_EARLIER } from './migration-order.ts';
import type { AuditEntry, HostRecord, HostSql, JobState, MigrationJobRecord, MigrationStage, SkipReason } from './ports.ts';
import { exponential, realSleep, retry } from './retry.ts';
import { classify, ddlOf, normalizeDefinition } from './skeema.ts';

/** The cascade batch of a parent job has an id derived from the job's: queuing it twice is a no-op. */
export function cascadeBatchId(parentJobId: string): string {
  const h = createHash('sha256').update(`cascade:${parentJobId}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** status_reason of a cascade job still queued because its database was provisioning (wait_reason says it to machines). */
export const WAITING_FOR_DATABASE = 'waiting for the database to be ready';
/** status_reason of a job skipped because its database customized the table (skip_reason `customized`). */
const CUSTOMIZED = 'customized';
/** A child's definition is neither the parent's old one nor its new one, yet its tenant never changed the table. */
const BEHIND = "the table differs from the parent's definition before this change, though its tenant never changed it (an earlier parent change did not reach it): left as it is";
/** The longest wait before a child hit by a transient error is tried again. */
const MAX_RETRY_DELAY_MS = 30_000;

/**
 * Queues a parent change for every child database (one job per child, grouped per host).
 * Primary course: list the children, mark those that customized the table `skipped (customized)`
 * (the change stays pending for them), record the rest `queued`, invoke one M1 run per host.
 */
export async function queueCascade(parentJob: MigrationJobRecord, deps: MigrationDeps): Promise<string | undefined> {
  const children = await deps.cascades.listChildren(parentJob.dbId);
  if (children.length === 0) return undefined;
  const parentBatch = (await deps.batches.getBatch(parentJob.batchId))!;
  if (!parentJob.appliedSql) await deps.jobs.updateJob(parentJob.jobId, { appliedSql: await planParentAlter(parentJob, deps) });
  const customized = await deps.cascades.customizedDatabases(children.map((c) => c.dbId), parentJob.table);
  const batchId = cascadeBatchId(parentJob.jobId);
  const jobs = children.map((c) => ({
    jobId: randomUUID(),
    dbId: c.dbId,
    hostId: c.hostId,
    table: parentJob.table,
    desiredSql: null,
    state: customized.has(c.dbId) ? ('skipped' as const) : ('queued' as const),
    statusReason: customized.has(c.dbId) ? CUSTOMIZED : null,
    skipReason: customized.has(c.dbId) ? ('customized' as const) : null,
  }));
  try {
    await deps.batches.createBatch(
      { batchId, tenantId: parentBatch.tenantId, dbId: parentJob.dbId, kind: 'cascade', parentJobId: parentJob.jobId, allowUnsafe: parentBatch.allowUnsafe },
      jobs,
    );
  } catch (error) {
    // Recorded by an earlier run of the parent job, which may have died before invoking the hosts:
    // invoke them again (a second run on a host shares its claims, or finds nothing left).
    if (!(error instanceof DuplicateError)) throw error;
  }
  const hosts = [...new Set(jobs.filter((j) => j.state === 'queued').map((j) => j.hostId))];
  for (const hostId of hosts) await deps.invoker.invokeAsync('migrate-run', { cascade_batch_id: batchId, host_id: hostId });
  if (hosts.length === 0) await finishBatch(batchId, deps);
  return batchId;
}

/**
 * The parent's DDL when no try recorded it (its push went through, then the worker died or a
 * transient error hid the output, and the retry had nothing left to do): Skeema computes it again
 * from the definitions before and after. Throws when the host cannot: the follow-up is retried.
 */
async function planParentAlter(job: MigrationJobRecord, deps: MigrationDeps): Promise<string> {
  const before = normalizeDefinition(job.beforeSql ?? '');
  const after = normalizeDefinition(job.afterSql ?? '');
  if (before === '') return `${after};`; // a new table: the children get it created
  const host = await deps.meta.getHost(job.hostId);
  if (!host) throw new NotFoundError(`unknown host ${job.hostId}`);
  const script = buildAlterPlanScript({ scratch: scratchSchemaName(), table: job.table, from: before, to: after, tempSchema: tempSchemaName() });
  const result = await runScript(deps, host, script);
  const ddl = ddlOf(result.stdout);
  if (result.exitCode !== 0 || ddl === '') throw new UnavailableError(`could not compute the parent's change again: ${classify(result).reason}`);
  return ddl;
}

interface ChildOutcome {
  job: MigrationJobRecord;
  state: JobState;
  reason: string | null;
  skipReason: SkipReason | null;
  attempts: number;
  flagged: boolean;
  audit: AuditEntry[];
  /** Queued again after a transient error: not tried before this delay. */
  retryInMs?: number;
}

type CascadePlan = { before: string; after: string; ddl: string[] };

/**
 * M1 for a cascade on one host: applies the parent's ALTER to each child that still follows it.
 * Primary course: claim jobs of ready children in chunks, per child (bounded concurrency,
 * per-database lock kept by a heartbeat) verify the definition equals the parent's old one, apply
 * the ALTER, verify it equals the new one; write outcomes per chunk. Children still provisioning
 * wait (the sweep resumes them once ready); an interrupted run's jobs are claimed again when stale.
 */
export async function runCascade(batchId: string, hostId: string, deps: MigrationDeps): Promise<Partial<Record<JobState, number>>> {
  const batch = await deps.batches.getBatch(batchId);
  const parent = batch?.parentJobId ? await deps.jobs.getJob(batch.parentJobId) : undefined;
  const host = await deps.meta.getHost(hostId);
  if (!batch || !parent || !host) throw new NotFoundError(`cascade ${batchId} or its host ${hostId} not found`);
  const plan: CascadePlan = {
    before: normalizeDefinition(parent.beforeSql ?? ''),
    after: normalizeDefinition(parent.afterSql ?? ''),
    ddl: splitDdl(parent.appliedSql ?? ''),
  };
  // One lease for the run: it renews each chunk's child locks, and keeps this host's jobs still
  // queued fresh, so the sweep leaves them alone; if the worker dies (between chunks, say) they go
  // stale and the sweep resumes the cascade.
  const lease = holdLease(deps, [], () => deps.cascades.touchQueuedCascade(batchId, hostId));
  try {
    await chunkByChunk(batchId, host, plan, lease, deps);
  } finally {
    await lease.stop();
  }
  // What is left queued belongs to children not ready: a failed one has nothing to migrate, one
  // still provisioning waits (never marked customized) and the sweep resumes it once it is ready.
  await untilServerBack(() => deps.cascades.parkCascadeJobs(batchId, hostId, { waiting: WAITING_FOR_DATABASE, order: WAITING_FOR_EARLIER }), deps);
  await untilServerBack(() => finishBatch(batchId, deps), deps);
  return deps.batches.countJobs(batchId);
}

/** Claims the cascade's jobs of ready children on a host, a chunk at a time, and applies the plan to each. */
async function chunkByChunk(batchId: string, host: HostRecord, plan: CascadePlan, lease: Lease, deps: MigrationDeps): Promise<void> {
  const ttl = deps.settings.staleSeconds * 1000;
  const worker = randomUUID();
  const idleDelay = exponential(50, 1000);
  let idleRounds = 0;
  for (;;) {
    // Between claims none of this worker's jobs is in progress: one a lost answer left running is taken again.
    const jobs = await untilServerBack(() => deps.cascades.claimCascadeJobs(batchId, host.hostId, deps.settings.cascadeChunk, deps.settings.staleSeconds, worker), deps);
    if (jobs.length === 0) {
      // Children hit by a transient error wait for their retry time: this worker waits with them
      // (its heartbeat keeps them fresh), so a server back after a restart gets them soon.
      const retryIn = await untilServerBack(() => deps.cascades.nextCascadeRetry(batchId, host.hostId), deps);
      if (retryIn === undefined) break;
      await (deps.sleep ?? realSleep)(Math.min(Math.max(retryIn, 50), MAX_RETRY_DELAY_MS));
      continue;
    }
    const tokens = await deps.locks.tryLockMany(jobs.map((j) => j.dbId), ttl);
    const locked = jobs.filter((_, i) => tokens[i]);
    const busy = jobs.filter((_, i) => !tokens[i]);
    const held: HeldLock[] = locked.map((j) => ({ name: j.dbId, token: tokens[jobs.indexOf(j)]!, jobId: j.jobId }));
    lease.hold(held);
    try {
      // Customized means its tenant changed the table (marked by its own job), nothing else.
      const customized = await untilServerBack(() => deps.cascades.customizedDatabases(locked.map((j) => j.dbId), jobs[0]!.table), deps);
      const child = (job: MigrationJobRecord) => applyToChild(job, host, plan, customized.has(job.dbId), deps, () => lease.fence(job.dbId));
      const outcomes = await mapLimit(locked, deps.settings.cascadeConcurrency, child);
      await recordOutcomes(outcomes, deps);
    } finally {
      await lease.release(held);
      await deps.locks.unlockMany(held);
    }
    if (busy.length > 0) {
      // A child busy with its own migration: back in the queue, taken again after the others.
      await untilServerBack(() => deps.jobs.requeueJobs(busy.map((j) => j.jobId)), deps);
      if (locked.length === 0) await (deps.sleep ?? realSleep)(idleDelay(++idleRounds));
    } else idleRounds = 0;
  }
}

/** `-- comments`, USE lines dropped; one statement per entry. */
function splitDdl(ddl: string): string[] {
  return ddl
    .split(/;\s*(?:\n|$)/)
    .map((s) => s.trim())
    .filter((s) => s && !/^USE /i.test(s));
}

async function applyToChild(job: MigrationJobRecord, host: HostRecord, plan: CascadePlan, customized: boolean, deps: MigrationDeps, fence: () => Promise<void>): Promise<ChildOutcome> {
  const audit: AuditEntry[] = [];
  const database = databaseName(job.dbId);
  const attempt = job.attempts + 1;
  const stage = (s: MigrationStage, startedAt: Date, outcome: 'ok' | 'failed', detail: string | null) =>
    audit.push({ jobId: job.jobId, attempt, stage: s, outcome, detail, startedAt, finishedAt: new Date() });
  const done = (state: JobState, reason: string | null, flagged = false, skipReason: SkipReason | null = null): ChildOutcome => ({
    job,
    state,
    reason,
    skipReason,
    attempts: attempt,
    flagged,
    audit,
  });

  let started = new Date();
  try {
    const current = await readDefinition(deps.hostSql, host, database, job.table);
    if (current === plan.after) {
      stage('verify', started, 'ok', 'already has the new definition');
      return done('succeeded', 'already up to date');
    }
    // A ready child without the table missed it (tenants cannot drop tables): it gets the parent's.
    const ddl = current === '' && plan.before !== '' ? [plan.after] : plan.ddl;
    if (current !== plan.before && current !== '') {
      stage('verify', started, 'ok', customized ? 'definition differs from the parent: customized' : BEHIND);
      return customized ? done('skipped', CUSTOMIZED, false, 'customized') : done('failed', BEHIND, true);
    }
    stage('verify', started, 'ok', current === plan.before ? 'follows the parent' : 'table missing: created from the parent');
    started = new Date();
    await fence();
    await deps.hostSql.run(host, database, ddl);
    stage('update', started, 'ok', ddl.join(';\n'));
    started = new Date();
    const after = await readDefinition(deps.hostSql, host, database, job.table);
    if (after !== plan.after) {
      stage('validate', started, 'failed', 'definition differs from the parent after the change');
      return done('failed', 'definition differs from the parent after the change', true);
    }
    stage('validate', started, 'ok', null);
    return done('succeeded', null);
  } catch (error) {
    if (error instanceof LockLostError) {
      stage('update', started, 'failed', 'lock lost before the change: queued again');
      return { ...done('queued', null), attempts: job.attempts };
    }
    const message = (error as Error).message;
    stage('update', started, 'failed', message);
    // Killed on the server: InnoDB rolled the ALTER back, the child is as it was (never retried).
    if (error instanceof StatementTimeoutError) return done('failed', message);
    if (!(error instanceof TransientError)) {
      // A killed worker's ALTER of this child may have lived on on the server and ended first (this
      // one then fails, e.g. duplicate column): the child has the new definition, which is success.
      const now = await readDefinition(deps.hostSql, host, database, job.table).catch(() => undefined);
      return now === plan.after ? done('succeeded', 'applied by an earlier try') : done('failed', message);
    }
    // A server restarting, a connection lost: back to the queue with backoff until the server is
    // back, for up to transientRetrySeconds from the child's first try (one DDL statement either
    // applied or not: the next try's verify tells which).
    const since = Date.now() - (job.startedAt ?? new Date()).getTime();
    if (since > deps.settings.transientRetrySeconds * 1000) return done('failed', `gave up after ${attempt} attempts over ${Math.round(since / 1000)} s: ${message}`, true);
    const retryInMs = exponential(deps.settings.backoffMs, MAX_RETRY_DELAY_MS)(attempt);
    return { ...done('queued', `transient error, trying again (attempt ${attempt}): ${message}`), retryInMs };
  }
}

async function readDefinition(hostSql: HostSql, host: HostRecord, database: string, table: string): Promise<string> {
  const [exists] = (await hostSql.run(host, database, [
    `SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = '${table}'`,
  ])) as Array<Array<{ n: number }>>;
  if (Number(exists![0]!.n) === 0) return '';
  const [rows] = (await hostSql.run(host, database, [`SHOW CREATE TABLE \`${table}\``])) as Array<Array<Record<string, string>>>;
  return normalizeDefinition(rows![0]!['Create Table'] ?? '');
}

async function recordOutcomes(outcomes: ChildOutcome[], deps: MigrationDeps): Promise<void> {
  const groups = new Map<string, ChildOutcome[]>();
  for (const o of outcomes) {
    const key = JSON.stringify([o.state, o.reason, o.skipReason, o.attempts, o.flagged, o.retryInMs]);
    groups.set(key, [...(groups.get(key) ?? []), o]);
  }
  for (const group of groups.values()) {
    const { state, reason, skipReason, attempts, flagged, retryInMs } = group[0]!;
    const ids = group.map((o) => o.job.jobId);
    await untilServerBack(() => {
      if (state === 'queued' && retryInMs !== undefined) return deps.jobs.deferJobs(ids, { delayMs: retryInMs, attempts, reason: reason ?? '' });
      if (state === 'queued') return deps.jobs.requeueJobs(ids);
      return deps.jobs.finishJobs(ids, { state, reason, attempts, flagged, skipReason });
    }, deps);
  }
  await untilServerBack(() => deps.audit.addAudit(outcomes.flatMap((o) => o.audit)), deps);
  // Settled children: their tables' next jobs (a later parent change, their own migration) may start.
  const settled = outcomes.filter((o) => o.state !== 'queued');
  if (settled.length > 0) await untilServerBack(() => startQueuedJobs(settled[0]!.job.table, settled.map((o) => o.job.dbId), deps), deps);
}

/**
 * One of the worker's MetaDB calls, tried again with backoff while it fails with a TransientError
 * (MetaDB restarting: often the same server as the children's), for up to transientRetrySeconds.
 * A write that went through before its answer was lost is harmless done again (an audit row may
 * be written twice).
 */
async function untilServerBack<T>(call: () => Promise<T>, deps: MigrationDeps): Promise<T> {
  const { value } = await retry(
    () =>
      call().then(
        (ok) => ({ ok }),
        (error: unknown) => {
          if (error instanceof TransientError) return { error };
          throw error;
        },
      ),
    {
      retryIf: (r) => 'error' in r,
      deadline: Date.now() + deps.settings.transientRetrySeconds * 1000,
      delayMs: exponential(deps.settings.backoffMs, MAX_RETRY_DELAY_MS),
      sleep: deps.sleep,
    },
  );
  if ('error' in value) throw value.error;
  return value.ok;
}

async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  });
  await Promise.all(workers);
  return results;
}
