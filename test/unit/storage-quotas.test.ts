import { describe, expect, it } from 'vitest';
import type { QuotaSettings, StorageMeter, StorageState, StorageStateStore, TenantLogin } from '#core/ports';
import { QuotaExceededError, StorageQuotaGuard } from '#core/storage-quotas';

/** In-memory stand-ins for the shared state (Redis), the quota table (MetaDB) and the server's measure. */
function setup(options: { used: number; quota?: number; intervalMs?: number }) {
  const states = new Map<string, StorageState>();
  const claims = new Map<string, number>();
  let used = options.used;
  const measured: string[] = [];
  const state: StorageStateStore = {
    read: async (t) => structuredClone(states.get(t) ?? { usedByDb: {}, measuredAtByDb: {} }),
    record: async (t, db, bytes, quota, at) => {
      const s = states.get(t) ?? { usedByDb: {}, measuredAtByDb: {} };
      states.set(t, { usedByDb: { ...s.usedByDb, [db]: bytes }, measuredAtByDb: { ...s.measuredAtByDb, [db]: at }, quotaBytes: quota, measuredAt: at });
    },
    setQuota: async (t, quota) => void states.set(t, { ...(states.get(t) ?? { usedByDb: {}, measuredAtByDb: {} }), quotaBytes: quota }),
    claimMeasurement: async (db, windowMs) => {
      if ((claims.get(db) ?? 0) > Date.now()) return false;
      claims.set(db, Date.now() + windowMs);
      return true;
    },
  };
  const settings: QuotaSettings = { storageQuota: async () => options.quota, setStorageQuota: async () => {} };
  const meter: StorageMeter = {
    measure: async (login) => {
      measured.push(login.database);
      return used;
    },
  };
  const guard = new StorageQuotaGuard(
    { state, settings, meter },
    { defaultQuotaBytes: 1000, measureIntervalMs: options.intervalMs ?? 60_000, stateCacheMs: 60_000, awaitMeasurement: false },
  );
  return { guard, measured, setUsed: (n: number) => (used = n), claims };
}

const login = { database: 'db_1' } as TenantLogin;

describe('StorageQuotaGuard', () => {
  it('measures once per window however many writes a database gets', async () => {
    const { guard, measured } = setup({ used: 10 });
    for (let i = 0; i < 50; i++) {
      await guard.assertCanWrite('t1', 'd1', login);
      await guard.noteWrite('t1', 'd1', login);
    }
    expect(measured).toEqual(['db_1']);
  });

  it('judges the write after a large one by what that one wrote, with the quota in the error', async () => {
    const { guard } = setup({ used: 5000 });
    await guard.assertCanWrite('t1', 'd1', login); // never measured: accepted
    await guard.noteWrite('t1', 'd1', login); // not awaited (awaitMeasurement false)
    const refused = await guard.assertCanWrite('t1', 'd1', login).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(QuotaExceededError);
    expect((refused as QuotaExceededError).status).toBe(403);
    expect((refused as QuotaExceededError).toJSON()).toMatchObject({ code: 'QUOTA_EXCEEDED', used_bytes: 5000, quota_bytes: 1000 });
  });

  it('sums every database of the tenant against its own quota', async () => {
    const { guard } = setup({ used: 600, quota: 1100 });
    await guard.noteWrite('t1', 'd1', login);
    await guard.assertCanWrite('t1', 'd1', login);
    await guard.noteWrite('t1', 'd2', login);
    await expect(guard.assertCanWrite('t1', 'd2', login)).rejects.toBeInstanceOf(QuotaExceededError);
    expect(await guard.lastUsage('t1')).toMatchObject({ usedBytes: 1200, quotaBytes: 1100 });
    await guard.assertCanWrite('t2', 'd3', login); // another tenant
  });

  it('an over-quota tenant is measured again by its next write once the window passed, and accepted after deleting', async () => {
    const { guard, setUsed, measured } = setup({ used: 5000, intervalMs: 100 });
    await guard.noteWrite('t1', 'd1', login);
    await expect(guard.assertCanWrite('t1', 'd1', login)).rejects.toBeInstanceOf(QuotaExceededError);
    setUsed(10); // the tenant deleted, purge freed the pages
    await new Promise((r) => setTimeout(r, 120)); // the 100 ms window passing is the subject here
    await guard.assertCanWrite('t1', 'd1', login);
    expect(measured).toHaveLength(2);
  });

  it('a write without a login (the /migrate check) never measures', async () => {
    const { guard, measured } = setup({ used: 5000 });
    await guard.assertCanWrite('t1', 'd1');
    expect(measured).toEqual([]);
  });
});

describe('StorageQuotaGuard without its shared state', () => {
  it('refuses a write with a retryable 503 when the state cannot be read, never lets it through', async () => {
    const failing = { read: async () => Promise.reject(new Error('ECONNREFUSED')) } as unknown as StorageStateStore;
    const guard = new StorageQuotaGuard(
      { state: failing, settings: { storageQuota: async () => undefined, setStorageQuota: async () => {} }, meter: { measure: async () => 0 } },
      { defaultQuotaBytes: 1000, measureIntervalMs: 1000, stateCacheMs: 1000, awaitMeasurement: false },
    );
    await expect(guard.assertCanWrite('t1', 'd1', login)).rejects.toMatchObject({ status: 503 });
  });
});
