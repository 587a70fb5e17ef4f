import { describe, expect, it } from 'vitest';
import { ValidationError } from '#core/errors';
import { logCursor, openPageKey as openKey, sealPageKey } from '#core/page-keys';
import { Sealer } from '#core/sealed';

const sealer = new Sealer('unit-test-data-key-0123456789abcdef0123456789');
const openPageKey = (s: Sealer, tenant: string, kind: 'log' | 'query', key: string) => openKey(s, tenant, kind, key, logCursor(tenant, kind));
const cursor = { tenant_id: 'tenant-a', sk: 'log#2030-01-01T00:00:00.000Z#abc' };

describe('page keys', () => {
  it('opens a key it sealed for the same tenant and kind', () => {
    const key = sealPageKey(sealer, 'tenant-a', 'log', cursor);
    expect(key).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(key).not.toContain('tenant-a');
    expect(openPageKey(sealer, 'tenant-a', 'log', key)).toEqual(cursor);
  });

  it('refuses the key after any single character is changed', () => {
    const key = sealPageKey(sealer, 'tenant-a', 'log', cursor);
    for (let i = 0; i < key.length; i++) {
      const tampered = key.slice(0, i) + (key[i] === 'A' ? 'B' : 'A') + key.slice(i + 1);
      expect(() => openPageKey(sealer, 'tenant-a', 'log', tampered), `position ${i}`).toThrow(ValidationError);
    }
  });

  it.each([4, 8, 12, 15])('refuses a key whose GCM tag is cut to its first %i bytes', (bytes) => {
    // A truncated GCM tag still verifies unless the full length is required, so forging a key
    // would take 2^32 tries instead of 2^128.
    const sealed = Buffer.from(sealPageKey(sealer, 'tenant-a', 'log', cursor), 'base64url').toString('utf8');
    const [version, iv, tag, body] = sealed.split('.') as [string, string, string, string];
    const short = Buffer.from(tag, 'base64').subarray(0, bytes).toString('base64');
    const key = Buffer.from([version, iv, short, body].join('.')).toString('base64url');
    expect(() => openPageKey(sealer, 'tenant-a', 'log', key)).toThrow(ValidationError);
  });

  it.each([
    ['another tenant', 'tenant-b', 'log', undefined],
    ['the other kind', 'tenant-a', 'query', undefined],
    ['another data key', 'tenant-a', 'log', new Sealer('some-other-data-key-0123456789abcdef0123')],
  ] as const)('refuses a key presented by %s', (_, tenant, kind, other) => {
    const key = sealPageKey(other ?? sealer, 'tenant-a', 'log', cursor);
    expect(() => openPageKey(sealer, tenant, kind, key)).toThrow(ValidationError);
  });

  it('refuses a sealed cursor that points into another partition or key range', () => {
    const intoB = sealPageKey(sealer, 'tenant-a', 'log', { tenant_id: 'tenant-b', sk: 'log#x' });
    const intoQuery = sealPageKey(sealer, 'tenant-a', 'log', { tenant_id: 'tenant-a', sk: 'query#x' });
    expect(() => openPageKey(sealer, 'tenant-a', 'log', intoB)).toThrow(ValidationError);
    expect(() => openPageKey(sealer, 'tenant-a', 'log', intoQuery)).toThrow(ValidationError);
  });

  it.each(['', 'x', 'djEuYS5iLmM', Buffer.from(JSON.stringify(cursor)).toString('base64url'), `${'A'.repeat(40)}`])(
    'refuses a key it never issued: %j',
    (key) => {
      expect(() => openPageKey(sealer, 'tenant-a', 'log', key)).toThrow(ValidationError);
    },
  );
});

describe('page keys of other lists', () => {
  const batch = { at: '2026-12-06 10:00:00.000000', id: '7707b1a5-6d75-41ff-9808-b4d3fcad85b6' };
  const asIs = (c: unknown) => c as typeof batch;

  it('opens a key only for the list it was issued for', () => {
    const key = sealPageKey(sealer, 'tenant-a', 'migrations', batch);
    expect(openKey(sealer, 'tenant-a', 'migrations', key, asIs)).toEqual(batch);
    expect(() => openKey(sealer, 'tenant-a', 'jobs:x', key, asIs)).toThrow(ValidationError);
    expect(() => openKey(sealer, 'tenant-a', 'log', key, asIs)).toThrow(ValidationError);
    const jobs = sealPageKey(sealer, 'tenant-a', 'jobs:x', { seq: 5 });
    expect(() => openKey(sealer, 'tenant-a', 'jobs:y', jobs, asIs)).toThrow(ValidationError);
  });

  it('refuses a key whose cursor has not the shape its list reads', () => {
    const key = sealPageKey(sealer, 'tenant-a', 'migrations', { at: 5 });
    expect(() => openKey(sealer, 'tenant-a', 'migrations', key, () => undefined)).toThrow(ValidationError);
  });
});
