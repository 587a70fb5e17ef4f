import { describe, expect, it } from 'vitest';
import { Parts } from '#adapters/parts';
import { verifyRoot } from '#adapters/roots';
import type { PasswordHasher } from '#core/ports';
import { Sealer } from '#core/sealed';
import { loadConfig } from '#shared/config';

// Parts that connect to nothing when made (a MySQL pool connects on its first query).
const config = () => loadConfig({ OCTODB_DATA_KEY: 'data-key-0123456789abcdef0123456789abcdef' });

describe('shared parts', () => {
  it('makes a part on first use and hands the same one to every later caller', async () => {
    const parts = new Parts(config());
    expect(parts.opened()).toEqual([]);
    const [one, two] = await Promise.all([parts.get('sealer'), parts.get('sealer')]);
    expect(one).toBe(two);
    expect(parts.opened()).toEqual(['sealer']);
  });

  it('puts an override in place for the roots built until it is restored, settings included', async () => {
    const parts = new Parts(config());
    const real = await parts.get('sealer');
    const fake = new Sealer('other-key-0123456789abcdef0123456789abcdef');
    const restore = parts.override({ sealer: fake, config: { OCTODB_HOST_MAX_DATABASES: 7 } });
    expect(await parts.get('sealer')).toBe(fake);
    expect((await verifyRoot(undefined, parts)).hostMaxDatabases).toBe(7);
    restore();
    expect(await parts.get('sealer')).toBe(real);
    expect((await verifyRoot(undefined, parts)).hostMaxDatabases).toBe(config().OCTODB_HOST_MAX_DATABASES);
    await parts.close();
  });

  it('hands a root the set it picked before, and the overridden one while an override holds', async () => {
    const parts = new Parts(config());
    const first = await parts.pick('sealer', 'templates');
    expect(await parts.pick('sealer', 'templates')).toBe(first);
    expect(Object.isFrozen(first)).toBe(true);
    const fake = new Sealer('other-key-0123456789abcdef0123456789abcdef');
    const restore = parts.override({ sealer: fake });
    const overridden = await parts.pick('sealer', 'templates');
    expect(overridden.sealer).toBe(fake);
    expect(overridden.templates).toBe(first.templates);
    restore();
    expect((await parts.pick('sealer', 'templates')).sealer).toBe(first.sealer);
    await parts.close();
  });

  it('picks nothing it could not make, and tries again on the next pick', async () => {
    const parts = new Parts(config());
    await expect(parts.pick('sealer', 'jwtSecret')).rejects.toThrow(/OCTODB_JWT_SECRET/);
    const restore = parts.override({ config: { OCTODB_JWT_SECRET: 'now-set-0123456789abcdef0123456789abcdef' } });
    expect((await parts.pick('sealer', 'jwtSecret')).jwtSecret).toBe('now-set-0123456789abcdef0123456789abcdef');
    restore();
  });

  it('forgets a part that failed to be made, so the next use tries again', async () => {
    const parts = new Parts(config());
    await expect(parts.get('jwtSecret')).rejects.toThrow(/OCTODB_JWT_SECRET/);
    const restore = parts.override({ config: { OCTODB_JWT_SECRET: 'now-set-0123456789abcdef0123456789abcdef' } });
    expect(await parts.get('jwtSecret')).toBe('now-set-0123456789abcdef0123456789abcdef');
    restore();
  });

  it('never closes a part it was handed (its maker does)', async () => {
    let closed = 0;
    const handed: PasswordHasher = { hash: async () => 'h', verify: async () => true, close: async () => void closed++ };
    const parts = new Parts(config(), { passwords: handed });
    expect(await parts.get('passwords')).toBe(handed);
    expect(parts.opened()).toEqual([]);
    await parts.close();
    expect(closed).toBe(0);
  });
});
