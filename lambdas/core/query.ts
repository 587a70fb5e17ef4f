import { LRUCache } from 'lru-cache';
import { assertScopeAllows } from './api-keys.ts';
import { ConflictError, databaseNotFound, NotFoundError, OctoError, UnavailableError } from './errors.ts';
import { databaseName, isDbId } from './ids.ts';
import type { ApiKeyScope, LogSink, MetaStore, QueryLogRecord, ResultColumn, SqlParam, StatementJudge, StatementResult, StorageQuotas, TenantLogin, TenantSqlRunner } from './ports.ts';
import type { Sealer } from './sealed.ts';
import { checkParamCount, SqlRefusedError, type StatementType } from './sql-guard.ts';
import { guardTenantStatement } from './statement-judging.ts';

/** Whose statement, on which database: what every check of a statement is about. */
export interface QueryCaller {
  tenantId: string;
  dbId: string;
  /** An API key's scope (from LF0's context); absent for the tenant's token, which may run every type. */
  scope?: ApiKeyScope;
}

export interface StatementInput {
  query: string;
  params: SqlParam[];
}

export type QueryInput = QueryCaller & StatementInput;

export interface QueryResult {
  message: string;
  rowsAffected: number;
  /** SELECT: its columns, also when no row came back; writes: []. */
  columns: ResultColumn[];
  data: Record<string, unknown>[];
  /** SELECT only: the rows were cut short, by the row limit or the byte budget. */
  truncated?: boolean;
  /** Writes only, when MySQL generated an AUTO_INCREMENT value. */
  insertId?: string;
}

export interface QueryDeps {
  tenantLogins: TenantLogins;
  tenantSql: TenantSqlRunner;
  logs: LogSink;
  quotas: Pick<StorageQuotas, 'assertCanWrite' | 'noteWrite'>;
  judge: StatementJudge;
}

/**
 * POST /query: one statement in the caller's own database, as the caller's own MySQL user.
 * Primary course: validate the statement (one SELECT/INSERT/UPDATE/DELETE inside its database),
 * resolve the tenant's login for that database, refuse an INSERT/UPDATE of a tenant over its storage
 * quota, run it with driver-bound params, have a write re-measured (debounced), log the outcome.
 */
export async function runTenantQuery(input: QueryInput, deps: QueryDeps): Promise<QueryResult> {
  const started = performance.now();
  let type: StatementType | 'OTHER' = 'OTHER';
  try {
    type = await validateStatement(input, input, deps.judge);
    const login = await deps.tenantLogins.resolve(input.tenantId, input.dbId);
    if (isGrowing(type)) await deps.quotas.assertCanWrite(input.tenantId, input.dbId, login);
    const result = await deps.tenantSql.run(login, input.query, input.params, { writes: type !== 'SELECT' });
    if (type !== 'SELECT' && result.affectedRows > 0) await deps.quotas.noteWrite(input.tenantId, input.dbId, login);
    await sendLogs(deps.logs, [queryRecord(input, type, performance.now() - started, result.affectedRows)]);
    return resultOf(type, result);
  } catch (error) {
    await sendLogs(deps.logs, [queryRecord(input, type, performance.now() - started, 0, errorClass(error))]);
    throw error;
  }
}

/**
 * Every check a statement passes before it may run, the same for a single /query and for each
 * statement of a batch (one place, so a check added here holds for both): the validator's verdict
 * (one SELECT/INSERT/UPDATE/DELETE inside the caller's database), then the params counted against
 * its placeholders. Returns the statement's type.
 */
export async function validateStatement(caller: QueryCaller, statement: StatementInput, judge: StatementJudge): Promise<StatementType> {
  const guarded = await guardTenantStatement(statement.query, databaseName(caller.dbId), caller.tenantId, judge);
  assertScopeAllows(caller.scope, guarded.type);
  checkParamCount(guarded, statement.params.length);
  return guarded.type;
}

/** Statements that may make a database larger: refused while its tenant is over its storage quota. */
export const isGrowing = (type: StatementType): boolean => type === 'INSERT' || type === 'UPDATE';

/** What /query answers for one statement that ran. */
export function resultOf(type: StatementType, result: StatementResult): QueryResult {
  const response: QueryResult = { message: 'Query executed successfully', rowsAffected: result.affectedRows, columns: result.columns, data: result.rows };
  if (type === 'SELECT') response.truncated = result.truncated;
  else if (result.insertId !== null) response.insertId = result.insertId;
  return response;
}

/**
 * Which MySQL login runs a tenant's statements on a database: only the owner's, only once the
 * database is `ready`. Ready databases and their opened passwords are kept in memory for a short
 * time, so a query costs no MetaDB round trip and no decryption.
 */
export class TenantLogins {
  private readonly cache: LRUCache<string, { tenantId: string; login: TenantLogin; until: number }>;

  constructor(
    private readonly meta: MetaStore,
    private readonly sealer: Sealer,
    private readonly ttlMs: number,
    maxEntries = 10_000,
  ) {
    this.cache = new LRUCache({ max: maxEntries });
  }

  async resolve(tenantId: string, dbId: string): Promise<TenantLogin> {
    if (!isDbId(dbId)) throw databaseNotFound();
    const hit = this.cache.get(dbId);
    if (hit && hit.until > Date.now()) {
      if (hit.tenantId !== tenantId) throw databaseNotFound();
      return hit.login;
    }
    const db = await this.meta.getDatabase(dbId);
    if (!db || db.tenantId !== tenantId) throw databaseNotFound();
    if (db.status !== 'ready') throw new ConflictError(`Database is ${db.status}`, { status: db.status });
    const host = await this.meta.getHost(db.hostId);
    if (!host || !db.mysqlPasswordSealed) throw new UnavailableError('Database host unknown, try again later');
    const login = { tenantId, host, database: databaseName(dbId), user: db.mysqlUser, password: this.sealer.open(db.mysqlPasswordSealed) };
    this.cache.set(dbId, { tenantId, login, until: Date.now() + this.ttlMs });
    return login;
  }
}

export function errorClass(error: unknown): string {
  if (error instanceof SqlRefusedError) return error.code;
  if (error instanceof NotFoundError) return 'NOT_FOUND';
  if (error instanceof ConflictError) return 'CONFLICT';
  if (error instanceof OctoError && typeof error.details?.code === 'string') return error.details.code;
  return 'INTERNAL';
}

/** One statement's log record. Never the SQL's bound values: only what ran, how long, how many rows, and how it ended. */
export function queryRecord(caller: QueryCaller, type: StatementType | 'OTHER', durationMs: number, rows: number, error?: string): QueryLogRecord {
  return {
    tenant_id: caller.tenantId,
    db_id: caller.dbId,
    source: 'query',
    level: error ? 'WARN' : 'INFO',
    message: error ? `${type} failed: ${error}` : `${type} ok`,
    create_timestamp: new Date().toISOString(),
    statement_type: type,
    duration_ms: Math.round(durationMs * 1000) / 1000,
    rows,
    outcome: error ? 'error' : 'ok',
    ...(error ? { error_class: error } : {}),
  };
}

export async function sendLogs(logs: LogSink, records: QueryLogRecord[]): Promise<void> {
  try {
    await logs.send(records);
  } catch {
    // A log outage must not fail the tenant's query.
  }
}
