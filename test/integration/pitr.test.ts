import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseName } from '#core/ids';
import { type RestoreView, sweepBaseBackups } from '#core/pitr';
import { adminRoot, pitrRoot } from '#adapters/roots';
import { setTenantQuota } from '#core/storage-quotas';
import { startTestOctoDb, type TestOctoDb } from '../support/octodb.ts';
import { serversUp } from '../support/servers.ts';
import { waitFor } from '../support/wait.ts';

let octo: TestOctoDb;
let backupDir: string;
beforeAll(async () => {
  backupDir = mkdtempSync(join(tmpdir(), 'octodb-pitr-'));
  octo = await startTestOctoDb({ OCTODB_BACKUP_DIR: backupDir, OCTODB_MIGRATION_BACKOFF_MS: '20' });
});
afterAll(async () => {
  await octo?.close();
  rmSync(backupDir, { recursive: true, force: true });
});

const meta = (table: string) => `\`${octo.metaDb}\`.${table}`;
async function rows(sql: string, params: unknown[] = []) {
  const [r] = await octo.admin.query<RowDataPacket[]>(sql, params);
  return r;
}
/** A ready tenant whose first base backup is taken (LF6 takes it right after provisioning). */
async function tenant() {
  const t = await octo.signUp();
  expect((await octo.waitForDatabase(t.db_id)).status).toBe('ready');
  await waitFor(async () => (await rows(`SELECT COUNT(*) AS n FROM ${meta('base_backups')} WHERE db_id = ?`, [t.db_id]))[0]!.n > 0, { what: 'the base backup' });
  return { ...t, token: await octo.token(t.email, t.password) };
}
type Tenant = Awaited<ReturnType<typeof tenant>>;
const query = async (t: Tenant, sql: string, dbId?: string) => {
  const res = await octo.post<{ data: Record<string, unknown>[] }>('/query', { query: sql, ...(dbId ? { db_id: dbId } : {}) }, t.token);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.data;
};
const dashboard = <T = Record<string, unknown>>(token: string, body: Record<string, unknown>) => octo.post<T>('/dashboard', body, token);
const orders = (dbId: string) => rows(`SELECT id, total, status FROM \`${databaseName(dbId)}\`.orders ORDER BY id`).then((r) => r.map((o) => `${o.id}:${o.total}:${o.status}`));
const columns = (dbId: string, table: string) =>
  rows('SELECT column_name AS c FROM information_schema.columns WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position', [databaseName(dbId), table]).then((r) => r.map((c) => String(c.c)));

/** The replay is to the second (binlog events carry whole seconds): a test's writes and its noted time stand in different seconds. */
const nextSecond = () => new Promise((r) => setTimeout(r, 1100));

async function restore(token: string, body: Record<string, unknown>): Promise<RestoreView> {
  const res = await dashboard<RestoreView>(token, { action: 'restore_database', ...body });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  expect(res.body.state).toBe('queued');
  const done = await waitFor(
    async () => {
      const s = await dashboard<RestoreView>(token, { action: 'get_restore_status', restore_id: res.body.restore_id });
      return s.body.state !== 'queued' && s.body.state !== 'running' && s.body;
    },
    { timeoutMs: 120_000, intervalMs: 200, what: 'the restore to end' },
  );
  expect(done, JSON.stringify(done)).toMatchObject({ state: 'succeeded', reason: null });
  return done;
}

describe.skipIf(!serversUp)('point-in-time restore (/dashboard restore_database)', () => {
  let a: Tenant;
  let b: Tenant;
  let noted: Date;
  let beforeInPlace: Date;

  beforeAll(async () => {
    [a, b] = await Promise.all([tenant(), tenant()]);
    await query(a, "INSERT INTO orders (id, customer_id, total, status) VALUES (1, 7, 10.00, 'new'), (2, 7, 20.00, 'new')");
    await query(b, "INSERT INTO orders (id, customer_id, total) VALUES (1, 9, 1.00)");
    await nextSecond();
    noted = new Date();
    await nextSecond();
    // After the noted time: rows changed and deleted, one added, a column added by /migrate; B writes in the same period.
    await query(a, "INSERT INTO orders (id, customer_id, total) VALUES (3, 8, 30.00)");
    await query(a, 'DELETE FROM orders WHERE id = 1');
    await query(a, "UPDATE orders SET status = 'paid' WHERE id = 2");
    await query(b, "INSERT INTO orders (id, customer_id, total) VALUES (2, 9, 2.00)");
    const migrate = await octo.post<{ batch_id: string }>(
      '/migrate',
      { sql: 'CREATE TABLE customers (id bigint unsigned NOT NULL AUTO_INCREMENT, name varchar(200) NOT NULL, email varchar(254) DEFAULT NULL, phone varchar(30) DEFAULT NULL, created_at datetime NOT NULL DEFAULT CURRENT_TIMESTAMP, PRIMARY KEY (id)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;' },
      a.token,
    );
    expect(migrate.status, JSON.stringify(migrate.body)).toBe(202);
    await waitFor(async () => (await rows(`SELECT finished_at FROM ${meta('migration_batches')} WHERE batch_id = ?`, [migrate.body.batch_id]))[0]?.finished_at, { what: 'the migration' });
    expect(await columns(a.db_id, 'customers')).toContain('phone');
    await nextSecond();
    beforeInPlace = new Date();
    await nextSecond();
  }, 180_000);

  it('restores into a new database of the same tenant: the rows and schema of the noted time, none of another tenant', async () => {
    // LF6 done before /dashboard answers, as a fast machine can do locally: the answer is still the queued restore.
    const restoreInvoker = octo.parts.override({
      invoker: { invokeAsync: async (fn, payload) => (await octo.invoker.invokeAsync(fn, payload), await octo.invoker.idle()) },
    });
    const done = await restore(a.token, { db_id: a.db_id, to_time: noted.toISOString(), target: 'new' }).finally(restoreInvoker);
    expect(done.target_db_id).not.toBe(a.db_id);
    expect(await orders(done.target_db_id)).toEqual(['1:10.00:new', '2:20.00:new']);
    expect(await columns(done.target_db_id, 'customers')).not.toContain('phone');
    // Recorded as the tenant's, ready, and reachable with its token (its own MySQL user and password).
    const listed = await dashboard<{ databases: { db_id: string; status: string }[] }>(a.token, { action: 'list_databases' });
    expect(listed.body.databases).toContainEqual(expect.objectContaining({ db_id: done.target_db_id, status: 'ready' }));
    expect(await query(a, 'SELECT id FROM orders ORDER BY id', done.target_db_id)).toEqual([{ id: '1' }, { id: '2' }]); // bigint ids come as strings
    // The source and the other tenant are as they were.
    expect(await orders(a.db_id)).toEqual(['2:20.00:paid', '3:30.00:new']);
    expect(await orders(b.db_id)).toEqual(['1:1.00:new', '2:2.00:new']);
    // The restored database has its own base backup: it can be restored in turn.
    expect((await rows(`SELECT reason FROM ${meta('base_backups')} WHERE db_id = ?`, [done.target_db_id])).map((r) => r.reason)).toEqual(['provisioned']);
    expect(readdirSync(join(backupDir, 'base', databaseName(a.db_id))).every((f) => /^\d{8}T\d{6}Z\.sql\.gz$/.test(f))).toBe(true);
    // Someone else's restore is not found, like someone else's database.
    expect(await dashboard(b.token, { action: 'get_restore_status', restore_id: done.restore_id })).toMatchObject({ status: 404, body: { code: 'RESTORE_NOT_FOUND' } });
  }, 180_000);

  it('restores in place after backing the current state up; the state before it stays restorable', async () => {
    await restore(a.token, { db_id: a.db_id, to_time: noted.toISOString(), target: 'in_place' });
    expect(await orders(a.db_id)).toEqual(['1:10.00:new', '2:20.00:new']);
    expect(await columns(a.db_id, 'customers')).not.toContain('phone');
    expect(await orders(b.db_id)).toEqual(['1:1.00:new', '2:2.00:new']);
    expect(await query(a, 'SELECT id FROM orders ORDER BY id')).toEqual([{ id: '1' }, { id: '2' }]); // the tenant's grants hold (bigint ids come as strings)
    const reasons = (await rows(`SELECT reason FROM ${meta('base_backups')} WHERE db_id = ? ORDER BY finished_at`, [a.db_id])).map((r) => r.reason);
    expect(reasons).toEqual(['provisioned', 'before_restore', 'after_restore']);
    // What it held just before the restore comes back from the binlog too (into a new database).
    const undo = await restore(a.token, { db_id: a.db_id, to_time: beforeInPlace.toISOString(), target: 'new' });
    expect(await orders(undo.target_db_id)).toEqual(['2:20.00:paid', '3:30.00:new']);
    expect(await columns(undo.target_db_id, 'customers')).toContain('phone');
    // A time while it was being restored in place cannot be replayed: refused, not guessed.
    const during = (await rows(`SELECT started_at FROM ${meta('database_restores')} WHERE db_id = ? AND target = 'in_place'`, [a.db_id]))[0]!.started_at as Date;
    expect(await dashboard(a.token, { action: 'restore_database', db_id: a.db_id, to_time: new Date(during.getTime() + 500).toISOString(), target: 'new' })).toMatchObject({
      status: 400,
      body: { code: 'TIME_DURING_RESTORE' },
    });
  }, 240_000);

  it("lets an admin restore any tenant's database (the new one is that tenant's); refuses a second restore for the same tenant while one runs", async () => {
    const admin = await octo.signUpAdmin();
    const first = await dashboard<RestoreView>(admin.token, { action: 'restore_database', db_id: b.db_id, to_time: noted.toISOString(), target: 'new' });
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    expect(await dashboard(b.token, { action: 'restore_database', db_id: b.db_id, to_time: noted.toISOString(), target: 'new' })).toMatchObject({ status: 409, body: { code: 'RESTORE_RUNNING' } });
    const done = await waitFor(async () => {
      const s = await dashboard<RestoreView>(admin.token, { action: 'get_restore_status', restore_id: first.body.restore_id });
      return s.body.state === 'succeeded' && s.body;
    }, { timeoutMs: 120_000, intervalMs: 200, what: 'the admin restore' });
    expect(await orders(done.target_db_id)).toEqual(['1:1.00:new']);
    expect((await rows(`SELECT tenant_id FROM ${meta('tenant_databases')} WHERE db_id = ?`, [done.target_db_id]))[0]!.tenant_id).toBe(b.tenant_id);
    // B sees the restore of its database; the admin's own list does not hold B's new database.
    expect((await dashboard(b.token, { action: 'get_restore_status', restore_id: done.restore_id })).status).toBe(200);
  }, 180_000);

  it.each([
    ['a time in the future', () => ({ db_id: a.db_id, to_time: new Date(Date.now() + 60_000).toISOString(), target: 'new' }), 400, 'TIME_IN_FUTURE'],
    ['a time before the oldest base backup', () => ({ db_id: a.db_id, to_time: '2000-01-01T00:00:00Z', target: 'new' }), 400, 'BEFORE_OLDEST_BACKUP'],
    ["another tenant's database", () => ({ db_id: b.db_id, to_time: noted.toISOString(), target: 'new' }), 404, 'DATABASE_NOT_FOUND'],
    ['a database that does not exist', () => ({ db_id: '0'.repeat(32), to_time: noted.toISOString(), target: 'new' }), 404, 'DATABASE_NOT_FOUND'],
  ])('refuses %s', async (_what, body, status, code) => {
    const before = (await rows(`SELECT COUNT(*) AS n FROM ${meta('database_restores')}`))[0]!.n;
    const res = await dashboard(a.token, { action: 'restore_database', ...body() });
    expect(res, JSON.stringify(res.body)).toMatchObject({ status, body: { code } });
    if (code === 'BEFORE_OLDEST_BACKUP') expect(Date.parse(String(res.body.oldest_restorable_at))).toBeLessThan(noted.getTime());
    expect((await rows(`SELECT COUNT(*) AS n FROM ${meta('database_restores')}`))[0]!.n).toBe(before);
  });

  it.each([
    ['a time without its offset', { to_time: '2026-01-31T12:00:00', target: 'new' }],
    ['a time that is no time', { to_time: 'yesterday', target: 'new' }],
    ['an oversized time', { to_time: `2026-01-31T12:00:00${'0'.repeat(5000)}Z`, target: 'new' }],
    ['an unknown target', { to_time: '2026-01-31T12:00:00Z', target: 'elsewhere' }],
    ['no target', { to_time: '2026-01-31T12:00:00Z' }],
    ['a malformed db_id', { db_id: 'db_x; DROP DATABASE y', to_time: '2026-01-31T12:00:00Z', target: 'new' }],
  ])('answers 400 for %s', async (_what, body) => {
    const res = await dashboard(a.token, { action: 'restore_database', db_id: a.db_id, ...body });
    expect(res.status, JSON.stringify(res.body)).toBe(400);
  });

  it('refuses an API key: a restore rewrites data, the tenant token only', async () => {
    const key = await dashboard<{ key: string }>(a.token, { action: 'create_api_key', name: 'pitr', scope: 'write' });
    expect(key.status).toBe(200);
    expect((await dashboard(key.body.key, { action: 'restore_database', db_id: a.db_id, to_time: noted.toISOString(), target: 'new' })).status).toBe(403);
  });
});

describe.skipIf(!serversUp)('base backups: failure, schedule, expiry and erasure', () => {
  it("ends a restore whose base's binlog is gone `failed`, with why, and leaves no target behind", async () => {
    const t = await tenant();
    // A base backup whose binlog the server no longer has (retention ran past it): its header names it.
    const key = `base/${databaseName(t.db_id)}/20000101T000000Z.sql.gz`;
    writeFileSync(join(backupDir, key), gzipSync("-- CHANGE MASTER TO MASTER_LOG_FILE='octodb-bin.999999', MASTER_LOG_POS=4;\n"));
    await rows(
      `INSERT INTO ${meta('base_backups')} (backup_key, db_id, host_id, reason, binlog_file, binlog_pos, size_bytes, started_at, finished_at)
       SELECT ?, db_id, host_id, 'scheduled', 'octodb-bin.999999', 4, 1, CURRENT_TIMESTAMP(3), CURRENT_TIMESTAMP(3) FROM ${meta('tenant_databases')} WHERE db_id = ?`,
      [key, t.db_id],
    );
    const res = await dashboard<RestoreView>(t.token, { action: 'restore_database', db_id: t.db_id, to_time: new Date().toISOString(), target: 'new' });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const done = await waitFor(async () => {
      const s = await dashboard<RestoreView>(t.token, { action: 'get_restore_status', restore_id: res.body.restore_id });
      return s.body.state === 'failed' && s.body;
    }, { timeoutMs: 60_000, intervalMs: 200, what: 'the restore to fail' });
    expect(done.reason).toMatch(/binary logs .* expired/);
    expect(await rows('SELECT schema_name FROM information_schema.schemata WHERE schema_name = ?', [databaseName(done.target_db_id)])).toEqual([]);
    expect(await rows(`SELECT db_id FROM ${meta('tenant_databases')} WHERE db_id = ?`, [done.target_db_id])).toEqual([]);
  });

  it('takes a base backup of each database due, and deletes expired ones but never the newest', async () => {
    const t = await tenant();
    const deps = await pitrRoot(undefined, octo.parts);
    const keys = async () => (await rows(`SELECT backup_key, deleted_at FROM ${meta('base_backups')} WHERE db_id = ? ORDER BY finished_at`, [t.db_id])).map((r) => [r.backup_key, r.deleted_at !== null]);
    const taken = await sweepBaseBackups({ ...deps, pitr: { ...deps.pitr, baseBackupHours: 0 } });
    expect(taken.taken).toBeGreaterThan(0);
    const [first, second] = await keys();
    expect([first?.[1], second?.[1]]).toEqual([false, false]);
    const expired = await sweepBaseBackups({ ...deps, pitr: { ...deps.pitr, baseBackupHours: 1000, baseBackupDays: 0 } });
    expect(expired).toMatchObject({ taken: 0 });
    expect(await keys()).toEqual([[first![0], true], [second![0], false]]);
    const files = readdirSync(join(backupDir, 'base', databaseName(t.db_id)));
    expect(files.map((f) => `base/${databaseName(t.db_id)}/${f}`)).toEqual([second![0]]);
  });

  it('refuses a copy into a new database past the storage quota', async () => {
    const t = await tenant();
    await setTenantQuota({ tenantId: t.tenant_id, bytes: 1 }, await adminRoot(octo.parts).setQuota());
    await octo.post('/query', { query: 'INSERT INTO orders (customer_id, total) VALUES (1, 1)' }, t.token); // measured after it
    try {
      const refused = await waitFor(async () => {
        const r = await dashboard(t.token, { action: 'restore_database', db_id: t.db_id, to_time: new Date().toISOString(), target: 'new' });
        return r.status !== 200 && r;
      }, { what: 'the quota to be seen over' });
      expect(refused).toMatchObject({ status: 403, body: { code: 'QUOTA_EXCEEDED', quota_bytes: 1 } });
    } finally {
      await (await octo.parts.get('redis')).del(`octodb:${octo.metaDb}:storage:${t.tenant_id}`, `octodb:${octo.metaDb}:storage-measure:${t.db_id}`);
    }
  });

  it("erases a tenant's base backups (files and rows) with its account", async () => {
    const t = await tenant();
    expect(readdirSync(join(backupDir, 'base', databaseName(t.db_id))).length).toBe(1);
    expect((await dashboard(t.token, { action: 'delete_account', password: t.password })).status).toBe(200);
    await waitFor(async () => (await rows(`SELECT state FROM ${meta('tenant_erasures')} WHERE tenant_id = ?`, [t.tenant_id]))[0]?.state === 'done', { timeoutMs: 60_000, what: 'the erasure' });
    expect(readdirSync(join(backupDir, 'base'))).not.toContain(databaseName(t.db_id));
    expect(await rows(`SELECT backup_key FROM ${meta('base_backups')} WHERE db_id = ?`, [t.db_id])).toEqual([]);
  });
});
