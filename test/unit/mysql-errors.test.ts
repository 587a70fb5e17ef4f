import { describe, expect, it } from 'vitest';
import { mapMysqlError } from '#adapters/mysql-errors';
import { DuplicateError, TransientError } from '#core/errors';

describe('mapMysqlError: driver codes become the typed errors core checks', () => {
  const driver = (fields: Record<string, unknown>) => Object.assign(new Error(String(fields.message ?? 'driver error')), fields);
  it.each([
    ['a duplicate key', { code: 'ER_DUP_ENTRY', errno: 1062 }, DuplicateError],
    ['too many connections', { code: 'ER_CON_COUNT_ERROR', errno: 1040 }, TransientError],
    ['a lock wait timeout', { code: 'ER_LOCK_WAIT_TIMEOUT', errno: 1205 }, TransientError],
    ['a deadlock', { code: 'ER_LOCK_DEADLOCK', errno: 1213 }, TransientError],
    ['the server gone away', { errno: 2006 }, TransientError],
    ['a lost connection', { code: 'PROTOCOL_CONNECTION_LOST' }, TransientError],
    ['a refused connection', { code: 'ECONNREFUSED' }, TransientError],
    ['a TLS handshake the network dropped', { code: 'HANDSHAKE_SSL_ERROR', fatal: true }, TransientError],
  ])('%s', (_label, fields, type) => {
    const error = driver({ message: 'it failed', ...fields });
    const mapped = mapMysqlError(error);
    expect(mapped).toBeInstanceOf(type);
    expect((mapped as Error).message).toBe('it failed');
    expect((mapped as Error).cause).toBe(error); // the log of a 5xx shows the driver's error under it
  });

  it.each([
    ['a syntax error', { code: 'ER_PARSE_ERROR', errno: 1064 }],
    ['a missing table', { code: 'ER_NO_SUCH_TABLE', errno: 1146 }],
  ])('leaves %s as it was', (_label, fields) => {
    const error = driver(fields);
    expect(mapMysqlError(error)).toBe(error);
  });
});
