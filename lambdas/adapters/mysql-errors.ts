import type { Pool, PoolConnection } from 'mysql2/promise';
import { DuplicateError, OUTAGE_MESSAGE, TransientError } from '#core/errors';
import { TRANSIENT_ERRNOS } from '#core/skeema';

/** mysql2's error fields: `sqlMessage` when the server answered, `fatal` when the connection broke. */
export interface MysqlDriverError {
  errno?: number;
  code?: string;
  message: string;
  sqlMessage?: string;
  fatal?: boolean;
}

// The numbers are the ones classify reads in Skeema's errors (one set); the codes are the driver's own.
// HANDSHAKE_SSL_ERROR: mysql2 gives every failed TLS handshake this code, also a connection the
// network dropped mid-handshake (Node's ECONNRESET, overwritten); a certificate that does not verify
// is an operator's error that retrying cannot fix but cannot make worse, and a client sees 503 either way.
const TRANSIENT_CODES = /ECONN|PROTOCOL_CONNECTION_LOST|ETIMEDOUT|HANDSHAKE_SSL_ERROR/;

/** The statement broke a unique key (the driver's code for MySQL's 1062). */
export const isDuplicateKey = (error: unknown): boolean => (error as MysqlDriverError | undefined)?.code === 'ER_DUP_ENTRY';

/**
 * The MySQL driver's numbers and codes turned into the typed errors core checks by instanceof
 * (core's engine never reads a driver error's fields); anything else (a StatementTimeoutError,
 * say) is returned as it was.
 */
export function mapMysqlError(error: unknown): unknown {
  const e = error as MysqlDriverError;
  if (isDuplicateKey(error)) return new DuplicateError(e.message, undefined, { cause: error });
  if (TRANSIENT_ERRNOS.has(e?.errno ?? 0) || TRANSIENT_CODES.test(e?.code ?? '')) {
    return new TransientError(e.message, { code: e.code ?? `ERR_${e.errno}` }, { cause: error });
  }
  return error;
}

/**
 * The server out of reach, not a statement's fault: too many connections (1040, 1203, 1226), a
 * shutdown (1053), can't connect (2002, 2003), gone away or lost (2006, 2013), or the socket's own
 * codes (refused, reset, timed out, unreachable, a broken pipe, a lost protocol, a failed TLS handshake).
 */
const OUTAGE_ERRNOS: ReadonlySet<number> = new Set([1040, 1053, 1203, 1226, 2002, 2003, 2006, 2013]);
const OUTAGE_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'PROTOCOL_CONNECTION_LOST',
  'HANDSHAKE_SSL_ERROR',
]);

export function isMysqlOutage(error: unknown): boolean {
  const e = error as MysqlDriverError | undefined;
  return OUTAGE_ERRNOS.has(e?.errno ?? 0) || OUTAGE_CODES.has(e?.code ?? '');
}

/** MetaDB out of reach: 503 + Retry-After on every route, and a TransientError for the workers that retry. */
export function metaDbUnavailable(error: unknown): TransientError {
  return new TransientError(OUTAGE_MESSAGE, { code: 'METADB_UNAVAILABLE' }, { cause: error });
}

const POOL_CALLS = new Set<PropertyKey>(['query', 'execute', 'getConnection']);
const CONNECTION_CALLS = new Set<PropertyKey>(['query', 'execute', 'beginTransaction', 'commit', 'rollback']);

/**
 * A pool (and the connections it hands out) whose promise calls fail with `map(error)` instead of
 * the driver's error: one place decides what the callers behind it see (typed errors, by errno and
 * code, never by message).
 */
export function mappedPool(pool: Pool, map: (error: unknown) => unknown): Pool {
  const fail = (error: unknown) => Promise.reject(map(error));
  const wrap = <T extends object>(target: T, calls: ReadonlySet<PropertyKey>, wrapResult?: (value: unknown) => unknown): T =>
    new Proxy(target, {
      get(t, key) {
        const value = Reflect.get(t, key) as unknown;
        if (typeof value !== 'function') return value;
        if (!calls.has(key)) return value.bind(t);
        return (...args: unknown[]) => {
          const result = (value.apply(t, args) as Promise<unknown>).catch(fail);
          return wrapResult ? result.then(wrapResult) : result;
        };
      },
    });
  return wrap(pool, POOL_CALLS, (value) => (value && typeof value === 'object' && 'release' in value ? wrap(value as PoolConnection, CONNECTION_CALLS) : value));
}

/** The MetaDB pool: an outage is METADB_UNAVAILABLE (503), every other error the driver's own. */
export const metaDbPool = (pool: Pool): Pool => mappedPool(pool, (error) => (isMysqlOutage(error) ? metaDbUnavailable(error) : error));
