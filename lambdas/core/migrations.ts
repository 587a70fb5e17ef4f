import { createHash, randomUUID } from 'node:crypto';
import { ConflictError, NotFoundError, ProhibitedError, UnavailableError } from './errors.ts';
import {
  buildAlterPlanScript,
  buildTableBackupScript,
  buildStopDdlScript,
  buildTableSkeemaScript,
  newScriptMarkers,
  runOnHost,
  type ScriptMarkers,
} from './host-scripts.ts';
import { databaseName, scratchSchemaName, tempSchemaName } from './ids.ts';
import { hostOutputLines, sendBestEffort } from './logs.ts';
import { judgeMigrationSql } from './statement-judging.ts';
import type {
  Caller,
  AuditEntry,
  HostRecord,
  HostRunner,
  HostRunResult,
  HostSql,
  Invoker,
  JobState,
  LogRecord,
  LogSink,
  MetaStore,
  MigrationBatchRecord,
  MigrationJobRecord,
  MigrationStage,
  MigrationState,
  MigrationStore,
  Notifier,
  StorageQuotas,
  StatementJudge,
} from './ports.ts';
import { StatementTimeoutError } from './ports.ts';

export interface MigrationSettings {
  maxRetries: number;
  backoffMs: number;
  /** A `running` job whose claim is older than this belongs to a dead worker; also the lock TTL (renewed every third of it). */
  staleSeconds: number;
  /** How long a run waits for a busy database: well inside M1's own time limit, which equals staleSeconds on AWS. */
  lockWaitSeconds: number;
  scriptTimeoutSeconds: number;
  /** How long one push of tenant DDL may run before it is stopped on the server (the cascade's ALTERs are bounded by HostSql). */
  ddlTimeoutSeconds: number;
  /** Children altered at once per host (the HostSql pool size bounds it as well). */
  cascadeConcurrency: number;
  cascadeChunk: number;
  adminEmail?: string;
}

export interface MigrationDeps {
  meta: MetaStore;
  migrations: MigrationStore;
  state: MigrationState;
  invoker: Invoker;
  hostRunner: HostRunner;
  hostSql: HostSql;
  notifier: Notifier;
  logs: LogSink;
  settings: MigrationSettings;
  /** /migrate is refused to a tenant over its storage quota (an ALTER copies the table). */
  quotas?: Pick<StorageQuotas, 'assertCanWrite'>;
  sleep?: (ms: number) => Promise<void>;
}


export interface SubmitResult {
  message: string;
  batch_id: string;
  jobs: Array<{ job_id: string; table: string }>;
}

const TERMINAL: JobState[] = ['succeeded', 'failed', 'skipped'];
const wait = (deps: MigrationDeps, ms: number) => (deps.sleep ?? ((t: number) => new Promise((r) => setTimeout(r, t))))(ms);

/** The cascade batch of a parent job has an id derived from the job's: queuing it twice is a no-op. */
export function cascadeBatchId(parentJobId: string): string {
  const h = createHash('sha256').update(`cascade:${parentJobId}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/**
 * POST /migrate (M0): accepts declarative table definitions for one of the caller's databases.
 * Primary course: validate every statement (nothing is queued if one is invalid), record one job
 * per table under a batch in MetaDB and Redis, invoke M1 asynchronously for each job.
 */
export async function submitMigration(
  input: { sql: string; db_id?: string; allow_unsafe: boolean },
  caller: Caller,
  deps: MigrationDeps & { judge: StatementJudge },
): Promise<SubmitResult> {
  const definitions = await judgeMigrationSql(input.sql, caller.tenantId, deps.judge);
  const dbId = input.db_id ?? caller.dbId;
  const db = await deps.meta.getDatabase(dbId);
  if (!db || db.tenantId !== caller.tenantId) throw new ProhibitedError('You can only migrate your own databases');
  if (db.status !== 'ready') throw new ConflictError(`Database is ${db.status}, not ready`);
  await deps.quotas?.assertCanWrite(caller.tenantId, dbId);

  const batchId = randomUUID();
  const jobs = definitions.map((d) => ({ jobId: randomUUID(), dbId, hostId: db.hostId, table: d.table, desiredSql: d.sql }));
  await deps.migrations.createBatch(
    { batchId, tenantId: caller.tenantId, dbId, kind: 'tenant', parentJobId: null, allowUnsafe: input.allow_unsafe },
    jobs,
  );
  await Promise.all(jobs.map((j) => deps.state.setState(j.jobId, 'queued')));
  let started = 0;
  try {
    for (const job of jobs) {
      await deps.invoker.invokeAsync('migrate-run', { job_id: job.jobId });
      started++;
    }
  } catch {
    // Jobs already handed over run as usual; the rest fail visibly rather than wait for a sweep.
    const notStarted = jobs.slice(started);
    await deps.migrations.finishJobs(notStarted.map((j) => j.jobId), 'failed', 'could not start the migration; submit it again', 0, true);
    await deps.migrations.finishBatchIfDone(batchId);
    throw new UnavailableError('Part of the migration could not be started; submit the tables not started again', {
      batch_id: batchId,
      started: jobs.slice(0, started).map((j) => j.table),
      not_started: notStarted.map((j) => j.table),
    });
  }
  return { message: 'Migration job submitted', batch_id: batchId, jobs: jobs.map((j) => ({ job_id: j.jobId, table: j.table })) };
}

/** timeout: the DDL ran past its limit and was stopped on the server; like permanent, never retried. */
type Failure = { kind: 'transient' | 'unsafe' | 'timeout' | 'permanent'; reason: string };
type StepResult =
  | { ok: true; definition: string | null; output: string; desired?: string | null }
  | ({ ok: false; definition: string | null } & Failure);

/**
 * M1: runs one tenant job on its host with Skeema.
 * Primary course: lock the database, claim the job, back up the table's definition, `skeema push`
 * the desired definition, validate (diff clean + definition read back), mark `succeeded`, and
 * for an admin's parent database queue the same change for every child. Failures roll back.
 */
export async function runMigrationJob(jobId: string, deps: MigrationDeps): Promise<JobState> {
  const job = await deps.migrations.getJob(jobId);
  if (job && TERMINAL.includes(job.state) && job.followUp) {
    // A retry of a run that failed after the outcome (e.g. queuing the cascade): finish what follows it.
    await afterJob(job, job.state, deps);
    return job.state;
  }
  if (!job || TERMINAL.includes(job.state) || job.desiredSql === null) return job?.state ?? 'skipped';
  const lock = await waitForLock(job, deps);
  // Still queued: the async invoke's own retries (Lambda's, or the local invoker's) come back later.
  if (!lock) throw new UnavailableError(`database ${job.dbId} is busy with another migration`);
  let outcome: JobState;
  try {
    if (!(await deps.migrations.claimJob(jobId, deps.settings.staleSeconds))) return 'skipped';
    await deps.state.setState(jobId, 'running');
    const lease = holdLease(deps, [{ name: job.dbId, token: lock, jobId }]);
    try {
      outcome = await runClaimedJob(job, deps, () => lease.fence(job.dbId));
    } finally {
      await lease.stop();
    }
  } catch (error) {
    // Another worker has the database now: write nothing more. The claim, no longer renewed, goes
    // stale and the sweep runs the job again (a re-run after a push is harmless).
    if (error instanceof LockLostError) return 'running';
    throw error;
  } finally {
    await deps.state.unlock(job.dbId, lock);
  }
  await afterJob(job, outcome, deps);
  return outcome;
}

/** A worker's lock was taken over (it expired unrenewed): the worker must stop before writing. */
export class LockLostError extends Error {
  constructor(name: string) {
    super(`lost the migration lock on ${name}`);
  }
}

interface Lease {
  /** Renews the lock now and throws LockLostError unless it still holds our token (fencing). */
  fence(name: string): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Keeps locks (Redis) and their jobs' claims (MetaDB) alive while work runs: both are renewed
 * every third of their TTL, so a long job keeps its database; a lock found lost is never renewed
 * again and its job's claim goes stale (the sweep recovers it).
 */
function holdLease(deps: MigrationDeps, locks: Array<{ name: string; token: string; jobId: string }>): Lease {
  const ttl = deps.settings.staleSeconds * 1000;
  const lost = new Set<string>();
  const renew = async (some: typeof locks) => {
    const live = some.filter((l) => !lost.has(l.name));
    const held = live.length > 0 ? await deps.state.renewLocks(live, ttl) : [];
    live.forEach((l, i) => held[i] || lost.add(l.name));
    return live.filter((_, i) => held[i]);
  };
  let beat: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    // A failed heartbeat (Redis or MetaDB blip) is not a lost lock: fence() decides before a write.
    beat = beat.then(async () => deps.migrations.touchJobs((await renew(locks)).map((l) => l.jobId))).catch(() => undefined);
  }, Math.max(20, ttl / 3));
  return {
    async fence(name) {
      const lock = locks.filter((l) => l.name === name);
      const held = await renew(lock).catch(() => []);
      if (held.length === 0) throw new LockLostError(name);
    },
    async stop() {
      clearInterval(timer);
      await beat;
    },
  };
}

/**
 * Waits a while (lockWaitSeconds, at most a TTL) for the database; a queued job's claim is touched
 * meanwhile, so the sweep leaves it alone. Giving up leaves it queued for the invoke's retries.
 */
async function waitForLock(job: MigrationJobRecord, deps: MigrationDeps): Promise<string | undefined> {
  const ttl = deps.settings.staleSeconds * 1000;
  const deadline = Date.now() + Math.min(ttl, deps.settings.lockWaitSeconds * 1000);
  for (let touched = 0; ; ) {
    if (job.state === 'queued' && Date.now() - touched > ttl / 3) {
      await deps.migrations.touchJobs([job.jobId]);
      touched = Date.now();
    }
    const token = await deps.state.tryLock(job.dbId, ttl);
    if (token || Date.now() > deadline) return token;
    await wait(deps, 50 + Math.random() * 100);
  }
}

async function runClaimedJob(job: MigrationJobRecord, deps: MigrationDeps, fence: () => Promise<void>): Promise<JobState> {
  const batch = (await deps.migrations.getBatch(job.batchId))!;
  const host = await deps.meta.getHost(job.hostId);
  const log = jobLog(job, batch.tenantId, deps);
  // Every write (a push, the outcome) is preceded by a fence: a worker that lost its lock stops.
  const end = async (...args: [JobState, string | null, number, boolean]) => {
    await fence();
    return finish(job, ...args, deps, log);
  };
  if (!host) return end('failed', `unknown host ${job.hostId}`, 0, true);
  const run = scriptRunner(deps, host, log);
  const desired = job.desiredSql!;
  const audit = auditor(job.jobId, deps);

  const tries = await deps.state.attempts(job.jobId);
  if (tries > deps.settings.maxRetries) {
    // A worker died on the last try: its push may have gone through. Restore the backup (no
    // backup yet: nothing was pushed) so the failed job leaves the table as it was.
    const gaveUp = 'worker stopped and no tries left';
    if (job.beforeSql === null) return end('failed', gaveUp, tries, true);
    const restored = await rollback(job, job.beforeSql, tries, deps, run, fence);
    return end('failed', `${gaveUp}; ${restored ? 'the table was restored from its backup' : 'rollback failed, needs manual attention'}`, tries, true);
  }

  // Backup once: a re-run after a crash keeps the definition from before the first push.
  let before = job.beforeSql;
  if (before === null) {
    const attempt = tries;
    const started = new Date();
    const markers = newScriptMarkers();
    const result = await run('backup', buildTableBackupScript({ database: databaseName(job.dbId), table: job.table, jobId: job.jobId, markers }));
    const parsed = parseDefinition(result.stdout, markers);
    if (result.exitCode !== 0 || parsed === undefined) {
      const failure = classify(result);
      await audit('backup', attempt + 1, started, 'failed', failure.reason);
      if (failure.kind === 'transient' && attempt < deps.settings.maxRetries) {
        await deps.state.countAttempt(job.jobId);
        await deps.migrations.requeueJobs([job.jobId]);
        throw new UnavailableError(`backup failed, will retry: ${failure.reason}`); // the invoker retries
      }
      return end('failed', `backup failed: ${failure.reason}`, attempt + 1, failure.kind === 'transient');
    }
    before = parsed ?? '';
    await deps.migrations.updateJob(job.jobId, { beforeSql: before });
    await audit('backup', attempt + 1, started, 'ok', before === '' ? 'table does not exist yet' : before);
  }

  for (;;) {
    const attempt = await deps.state.countAttempt(job.jobId);
    await deps.migrations.updateJob(job.jobId, { attempts: attempt });
    await deps.migrations.touchJobs([job.jobId]);

    const started = new Date();
    await fence();
    const push = await skeemaStep(run, 'update', job, desired, 'push', batch.allowUnsafe, deps.settings);
    if (!push.ok) {
      await audit('update', attempt, started, 'failed', push.reason);
      if (push.kind === 'transient' && attempt <= deps.settings.maxRetries) {
        await wait(deps, deps.settings.backoffMs * 2 ** (attempt - 1));
        continue;
      }
      const restored = await rollback(job, before, attempt, deps, run, fence);
      const flagged = push.kind === 'transient' || !restored;
      const reason = push.kind === 'transient' ? `gave up after ${attempt} attempts: ${push.reason}` : push.reason;
      return end('failed', restored ? reason : `${reason}; rollback failed, needs manual attention`, attempt, flagged);
    }
    // A retry after the push went through prints no changes: keep the DDL an earlier try recorded.
    if (push.output) await deps.migrations.updateJob(job.jobId, { appliedSql: push.output });
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
      if (!diff.ok && diff.kind === 'transient' && attempt <= deps.settings.maxRetries) {
        await wait(deps, deps.settings.backoffMs * 2 ** (attempt - 1));
        continue;
      }
      const restored = await rollback(job, before, attempt, deps, run, fence);
      return end('failed', `validation failed: ${reason}`, attempt, !restored || (!diff.ok && diff.kind === 'transient'));
    }
    await fence();
    await deps.migrations.updateJob(job.jobId, { afterSql: diff.definition });
    await audit('validate', attempt, validated, 'ok', diff.definition);
    return end('succeeded', null, attempt, false);
  }
}

/** Pushes the backup and verifies it (diff clean): true when the table is as it was. */
async function rollback(
  job: MigrationJobRecord,
  before: string,
  attempt: number,
  deps: MigrationDeps,
  run: ScriptRun,
  fence: () => Promise<void>,
): Promise<boolean> {
  const started = new Date();
  await fence();
  const definition = before === '' ? null : before;
  const push = await skeemaStep(run, 'rollback', job, definition, 'push', true, deps.settings);
  const diff = push.ok ? await skeemaStep(run, 'rollback', job, definition, 'diff', false, deps.settings) : push;
  const ok = diff.ok && normalizeDefinition(diff.definition ?? '') === normalizeDefinition(before);
  await deps.migrations.addAudit([
    {
      jobId: job.jobId,
      attempt,
      stage: 'rollback',
      outcome: ok ? 'ok' : 'failed',
      detail: ok ? (push.ok && push.output ? push.output : 'table unchanged') : diff.ok ? 'definition differs from the backup' : diff.reason,
      startedAt: started,
      finishedAt: new Date(),
    },
  ]);
  return ok;
}

async function skeemaStep(
  run: ScriptRun,
  stage: MigrationStage,
  job: MigrationJobRecord,
  definition: string | null,
  mode: 'push' | 'diff',
  allowUnsafe: boolean,
  settings: MigrationSettings,
): Promise<StepResult> {
  const markers = newScriptMarkers();
  const database = databaseName(job.dbId);
  const tempSchema = tempSchemaName();
  const ddlTimeoutSeconds = ddlLimit(settings);
  const script = buildTableSkeemaScript({ database, table: job.table, definition, tempSchema, allowUnsafe, markers, ddlTimeoutSeconds }, mode);
  const result = await run(stage, script);
  const parsed = parseDefinition(result.stdout, markers);
  const output = ddlOf(result.stdout, markers);
  if (result.exitCode === 0 && parsed !== undefined) return { ok: true, definition: parsed, output, desired: parseDesired(result.stdout, markers) };
  if (mode === 'diff' && result.exitCode === 1) {
    return { ok: false, definition: parsed ?? null, kind: 'permanent', reason: `skeema diff is not clean after the push: ${output || 'differences remain'}` };
  }
  if (mode === 'push' && result.timedOut) {
    // The runner killed the script and its watchdog with it: stop what the push left on the server.
    await run(stage, buildStopDdlScript({ database, tempSchema }));
  }
  const stopped = result.stdout.split('\n').includes(markers.ddlTimeout);
  return { ok: false, definition: parsed ?? null, ...classify(result, stopped ? ddlTimeoutSeconds : undefined) };
}

/** The push's limit stays inside the host script's own, so the script's watchdog acts first. */
function ddlLimit(settings: MigrationSettings): number {
  return Math.max(1, Math.min(settings.ddlTimeoutSeconds, settings.scriptTimeoutSeconds - 30));
}

function runScript(deps: MigrationDeps, host: HostRecord, script: string): Promise<HostRunResult> {
  return runOnHost(deps.hostRunner, host, script, deps.settings.scriptTimeoutSeconds);
}

/** Runs one of a job's host scripts for a stage; its output goes to the job's log records. */
type ScriptRun = (stage: MigrationStage, script: string) => Promise<HostRunResult>;
function scriptRunner(deps: MigrationDeps, host: HostRecord, log: JobLog): ScriptRun {
  return async (stage, script) => {
    const result = await runScript(deps, host, script);
    await log.output(stage, result);
    return result;
  };
}

type JobLog = ReturnType<typeof jobLog>;
/**
 * A tenant job's log records (best effort: the outcome is in MetaDB either way), under the
 * batch's tenant, who owns the database. The host scripts print definitions, DDL and Skeema's
 * progress; the MySQL login stays in the host's ~/.my.cnf and never appears in their output.
 */
function jobLog(job: MigrationJobRecord, tenantId: string, deps: MigrationDeps) {
  const send = async (records: Array<Pick<LogRecord, 'level' | 'message'> & { stage?: MigrationStage }>) => {
    const base = { tenant_id: tenantId, db_id: job.dbId, job_id: job.jobId, source: 'migration', create_timestamp: new Date().toISOString() };
    await sendBestEffort(deps.logs, records.map((r) => ({ ...base, ...r })));
  };
  return {
    output: (stage: MigrationStage, result: HostRunResult) => send(hostOutputLines(result).map((line) => ({ stage, ...line }))),
    outcome: (state: JobState, reason: string | null) =>
      send([{ level: state === 'failed' ? 'ERROR' : 'INFO', message: `migration of ${job.table}: ${state}${reason ? ` (${reason})` : ''}` }]),
  };
}

/** MySQL error numbers worth a retry: the server was busy or a connection dropped, not the DDL wrong. */
export const TRANSIENT_ERRNOS: ReadonlySet<number> = new Set([1040, 1205, 1213, 2002, 2003, 2006, 2013]);
/** A statement stopped at a time limit: MariaDB's max_statement_time, MySQL's max_execution_time, KILL QUERY. */
const TIMEOUT_ERRNOS: ReadonlySet<number> = new Set([1317, 1969, 3024]);
/** Failures the Go driver reports without a server error number. */
const CONNECTION_FAILURE = /invalid connection|bad connection|dial tcp|i\/o timeout|connection refused|Can't connect/;
/** Skeema's log line prefix. */
const LOG_PREFIX = /^\S+ \S+ \[(ERROR|WARN|INFO)\]\s*/;

/**
 * Transient (retried), unsafe (refused, names the change), timeout or permanent. Only the server's
 * error number decides a retry, read where tenant text cannot reach: on Skeema's first [ERROR]
 * line, the first `Error NNNN` before any quote (a message quoting tenant text, even one holding
 * newlines and fake log lines, comes after it). Connection failures carry no number: they are
 * read from the same place. `ddlStoppedAfter`: the script's watchdog stopped the push.
 */
export function classify(result: Pick<HostRunResult, 'stdout' | 'stderr' | 'exitCode' | 'timedOut' | 'notRun'>, ddlStoppedAfter?: number): Failure {
  const lines = result.stderr.split('\n').map((l) => l.replace(LOG_PREFIX, '').trim()).filter(Boolean);
  if (ddlStoppedAfter !== undefined || result.timedOut) {
    const limit = ddlStoppedAfter === undefined ? 'the host script time limit' : `its time limit of ${ddlStoppedAfter}s`;
    return { kind: 'timeout', reason: `the change ran past ${limit} and was stopped on the server` };
  }
  if (result.notRun) return { kind: 'transient', reason: lines[0] ?? 'host command could not run' };
  if (/Preventing execution of unsafe/.test(result.stderr)) {
    const changes = lines.filter((l) => l.startsWith('# ')).map((l) => l.slice(2));
    return {
      kind: 'unsafe',
      reason: `unsafe change refused: ${changes.join('; ') || 'destructive statement'} (set allow_unsafe to permit it)`,
    };
  }
  const errorLine = [...lines].reverse().find((l) => /error/i.test(l) && !/^Skipped \d+ operation/.test(l)) ?? lines.at(-1) ?? `exit code ${result.exitCode}`;
  const first = result.stderr.split('\n').find((l) => /^\S+ \S+ \[ERROR\]/.test(l))?.replace(LOG_PREFIX, '') ?? '';
  // Tenant text is quoted in server messages: only what precedes the first quote is Skeema's and the server's.
  const head = first.split(/['"`]/)[0]!;
  const errno = Number(/\bError (\d{4,5})\b/.exec(head)?.[1] ?? 0);
  if (TIMEOUT_ERRNOS.has(errno)) return { kind: 'timeout', reason: `the change ran past its time limit and was stopped on the server: ${first.slice(0, 500)}` };
  const transient = errno ? TRANSIENT_ERRNOS.has(errno) : CONNECTION_FAILURE.test(head);
  return { kind: transient ? 'transient' : 'permanent', reason: errorLine.slice(0, 1000) };
}

/** The DDL Skeema printed (without its `-- instance` and USE lines), up to the script's first marker. */
export function ddlOf(stdout: string, markers?: ScriptMarkers): string {
  const lines = stdout.split('\n');
  const own = markers ? [markers.definition, markers.noTable, markers.desired, markers.ddlTimeout] : [];
  const end = lines.findIndex((l) => own.includes(l));
  return (end >= 0 ? lines.slice(0, end) : lines)
    .filter((l) => l.trim() && !l.startsWith('--') && !/^USE /.test(l))
    .join('\n')
    .trim();
}

/** The definition a table script printed: string, null (no such table), undefined (none printed). */
export function parseDefinition(stdout: string, markers: ScriptMarkers): string | null | undefined {
  const lines = stdout.split('\n');
  const at = lines.lastIndexOf(markers.definition);
  if (at >= 0) return lines.slice(at + 1).join('\n').trim();
  return lines.includes(markers.noTable) ? null : undefined;
}

/** The desired definition as `skeema format` wrote it (validate), undefined when not printed. */
export function parseDesired(stdout: string, markers: ScriptMarkers): string | undefined {
  const lines = stdout.split('\n');
  const at = lines.indexOf(markers.desired);
  if (at < 0) return undefined;
  const end = lines.findIndex((l, i) => i > at && (l === markers.definition || l === markers.noTable));
  return lines.slice(at + 1, end < 0 ? undefined : end).join('\n').trim();
}

/** SHOW CREATE TABLE without the parts that change with data (AUTO_INCREMENT=n) or a final semicolon. */
export function normalizeDefinition(definition: string): string {
  return definition.replace(/ AUTO_INCREMENT=\d+/, '').trim().replace(/;$/, '').trim();
}

/**
 * The definition read back equals the desired one, both in the server's canonical form. Only the
 * order of secondary indexes and constraints may differ: it has no effect, Skeema does not change
 * it, and MariaDB cannot (it keeps an index dropped and re-added in one ALTER where it was).
 */
export function sameDefinition(readBack: string, desired: string | null | undefined): boolean {
  return typeof desired === 'string' && comparable(readBack) === comparable(desired);
}

const INDEX_LINE = /^\s*(UNIQUE KEY|FULLTEXT KEY|SPATIAL KEY|KEY|CONSTRAINT) /;
function comparable(definition: string): string {
  const lines = normalizeDefinition(definition).split('\n').map((l) => l.replace(/,$/, ''));
  const indexes = lines.filter((l) => INDEX_LINE.test(l)).sort();
  return [...lines.filter((l) => !INDEX_LINE.test(l)), ...indexes].join('\n');
}

function auditor(jobId: string, deps: MigrationDeps) {
  return (stage: MigrationStage, attempt: number, startedAt: Date, outcome: 'ok' | 'failed', detail: string | null) =>
    deps.migrations.addAudit([{ jobId, attempt, stage, outcome, detail, startedAt, finishedAt: new Date() }]);
}

async function finish(
  job: MigrationJobRecord,
  state: JobState,
  reason: string | null,
  attempts: number,
  flagged: boolean,
  deps: MigrationDeps,
  log: JobLog,
): Promise<JobState> {
  // The follow-up (cascade, batch end) is recorded with the outcome: a worker dying before it is done leaves it for a retry or the sweep.
  await deps.migrations.updateJob(job.jobId, { state, statusReason: reason, attempts, flagged, followUp: true });
  await deps.state.setState(job.jobId, state);
  await log.outcome(state, reason);
  return state;
}

/**
 * After a tenant job: customization marks, the cascade of a parent change, the batch's end. Each
 * step can be repeated (upsert, cascade batch id derived from the job's, finish-once), so a retry
 * or the sweep runs it all again until the follow-up mark is cleared.
 */
async function afterJob(job: MigrationJobRecord, outcome: JobState, deps: MigrationDeps): Promise<void> {
  if (outcome === 'succeeded') {
    const done = (await deps.migrations.getJob(job.jobId))!;
    const db = await deps.meta.getDatabase(job.dbId);
    const changed = normalizeDefinition(done.beforeSql ?? '') !== normalizeDefinition(done.afterSql ?? '');
    // A child's own change to a table makes that table its own: parent changes stop there.
    if (changed && db && db.template !== 'default' && /^[0-9a-f]{32}$/.test(db.template)) {
      await deps.migrations.markCustomized(job.dbId, job.table, job.jobId);
    }
    const owner = db && (await deps.meta.getTenant(db.tenantId));
    if (changed && owner?.isAdmin) await queueCascade(done, deps);
  }
  await finishBatch(job.batchId, deps);
  await deps.migrations.updateJob(job.jobId, { followUp: false });
}

/**
 * Queues a parent change for every child database (one job per child, grouped per host).
 * Primary course: list the children, mark those that customized the table `skipped (customized)`
 * (the change stays pending for them), record the rest `queued`, invoke one M1 run per host.
 */
export async function queueCascade(parentJob: MigrationJobRecord, deps: MigrationDeps): Promise<string | undefined> {
  const children = await deps.migrations.listChildren(parentJob.dbId);
  if (children.length === 0) return undefined;
  const parentBatch = (await deps.migrations.getBatch(parentJob.batchId))!;
  if (!parentJob.appliedSql) await deps.migrations.updateJob(parentJob.jobId, { appliedSql: await planParentAlter(parentJob, deps) });
  const customized = await deps.migrations.customizedDatabases(children.map((c) => c.dbId), parentJob.table);
  const batchId = cascadeBatchId(parentJob.jobId);
  const jobs = children.map((c) => ({
    jobId: randomUUID(),
    dbId: c.dbId,
    hostId: c.hostId,
    table: parentJob.table,
    desiredSql: null,
    state: customized.has(c.dbId) ? ('skipped' as const) : ('queued' as const),
    statusReason: customized.has(c.dbId) ? 'customized' : null,
  }));
  try {
    await deps.migrations.createBatch(
      { batchId, tenantId: parentBatch.tenantId, dbId: parentJob.dbId, kind: 'cascade', parentJobId: parentJob.jobId, allowUnsafe: parentBatch.allowUnsafe },
      jobs,
    );
  } catch (error) {
    // Recorded by an earlier run of the parent job, which may have died before invoking the hosts:
    // invoke them again (a second run on a host shares its claims, or finds nothing left).
    if ((error as { code?: string }).code !== 'ER_DUP_ENTRY') throw error;
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
  attempts: number;
  flagged: boolean;
  audit: AuditEntry[];
}

/** Why a cascade job is still queued: its database was provisioning; the sweep resumes it once ready. */
export const WAITING_FOR_DATABASE = 'waiting for the database to be ready';

/**
 * M1 for a cascade on one host: applies the parent's ALTER to each child that still follows it.
 * Primary course: claim jobs of ready children in chunks, per child (bounded concurrency,
 * per-database lock kept by a heartbeat) verify the definition equals the parent's old one, apply
 * the ALTER, verify it equals the new one; write outcomes per chunk. Children still provisioning
 * wait (the sweep resumes them once ready); an interrupted run's jobs are claimed again when stale.
 */
export async function runCascade(batchId: string, hostId: string, deps: MigrationDeps): Promise<Partial<Record<JobState, number>>> {
  const batch = await deps.migrations.getBatch(batchId);
  const parent = batch?.parentJobId ? await deps.migrations.getJob(batch.parentJobId) : undefined;
  const host = await deps.meta.getHost(hostId);
  if (!batch || !parent || !host) throw new NotFoundError(`cascade ${batchId} or its host ${hostId} not found`);
  const plan: CascadePlan = {
    before: normalizeDefinition(parent.beforeSql ?? ''),
    after: normalizeDefinition(parent.afterSql ?? ''),
    ddl: splitDdl(parent.appliedSql ?? ''),
  };
  const ttl = deps.settings.staleSeconds * 1000;
  // This host's jobs still queued have a worker: kept fresh, the sweep leaves them alone; if the
  // worker dies (between chunks, say) they go stale and the sweep resumes the cascade.
  const keepAlive = setInterval(() => void deps.migrations.touchQueuedCascade(batchId, hostId).catch(() => undefined), Math.max(20, ttl / 3));
  try {
    await chunkByChunk(batchId, host, plan, deps);
  } finally {
    clearInterval(keepAlive);
  }
  // What is left queued belongs to children not ready: a failed one has nothing to migrate, one
  // still provisioning waits (never marked customized) and the sweep resumes it once it is ready.
  await deps.migrations.parkCascadeJobs(batchId, hostId, WAITING_FOR_DATABASE);
  await finishBatch(batchId, deps);
  return deps.migrations.countJobs(batchId);
}

type CascadePlan = { before: string; after: string; ddl: string[] };

/** Claims the cascade's jobs of ready children on a host, a chunk at a time, and applies the plan to each. */
async function chunkByChunk(batchId: string, host: HostRecord, plan: CascadePlan, deps: MigrationDeps): Promise<void> {
  const hostId = host.hostId;
  const ttl = deps.settings.staleSeconds * 1000;
  let idleRounds = 0;
  for (;;) {
    const jobs = await deps.migrations.claimCascadeJobs(batchId, hostId, deps.settings.cascadeChunk, deps.settings.staleSeconds);
    if (jobs.length === 0) break;
    const tokens = await deps.state.tryLockMany(jobs.map((j) => j.dbId), ttl);
    const locked = jobs.filter((_, i) => tokens[i]);
    const busy = jobs.filter((_, i) => !tokens[i]);
    const held = locked.map((j) => ({ name: j.dbId, token: tokens[jobs.indexOf(j)]!, jobId: j.jobId }));
    const lease = holdLease(deps, held);
    try {
      const outcomes = await mapLimit(locked, deps.settings.cascadeConcurrency, (job) => applyToChild(job, host, plan, deps, () => lease.fence(job.dbId)));
      await recordOutcomes(outcomes, deps);
    } finally {
      await lease.stop();
      await deps.state.unlockMany(held);
    }
    if (busy.length > 0) {
      // A child busy with its own migration: back in the queue, taken again after the others.
      await deps.migrations.requeueJobs(busy.map((j) => j.jobId));
      if (locked.length === 0) await wait(deps, Math.min(1000, 50 * 2 ** idleRounds++));
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

async function applyToChild(
  job: MigrationJobRecord,
  host: HostRecord,
  plan: CascadePlan,
  deps: MigrationDeps,
  fence: () => Promise<void>,
): Promise<ChildOutcome> {
  const audit: AuditEntry[] = [];
  const database = databaseName(job.dbId);
  const stage = (s: MigrationStage, attempt: number, startedAt: Date, outcome: 'ok' | 'failed', detail: string | null) =>
    audit.push({ jobId: job.jobId, attempt, stage: s, outcome, detail, startedAt, finishedAt: new Date() });
  const done = (state: JobState, reason: string | null, attempts: number, flagged = false): ChildOutcome => ({ job, state, reason, attempts, flagged, audit });

  for (let attempt = job.attempts + 1; ; attempt++) {
    let started = new Date();
    try {
      const current = await readDefinition(deps.hostSql, host, database, job.table);
      if (current === plan.after) {
        stage('verify', attempt, started, 'ok', 'already has the new definition');
        return done('succeeded', 'already up to date', attempt);
      }
      // A ready child without the table missed it (tenants cannot drop tables): it gets the parent's.
      const ddl = current === '' && plan.before !== '' ? [plan.after] : plan.ddl;
      if (current !== plan.before && current !== '') {
        stage('verify', attempt, started, 'ok', 'definition differs from the parent: customized');
        return done('skipped', 'customized', attempt);
      }
      stage('verify', attempt, started, 'ok', current === plan.before ? 'follows the parent' : 'table missing: created from the parent');
      started = new Date();
      await fence();
      await deps.hostSql.run(host, database, ddl);
      stage('update', attempt, started, 'ok', ddl.join(';\n'));
      started = new Date();
      const after = await readDefinition(deps.hostSql, host, database, job.table);
      if (after !== plan.after) {
        stage('validate', attempt, started, 'failed', 'definition differs from the parent after the change');
        return done('failed', 'definition differs from the parent after the change', attempt, true);
      }
      stage('validate', attempt, started, 'ok', null);
      return done('succeeded', null, attempt);
    } catch (error) {
      if (error instanceof LockLostError) {
        stage('update', attempt, started, 'failed', 'lock lost before the change: queued again');
        return done('queued', null, attempt - 1);
      }
      const e = error as { code?: string; errno?: number; message: string };
      if (error instanceof StatementTimeoutError) {
        // Killed on the server: InnoDB rolled the ALTER back, the child is as it was.
        stage('update', attempt, started, 'failed', e.message);
        return done('failed', e.message, attempt);
      }
      // The driver's own numbers and codes, never the message (it may quote tenant text).
      const transient = TRANSIENT_ERRNOS.has(e.errno ?? 0) || /ECONN|PROTOCOL_CONNECTION_LOST|ETIMEDOUT/.test(e.code ?? '');
      stage('update', attempt, started, 'failed', e.message);
      if (transient && attempt <= deps.settings.maxRetries) {
        await wait(deps, deps.settings.backoffMs * 2 ** (attempt - 1));
        continue;
      }
      // One DDL statement either applies or not; a table left half-way is flagged by validate.
      return done('failed', transient ? `gave up after ${attempt} attempts: ${e.message}` : e.message, attempt, transient);
    }
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
    const key = JSON.stringify([o.state, o.reason, o.attempts, o.flagged]);
    groups.set(key, [...(groups.get(key) ?? []), o]);
  }
  for (const group of groups.values()) {
    const { state, reason, attempts, flagged } = group[0]!;
    const ids = group.map((o) => o.job.jobId);
    if (state === 'queued') await deps.migrations.requeueJobs(ids);
    else await deps.migrations.finishJobs(ids, state, reason, attempts, flagged);
  }
  await deps.migrations.addAudit(outcomes.flatMap((o) => o.audit));
  await Promise.all(outcomes.map((o) => deps.state.setState(o.job.jobId, o.state)));
  for (const o of outcomes.filter((x) => x.state === 'skipped' && x.reason === 'customized')) {
    await deps.migrations.markCustomized(o.job.dbId, o.job.table, o.job.jobId);
  }
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

/** Marks a batch finished once all its jobs are, and sends its emails. */
async function finishBatch(batchId: string, deps: MigrationDeps): Promise<void> {
  if (await deps.migrations.finishBatchIfDone(batchId)) await notifyPending(batchId, deps);
}

/**
 * Sends a finished batch's emails and clears their pending mark. A mail outage must not undo a
 * finished migration: the mark stays and the sweep sends them later (for a day; a tenant email
 * already sent before the admin's failed goes out again then).
 */
async function notifyPending(batchId: string, deps: MigrationDeps): Promise<void> {
  try {
    await notifyBatch((await deps.migrations.getBatch(batchId))!, deps);
    await deps.migrations.markNotified(batchId);
  } catch {
    // Retried by the sweep; the outcome is in MetaDB and /dashboard meanwhile.
  }
}

async function notifyBatch(batch: MigrationBatchRecord, deps: MigrationDeps): Promise<void> {
  const tenant = await deps.meta.getTenant(batch.tenantId);
  const jobs = await deps.migrations.listJobs(batch.batchId);
  const counts = countStates(jobs);
  const summary = Object.entries(counts).map(([s, n]) => `${n} ${s}`).join(', ');
  const line = (j: MigrationJobRecord) => `- ${batch.kind === 'cascade' ? `db ${j.dbId} ` : ''}${j.table}: ${j.state}${j.statusReason ? ` (${j.statusReason})` : ''}`;
  const shown = batch.kind === 'cascade' ? jobs.filter((j) => j.state !== 'succeeded').slice(0, 100) : jobs;
  if (tenant) {
    await deps.notifier.send({
      to: tenant.email,
      subject: `OctoDB migration ${batch.batchId} finished: ${summary}`,
      text: [
        `Your ${batch.kind === 'cascade' ? 'cascade to child databases' : 'migration'} ${batch.batchId} on database ${batch.dbId} finished: ${summary}.`,
        '',
        ...shown.map(line),
      ].join('\n'),
    });
  }
  const flagged = jobs.filter((j) => j.flagged);
  if (flagged.length > 0 && deps.settings.adminEmail) {
    await deps.notifier.send({
      to: deps.settings.adminEmail,
      subject: `OctoDB: ${flagged.length} migration job(s) failed for good in batch ${batch.batchId}`,
      text: [`These jobs need manual attention (batch ${batch.batchId}, tenant ${batch.tenantId}):`, '', ...flagged.slice(0, 200).map((j) => `- job ${j.jobId} db ${j.dbId} ${j.table}: ${j.statusReason ?? ''}`)].join('\n'),
    });
  }
}

export function countStates(jobs: Array<{ state: JobState }>): Partial<Record<JobState, number>> {
  const counts: Partial<Record<JobState, number>> = {};
  for (const j of jobs) counts[j.state] = (counts[j.state] ?? 0) + 1;
  return counts;
}

/** A follow-up still failing this many stale periods after its job ended is flagged for manual attention. */
const FOLLOW_UP_FLAG_AFTER_STALE = 4;

/**
 * Finds jobs whose worker died (`running` with a stale claim) or that nobody runs (a tenant job
 * `queued` that long) and starts them again (one out of tries is rolled back and failed by its
 * worker); finishes what followed a job whose worker died after its outcome; resumes cascades;
 * closes batches whose jobs all ended but whose worker died before closing them; sends the emails
 * a mail outage held back.
 * Runs at the start of every M1 invocation and on a schedule.
 */
export async function recoverStaleJobs(deps: MigrationDeps): Promise<number> {
  const followUps = await deps.migrations.listPendingFollowUps(deps.settings.staleSeconds, 50);
  for (const job of followUps) {
    try {
      await afterJob(job, job.state, deps);
    } catch (error) {
      // Still failing (e.g. the invoke quota): the mark stays and the next sweep tries again. One
      // failing that long is flagged and its batch closed, so the admin is told instead of waiting.
      const longAgo = Date.now() - (job.finishedAt?.getTime() ?? Date.now()) > FOLLOW_UP_FLAG_AFTER_STALE * deps.settings.staleSeconds * 1000;
      if (longAgo && !job.flagged) {
        const reason = `what follows the job (its cascade to child databases) keeps failing: ${error instanceof Error ? error.message : String(error)}`;
        await deps.migrations.updateJob(job.jobId, { flagged: true, statusReason: reason.slice(0, 2000) });
        await finishBatch(job.batchId, deps);
      }
    }
  }
  const stale = await deps.migrations.listStaleJobs(deps.settings.staleSeconds, 200);
  for (const job of stale) {
    // Even one out of tries goes to a worker: under the database's lock it restores the backup
    // before failing the job. A queued one (its invocations gave up on a busy database) is
    // marked handed over first, so the new invocation's own sweep does not start it once more.
    if (job.state === 'queued') await deps.migrations.touchJobs([job.jobId]);
    await deps.invoker.invokeAsync('migrate-run', { job_id: job.jobId });
  }
  // Cascades on a host whose worker died (mid-chunk or between chunks), whose invocation was lost,
  // or with children that waited for their database and are ready (or failed) now. Marked handed
  // over first, so the new invocation's own sweep does not start the same host once more.
  const cascades = await deps.migrations.listCascadesToResume(WAITING_FOR_DATABASE, deps.settings.staleSeconds, 100);
  for (const c of cascades) {
    await deps.migrations.handOverCascade(c.batchId, c.hostId, deps.settings.staleSeconds);
    await deps.invoker.invokeAsync('migrate-run', { cascade_batch_id: c.batchId, host_id: c.hostId });
  }
  // A worker that died between its batch's last job and closing the batch: close it, send its emails.
  const done = await deps.migrations.listDoneUnfinishedBatches(deps.settings.staleSeconds, 100);
  for (const batchId of done) await finishBatch(batchId, deps);
  // Emails a mail outage held back (a minute's grace: the worker that finished a batch sends its own).
  const unsent = await deps.migrations.listUnnotifiedBatches(60, 50);
  for (const batchId of unsent) await notifyPending(batchId, deps);
  return stale.length + followUps.length + cascades.length + done.length + unsent.length;
}
