import { describe, expect, it } from 'vitest';
import { signupRequest, tokenRequest } from '#shared/requests';

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
