import { describe, expect, it } from 'vitest';
import { problemsOf, queryRequest, signupRequest, tokenRequest } from '#shared/requests';

const base = { name: 'Ada', email: 'Ada@Example.com', password: 'correct horse battery' };

describe('signupRequest', () => {
  it('normalises the email and defaults the template', () => {
    expect(signupRequest.parse(base)).toEqual({ ...base, email: 'ada@example.com', template: 'default' });
  });

  it('accepts a password of exactly 72 bytes and refuses 73', () => {
    expect(signupRequest.safeParse({ ...base, password: 'é'.repeat(36) }).success).toBe(true);
    expect(signupRequest.safeParse({ ...base, password: `${'é'.repeat(36)}x` }).success).toBe(false);
  });

  it.each([
    [{ name: '' }],
    [{ name: 'x'.repeat(101) }],
    [{ name: 'a\nb' }],
    [{ email: 'a@' }],
    [{ email: 'not an email@example.com' }],
    [{ password: '1234567' }],
    [{ password: null }],
    [{ template: 'UPPER' }],
    [{ template: 'a/b' }],
    [{ template: '' }],
  ])('refuses %j', (patch) => {
    expect(signupRequest.safeParse({ ...base, ...patch }).success).toBe(false);
  });
});

describe('tokenRequest', () => {
  it('defaults read to false and accepts only a boolean', () => {
    expect(tokenRequest.parse({ email: 'a@b.co', password: 'x' }).read).toBe(false);
    expect(tokenRequest.safeParse({ email: 'a@b.co', password: 'x', read: 1 }).success).toBe(false);
  });
});

describe('queryRequest', () => {
  it('tells a single statement from a batch, with their defaults', () => {
    expect(queryRequest.parse({ query: 'SELECT 1' })).toEqual({ kind: 'single', query: 'SELECT 1', params: [], db_id: undefined });
    expect(queryRequest.parse({ statements: [{ query: 'SELECT ?', params: [1] }, { query: 'SELECT 2' }] })).toEqual({
      kind: 'batch',
      statements: [{ query: 'SELECT ?', params: [1] }, { query: 'SELECT 2', params: [] }],
      transaction: false,
      db_id: undefined,
    });
  });

  it.each([
    [{}, 'query'],
    [{ query: 'SELECT 1', statements: [{ query: 'SELECT 1' }] }, 'query'],
    [{ params: [], statements: [{ query: 'SELECT 1' }] }, 'params'],
    [{ query: 'SELECT 1', transaction: false }, 'transaction'],
    [{ statements: [] }, 'statements'],
    [{ statements: [{ query: 'SELECT 1' }, { query: 'SELECT 2' }, { query: ' ' }] }, 'statements[2].query'],
    [{ statements: [{ query: 'SELECT 1', params: [[1]] }] }, 'statements[0].params[0]'],
    [{ statements: [{ query: 'SELECT 1', extra: 1 }] }, 'statements[0].extra'],
  ])('refuses %j, naming %s', (body, field) => {
    const result = queryRequest.safeParse(body);
    expect(result.success).toBe(false);
    expect(problemsOf(result.error!).map((p) => p.field)).toContain(field);
  });
});
