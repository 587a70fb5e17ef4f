/**
 * The migration engine's ports, split by job: jobs, batches, cascades (with customizations), the
 * audit trail, and the per-database locks. One MySQL adapter implements the first four.
 */

import type { DatabaseStatus } from './ports.ts';

export type JobState = 'queued' | 'running' | 'succeeded' | 'failed' | 'skipped';
export const JOB_STATES = ['queued', 'running', 'succeeded', 'failed', 'skipped'] as const satisfies readonly JobState[];
export type MigrationStage = 'backup' | 'update' | 'validate' | 'rollback' | 'verify';
/**
 * Why a job was skipped, as machine state (status_reason keeps the text for people): its database
 * customized the table, has no tables, or a later job of the same table succeeded first.
 */
export type SkipReason = 'customized' | 'no_database' | 'superseded';
/**
 * Why a queued job still waits: its database was provisioning (the sweep resumes it once ready),
 * an earlier job of the same table is unsettled (that job's end starts it), or a transient error
 * (retried at `retry_at`).
 */
export type WaitReason = 'database_not_ready' | 'earlier_job' | 'retrying';

/**
 * How a finished batch ended: every job succeeded (or changed nothing), one failed, or (an atomic
 * batch) one failed and every table is as before it, none left for manual attention.
 */
export type MigrationOutcome = 'succeeded' | 'failed' | 'rolled_back';
/** A batch as listed: `running` until each of its jobs has ended (and an atomic batch is settled). */
export type BatchState = 'running' | MigrationOutcome;
export const BATCH_STATES = ['running', 'succeeded', 'failed', 'rolled_back'] as const satisfies readonly BatchState[];

export interface MigrationBatchRecord {
  batchId: string;
  tenantId: string;
  dbId: string;
  /** `tenant`: a tenant's own request; `cascade`: a parent change fanned out to its children. */
  kind: 'tenant' | 'cascade';
  parentJobId: string | null;
  allowUnsafe: boolean;
  /** All its tables succeed, or each one is restored from its backup (core/migration-atomic.ts). */
  atomic: boolean;
  /** Set when it finishes. */
  outcome: MigrationOutcome | null;
  createdAt: Date;
  finishedAt: Date | null;
}

/** Where a page of batches ended: the last batch's creation time (as the server wrote it) and id. */
export interface BatchCursor {
  at: string;
  id: string;
}

/** One child database as list_children shows it (no name or email of its tenant). */
export interface ChildSummary {
  dbId: string;
  parentDbId: string;
  status: DatabaseStatus;
  createdAt: Date;
  customizedTables: string[];
}

/** One page of the children of `parents`, newest first, after `after` (same shape as a batch's cursor). */
export interface ChildListQuery {
  parents: string[];
  limit: number;
  after?: BatchCursor;
}

/** One batch as list_migrations shows it. */
export interface BatchSummary {
  batchId: string;
  dbId: string;
  kind: MigrationBatchRecord['kind'];
  atomic: boolean;
  state: BatchState;
  counts: Partial<Record<JobState, number>>;
  /** Its tables (a cascade: the parent job's one table), by name. */
  tables: string[];
  createdAt: Date;
  finishedAt: Date | null;
}

/**
 * A tenant's batches newest first, after `after`, filtered. At most `scan` batches are looked at:
 * a page may end short (even empty) with `next` set, so a rare filter never reads the whole history.
 */
export interface BatchListQuery {
  tenantId: string;
  dbId?: string;
  state?: BatchState;
  table?: string;
  limit: number;
  scan: number;
  after?: BatchCursor;
}

/** One page of a batch's jobs in submission order, with the whole batch's counts read at the same moment. */
export interface JobPage {
  jobs: MigrationJobRecord[];
  counts: Partial<Record<JobState, number>>;
  /** The last job's sequence number, when more jobs match. */
  nextSeq?: number;
}

export interface MigrationJobRecord {
  jobId: string;
  batchId: string;
  dbId: string;
  hostId: string;
  table: string;
  /** The desired CREATE TABLE (tenant jobs); null for cascade jobs, which use the parent job's. */
  desiredSql: string | null;
  state: JobState;
  statusReason: string | null;
  skipReason: SkipReason | null;
  waitReason: WaitReason | null;
  /** Tries started so far (counted before each push: one a dead worker made counts too). */
  attempts: number;
  flagged: boolean;
  /** Set with the job's outcome, cleared once what follows it (customization mark, cascade, batch end) is done. */
  followUp: boolean;
  /** Definition before (backup), the DDL applied, and the definition read back after. */
  beforeSql: string | null;
  appliedSql: string | null;
  afterSql: string | null;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
}

export interface AuditEntry {
  jobId: string;
  attempt: number;
  stage: MigrationStage;
  outcome: 'ok' | 'failed';
  detail: string | null;
  startedAt: Date;
  finishedAt: Date;
}

export type NewMigrationJob = Pick<MigrationJobRecord, 'jobId' | 'dbId' | 'hostId' | 'table' | 'desiredSql'> & {
  state?: JobState;
  statusReason?: string | null;
  skipReason?: SkipReason | null;
};

/** One outcome written on many jobs at once (the cascade's per-chunk write). */
export interface JobOutcome {
  state: JobState;
  reason: string | null;
  attempts: number;
  flagged?: boolean;
  skipReason?: SkipReason | null;
}

/** A parent change not applied to a child that customized the table: the definition it would have had. */
export interface PendingParentChange {
  table: string;
  parentJobId: string;
  cascadeJobId: string;
  definition: string;
  skippedAt: Date;
}

export type JobPatch = Partial<Pick<MigrationJobRecord, 'state' | 'statusReason' | 'skipReason' | 'attempts' | 'flagged' | 'followUp' | 'beforeSql' | 'appliedSql' | 'afterSql'>>;

/** A queued job of a table, to start once an earlier job of that table has settled. */
export interface QueuedJob {
  jobId: string;
  batchId: string;
  hostId: string;
  /** A tenant job (its own desired definition) rather than a cascade job. */
  tenant: boolean;
}

/** Migration jobs in MetaDB: claims, outcomes and the one attempt counter. */
export interface JobStore {
  getJob(jobId: string): Promise<MigrationJobRecord | undefined>;
  /** queued (or `running` but stale) → running, claimed by this process; false when another worker has it or it is done. */
  claimJob(jobId: string, staleAfterSeconds: number): Promise<boolean>;
  /** Counts one more try of a job, durably, before it starts; returns the count so far. */
  countAttempt(jobId: string): Promise<number>;
  /** Keeps a running job's claim fresh; on a queued job: a worker is on its way (waiting for the lock). */
  touchJobs(jobIds: string[]): Promise<void>;
  updateJob(jobId: string, patch: JobPatch): Promise<void>;
  finishJobs(jobIds: string[], outcome: JobOutcome): Promise<void>;
  /** running → queued (for the next try) without touching the claim owner's data. */
  requeueJobs(jobIds: string[]): Promise<void>;
  /**
   * running → queued after a transient error: not claimed again before `delayMs` (server clock)
   * has passed; attempts raised to `attempts`; `reason` for people (wait_reason `retrying`).
   */
  deferJobs(jobIds: string[], retry: { delayMs: number; attempts: number; reason: string }): Promise<void>;
  /**
   * Jobs of one table (database + table) are ordered by submission: the earliest job submitted
   * before this one that is unsettled (queued, running, or ended with its follow-up pending).
   */
  earlierUnsettledJob(jobId: string): Promise<string | undefined>;
  /** The newest job of the same table submitted after this one that succeeded: this one is superseded. */
  laterSucceededJob(jobId: string): Promise<string | undefined>;
  /** A queued job waits for an earlier job of its table (wait_reason `earlier_job`, `reason` for people). */
  markWaiting(jobId: string, reason: string): Promise<void>;
  /** Queued jobs of this table in these databases (at most `limit`): started when an earlier job of theirs settles. */
  listQueuedJobs(table: string, dbIds: string[], limit: number): Promise<QueuedJob[]>;
  /**
   * Tenant jobs whose worker vanished: `running` with a claim older than the limit, or still
   * `queued` that long (its invocations gave up waiting for a busy database).
   */
  listStaleJobs(staleAfterSeconds: number, limit: number): Promise<MigrationJobRecord[]>;
  /** Who holds the claims of unsettled jobs (`claimed_by`: a process, or a process's run after a `/`). */
  listClaimOwners(): Promise<string[]>;
  /** The claims of these holders (known to be gone) lapse now, as if their lease ran out; returns their jobs' databases. */
  expireClaims(claims: string[]): Promise<string[]>;
  /** Jobs ended longer ago than the limit whose follow-up never completed (their worker died after the outcome). */
  listPendingFollowUps(staleAfterSeconds: number, limit: number): Promise<MigrationJobRecord[]>;
}

/** Migration batches in MetaDB: one per request (or cascade), with its jobs and its emails. */
export interface BatchStore {
  /** Records a batch and its jobs together; throws DuplicateError (core/errors) when the batch id is taken. */
  createBatch(batch: Omit<MigrationBatchRecord, 'createdAt' | 'finishedAt' | 'atomic' | 'outcome'> & { atomic?: boolean }, jobs: NewMigrationJob[]): Promise<void>;
  getBatch(batchId: string): Promise<MigrationBatchRecord | undefined>;
  listJobs(batchId: string): Promise<MigrationJobRecord[]>;
  countJobs(batchId: string): Promise<Partial<Record<JobState, number>>>;
  /** Up to `limit` jobs (of `state`, when given) after sequence number `afterSeq`, and the batch's counts. */
  pageJobs(batchId: string, query: { state?: JobState; afterSeq?: number; limit: number }): Promise<JobPage>;
  listBatches(query: BatchListQuery): Promise<{ items: BatchSummary[]; next?: BatchCursor }>;
  /**
   * Marks the batch finished once every job is, with its outcome (`rolled_back`: atomic, a job
   * failed, none flagged) and its emails pending; true for the one caller that did.
   */
  finishBatchIfDone(batchId: string): Promise<boolean>;
  /** Finished batches whose emails are still pending, finished between `minAgeSeconds` and a day ago. */
  listUnnotifiedBatches(minAgeSeconds: number, limit: number): Promise<string[]>;
  markNotified(batchId: string): Promise<void>;
  /** Gives up the emails of batches finished more than a day ago (their retention) still unsent: clears each mark once, returns those ids. */
  dropExpiredNotifications(limit: number): Promise<string[]>;
  /** Unfinished batches whose jobs all ended (and were followed up) longer ago than the limit. */
  listDoneUnfinishedBatches(staleAfterSeconds: number, limit: number): Promise<string[]>;
}

/** A parent's children, their cascade jobs per host, and the tables they customized. */
export interface CascadeStore {
  /** Databases created from this parent (its children), with their hosts. */
  listChildren(parentDbId: string): Promise<Array<{ dbId: string; hostId: string }>>;
  /** One page of the children of several parents (an admin's databases), newest first, with their customized tables. */
  pageChildren(query: ChildListQuery): Promise<{ items: ChildSummary[]; next?: BatchCursor }>;
  /**
   * Claims up to `limit` queued (or stale) jobs of a cascade batch on one host whose database is
   * `ready`, whose retry time (after a transient error) has come, and whose table has no earlier
   * unsettled job (the child's previous parent change, or its own migration, goes first).
   * `worker` (an id per cascade run) marks the claim: a claim whose answer was lost (MetaDB
   * restarting) is taken again by the same worker's retry instead of left running until stale.
   */
  claimCascadeJobs(batchId: string, hostId: string, limit: number, staleAfterSeconds: number, worker: string): Promise<MigrationJobRecord[]>;
  /** Milliseconds until the first of a cascade's queued jobs on a host waiting for its retry time may be claimed. */
  nextCascadeRetry(batchId: string, hostId: string): Promise<number | undefined>;
  /**
   * After a cascade run on a host: its queued jobs of a database that never became ready (failed)
   * are skipped (`no_database`); those behind an earlier unsettled job of their table wait for it
   * (`earlier_job`, `orderText` for people); the rest (still provisioning) wait
   * (`database_not_ready`, with `waitingText` for people).
   */
  parkCascadeJobs(batchId: string, hostId: string, text: { waiting: string; order: string }): Promise<void>;
  /**
   * Cascades (batch, host) nobody is running: a job `running` with a stale claim, or `queued`
   * (database not provisioning) untouched that long or waiting for its database.
   */
  listCascadesToResume(staleAfterSeconds: number, limit: number): Promise<Array<{ batchId: string; hostId: string }>>;
  /** A worker is on its way to a cascade's jobs on a host: its queued and stale ones become queued, freshly touched, no longer waiting. */
  handOverCascade(batchId: string, hostId: string, staleAfterSeconds: number): Promise<void>;
  /** A cascade worker's heartbeat for the jobs of its host still queued. */
  touchQueuedCascade(batchId: string, hostId: string): Promise<void>;
  markCustomized(dbId: string, table: string, jobId: string): Promise<void>;
  customizedDatabases(dbIds: string[], table: string): Promise<Set<string>>;
  /** The tables of one database that its tenant customized, by name. */
  customizedTables(dbId: string): Promise<string[]>;
  /** Per customized table of one database, the newest parent change its cascade skipped there. */
  pendingParentChanges(dbId: string): Promise<PendingParentChange[]>;
}

/** Each job's stages, per try, with timestamps and details. */
export interface AuditLog {
  addAudit(entries: AuditEntry[]): Promise<void>;
  listAudit(jobIds: string[]): Promise<AuditEntry[]>;
}

/** All of MetaDB's migration tables: what the one MySQL adapter implements. */
export type MigrationStore = JobStore & BatchStore & CascadeStore & AuditLog;

/** Per-database locks with a token and a TTL (Redis), so one migration at a time runs on a database. */
export interface MigrationLocks {
  /** Takes a lock if free: returns its token, or undefined when another holder has it. */
  tryLock(name: string, ttlMs: number): Promise<string | undefined>;
  tryLockMany(names: string[], ttlMs: number): Promise<Array<string | undefined>>;
  /** The tokens these locks hold now (a token names the process that took it: `<owner>/<random>`). */
  holders(names: string[]): Promise<Array<{ name: string; token: string }>>;
  unlock(name: string, token: string): Promise<void>;
  unlockMany(locks: Array<{ name: string; token: string }>): Promise<void>;
  /** Extends each lock that still holds its token (heartbeat and fencing check); false where it is lost. */
  renewLocks(locks: Array<{ name: string; token: string }>, ttlMs: number): Promise<boolean[]>;
}
