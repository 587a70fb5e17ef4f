import { LRUCache } from 'lru-cache';
import { assertScopeAllows } from './api-keys.ts';
import { ConflictError, databaseNotFound, NotFoundError, OctoError, UnavailableError } from './errors.ts';
import { databaseName, isDbId } from './ids.ts';
import type { ApiKeyScope, LogSink, MetaStore, QueryLogRecord, ResultColumn, SqlParam, StatementJudge, StorageQuotas, TenantLogin, TenantSqlRunner } from './ports.ts';
import type { Sealer } from './sealed.ts';
import { checkParamCount, SqlRefusedError, type StatementType } from './sql-guard.ts';
import { guardTenantStatement } from './statement-judging.ts';

export interface QueryInput {
  tenantId: string;
  dbId: string;
  query: string;
  params: SqlParam[];
  /** An API key's scope (from LF0's context); absent for the tenant's token, which may run every type. */
  scope?: ApiKeyScope;
}

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
    const statement = await guardTenantStatement(input.query, databaseName(input.dbId), input.tenantId, deps.judge);
    type = statement.type;
    assertScopeAllows(input.scope, type);
    checkParamCount(statement, input.params.length);
    const login = await deps.tenantLogins.resolve(input.tenantId, input.dbId);
    if (type === 'INSERT' || type === 'UPDATE') await deps.quotas.assertCanWrite(input.tenantId, input.dbId, login);
    const result = await deps.tenantSql.run(login, input.query, input.params);
    if (type !== 'SELECT' && result.affectedRows > 0) await deps.quotas.noteWrite(input.tenantId, input.dbId, login);
    await logQuery(deps.logs, input, type, started, result.affectedRows);
    const response: QueryResult = { message: 'Query executed successfully', rowsAffected: result.affectedRows, columns: result.columns, data: result.rows };
    if (type === 'SELECT') response.truncated = result.truncated;
    else if (result.insertId !== null) response.insertId = result.insertId;
    return response;
  } catch (error) {
    await logQuery(deps.logs, input, type, started, 0, errorClass(error));
    throw error;
  }
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

function errorClass(error: unknown): string {
  if (error instanceof SqlRefusedError) return error.code;
  if (error instanceof NotFoundError) return 'NOT_FOUND';
  if (error instanceof ConflictError) return 'CONFLICT';
  if (error instanceof OctoError && typeof error.details?.code === 'string') return error.details.code;
  return 'INTERNAL';
}

/** Never the SQL's bound values: only what ran, how long, how many rows, and how it ended. */
async function logQuery(
  logs: LogSink,
  input: QueryInput,
  type: StatementType | 'OTHER',
  started: number,
  rows: number,
  error?: string,
): Promise<void> {
  const record: QueryLogRecord = {
    tenant_id: input.tenantId,
    db_id: input.dbId,
    source: 'query',
    level: error ? 'WARN' : 'INFO',
    message: error ? `${type} failed: ${error}` : `${type} ok`,
    create_timestamp: new Date().toISOString(),
    statement_type: type,
    duration_ms: Math.round((performance.now() - started) * 1000) / 1000,
    rows,
    outcome: error ? 'error' : 'ok',
    ...(error ? { error_class: error } : {}),
  };
  try {
    await logs.send([record]);
  } catch {
    // A log outage must not fail the tenant's query.
  }
}
