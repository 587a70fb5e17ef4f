import { createConnection, type RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestOctoDb, type TestOctoDb } from '../support/octodb.ts';
import { serversUp } from '../support/servers.ts';
import { waitFor } from '../support/wait.ts';

/**
 * Eight pooled connections shared by every tenant; attackers are separate signed-up accounts
 * (separate tenants) each flooding /query with slow cartesian SELECTs that only the time limit
 * stops. The victim's light load must still be served: per-tenant cap, the reserve for tenants
 * holding none, and fewest-held-first hand-over.
 */
const ATTACKERS = 3;
const PER_ATTACKER = 5; // statements each attacker keeps in flight: more than its share
// 9 × 10^8 row combinations: slow, yet under the server's estimate bound (OCTODB_QUERY_MAX_JOIN_ROWS).
const SLOW = 'SELECT COUNT(*) AS n FROM seq_1_to_100000 x, seq_1_to_9000 y';

let octo: TestOctoDb;
type Tenant = { tenant_id: string; db_id: string; token: string };
let victim: Tenant;
let attackers: Tenant[];
/** A tenant that runs nothing slow: never held back by the caps on slow tenants. */
let bystander: Tenant;

beforeAll(async () => {
  octo = await startTestOctoDb({
    OCTODB_QUERY_POOL_SIZE: '8',
    OCTODB_QUERY_TENANT_CONCURRENCY: '2',
    OCTODB_QUERY_TIMEOUT_MS: '3000',
    OCTODB_QUERY_ACQUIRE_TIMEOUT_MS: '1000',
    // The pool's share alone: charging connection time would refuse the attackers (429) after their first statements.
    OCTODB_RATE_QUERY_MS_PER_TOKEN: '0',
  });
  const signed = await Promise.all(Array.from({ length: ATTACKERS + 2 }, () => octo.signUp()));
  await Promise.all(signed.map((t) => octo.waitForDatabase(t.db_id)));
  const tenants = await Promise.all(signed.map(async (t) => ({ ...t, token: await octo.token(t.email, t.password) })));
  victim = tenants[0]!;
  attackers = tenants.slice(1, ATTACKERS + 1);
  bystander = tenants[ATTACKERS + 1]!;
});
afterAll(async () => octo?.close());

const query = (t: Tenant, sql: string) => octo.post<{ code?: string }>('/query', { query: sql }, t.token);

/** Attacker statements on the server now, per MySQL user. */
async function runningPerAttacker(users: string[]): Promise<number[]> {
  const [rows] = await octo.admin.query<RowDataPacket[]>(
    "SELECT user, COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE user IN (?) AND info LIKE 'SELECT COUNT(*)%' GROUP BY user",
    [users],
  );
  return users.map((u) => Number(rows.find((r) => r.user === u)?.n ?? 0));
}

describe.skipIf(!serversUp)('fair share of the /query pool between tenants', () => {
  it("serves a victim's SELECT 1 while several attacker tenants run slow statements", async () => {
    const users = await Promise.all(attackers.map(async (t) => (await (await octo.parts.get('tenantLogins')).resolve(t.tenant_id, t.db_id)).user));
    let attacking = true;
    const attackerAnswers: number[] = [];
    const loops = attackers.flatMap((t) =>
      Array.from({ length: PER_ATTACKER }, async () => {
        while (attacking) attackerAnswers.push((await query(t, SLOW)).status);
      }),
    );
    try {
      // Wait until the attackers hold all they can (the timeout guards against waiting for ever, it is not a timed assertion).
      await waitFor(async () => (await runningPerAttacker(users)).reduce((x, y) => x + y, 0) >= 6, { timeoutMs: 30_000, intervalMs: 20, what: 'the attackers to hold six connections' });
      const victimAnswers: Array<{ status: number; code?: string }> = [];
      const most: number[] = [];
      for (let i = 0; i < 10; i++) {
        const res = await query(victim, 'SELECT 1 AS one');
        victimAnswers.push({ status: res.status, code: res.body.code });
        most.push(Math.max(...(await runningPerAttacker(users))));
      }
      expect(victimAnswers).toEqual(Array.from({ length: 10 }, () => ({ status: 200, code: undefined })));
      // No attacker ever ran more than its cap at once.
      expect(Math.max(...most)).toBeLessThanOrEqual(2);
    } finally {
      attacking = false;
      await Promise.all(loops);
    }
    // Attackers were answered too: stopped by the time limit (408) or told to wait their turn (503 BUSY).
    expect(attackerAnswers.length).toBeGreaterThan(0);
    expect(attackerAnswers.every((s) => s === 408 || s === 503)).toBe(true);
  });
});

describe.skipIf(!serversUp)('one write of a tenant at a time', () => {
  it("queues a tenant's second write (then 503 BUSY) while its first runs, and serves other tenants' writes meanwhile", async () => {
    // Neither ran anything slow before: only the write cap can hold back the writer's second write.
    const [writer, other] = [victim, bystander];
    const logins = await octo.parts.get('tenantLogins');
    const { user, database } = await logins.resolve(writer.tenant_id, writer.db_id);
    for (const t of [writer, other]) expect((await query(t, "INSERT INTO customers (id, name, email) VALUES (7, 'w', 'w@example.com')")).status).toBe(200);
    // The row the writer's UPDATEs need is locked from outside: its first write waits on the server.
    const locker = await createConnection((await octo.parts.get('logins')).admin!);
    await locker.query('BEGIN');
    await locker.query(`SELECT id FROM \`${database}\`.customers WHERE id = 7 FOR UPDATE`);
    const onServer = async () => {
      const [rows] = await octo.admin.query<RowDataPacket[]>("SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE user = ? AND info LIKE 'UPDATE customers%'", [user]);
      return Number(rows[0]!.n);
    };
    try {
      const writes = [1, 2, 3].map((n) => query(writer, `UPDATE customers SET name = 'v${n}' WHERE id = 7`));
      await waitFor(async () => (await onServer()) > 0, { timeoutMs: 10_000, intervalMs: 20, what: "the writer's first UPDATE on the server" });
      // Its tenant cap (2) would let two run; the write cap lets one, until the queued two give up (1 s).
      const seen: number[] = [];
      for (const end = Date.now() + 800; Date.now() < end; ) seen.push(await onServer());
      expect(Math.max(...seen)).toBe(1);
      expect((await query(other, "UPDATE customers SET name = 'x' WHERE id = 7")).status).toBe(200);
      const answers = await Promise.all(writes);
      // The first is stopped by the time limit (the lock outlives it); the queued two waited their turn.
      expect(answers.map((r) => `${r.status} ${r.body.code ?? ''}`).sort()).toEqual(['408 STATEMENT_TIMEOUT', '503 BUSY', '503 BUSY']);
      expect(answers.filter((r) => r.status === 503).map((r) => (r.body as { error?: string }).error)).toEqual([
        'Too many writes of this tenant at once (at most 1 run together), try again',
        'Too many writes of this tenant at once (at most 1 run together), try again',
      ]);
    } finally {
      await locker.query('ROLLBACK');
      await locker.end();
    }
  });
});
