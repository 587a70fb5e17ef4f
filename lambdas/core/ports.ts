/**
 * The ports the core needs from the outside world. Adapters in lambdas/adapters implement them,
 * once for AWS and once for this machine; core functions receive them as arguments.
 */

export type DatabaseStatus = 'provisioning' | 'ready' | 'failed';

export interface TenantRecord {
  tenantId: string;
  name: string;
  email: string;
  passwordHash: string;
  isAdmin: boolean;
  createdAt: Date;
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
  /** Inserts a tenant and its first database together; throws ConflictError on a taken email. */
  createTenant(tenant: Omit<TenantRecord, 'createdAt'>, database: NewDatabase): Promise<void>;
  findTenantByEmail(email: string): Promise<TenantRecord | undefined>;
  getTenant(tenantId: string): Promise<TenantRecord | undefined>;
  getDatabase(dbId: string): Promise<DatabaseRecord | undefined>;
  listDatabases(tenantId: string): Promise<DatabaseRecord[]>;
  /** The least loaded active host. */
  pickHost(): Promise<HostRecord>;
  getHost(hostId: string): Promise<HostRecord | undefined>;
  /**
   * Takes the provisioning of one database for this worker: true when it was `provisioning` and
   * unclaimed (or its claim is stale), so a duplicate async delivery does nothing.
   */
  claimProvisioning(dbId: string, staleAfterSeconds: number): Promise<boolean>;
  setDatabasePassword(dbId: string, sealedPassword: string): Promise<void>;
  finishProvisioning(dbId: string, status: 'ready' | 'failed', reason: string | null): Promise<void>;
  /** failed → provisioning, for a tenant's retry; false when the database was not failed. */
  resetFailedDatabase(dbId: string): Promise<boolean>;
  saveIssuedToken(tenantId: string, token: IssuedTokenRecord): Promise<void>;
  getIssuedToken(tenantId: string): Promise<IssuedTokenRecord | undefined>;
}

export type NewDatabase = Pick<DatabaseRecord, 'dbId' | 'hostId' | 'template' | 'mysqlUser'>;

export interface HostRunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Runs a bash script on a MySQL host: SSM SendCommand on AWS, bash on this machine. */
export interface HostRunner {
  run(host: HostRecord, script: string, timeoutSeconds: number): Promise<HostRunResult>;
}

/** The asynchronously invoked functions, by role. */
export type AsyncFunction = 'provision' | 'migrate-run';

/** Fire-and-forget invocation: Lambda InvocationType=Event on AWS, an in-process queue locally. */
export interface Invoker {
  invokeAsync(fn: AsyncFunction, payload: Record<string, unknown>): Promise<void>;
}

/** Which token is current for a tenant, answered fast (Redis) so revocation is immediate. */
export interface TokenRegistry {
  currentJti(tenantId: string): Promise<string | null | undefined>; // undefined: not cached
  remember(tenantId: string, jti: string, expiresAt: Date): Promise<void>;
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
  /** e.g. PROHIBITED, PARSE, TIMEOUT, ER_NO_SUCH_TABLE */
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
}

/** Who a tenant statement runs as: the tenant's own MySQL user, on its database's host. */
export interface TenantLogin {
  host: HostRecord;
  database: string;
  user: string;
  password: string;
}

export type SqlParam = string | number | boolean | null;

/** What one statement produced, already JSON-safe (BIGINT/DECIMAL strings, ISO dates, base64 binary). */
export interface StatementResult {
  /** Rows of a SELECT (at most the row limit); empty for writes. */
  rows: Record<string, unknown>[];
  /** A SELECT had more rows than the row limit. */
  truncated: boolean;
  /** Rows changed by a write, rows returned by a SELECT. */
  affectedRows: number;
  insertId: string | null;
}

/**
 * Runs one already validated statement as a tenant's MySQL user, under the row and time limits
 * it was built with; params are bound by the driver. Throws typed errors (core/errors.ts).
 */
export interface TenantSqlRunner {
  run(login: TenantLogin, sql: string, params: SqlParam[]): Promise<StatementResult>;
}
