import type { APIGatewayProxyEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import {
  assertKeyScope,
  assertScopeAllows,
  createApiKey,
  databaseFor,
  hashApiKey,
  KeyUseRecorder,
  listApiKeys,
  revokeApiKey,
  verifyApiKey,
} from '#core/api-keys';
import { NotFoundError, ProhibitedError, UnauthorizedError, ValidationError } from '#core/errors';
import type { ApiKeyRecord, ApiKeyScope, ApiKeyStore, Caller, DatabaseRecord } from '#core/ports';
import type { StatementType } from '#core/sql-guard';
import { callerOf } from '#shared/http';

const SECRET = 'h'.repeat(40);
const OWN_DB = 'a'.repeat(32);
const OTHER_DB = 'b'.repeat(32);
const NOW = new Date('2026-12-06T08:00:00Z');
const token: Caller = { tenantId: 't1', dbId: OWN_DB, isAdmin: false };
const keyCaller = (scope: ApiKeyScope, dbBound = false): Caller => ({ ...token, key: { keyId: 'k1', scope, dbBound } });

/** An in-memory api_keys table behind the port; records each use written. */
function store() {
  const rows = new Map<string, { record: ApiKeyRecord; hash: Buffer }>();
  const uses: Array<[string, Date]> = [];
  const keys: ApiKeyStore & { lookups: number } = {
    lookups: 0,
    async createApiKey(record, hash, limit) {
      const live = [...rows.values()].filter((r) => r.record.tenantId === record.tenantId && !r.record.revokedAt).length;
      if (live >= limit) return false;
      rows.set(record.keyId, { record: { ...record, lastUsedAt: null, revokedAt: null }, hash: Buffer.from(hash) });
      return true;
    },
    async listApiKeys(tenantId, max) {
      return [...rows.values()].filter((r) => r.record.tenantId === tenantId).slice(0, max).map((r) => r.record);
    },
    async revokeApiKey(tenantId, keyId, at) {
      const row = rows.get(keyId);
      if (!row || row.record.tenantId !== tenantId) return false;
      row.record.revokedAt ??= at;
      return true;
    },
    async findApiKeyByHash(hash) {
      keys.lookups++;
      const found = [...rows.values()].find((r) => r.hash.equals(Buffer.from(hash)))?.record;
      return found && { ...found, tenantSuspended: false };
    },
    async recordApiKeyUse(keyId, at) {
      uses.push([keyId, at]);
    },
  };
  return { keys, rows, uses };
}

function fixture(limit = 5) {
  const s = store();
  const databases: Partial<DatabaseRecord>[] = [
    { dbId: OWN_DB, tenantId: 't1' },
    { dbId: OTHER_DB, tenantId: 't2' },
  ];
  const meta = { getDatabase: async (id: string) => databases.find((d) => d.dbId === id) as DatabaseRecord | undefined };
  const deps = { keys: s.keys, meta, apiKeySecret: SECRET, keyLimit: limit };
  const verifyDeps = { keys: s.keys, apiKeySecret: SECRET, keyUses: new KeyUseRecorder(s.keys, 60_000, () => undefined) };
  return { ...s, deps, verifyDeps };
}

describe('creating keys', () => {
  it('answers the key once and stores only its HMAC-SHA-256 under the secret', async () => {
    const f = fixture();
    const created = await createApiKey({ name: 'web', scope: 'write' }, token, f.deps, NOW);
    expect(created.key).toMatch(/^octo_[A-Za-z0-9_-]{43}$/);
    const [row] = [...f.rows.values()];
    expect(row!.hash.equals(hashApiKey(created.key, SECRET))).toBe(true);
    expect(JSON.stringify(row!.record)).not.toContain(created.key);
    expect(created).toMatchObject({ name: 'web', scope: 'write', db_id: null, expires_at: null, status: 'active', created_at: NOW.toISOString() });
  });

  it('draws a different key each time', async () => {
    const f = fixture();
    const keys = await Promise.all([1, 2, 3].map(() => createApiKey({ name: 'x', scope: 'read' }, token, f.deps, NOW)));
    expect(new Set(keys.map((k) => k.key)).size).toBe(3);
  });

  it.each([
    ['expires_in_days', { expires_in_days: 7 }, new Date(NOW.getTime() + 7 * 86_400_000).toISOString()],
    ['expires_at', { expires_at: '2027-01-01T00:00:00+01:00' }, '2026-12-31T23:00:00.000Z'],
    ['no expiry', {}, null],
  ])('takes %s', async (_case, expiry, expected) => {
    const created = await createApiKey({ name: 'x', scope: 'read', ...expiry }, token, fixture().deps, NOW);
    expect(created.expires_at).toBe(expected);
  });

  it.each([
    ['both expiries', { expires_in_days: 1, expires_at: '2027-01-01T00:00:00Z' }, 'Give at most one of expires_at and expires_in_days'],
    ['an expiry now', { expires_at: NOW.toISOString() }, 'expires_at must be in the future'],
    ['an expiry past ten years', { expires_at: '2037-01-01T00:00:00Z' }, 'expires_at must be within 3650 days'],
  ])('refuses %s', async (_case, expiry, message) => {
    await expect(createApiKey({ name: 'x', scope: 'read', ...expiry }, token, fixture().deps, NOW)).rejects.toEqual(new ValidationError(message));
  });

  it("binds a key to one of the tenant's databases only; another's and a missing one are the same 404", async () => {
    const f = fixture();
    expect((await createApiKey({ name: 'x', scope: 'read', db_id: OWN_DB }, token, f.deps, NOW)).db_id).toBe(OWN_DB);
    for (const db_id of [OTHER_DB, 'c'.repeat(32)]) {
      const error = await createApiKey({ name: 'x', scope: 'read', db_id }, token, f.deps, NOW).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(NotFoundError);
      expect((error as NotFoundError).toJSON()).toEqual({ error: 'Database not found', code: 'DATABASE_NOT_FOUND' });
    }
  });

  it('refuses a key past the limit with 409 API_KEY_LIMIT', async () => {
    const f = fixture(1);
    await createApiKey({ name: 'x', scope: 'read' }, token, f.deps, NOW);
    await expect(createApiKey({ name: 'y', scope: 'read' }, token, f.deps, NOW)).rejects.toMatchObject({ status: 409, details: { code: 'API_KEY_LIMIT', limit: 1 } });
  });

  it.each(['read', 'write', 'migrate'] as const)('lets no %s key create, list or revoke keys', async (scope) => {
    const f = fixture();
    const caller = keyCaller(scope);
    for (const run of [
      () => createApiKey({ name: 'x', scope: 'write' }, caller, f.deps, NOW),
      () => listApiKeys(caller, f.deps, NOW),
      () => revokeApiKey({ key_id: 'k' }, caller, f.deps, NOW),
    ]) {
      await expect(run()).rejects.toMatchObject({ status: 403, details: { code: 'TOKEN_ONLY' } });
    }
    expect(f.rows.size).toBe(0);
  });
});

describe('verifying keys (LF0)', () => {
  async function withKey(over: Partial<ApiKeyRecord> = {}) {
    const f = fixture();
    const created = await createApiKey({ name: 'x', scope: 'read' }, token, f.deps, NOW);
    Object.assign(f.rows.get(created.key_id)!.record, over);
    return { ...f, key: created.key, keyId: created.key_id };
  }

  it('accepts a stored, live key and gives its record', async () => {
    const f = await withKey();
    await expect(verifyApiKey(f.key, f.verifyDeps, NOW)).resolves.toMatchObject({ keyId: f.keyId, tenantId: 't1', scope: 'read', dbId: OWN_DB, dbBound: false });
  });

  it.each([
    ['revoked', { revokedAt: NOW }],
    ['expired this very moment', { expiresAt: NOW }],
    ['expired before', { expiresAt: new Date(NOW.getTime() - 1) }],
  ])('refuses a key %s', async (_case, over) => {
    const f = await withKey(over);
    await expect(verifyApiKey(f.key, f.verifyDeps, NOW)).rejects.toBeInstanceOf(UnauthorizedError);
  });

  it('refuses a key hashed under another secret', async () => {
    const f = await withKey();
    await expect(verifyApiKey(f.key, { ...f.verifyDeps, apiKeySecret: 'z'.repeat(40) }, NOW)).rejects.toBeInstanceOf(UnauthorizedError);
  });

  it.each(['octo_', 'octo_short', `octo_${'a'.repeat(44)}`, `octo_${'a'.repeat(42)}!`, `octo_${'a'.repeat(42)} `, `Octo_${'a'.repeat(43)}`])(
    'refuses the garbled %j before any lookup',
    async (garbled) => {
      const f = fixture();
      await expect(verifyApiKey(garbled, f.verifyDeps, NOW)).rejects.toBeInstanceOf(UnauthorizedError);
      expect(f.keys.lookups).toBe(0);
    },
  );
});

describe('recording last use', () => {
  it('writes at most once per interval per key, and again once it has passed', async () => {
    const { keys, uses } = store();
    const recorder = new KeyUseRecorder(keys, 60_000, () => undefined);
    const at = (s: number) => new Date(NOW.getTime() + s * 1000);
    for (const s of [0, 1, 30, 59.999]) await recorder.note('k1', at(s));
    await recorder.note('k2', at(1));
    await recorder.note('k1', at(60));
    expect(uses).toEqual([
      ['k1', at(0)],
      ['k2', at(1)],
      ['k1', at(60)],
    ]);
  });

  it('never fails the request when the write fails, and tries again on the next use', async () => {
    const failures: unknown[] = [];
    let fail = true;
    const written: Date[] = [];
    const recorder = new KeyUseRecorder(
      {
        recordApiKeyUse: async (_id, at) => {
          if (fail) throw new Error('lock wait timeout');
          written.push(at);
        },
      },
      60_000,
      (error) => failures.push(error),
    );
    await expect(recorder.note('k1', NOW)).resolves.toBeUndefined();
    fail = false;
    await recorder.note('k1', new Date(NOW.getTime() + 1000));
    expect(failures).toHaveLength(1);
    expect(written).toEqual([new Date(NOW.getTime() + 1000)]);
  });
});

describe('scopes', () => {
  const TYPES: StatementType[] = ['SELECT', 'INSERT', 'UPDATE', 'DELETE'];
  it.each([
    [undefined, TYPES],
    ['read', ['SELECT']],
    ['write', TYPES],
    ['migrate', []],
  ] as const)('on /query, scope %s runs exactly %j', (scope, allowed) => {
    for (const type of TYPES) {
      const run = () => assertScopeAllows(scope, type);
      if ((allowed as readonly string[]).includes(type)) expect(run).not.toThrow();
      else expect(run).toThrow(new ProhibitedError(`An API key of scope ${scope} may not run ${type} statements`, { code: 'KEY_SCOPE', scope }));
    }
  });

  it('opens a route to the token always, to keys of the listed scopes, and says which refusal it is', () => {
    expect(() => assertKeyScope(token, [], 'x')).not.toThrow();
    expect(() => assertKeyScope(keyCaller('migrate'), ['migrate'], 'x')).not.toThrow();
    expect(() => assertKeyScope(keyCaller('read'), ['migrate'], 'use /migrate')).toThrow(expect.objectContaining({ details: { code: 'KEY_SCOPE', scope: 'read' } }));
    expect(() => assertKeyScope(keyCaller('read'), [], 'run get_user_info')).toThrow(expect.objectContaining({ details: { code: 'TOKEN_ONLY' } }));
  });

  it.each([
    ['the token, no db_id', token, undefined, OWN_DB],
    ['the token, another of its databases', token, OTHER_DB, OTHER_DB],
    ['an unbound key, another database', keyCaller('read'), OTHER_DB, OTHER_DB],
    ['a bound key, its database', keyCaller('read', true), OWN_DB, OWN_DB],
    ['a bound key, no db_id', keyCaller('read', true), undefined, OWN_DB],
  ])('sends %s to the right database', (_case, caller, requested, expected) => {
    expect(databaseFor(caller, requested)).toBe(expected);
  });

  it('answers a bound key naming another database with the one "Database not found"', () => {
    expect(() => databaseFor(keyCaller('write', true), OTHER_DB)).toThrow(expect.objectContaining({ status: 404, details: { code: 'DATABASE_NOT_FOUND' } }));
  });
});

describe("the caller from LF0's context", () => {
  const event = (authorizer: Record<string, string>) => ({ requestContext: { authorizer } }) as unknown as APIGatewayProxyEvent;
  const base = { tenant_id: 't1', db_id: OWN_DB, is_admin: 'false' };

  it('reads a token caller without a key, and a key caller with its limits', () => {
    expect(callerOf(event(base))).toEqual(token);
    expect(callerOf(event({ ...base, key_id: 'k1', key_scope: 'write', key_db_bound: 'true' }))).toEqual(keyCaller('write', true));
  });

  it.each<Record<string, string>>([{ key_id: 'k1' }, { key_id: 'k1', key_scope: 'admin' }, { key_id: 'k1', key_scope: '' }])('refuses a key context without a known scope: %j', (ctx) => {
    expect(() => callerOf(event({ ...base, ...ctx }))).toThrow(UnauthorizedError);
  });
});
