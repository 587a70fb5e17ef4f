import { createConnection, type RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main as adminCommand } from '../../bin/admin.ts';
import { handler as adminFunction } from '../../lambdas/admin/handler.ts';
import { startTestOctoDb, type TestOctoDb } from '../support/octodb.ts';
import { serversUp } from '../support/servers.ts';
import { waitFor } from '../support/wait.ts';

let octo: TestOctoDb;
interface Tenant {
  tenant_id: string;
  db_id: string;
  token: string;
}
let a: Tenant;
let b: Tenant;
let c: Tenant | undefined;

const QUOTA = 2 * 1024 * 1024;
// ~15,000 rows of 200 characters: about 4 MB of pages, twice the quota, in one statement.
const BIG_INSERT = "INSERT INTO customers (name) SELECT REPEAT('x', 200) FROM seq_1_to_15000";
const SMALL_INSERT = "INSERT INTO customers (name, email) VALUES ('small', 's@example.com')";

async function tenant(): Promise<Tenant> {
  const t = await octo.signUp();
  await octo.waitForDatabase(t.db_id);
  return { ...t, token: await octo.token(t.email, t.password) };
}

const query = (who: Tenant, sql: string) => octo.post('/query', { query: sql }, who.token);

interface Storage {
  used_bytes: number;
  quota_bytes: number;
  measured_at: string | null;
}
const metadata = (who: Tenant) =>
  octo.post<{ size_bytes: number; storage: Storage }>('/dashboard', { action: 'get_database_metadata' }, who.token);

/**
 * InnoDB gives deleted rows' pages back when its purge thread has removed them, a few seconds after
 * the DELETE; until then every write is refused. Retries the write until the server's measure
 * shows the space free, and returns every answer it got.
 */
async function writeUntilAccepted(who: Tenant, sql: string, timeoutMs = 60_000) {
  const answers: Array<{ status: number; code: unknown }> = [];
  await waitFor(
    async () => {
      const res = await query(who, sql);
      answers.push({ status: res.status, code: res.body.code });
      return res.status !== 403;
    },
    { timeoutMs, intervalMs: 300, what: 'a write to be accepted' },
  );
  return answers;
}

/** Writes until one is refused (at most `tries`), and returns every answer it got. */
async function writeUntilRefused(who: Tenant, sql: string, tries = 5) {
  const answers: Array<{ status: number; code: unknown }> = [];
  for (let i = 0; i < tries; i++) {
    const res = await query(who, sql);
    answers.push({ status: res.status, code: res.body.code });
    if (res.status !== 200) return answers;
    // Past the 200 ms measurement window: time passing is what lets the next write be measured.
    await new Promise((r) => setTimeout(r, 250));
  }
  return answers;
}

beforeAll(async () => {
  // A short window keeps the test quick; the behaviour does not depend on it.
  octo = await startTestOctoDb({ OCTODB_STORAGE_MEASURE_INTERVAL_MS: '200', OCTODB_STORAGE_STATE_CACHE_MS: '0' });
  [a, b] = await Promise.all([tenant(), tenant()]);
  expect(await adminFunction({ action: 'set-quota', tenant_id: a.tenant_id, bytes: QUOTA })).toEqual({
    tenant_id: a.tenant_id,
    quota_bytes: QUOTA,
    default: false,
  });
}, 120_000);

afterAll(async () => {
  if (!octo) return;
  const keys = [a, b, c].filter((t) => t !== undefined).flatMap((t) => [`octodb:${octo.metaDb}:storage:${t.tenant_id}`, `octodb:${octo.metaDb}:storage-measure:${t.db_id}`]);
  if (keys.length) await (await octo.parts.get('redis')).del(...keys);
  await octo.close();
});

describe.skipIf(!serversUp)('storage quota per tenant', () => {
  it('refuses INSERT, UPDATE and /migrate of a tenant past its quota, still serves SELECT and DELETE, and accepts writes again once data is deleted', async () => {
    // The statement that crosses the quota is accepted: usage is measured after writes.
    expect((await query(a, BIG_INSERT)).status).toBe(200);

    const insert = await query(a, SMALL_INSERT);
    expect(insert.status).toBe(403);
    expect(insert.body).toMatchObject({ code: 'QUOTA_EXCEEDED', quota_bytes: QUOTA });
    expect(insert.body.error).toMatch(/^Storage quota exceeded: using \d+ of 2097152 bytes/);
    expect(Number(insert.body.used_bytes)).toBeGreaterThan(QUOTA);
    const update = await query(a, "UPDATE customers SET email = 'u@example.com' WHERE id = 1");
    expect(update).toMatchObject({ status: 403, body: { code: 'QUOTA_EXCEEDED' } });
    const migrate = await octo.post('/migrate', { sql: 'CREATE TABLE more (id int NOT NULL, PRIMARY KEY (id));' }, a.token);
    expect(migrate).toMatchObject({ status: 403, body: { code: 'QUOTA_EXCEEDED' } });

    // Nothing refused was written; reads work.
    const count = await query(a, 'SELECT COUNT(*) AS n, SUM(email IS NOT NULL) AS with_email FROM customers');
    expect(count.status).toBe(200);
    expect(count.body.data).toEqual([{ n: '15000', with_email: '0' }]);

    // The dashboard shows the fresh usage (information_schema alone still said 16 KB here).
    const over = await metadata(a);
    expect(over.status).toBe(200);
    expect(over.body.storage.used_bytes).toBeGreaterThan(QUOTA);
    expect(over.body.storage.quota_bytes).toBe(QUOTA);
    expect(over.body.storage.measured_at).not.toBeNull();
    expect(over.body.size_bytes).toBeGreaterThan(QUOTA);

    // Deleting is allowed, and once the space is free writes are accepted again.
    expect(await query(a, 'DELETE FROM customers')).toMatchObject({ status: 200, body: { rowsAffected: 15000 } });
    const answers = await writeUntilAccepted(a, SMALL_INSERT);
    expect(answers.at(-1)).toEqual({ status: 200, code: undefined });
    expect(answers.slice(0, -1).every((x) => x.status === 403 && x.code === 'QUOTA_EXCEEDED')).toBe(true);
    expect((await query(a, "UPDATE customers SET email = 'again@example.com'")).status).toBe(200);

    const under = await metadata(a);
    expect(under.body.storage.used_bytes).toBeLessThanOrEqual(QUOTA);
    expect(Date.parse(String(under.body.storage.measured_at))).toBeGreaterThan(Date.parse(String(over.body.storage.measured_at)));
  }, 120_000);

  it('leaves another tenant on the same host unaffected, with the default quota', async () => {
    expect((await query(b, BIG_INSERT)).status).toBe(200);
    expect((await query(b, SMALL_INSERT)).status).toBe(200);
    expect((await query(b, "UPDATE customers SET email = 'b@example.com' WHERE id = 1")).status).toBe(200);
    const info = await octo.post<{ storage: Storage }>('/dashboard', { action: 'get_user_info' }, b.token);
    expect(info.status).toBe(200);
    expect(info.body.storage.quota_bytes).toBe(1024 * 1024 * 1024);
    expect(info.body.storage.used_bytes).toBeGreaterThan(QUOTA);
  }, 60_000);

  it('lets an operator raise a quota: the tenant over its old one writes at once', async () => {
    expect((await query(a, BIG_INSERT)).status).toBe(200);
    // Measured at most once a window per database (the documented overshoot): a write still inside
    // the window of the previous measurement passes unmeasured, the first write after it passes and
    // starts the measurement, and the next one waits for that measurement and is refused.
    const answers = await writeUntilRefused(a, SMALL_INSERT);
    expect(answers.at(-1)).toEqual({ status: 403, code: 'QUOTA_EXCEEDED' });
    expect(answers.length).toBeLessThanOrEqual(3);
    expect(await adminFunction({ action: 'set-quota', tenant_id: a.tenant_id, bytes: null })).toMatchObject({ quota_bytes: 1024 * 1024 * 1024, default: true });
    expect((await query(a, SMALL_INSERT)).status).toBe(200);
    const [rows] = await octo.admin.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM \`${octo.metaDb}\`.tenant_quotas WHERE tenant_id = ?`, [a.tenant_id]);
    expect(Number(rows[0]!.n)).toBe(0);
  }, 60_000);

  it("measures a tenant whose own statements hold its connections: a busy tenant's writes cannot outrun its measurement", async () => {
    c = await tenant();
    await adminFunction({ action: 'set-quota', tenant_id: c.tenant_id, bytes: QUOTA });
    // 15,000 rows well under the quota, which one UPDATE then grows to about twice it.
    expect((await query(c, "INSERT INTO customers (name) SELECT 'x' FROM seq_1_to_15000")).status).toBe(200);
    const GROW = "UPDATE customers SET name = REPEAT('y', 200) WHERE id >= 2";
    const HOLD = "UPDATE customers SET email = 'held@example.com' WHERE id = 1";
    const { user, database } = await (await octo.parts.get('tenantLogins')).resolve(c.tenant_id, c.db_id);
    // Rows 1 and 2 locked from outside, each by its own transaction: GROW waits on row 2, HOLD on row 1.
    const admin = (await octo.parts.get('logins')).admin!;
    const [row1, row2] = await Promise.all([createConnection(admin), createConnection(admin)]);
    const running = async (sql: string) => {
      const [rows] = await octo.admin.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE user = ? AND info = ?', [user, sql]);
      return Number(rows[0]!.n) > 0;
    };
    try {
      for (const [conn, id] of [[row1, 1], [row2, 2]] as const) {
        await conn.query('BEGIN');
        await conn.query(`SELECT id FROM \`${database}\`.customers WHERE id = ? FOR UPDATE`, [id]);
      }
      const grown = query(c, GROW);
      await waitFor(() => running(GROW), { intervalMs: 20, what: 'the growing UPDATE to wait on the server' });
      // Held past the slow threshold, GROW makes the tenant slow: one connection at a time. HOLD waits for it.
      const held = query(c, HOLD);
      await new Promise((r) => setTimeout(r, 500));
      await row2.query('COMMIT');
      expect((await grown).status).toBe(200);
      // HOLD took the tenant's one connection as GROW let go, and waits on row 1 while the
      // measurement GROW started runs: OctoDB's upkeep is not held back by the tenant's own statements.
      await waitFor(() => running(HOLD), { intervalMs: 20, what: 'HOLD to run' });
      const refused = await query(c, SMALL_INSERT);
      expect(refused).toMatchObject({ status: 403, body: { code: 'QUOTA_EXCEEDED', quota_bytes: QUOTA } });
      expect(Number(refused.body.used_bytes)).toBeGreaterThan(QUOTA);
      await row1.query('COMMIT');
      expect((await held).status).toBe(200);
    } finally {
      await Promise.all([row1.end(), row2.end()]);
      await adminFunction({ action: 'set-quota', tenant_id: c.tenant_id, bytes: null });
    }
  }, 60_000);

  it('refuses set-quota for bad input and unknown tenants, changing nothing', async () => {
    expect((await adminFunction({ action: 'set-quota', tenant_id: a.tenant_id, bytes: -1 })).error).toMatch(/bytes/);
    expect((await adminFunction({ action: 'set-quota', tenant_id: a.tenant_id, bytes: 1.5 })).error).toMatch(/bytes/);
    expect((await adminFunction({ action: 'set-quota', tenant_id: 'x', bytes: 5 })).error).toMatch(/tenant_id/);
    expect((await adminFunction({ action: 'set-quota', tenant_id: '00000000-0000-4000-8000-000000000000', bytes: 5 })).error).toBe('Tenant not found');
    const env = { OCTODB_ADMIN_FUNCTION: 'OctoDb-admin' };
    const invoked: unknown[] = [];
    const lambda = async (_name: string, payload: Record<string, unknown>) => {
      invoked.push(payload);
      return adminFunction(payload);
    };
    expect(await adminCommand(['set-quota', '--tenant', a.tenant_id, '--bytes', '12abc'], env, lambda)).toBe(2);
    expect(invoked).toEqual([]);
    expect(await adminCommand(['set-quota', '--tenant', b.tenant_id, '--bytes', '5000000'], env, lambda)).toBe(0);
    expect(invoked).toEqual([{ action: 'set-quota', tenant_id: b.tenant_id, bytes: 5_000_000 }]);
    const [rows] = await octo.admin.query<RowDataPacket[]>(`SELECT tenant_id, storage_bytes FROM \`${octo.metaDb}\`.tenant_quotas`);
    expect(rows.map((r) => ({ ...r, storage_bytes: Number(r.storage_bytes) }))).toEqual([{ tenant_id: b.tenant_id, storage_bytes: 5_000_000 }]);
  });
});
