import { createHmac } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { describe, expect, it } from 'vitest';
import { verifyHs256 } from '#core/hs256';

const SECRET = 'unit-test-signing-key-0123456789abcdef';
const claims = { tenant_id: 't', db_id: 'd', is_admin: false, jti: 'j' };
const sign = (payload: object, options: jwt.SignOptions = {}, secret = SECRET) =>
  jwt.sign(payload, secret, { algorithm: 'HS256', expiresIn: 60, ...options });
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const handMade = (header: object, payload: object, secret = SECRET) => {
  const unsigned = `${b64(header)}.${b64(payload)}`;
  return `${unsigned}.${createHmac('sha256', secret).update(unsigned).digest('base64url')}`;
};
const inAMinute = () => Math.floor(Date.now() / 1000) + 60;

describe('verifyHs256', () => {
  it('accepts what jsonwebtoken signs and returns its claims', () => {
    expect(verifyHs256(sign(claims), SECRET)).toMatchObject(claims);
  });

  it.each([
    ['another secret', () => sign(claims, {}, 'another-secret-0123456789abcdef0123')],
    ['an expired token', () => jwt.sign({ ...claims, exp: Math.floor(Date.now() / 1000) - 1 }, SECRET, { algorithm: 'HS256' })],
    ['a token not valid yet', () => sign(claims, { notBefore: 60 })],
    ['no exp', () => handMade({ alg: 'HS256', typ: 'JWT' }, claims)],
    ['alg none', () => `${b64({ alg: 'none' })}.${b64({ ...claims, exp: inAMinute() })}.`],
    ['alg HS512 with an HS256 signature', () => handMade({ alg: 'HS512' }, { ...claims, exp: inAMinute() })],
    ['a crit header', () => handMade({ alg: 'HS256', crit: ['x'] }, { ...claims, exp: inAMinute() })],
    ['a payload that is not an object', () => handMade({ alg: 'HS256' }, [1, 2])],
    ['a tampered payload', () => {
      const [h, , s] = sign(claims).split('.');
      return `${h}.${b64({ ...claims, is_admin: true, exp: inAMinute() })}.${s}`;
    }],
    ['a truncated signature', () => sign(claims).slice(0, -2)],
    ['two parts', () => sign(claims).split('.').slice(0, 2).join('.')],
    ['four parts', () => `${sign(claims)}.x`],
    ['garbage', () => 'not-a-token'],
    ['an empty string', () => ''],
  ])('refuses %s', (_label, token) => {
    expect(verifyHs256(token(), SECRET)).toBeUndefined();
  });

  // Node's base64url decoder ignores the unused low bits of the last character, padding, stray
  // characters and the +/ alphabet, so each of these decodes to the genuine signature's bytes.
  const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const withSignature = (change: (sig: string) => string) => {
    const [h, p, sig] = sign(claims).split('.') as [string, string, string];
    return `${h}.${p}.${change(sig)}`;
  };
  /** A token whose signature contains `-` or `_` (differs in standard base64); the jti varies until one does. */
  const withUrlOnlyCharacters = () => {
    for (let i = 0; ; i++) {
      const token = sign({ ...claims, jti: `j${i}` });
      if (/[-_]/.test(token.split('.')[2]!)) return token;
    }
  };
  it.each([
    ['the last signature character changed in its unused bits', () =>
      withSignature((sig) => sig.slice(0, -1) + ALPHABET[ALPHABET.indexOf(sig.at(-1)!) ^ 1])],
    ['a padded signature', () => withSignature((sig) => `${sig}=`)],
    ['a signature with stray characters', () => withSignature((sig) => `${sig.slice(0, 5)} !${sig.slice(5)}`)],
    ['a signature in the standard base64 alphabet', () => {
      const [h, p, sig] = withUrlOnlyCharacters().split('.') as [string, string, string];
      return `${h}.${p}.${sig.replace(/-/g, '+').replace(/_/g, '/')}`;
    }],
    ['a payload with padding, signed as sent', () => {
      const unsigned = `${b64({ alg: 'HS256' })}.${b64({ ...claims, exp: inAMinute() })}=`;
      return `${unsigned}.${createHmac('sha256', SECRET).update(unsigned).digest('base64url')}`;
    }],
  ])('refuses a non-canonical encoding: %s', (_label, token) => {
    expect(verifyHs256(token(), SECRET)).toBeUndefined();
  });

  it('still refuses a token it verified before once it expires', () => {
    const token = sign(claims, { expiresIn: 60 });
    const now = Date.now() / 1000;
    expect(verifyHs256(token, SECRET, now)).toMatchObject(claims);
    expect(verifyHs256(token, SECRET, now + 61)).toBeUndefined();
  });

  it('does not accept a token it verified under one secret under another', () => {
    const token = sign(claims);
    expect(verifyHs256(token, SECRET)).toMatchObject(claims);
    expect(verifyHs256(token, 'another-secret-0123456789abcdef0123')).toBeUndefined();
  });

  it('refuses a tampered copy of a token it verified before', () => {
    const token = sign(claims);
    expect(verifyHs256(token, SECRET)).toMatchObject(claims);
    const [h, , sig] = token.split('.');
    expect(verifyHs256(`${h}.${b64({ ...claims, is_admin: true, exp: inAMinute() })}.${sig}`, SECRET)).toBeUndefined();
  });
});
