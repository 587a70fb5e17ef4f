/**
 * The ports the core needs from the outside world. Adapters in lambdas/adapters implement them,
 * once for AWS and once for this machine; core functions receive them as arguments.
 */

import type { ApiKeyScope } from './api-key-ports.ts';
import type { RateLimit, TenantRateLimits, TenantRoute } from './rate-ports.ts';
import type { TenantLogin } from './tenant-sql-ports.ts';

/** `unverified`: signed up with email verification on, waiting for POST /verify (nothing on the host yet). */
export type DatabaseStatus = 'unverified' | 'provisioning' | 'ready' | 'failed';

/** Who is calling, as the authorizer put it into the request context. */
export interface Caller {
  tenantId: string;
  /** The database a request goes to when it names none. */
  dbId: string;
  isAdmin: boolean;
  /** Set when the caller holds an API key rather than the tenant's token: what the key may do. */
  key?: CallerKey;
}

/** An API key's limits, as LF0 put them into the request context. */
export interface CallerKey {
  keyId: string;
  scope: ApiKeyScope;
  /** The key works on Caller.dbId only. */
  dbBound: boolean;
}

export interface TenantRecord {
  tenantId: string;
  name: string;
  email: string;
  passwordHash: string;
  isAdmin: boolean;
  createdAt: Date;
  /** Suspended (by the operator, or as an erasure's first step): every request refused, data kept. */
  suspended: boolean;
}

export interface DatabaseRecord {
  dbId: string;
  tenantId: string;
  hostId: string;
  template: string;
  status: DatabaseStatus;
  statusReason: string | null;
  mysqlUser: string;
  mysqlPasswordSealed: string | null;
  createdAt: Date;
}

export interface HostRecord {
  hostId: string;
  instanceId: string;
  endpoint: string;
  port: number;
}

export interface IssuedTokenRecord {
  jti: string;
  tokenSealed: string;
  expiresAt: Date;
}

/** MetaDB: tenants, their databases, hosts and issued tokens. */
export interface MetaStore {
  /**
   * Inserts a tenant and its first database together; throws ConflictError on a taken email, and
   * UnavailableError NO_CAPACITY when `hostCap` databases already live (or are being made) on the host.
   */
  createTenant(tenant: Omit<TenantRecord, 'createdAt' | 'suspended'>, database: NewDatabase, options?: NewTenantOptions): Promise<void>;
  findTenantByEmail(email: string): Promise<TenantRecord | undefined>;
  getTenant(tenantId: string): Promise<TenantRecord | undefined>;
  getDatabase(dbId: string): Promise<DatabaseRecord | undefined>;
  listDatabases(tenantId: string): Promise<DatabaseRecord[]>;
  /** The least loaded active host. */
  pickHost(): Promise<HostRecord>;
  getHost(hostId: string): Promise<HostRecord | undefined>;
  /** Ends a provisioning as `failed`; with `owner`, only while it holds the claim (false when it does not). */
  failProvisioning(dbId: string, reason: string, owner?: string): Promise<boolean>;
  /** failed → provisioning, for a tenant's retry (within `hostCap`, as createTenant); false when the database was not failed. */
  resetFailedDatabase(dbId: string, hostCap?: number): Promise<boolean>;
  /** unverified → provisioning within `hostCap`, its code spent; false when it was not unverified (a race). */
  activateUnverified(dbId: string, hostCap: number): Promise<boolean>;
  /** Stores (or replaces, with attempts reset) the hash of a database's verification code. */
  saveVerificationCode(dbId: string, code: VerificationCode): Promise<void>;
  /** Counts one attempt at the code, atomically; the stored hash only while it is unexpired and has attempts left. */
  spendVerificationAttempt(dbId: string, maxAttempts: number): Promise<VerificationAttempt>;
  /**
   * Makes `token` the tenant's current one while holding a lock on the tenant's row, and runs
   * `whileLocked` (the registry update) before the lock is released: concurrent issuances reach
   * MetaDB and the registry in the same order, so the newest token in one is the newest in both.
   * If `whileLocked` throws, nothing is saved; a suspended tenant gets none (TENANT_SUSPENDED).
   */
  saveIssuedToken(tenantId: string, token: IssuedTokenRecord, whileLocked: () => Promise<void>): Promise<void>;
  getIssuedToken(tenantId: string): Promise<IssuedTokenRecord | undefined>;
  /** LF0 when the registry cannot answer: the current token and whether the tenant is suspended (gone: neither). */
  getTokenState(tenantId: string): Promise<{ issued?: IssuedTokenRecord; suspended: boolean }>;
  /** A tenant's own rate limits (its plan), by route; a route not listed follows the defaults. */
  getTenantRateLimits(tenantId: string): Promise<TenantRateLimits>;
  /** Sets one route's limit for a tenant, or clears it (null) back to the default. */
  setTenantRateLimit(tenantId: string, route: TenantRoute, limit: RateLimit | null): Promise<void>;
}

export type NewDatabase = Pick<DatabaseRecord, 'dbId' | 'hostId' | 'template' | 'mysqlUser'>;

export interface NewTenantOptions {
  /** `unverified` stores `verification` with it, in the same transaction. Default `provisioning`. */
  status?: 'provisioning' | 'unverified';
  /** Most databases the host may hold: `provisioning` and `ready` ones count (failed, unverified do not). */
  hostCap?: number;
  verification?: VerificationCode;
}

/** A signup's email code as stored: only its hash. */
export interface VerificationCode {
  codeHash: string;
  expiresAt: Date;
}

export type VerificationAttempt = { state: 'open'; codeHash: string } | { state: 'none' | 'expired' | 'exhausted' };

export interface HostRunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** The runner stopped the script at its time limit (its processes killed, what it ran on the server maybe not). */
  timedOut?: boolean;
  /** The runner could not run the script at all (SSM unreachable, bash missing). */
  notRun?: boolean;
}

/** Runs a bash script on a MySQL host: SSM SendCommand on AWS, bash on this machine. */
export interface HostRunner {
  run(host: HostRecord, script: string, timeoutSeconds: number): Promise<HostRunResult>;
  /** Releases what the runner keeps (the local runner's private ~/.my.cnf). */
  close?(): Promise<void>;
}

/** Tenant MySQL accounts on a host, managed over the admin connection (never through host scripts). */
export interface DatabaseAccounts {
  setPassword(host: HostRecord, user: string, password: string): Promise<void>;
}

/** The asynchronously invoked functions, by role. */
export type AsyncFunction = 'provision' | 'migrate-run';

/** Fire-and-forget invocation: Lambda InvocationType=Event on AWS, an in-process queue locally. */
export interface Invoker {
  invokeAsync(fn: AsyncFunction, payload: Record<string, unknown>): Promise<void>;
}

/** What the registry answers for a tenant marked by `suspend`: ask MetaDB on every use. */
export const SUSPENDED = Symbol('suspended');

/** Which token is current for a tenant, answered fast (Redis) so revocation is immediate. */
export interface TokenRegistry {
  currentJti(tenantId: string): Promise<string | typeof SUSPENDED | null | undefined>; // undefined: not cached
  /**
   * Replaces what is cached for the tenant (in every process) with the SUSPENDED mark until
   * `until`, which `fill` never overwrites: its tokens are then judged by MetaDB on each use
   * (suspended: refused; erased: unknown). `forget` removes the mark (a resume).
   */
  suspend(tenantId: string, until: Date): Promise<void>;
  remember(tenantId: string, jti: string, expiresAt: Date): Promise<void>;
  /**
   * Caches what MetaDB said after a miss, only if nothing is cached meanwhile: a late fill must
   * never overwrite the jti of a token issued in between (that would revive the revoked one).
   */
  fill(tenantId: string, jti: string, expiresAt: Date): Promise<void>;
  forget(tenantId: string): Promise<void>;
}

export interface LogRecord {
  tenant_id: string;
  source: string;
  level: 'INFO' | 'WARN' | 'ERROR';
  message: string;
  create_timestamp: string;
  job_id?: string;
  db_id?: string;
  [extra: string]: unknown;
}

/** What the query path records for each execution (never the bound parameter values). */
export interface QueryLogRecord extends LogRecord {
  source: 'query';
  db_id: string;
  statement_type: 'SELECT' | 'INSERT' | 'UPDATE' | 'DELETE' | 'OTHER';
  duration_ms: number;
  rows: number;
  outcome: 'ok' | 'error';
  /** e.g. PROHIBITED, PARSE, STATEMENT_TIMEOUT, BATCH_TIMEOUT, ER_NO_SUCH_TABLE */
  error_class?: string;
}

/** The log pipeline's entry: SQS on AWS, an in-process queue locally. */
export interface LogSink {
  send(records: LogRecord[]): Promise<void>;
}

/** A Skeema directory's .sql files, by file name. */
export type SchemaFiles = Record<string, string>;

export interface TemplateSource {
  load(name: string): Promise<SchemaFiles | undefined>;
  /** Whether load() would find it, without reading a parent's tables (signup has no login that could). */
  exists(name: string): Promise<boolean>;
}

// --- log storage (the pipeline's L1 writes, /dashboard reads) ---

/** A log record as stored: `log_id` is stable per message, so a redelivery overwrites, not adds. */
export type StoredLog = LogRecord & { log_id: string };

/** Two kinds share the tenant's partition under different sort-key prefixes. */
export type LogKind = 'log' | 'query';

/** Where a page ended, as the store knows it; /dashboard hands it out only sealed. */
export interface LogCursor {
  tenant_id: string;
  sk: string;
}

export interface LogPage {
  items: StoredLog[];
  next?: LogCursor;
}

/** What query statistics need from one query record. */
export type QuerySample = Pick<QueryLogRecord, 'statement_type' | 'duration_ms' | 'outcome'>;

/** A statistics bucket item's counters (`n#TYPE`, `e#TYPE`, `b#TYPE#bin`; see core/query-stats.ts). */
export type StatsBucket = Record<string, number>;

/** DynamoDB log_table (dynalite locally). */
export interface LogStore {
  /**
   * Stores one record (idempotent by tenant_id + log_id); concurrent puts may be batched. A query
   * record, once stored, is also added to its tenant's hour statistics bucket; the put resolves
   * after both, and fails when either failed (so the message is redelivered).
   */
  put(record: StoredLog): Promise<void>;
  /** Newest first, at most `limit`, continuing after `after`. */
  page(tenantId: string, kind: LogKind, limit: number, after?: LogCursor): Promise<LogPage>;
  /** The tenant's statistics buckets in this inclusive sort-key range, read by key range (no scan). */
  statsBuckets(tenantId: string, range: [string, string]): Promise<StatsBucket[]>;
  /** The tenant's query records in these inclusive sort-key ranges, read by key range (no scan). */
  querySamples(tenantId: string, ranges: [string, string][]): Promise<QuerySample[]>;
}

export interface TableInfo {
  name: string;
  rowsEstimate: number;
}

/** What the MySQL host says about one tenant database (sizes and row counts are estimates). */
export interface SchemaInspector {
  /** Read with the tenant's own login (its database is the login's). */
  describe(login: TenantLogin): Promise<SchemaFacts>;
}

/** Size and count are of every table; the listing stops at the query path's caps (`truncated`). */
export interface SchemaFacts {
  sizeBytes: number;
  tableCount: number;
  tables: TableInfo[];
  truncated: boolean;
}

// --- migrations (issue 5): lambdas/core/migration-ports.ts ---
export type * from './migration-ports.ts';

/** SQL on a tenant host as the admin account (the cascade's verify → ALTER → verify). */
export interface HostSql {
  /**
   * Runs the statements one after another on one connection, with `database` as the default; each
   * under the host's statement time limit. Throws StatementTimeoutError (stopped on the server at
   * the limit) and TransientError (worth a retry) from core/errors.
   */
  run(host: HostRecord, database: string, statements: string[]): Promise<unknown[]>;
  close(): Promise<void>;
}

/**
 * bcrypt, where it cannot hold up other requests: worker threads in a long-running process, the
 * request's own thread on Lambda (one request per instance). A full queue is a BusyError (503).
 */
export interface PasswordHasher {
  hash(password: string, rounds: number): Promise<string>;
  verify(password: string, hash: string): Promise<boolean>;
  close?(): Promise<void>;
}

export interface Email {
  to: string;
  subject: string;
  text: string;
}

/** Outgoing email: Mailgun, or an outbox file locally. */
export interface Notifier {
  send(email: Email): Promise<void>;
}

// --- tenant statements (/query): lambdas/core/tenant-sql-ports.ts ---
export type * from './tenant-sql-ports.ts';

// --- storage quotas (issue 10): lambdas/core/quota-ports.ts ---
export type * from './quota-ports.ts';

// --- the statement judge (issue 10): lambdas/core/judge-ports.ts ---
export type * from './judge-ports.ts';

// --- rate limits (issue 10): lambdas/core/rate-ports.ts ---
export * from './rate-ports.ts';

// --- API keys (issue 14): lambdas/core/api-key-ports.ts ---
export * from './api-key-ports.ts';
