import { describe, expect, it } from 'vitest';
import { encodeLogMessage } from '#adapters/log-encoding';
import { MAX_LOG_MESSAGE_BYTES, parseLogMessage } from '#shared/log-messages';

const good = {
  tenant_id: '0b7c6c1e-7f1f-4a53-9a77-3f0e3c1d2b11',
  source: 'provision',
  level: 'INFO',
  message: 'exit code 0',
  create_timestamp: '2030-01-01T00:00:00.000Z',
};
const query = { ...good, source: 'query', db_id: 'a'.repeat(32), statement_type: 'SELECT', duration_ms: 3.5, rows: 2, outcome: 'ok' };

describe('parseLogMessage (L1 validation)', () => {
  it('accepts a log record and a query record', () => {
    expect(parseLogMessage(JSON.stringify(good))).toEqual(good);
    expect(parseLogMessage(JSON.stringify(query))).toEqual(query);
    expect(parseLogMessage(JSON.stringify({ ...good, truncated: true }))).toEqual({ ...good, truncated: true });
    // A migration job's host-script output says which stage wrote it.
    const migration = { ...good, source: 'migration', job_id: 'f3b1c2d4-0000-4000-8000-000000000001', stage: 'update' };
    expect(parseLogMessage(JSON.stringify(migration))).toEqual(migration);
  });

  it('drops unknown fields, so none can carry a value DynamoDB refuses (Infinity, a nested blob)', () => {
    // JSON.parse reads 1e400 as Infinity, which the DynamoDB client will not encode.
    const body = JSON.stringify({ ...good, attempt: 2, nested: { a: 1 } }).replace('"attempt":2', '"attempt":1e400');
    expect(parseLogMessage(body)).toEqual(good);
    // Query fields on a record that is not a query record are unknown fields too.
    expect(parseLogMessage(JSON.stringify({ ...good, duration_ms: 1e20 }))).toEqual(good);
  });

  it('rounds a query duration to microseconds (DynamoDB refuses magnitudes under 1e-130)', () => {
    expect(parseLogMessage(JSON.stringify({ ...query, duration_ms: 1e-200 }))).toMatchObject({ duration_ms: 0 });
    expect(parseLogMessage(JSON.stringify({ ...query, duration_ms: 1.23456789 }))).toMatchObject({ duration_ms: 1.235 });
  });

  it.each([
    ['not JSON', 'nope{'],
    ['JSON but not an object', '"a string"'],
    ['null', 'null'],
    ['missing tenant_id', JSON.stringify({ ...good, tenant_id: undefined })],
    ['hostile tenant_id', JSON.stringify({ ...good, tenant_id: 'a#b' })],
    ['overlong tenant_id', JSON.stringify({ ...good, tenant_id: 'a'.repeat(65) })],
    ['unknown level', JSON.stringify({ ...good, level: 'LOUD' })],
    ['message not a string', JSON.stringify({ ...good, message: 42 })],
    ['timestamp not ISO', JSON.stringify({ ...good, create_timestamp: 'yesterday' })],
    ['source with spaces', JSON.stringify({ ...good, source: 'my source' })],
    ['query without duration', JSON.stringify({ ...query, duration_ms: undefined })],
    ['query with negative rows', JSON.stringify({ ...query, rows: -1 })],
    ['query with unknown statement type', JSON.stringify({ ...query, statement_type: 'DROP' })],
    ['query with unknown outcome', JSON.stringify({ ...query, outcome: 'meh' })],
    ['bad log_id', JSON.stringify({ ...good, log_id: '../../x' })],
    ['query with a duration DynamoDB cannot encode', JSON.stringify({ ...query, duration_ms: 1e20 })],
    ['query with an infinite duration', JSON.stringify(query).replace('"duration_ms":3.5', '"duration_ms":1e400')],
    ['query lasting over a day', JSON.stringify({ ...query, duration_ms: 86_400_001 })],
    ['query with rows beyond a safe integer', JSON.stringify({ ...query, rows: 2 ** 53 })],
    ['message over 256 KB (the item would near DynamoDB\'s 400 KB)', JSON.stringify({ ...good, message: '€'.repeat(90_000) })],
    ['truncated not a boolean', JSON.stringify({ ...good, truncated: 'yes' })],
  ])('refuses %s', (_, body) => {
    expect(() => parseLogMessage(body)).toThrow();
  });
});

describe('encodeLogMessage (sinks)', () => {
  it('stamps a log_id once and keeps a producer-given one', () => {
    const a = JSON.parse(encodeLogMessage(good as never));
    const b = JSON.parse(encodeLogMessage(good as never));
    expect(a.log_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(a.log_id).not.toBe(b.log_id);
    expect(JSON.parse(encodeLogMessage({ ...good, log_id: 'mine' } as never)).log_id).toBe('mine');
  });

  it.each([
    ['ASCII', 'x'.repeat(400_000)],
    ['quotes that double when escaped', '"'.repeat(300_000)],
    ['multi-byte characters', '€😀'.repeat(100_000)],
  ])('truncates an oversized message of %s under 256 KB and marks it', (_, message) => {
    const body = encodeLogMessage({ ...good, message } as never);
    expect(Buffer.byteLength(body)).toBeLessThanOrEqual(MAX_LOG_MESSAGE_BYTES);
    const parsed = JSON.parse(body);
    expect(parsed.truncated).toBe(true);
    expect(message.startsWith(parsed.message)).toBe(true);
    expect(parsed.message.length).toBeGreaterThan(10_000);
    expect(() => parseLogMessage(body)).not.toThrow();
  });
});
