import bcrypt from 'bcryptjs';
import { InlinePasswordHasher } from '#adapters/worker-password-hasher';
import jwt from 'jsonwebtoken';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ProhibitedError, UnauthorizedError } from '#core/errors';
import { type IssuedTokenRecord, type MetaStore, SUSPENDED, type TenantRecord, type TokenRegistry } from '#core/ports';
import { Sealer } from '#core/sealed';
import { dummyHash, issueToken, verifyAccessToken } from '#core/tokens';

// In-memory stand-ins for the two ports the token functions use (real ones are covered by integration tests).
function fixture() {
  const tenant: TenantRecord = {
    tenantId: 'tenant-1',
    name: 'T',
    email: 't@example.com',
    passwordHash: bcrypt.hashSync('pw-12345678', 4),
    isAdmin: false,
    createdAt: new Date(),
    suspended: false,
  };
  let issued: IssuedTokenRecord | undefined;
  const meta = {
    findTenantByEmail: async (email: string) => (email === tenant.email ? tenant : undefined),
    listDatabases: async () => [{ dbId: 'a'.repeat(32) }],
    saveIssuedToken: async (_id: string, t: IssuedTokenRecord, whileLocked: () => Promise<void>) => {
      await whileLocked();
      issued = t;
    },
    getIssuedToken: async () => issued,
    getTokenState: async () => ({ issued, suspended: tenant.suspended }),
  } as unknown as MetaStore;
  const cache = new Map<string, string | typeof SUSPENDED>();
  const registry: TokenRegistry = {
    currentJti: async (id) => cache.get(id),
    remember: async (id, jti) => void cache.set(id, jti),
    fill: async (id, jti) => void (cache.has(id) || cache.set(id, jti)),
    forget: async (id) => void cache.delete(id),
    suspend: async (id) => void cache.set(id, SUSPENDED),
  };
  const deps = { meta, registry, sealer: new Sealer('k'.repeat(32)), passwords: new InlinePasswordHasher(), jwtSecret: 's'.repeat(40), ttlSeconds: 600, bcryptRounds: 4 };
  return { deps, cache, tenant };
}

describe('issueToken / verifyAccessToken', () => {
  it('issues a token that verifies, with the claims of the tenant', async () => {
    const { deps } = fixture();
    const { token } = await issueToken({ email: 't@example.com', password: 'pw-12345678', read: false }, deps);
    await expect(verifyAccessToken(token, deps)).resolves.toMatchObject({ tenant_id: 'tenant-1', db_id: 'a'.repeat(32), is_admin: false });
  });

  it('rejects a token once a newer one was issued, also with a cold cache', async () => {
    const { deps, cache } = fixture();
    const old = await issueToken({ email: 't@example.com', password: 'pw-12345678', read: false }, deps);
    await issueToken({ email: 't@example.com', password: 'pw-12345678', read: false }, deps);
    await expect(verifyAccessToken(old.token, deps)).rejects.toBeInstanceOf(UnauthorizedError);
    cache.clear();
    await expect(verifyAccessToken(old.token, deps)).rejects.toBeInstanceOf(UnauthorizedError);
  });

  it("answers a suspended tenant's current token as suspended, from MetaDB, and never caches it as current", async () => {
    const { deps, cache, tenant } = fixture();
    const { token } = await issueToken({ email: 't@example.com', password: 'pw-12345678', read: false }, deps);
    tenant.suspended = true;
    await deps.registry.suspend('tenant-1', new Date(Date.now() + 60_000));
    await expect(verifyAccessToken(token, deps)).resolves.toMatchObject({ tenant_id: 'tenant-1', suspended: true });
    expect(cache.get('tenant-1')).toBe(SUSPENDED);
    cache.clear(); // the mark lost (a Redis restart): MetaDB still says suspended, and nothing is filled
    await expect(verifyAccessToken(token, deps)).resolves.toMatchObject({ suspended: true });
    expect(cache.has('tenant-1')).toBe(false);
    await expect(issueToken({ email: 't@example.com', password: 'pw-12345678', read: false }, deps)).rejects.toMatchObject({ details: { code: 'TENANT_SUSPENDED' } });
    await expect(issueToken({ email: 't@example.com', password: 'pw-12345678', read: true }, deps)).rejects.toBeInstanceOf(ProhibitedError);
    tenant.suspended = false;
    await deps.registry.forget('tenant-1');
    await expect(verifyAccessToken(token, deps)).resolves.toMatchObject({ suspended: false });
  });

  it('rejects tokens signed with another algorithm or key', async () => {
    const { deps } = fixture();
    const { token } = await issueToken({ email: 't@example.com', password: 'pw-12345678', read: false }, deps);
    const claims = jwt.decode(token) as object;
    await expect(verifyAccessToken(jwt.sign(claims, deps.jwtSecret, { algorithm: 'HS384' }), deps)).rejects.toThrow('Unauthorized');
    await expect(verifyAccessToken(jwt.sign(claims, 'x'.repeat(40)), deps)).rejects.toThrow('Unauthorized');
  });

  it('answers the same error for an unknown email and a wrong password', async () => {
    const { deps } = fixture();
    const a = await issueToken({ email: 'x@example.com', password: 'pw-12345678', read: false }, deps).catch((e: Error) => e.message);
    const b = await issueToken({ email: 't@example.com', password: 'wrong', read: false }, deps).catch((e: Error) => e.message);
    expect(a).toBe('Invalid email or password');
    expect(b).toBe(a);
  });
});

describe('the hash an unknown email is checked against', () => {
  afterEach(() => vi.restoreAllMocks());
  /** bcrypt's cost, as the hash string spells it: $2b$<cost>$… */
  const costOf = (hash: string) => Number(/^\$2[aby]\$(\d\d)\$/.exec(hash)?.[1]);

  it.each([4, 7, 11])('has the configured cost %i, so both failures cost one bcrypt of that cost', async (rounds) => {
    expect(costOf(await dummyHash(rounds, new InlinePasswordHasher()))).toBe(rounds);
  });

  it('is computed once per cost', async () => {
    const passwords = new InlinePasswordHasher();
    expect(await dummyHash(5, passwords)).toBe(await dummyHash(5, passwords));
  });

  it('is what issueToken compares with when the email is unknown', async () => {
    const { deps } = fixture();
    const compare = vi.spyOn(deps.passwords, 'verify');
    await expect(issueToken({ email: 'x@example.com', password: 'pw', read: false }, { ...deps, bcryptRounds: 6 })).rejects.toThrow(UnauthorizedError);
    expect(compare).toHaveBeenCalledOnce();
    expect(costOf(compare.mock.calls[0]![1] as string)).toBe(6);
  });
});
