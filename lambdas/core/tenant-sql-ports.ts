/** The ports of the query path: who a tenant statement runs as, and what runs it (core/ports.ts re-exports them). */

import type { OctoError } from './errors.ts';
import type { HostRecord } from './ports.ts';

/** Who a tenant statement runs as: the tenant's own MySQL user, on its database's host. */
export interface TenantLogin {
  /** Whose login: the unit of fair share on a host (one tenant may own several databases and logins). */
  tenantId: string;
  host: HostRecord;
  database: string;
  user: string;
  password: string;
}

export type SqlParam = string | number | boolean | null;

/** A result column: its name and MySQL type name as `CREATE TABLE` spells it (`INT UNSIGNED`, `VARCHAR`, `JSON`). */
export interface ResultColumn { name: string; type: string }

/** What one statement produced, already JSON-safe (BIGINT/DECIMAL strings, ISO dates, base64 binary). */
export interface StatementResult {
  /** A SELECT's columns in its order, one per distinct name (even with no rows); empty for writes. */
  columns: ResultColumn[];
  /** Rows of a SELECT (at most the row limit, their JSON at most the byte budget); empty for writes. */
  rows: Record<string, unknown>[];
  /** A SELECT had more rows than the row limit, or more than fit in the byte budget. */
  truncated: boolean;
  /** Rows changed by a write, rows returned by a SELECT. */
  affectedRows: number;
  insertId: string | null;
}

/** What a tenant's statements cost the database host, told as it happens (the tenant pays it: core/rate-limits.ts). */
export interface TenantUsage {
  /** A connection was held `ms` on the tenant's behalf: a statement, a batch, a stopped statement rolling back. */
  connectionHeld(tenantId: string, ms: number): void;
  /** The server refused a statement at planning as too big (QUERY_TOO_BIG): the plan cost it work. */
  refusedTooBig(tenantId: string): void;
}

/**
 * `writes`: the statement (or a statement of the batch) may write. A write may cost disk I/O
 * without bound until its time limit, shared by every tenant of the host, so a tenant runs few at once.
 * `upkeep`: OctoDB's own short statement on the tenant's database (its storage measurement), served
 * before the tenant's statements and not held back by the tenant's caps: a tenant keeping its
 * connections busy must not keep its usage from being measured.
 */
export interface RunOptions {
  writes: boolean;
  upkeep?: boolean;
}

export interface TenantSqlRunner {
  /**
   * Runs one already validated statement as a tenant's MySQL user, under the row, byte and time limits
   * it was built with; params are bound by the driver. Throws typed errors (core/errors.ts).
   */
  run(login: TenantLogin, sql: string, params: SqlParam[], options?: RunOptions): Promise<StatementResult>;
  /**
   * Runs already validated statements in order on ONE pooled connection of the login, stopping at
   * the first that fails; `transaction`: inside one transaction, committed only when all succeeded
   * (else rolled back, or the connection closed, never pooled mid-transaction). The statements share
   * the row limit and the byte budget; each has the statement time limit, all together the batch's.
   * Throws (typed) only when the batch could not run at all (no connection) or did not settle in time.
   */
  runBatch(login: TenantLogin, statements: BatchStatement[], options: { transaction: boolean } & Partial<RunOptions>): Promise<BatchOutcome>;
}

export interface BatchStatement {
  sql: string;
  params: SqlParam[];
}

/** One statement of a batch that ran: what it produced or why it failed, and how long it took. */
export type BatchStep = { durationMs: number } & ({ result: StatementResult } | { error: OctoError });

export interface BatchOutcome {
  /** One per statement that ran, in order; a failed one is the last. */
  steps: BatchStep[];
  /** Everything ran but the transaction could not be committed (its end, not a statement, failed). */
  commitError?: OctoError;
}
