import type { MysqlDriverError } from './mysql-errors.ts';
import { OctoError, ProhibitedError, QueryTimeoutError, UnavailableError, ValidationError } from '#core/errors';

/** What MySQL's answer to a tenant statement means for the tenant: the typed errors /query answers with. */

// MariaDB 1969 ER_STATEMENT_TIMEOUT, MySQL 3024 ER_QUERY_TIMEOUT, 1317 ER_QUERY_INTERRUPTED (KILL QUERY).
const TIMEOUT_ERRNOS = new Set([1969, 3024, 1317]);
// Grants said no: the database, FILE, table, column, routine, or a privilege the tenant user lacks.
const DENIED_ERRNOS = new Set([1044, 1045, 1142, 1143, 1227, 1370]);
// Lock wait timeout, deadlock, too many connections: the same request may succeed later.
const RETRYABLE_ERRNOS = new Set([1205, 1213, 1040, 1203]);
// ER_TOO_BIG_SELECT: the optimizer's estimate of rows examined passed the session's max_join_size.
const TOO_BIG_ERRNO = 1104;

/** The limits a tenant statement ran under, named in the answers that they ended. */
export interface StatementBounds {
  timeoutMs: number;
  maxJoinRows: number;
  /** Told when the server refused a statement as too big (its tenant pays for the plan). */
  onTooBig?: () => void;
}

/** The server refused a statement and the connection stays sound (anything else may have broken it). */
export const isSqlError = (error: unknown): boolean => {
  const e = error as MysqlDriverError;
  return !e.fatal && typeof e.errno === 'number' && typeof e.sqlMessage === 'string';
};

export function mapError(error: unknown, { timeoutMs, maxJoinRows, onTooBig }: StatementBounds): OctoError {
  if (error instanceof OctoError) return error;
  const e = error as MysqlDriverError;
  if (!isSqlError(error) || typeof e.errno !== 'number') return unavailable(error);
  const code = e.code ?? `ERR_${e.errno}`;
  const cause = { cause: error };
  if (TIMEOUT_ERRNOS.has(e.errno)) return new QueryTimeoutError(timeoutMs, 'STATEMENT_TIMEOUT', cause);
  if (e.errno === TOO_BIG_ERRNO) {
    onTooBig?.();
    // The server's own text tells the tenant to SET what it may not; say what to change instead.
    const message = `Query refused before it ran: MySQL estimates it would examine more than ${maxJoinRows} rows or row combinations; narrow it with a WHERE on an indexed column or join on indexed columns`;
    return new ValidationError(message, { code: 'QUERY_TOO_BIG', limit_rows: maxJoinRows }, cause);
  }
  if (DENIED_ERRNOS.has(e.errno)) return new ProhibitedError(`Prohibited operation detected: ${e.sqlMessage}`, { code }, cause);
  if (RETRYABLE_ERRNOS.has(e.errno)) return new UnavailableError(`Database busy, try again: ${e.sqlMessage}`, { code }, cause);
  return new ValidationError(`Query failed: ${e.sqlMessage}`, { code }, cause);
}

/** Logged where it ends: as the cause of the 503 (shared/http.ts), or by the storage meter's onError. */
export function unavailable(error: unknown): UnavailableError {
  const code = (error as { code?: string }).code;
  return new UnavailableError('Database temporarily unavailable, try again', { code: code ?? 'UNAVAILABLE' }, { cause: error });
}
