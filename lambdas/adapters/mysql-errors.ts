import { DuplicateError, TransientError } from '#core/errors';

/** mysql2's error fields. */
interface MysqlDriverError {
  errno?: number;
  code?: string;
  message: string;
}

// Too many connections, lock wait timeout, deadlock, server gone away, lost connection.
const TRANSIENT_ERRNOS = new Set([1040, 1205, 1213, 2006, 2013]);
const TRANSIENT_CODES = /ECONN|PROTOCOL_CONNECTION_LOST|ETIMEDOUT/;

/**
 * The MySQL driver's codes turned into the typed errors core checks by instanceof (the driver's
 * numbers stay in adapters); anything else is returned as it was.
 */
export function mapMysqlError(error: unknown): unknown {
  const e = error as MysqlDriverError;
  if (e?.code === 'ER_DUP_ENTRY') return new DuplicateError(e.message);
  if (TRANSIENT_ERRNOS.has(e?.errno ?? 0) || TRANSIENT_CODES.test(e?.code ?? '')) return new TransientError(e.message, { code: e.code ?? `ERR_${e.errno}` });
  return error;
}
