import { DuplicateError, TransientError } from '#core/errors';
import { TRANSIENT_ERRNOS } from '#core/skeema';

/** mysql2's error fields. */
interface MysqlDriverError {
  errno?: number;
  code?: string;
  message: string;
}

// The numbers are the ones classify reads in Skeema's errors (one set); the codes are the driver's own.
const TRANSIENT_CODES = /ECONN|PROTOCOL_CONNECTION_LOST|ETIMEDOUT/;

/**
 * The MySQL driver's numbers and codes turned into the typed errors core checks by instanceof
 * (core's engine never reads a driver error's fields); anything else (a StatementTimeoutError,
 * say) is returned as it was.
 */
export function mapMysqlError(error: unknown): unknown {
  const e = error as MysqlDriverError;
  if (e?.code === 'ER_DUP_ENTRY') return new DuplicateError(e.message, undefined, { cause: error });
  if (TRANSIENT_ERRNOS.has(e?.errno ?? 0) || TRANSIENT_CODES.test(e?.code ?? '')) {
    return new TransientError(e.message, { code: e.code ?? `ERR_${e.errno}` }, { cause: error });
  }
  return error;
}
