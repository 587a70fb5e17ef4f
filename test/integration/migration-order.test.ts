import { spawnSync } from 'node:child_process';
import { hostname } from 'node:os';
import { createConnection, type RowDataPacket } from 'mysql2/promise';
import { TEST_TLS } from '../support/mysql-tls.ts';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cascadeBatchId } from '#core/cascade';
import type { HostRunner, HostSql } from '#core/ports';
import { MysqlHostSql } from '#adapters/mysql-host-sql';
import { MysqlMigrationStore } from '#adapters/mysql-migration-store';
import { createPool } from 'mysql2/promise';
import { parseMysqlUrl } from '#shared/config';
import { migrationHelpers } from '../support/migrations.ts';
import { MYSQL_URL, startTestOctoDb, type TestOctoDb } from '../support/octodb.ts';
import { serversUp } from '../support/servers.ts';
import { startTcpProxy } from '../support/tcp-proxy.ts';
import { waitFor } from '../support/wait.ts';

let octo: TestOctoDb;
let realRunner: HostRunner;
let h: ReturnType<typeof migrationHelpers>;

beforeAll(async () => {
  octo = await startTestOctoDb({
    OCTODB_MIGRATION_BACKOFF_MS: '20',
    // Many children are signed up here from one address.
    OCTODB_RATE_SIGNUP_PER_IP: '1000/60s burst 1000',
  });
  realRunner = await octo.parts.get('hostRunner');
  h = migrationHelpers(octo);
});
/** Frozen workers a test has not released yet (it failed first): let go, so the next test's idle() ends. */
const frozenWorkers = new Set<() => void>();
afterEach(() => {
  for (const release of frozenWorkers) release();
  frozenWorkers.clear();
});
afterAll(async () => {
  await octo?.close();
});

const ITEMS = 'CREATE TABLE items (id int unsigned NOT NULL AUTO_INCREMENT, name varchar(20) NOT NULL, PRIMARY KEY (id));';
const WITH_A = 'CREATE TABLE items (id int unsigned NOT NULL AUTO_INCREMENT, name varchar(20) NOT NULL, a int DEFAULT NULL, PRIMARY KEY (id));';
const WITH_AB = 'CREATE TABLE items (id int unsigned NOT NULL AUTO_INCREMENT, name varchar(20) NOT NULL, a int DEFAULT NULL, b int DEFAULT NULL, PRIMARY KEY (id));';
const PRODUCTS = 'CREATE TABLE products (id int unsigned NOT NULL AUTO_INCREMENT, title varchar(50) NOT NULL, PRIMARY KEY (id));';
const SKU = 'CREATE TABLE products (id int unsigned NOT NULL AUTO_INCREMENT, title varchar(50) NOT NULL, sku varchar(20) DEFAULT NULL, PRIMARY KEY (id));';
const SKU_COLOR =
  'CREATE TABLE products (id int unsigned NOT NULL AUTO_INCREMENT, title varchar(50) NOT NULL, sku varchar(20) DEFAULT NULL, color varchar(9) DEFAULT NULL, PRIMARY KEY (id));';

/**
 * Job A adds `a` to items; its worker freezes right after the push went through, and Redis loses
 * its lock (the key is deleted): A is `running` and its database free. `release()` lets the frozen
 * worker go on: it finds its lock lost and stops without writing.
 */
async function frozenJob(t: Awaited<ReturnType<typeof h.tenant>>) {
  let pushed = false;
  let release!: () => void;
  const frozen = new Promise<void>((r) => (release = r));
  frozenWorkers.add(release);
  const runner: HostRunner = {
    async run(host, script, timeout) {
      const result = await realRunner.run(host, script, timeout);
      if (!pushed && script.includes('skeema push')) {
        pushed = true;
        await frozen;
      }
      return result;
    },
  };
  const restore = octo.parts.override({ hostRunner: runner });
  const a = (await h.submit(t.token, WITH_A)).jobs[0]!.job_id;
  await waitFor(() => pushed, { what: "job A's push" });
  restore();
  await (await octo.parts.get('redis')).del(`octodb:migration:lock:${t.db_id}`);
  return {
    a,
    async release() {
      release();
      await octo.invoker.idle();
    },
  };
}

const makeStale = (jobId: string) => octo.admin.query(`UPDATE ${h.meta('migration_jobs')} SET claimed_at = NOW(3) - INTERVAL 1 DAY WHERE job_id = ?`, [jobId]);

describe.skipIf(!serversUp)('jobs of one table', () => {
  it('a job waits while an earlier job of its table is unsettled (its worker died mid-push), then runs after it: nothing undone', async () => {
    const t = await h.tenant();
    await h.migrate(t.token, ITEMS);
    const { a, release } = await frozenJob(t);
    expect(await h.showCreate(t.db, 'items')).toMatch(/`a` int/);

    const b = (await h.submit(t.token, WITH_AB)).jobs[0]!.job_id;
    // B waits for A, says so, and changes nothing.
    await waitFor(async () => (await h.jobRow(b)).wait_reason === 'earlier_job' || (await h.jobRow(b)).state !== 'queued', { what: 'job B to wait or run', intervalMs: 50 });
    expect(await h.jobRow(b)).toMatchObject({ state: 'queued', wait_reason: 'earlier_job', status_reason: expect.stringContaining(a) });
    expect(await h.showCreate(t.db, 'items')).not.toMatch(/`b` int/);
    await release(); // A's frozen worker finds its lock lost: A stays running
    expect((await h.jobRow(a)).state).toBe('running');

    // The sweep takes over A; its end starts B.
    await makeStale(a);
    await h.sweep();
    await waitFor(async () => (await h.jobRow(b)).state === 'succeeded', { what: 'job B to succeed', intervalMs: 50 });
    await octo.admin.query(`INSERT INTO \`${t.db}\`.items (name, a, b) VALUES ('x', 1, 2), ('y', 3, 4)`);
    await octo.invoker.invokeAsync('migrate-run', { job_id: a });
    await h.sweep();

    expect(await h.jobRow(a)).toMatchObject({ state: 'succeeded', wait_reason: null });
    expect(await h.jobRow(b)).toMatchObject({ state: 'succeeded', wait_reason: null, status_reason: null });
    expect(await h.showCreate(t.db, 'items')).toMatch(/`a` int.*\n.*`b` int/);
    expect(await h.query(`SELECT name, a, b FROM \`${t.db}\`.items ORDER BY id`)).toEqual([
      { name: 'x', a: 1, b: 2 },
      { name: 'y', a: 3, b: 4 },
    ]);
  });

  it('a job and its database lock held by a local process that is gone are taken over by the next sweep at once, however fresh', async () => {
    const t = await h.tenant();
    await h.migrate(t.token, ITEMS);
    const { a, release } = await frozenJob(t);
    await release();
    // As a killed local OctoDB leaves them: a fresh claim and a live lock, both naming its process.
    const dead = `local:${hostname()}:${spawnSync('true').pid}:0badc0de`;
    await octo.admin.query(`UPDATE ${h.meta('migration_jobs')} SET claimed_at = NOW(3), claimed_by = ? WHERE job_id = ?`, [dead, a]);
    await (await octo.parts.get('redis')).set(`octodb:migration:lock:${t.db_id}`, `${dead}/lock`, 'PX', 60_000);
    await h.sweep();
    await waitFor(async () => (await h.jobRow(a)).state === 'succeeded', { what: 'job A to be taken over and succeed', intervalMs: 50 });
    expect(await h.showCreate(t.db, 'items')).toMatch(/`a` int/);
  });

  it("a re-run's push stops what an earlier try left running in the database instead of racing it", async () => {
    const t = await h.tenant();
    await h.migrate(t.token, ITEMS);
    // A statement of the admin account in the database, as a killed worker's push leaves one running.
    const login = parseMysqlUrl(MYSQL_URL);
    const orphan = await createConnection({ host: login.host, port: login.port, user: login.user, password: login.password, database: t.db, ssl: TEST_TLS });
    const leftOver = orphan.query('SELECT SLEEP(120)').then(() => 'ran to its end', () => 'stopped');
    await waitFor(async () => (await h.query(`SELECT 1 FROM information_schema.processlist WHERE db = ? AND info LIKE 'SELECT SLEEP%'`, [t.db])).length, { what: 'the left-over statement' });
    const started = Date.now();
    const { jobs } = await h.migrate(t.token, WITH_A);
    expect(await leftOver).toBe('stopped');
    expect(Date.now() - started).toBeLessThan(60_000);
    expect(await h.jobRow(jobs[0]!.job_id)).toMatchObject({ state: 'succeeded' });
    orphan.destroy();
  });

  it("a re-run of a job superseded by a later succeeded job changes nothing: the later job's columns and rows stay", async () => {
    const t = await h.tenant();
    await h.migrate(t.token, ITEMS);
    const { a, release } = await frozenJob(t);
    // As if A's record said it had ended (a MetaDB restored from before, a job recorded late): B runs and succeeds.
    await octo.admin.query(`UPDATE ${h.meta('migration_jobs')} SET state = 'failed' WHERE job_id = ?`, [a]);
    const b = (await h.submit(t.token, WITH_AB)).jobs[0]!.job_id;
    await waitFor(async () => (await h.jobRow(b)).state === 'succeeded', { what: 'job B to succeed', intervalMs: 50 });
    await release();
    await octo.admin.query(`INSERT INTO \`${t.db}\`.items (name, a, b) VALUES ('x', 1, 2)`);
    const table = await h.showCreate(t.db, 'items');
    const stagesBefore = (await h.stages(a)).length;

    // A is running again with a stale claim: the sweep re-runs it.
    await octo.admin.query(`UPDATE ${h.meta('migration_jobs')} SET state = 'running', claimed_at = NOW(3) - INTERVAL 1 DAY, finished_at = NULL WHERE job_id = ?`, [a]);
    await h.sweep();

    expect(await h.jobRow(a)).toMatchObject({ state: 'skipped', skip_reason: 'superseded', flagged: 0, status_reason: expect.stringContaining(b) });
    expect(await h.stages(a)).toHaveLength(stagesBefore); // no push, no rollback
    expect((await h.jobRow(b)).state).toBe('succeeded');
    expect(await h.showCreate(t.db, 'items')).toBe(table);
    expect(await h.query(`SELECT name, a, b FROM \`${t.db}\`.items`)).toEqual([{ name: 'x', a: 1, b: 2 }]);
  });

  it('a job out of tries does not roll back over a change someone else made after its backup, and says so', async () => {
    const t = await h.tenant();
    await h.migrate(t.token, ITEMS);
    const a = (await h.migrate(t.token, WITH_A)).jobs[0]!.job_id;
    // Someone else changes the table after A and writes into it.
    await octo.admin.query(`ALTER TABLE \`${t.db}\`.items ADD COLUMN c int DEFAULT NULL`);
    await octo.admin.query(`INSERT INTO \`${t.db}\`.items (name, a, c) VALUES ('x', 1, 2)`);
    const table = await h.showCreate(t.db, 'items');
    // As if A's worker had died on its last try.
    await octo.admin.query(
      `UPDATE ${h.meta('migration_jobs')} SET state = 'running', claimed_at = NOW(3) - INTERVAL 1 DAY, finished_at = NULL, follow_up = 0, attempts = 3 WHERE job_id = ?`,
      [a],
    );
    await h.sweep();

    const job = await h.jobRow(a);
    expect(job).toMatchObject({ state: 'failed', flagged: 1 });
    expect(job.status_reason).toMatch(/no tries left; not rolled back: the table was changed by another migration/);
    expect((await h.stages(a)).at(-1)).toMatchObject({ stage: 'rollback', outcome: 'failed' });
    expect(await h.showCreate(t.db, 'items')).toBe(table);
    expect(await h.query(`SELECT name, a, c FROM \`${t.db}\`.items`)).toEqual([{ name: 'x', a: 1, c: 2 }]);
  });
});

/** The children's cascade jobs of a batch, by state. */
const cascadeStates = async (batchId: string) =>
  (await h.query(`SELECT state, skip_reason, wait_reason, flagged, status_reason FROM ${h.meta('migration_jobs')} WHERE batch_id = ? ORDER BY db_id`, [batchId])) as RowDataPacket[];
const customizations = async (dbIds: string[]) => h.query(`SELECT db_id FROM ${h.meta('table_customizations')} WHERE db_id IN (?)`, [dbIds]);

describe.skipIf(!serversUp)('cascades of one parent table', () => {
  it('a second parent change while the first still cascades waits for it on each child: none customized, all get the second', async () => {
    const { adminToken, parentDb, children } = await h.parentWithChildren(8, PRODUCTS);
    for (const c of children) await octo.admin.query(`INSERT INTO \`${c.db}\`.products (title) VALUES ('kept')`);
    const realSql = await octo.parts.get('hostSql');
    // The first cascade's second ALTER (a long table copy) lasts until the second cascade has reached the children.
    let alters = 0;
    let copied!: () => void;
    const copying = new Promise<void>((r) => (copied = r));
    const hostSql: HostSql = {
      async run(host, database, statements) {
        if (statements.some((s) => /^ALTER TABLE/i.test(s)) && alters++ > 0) await copying;
        return realSql.run(host, database, statements);
      },
      close: () => realSql.close(),
    };
    const restore = octo.parts.override({ hostSql, config: { OCTODB_CASCADE_CHUNK: 2, OCTODB_CASCADE_CONCURRENCY: 1 } });
    try {
      const first = (await h.submit(adminToken, SKU)).jobs[0]!.job_id;
      await waitFor(() => alters > 1, { what: 'the first cascade to be under way' });
      const second = (await h.submit(adminToken, SKU_COLOR)).jobs[0]!.job_id;
      // The second cascade's worker has reached the children: it took some, or found them all waiting.
      const reached = async () => (await cascadeStates(cascadeBatchId(second))).some((j) => j.state !== 'queued' || j.wait_reason === 'earlier_job');
      await waitFor(reached, { what: 'the second cascade to reach the children', intervalMs: 10 });
      copied();
      await h.waitForBatch(cascadeBatchId(second), 60_000);
      await h.waitForBatch(cascadeBatchId(first), 60_000);
      await octo.invoker.idle();

      for (const parent of [first, second]) {
        expect((await cascadeStates(cascadeBatchId(parent))).map((j) => j.state)).toEqual(children.map(() => 'succeeded'));
      }
      expect(await customizations(children.map((c) => c.db_id))).toEqual([]);
      const parentDef = await h.showCreate(parentDb, 'products');
      expect(parentDef).toMatch(/`color` varchar\(9\)/);
      for (const c of children) {
        expect(await h.showCreate(c.db, 'products')).toBe(parentDef);
        expect(await h.query(`SELECT title, sku, color FROM \`${c.db}\`.products`)).toEqual([{ title: 'kept', sku: null, color: null }]);
      }
    } finally {
      copied();
      restore();
    }
  });
});

/** Each child's products as the parent's, its row kept. */
async function expectLikeParent(parentDb: string, children: Array<{ db: string }>) {
  for (const c of children) {
    expect(await h.showCreate(c.db, 'products')).toBe(await h.showCreate(parentDb, 'products'));
    expect(await h.query(`SELECT title, sku FROM \`${c.db}\`.products`)).toEqual([{ title: 'kept', sku: null }]);
  }
}

describe.skipIf(!serversUp)('cascade children and transient errors', () => {
  /** The real admin SQL, but through a proxy the test takes down and brings back. */
  async function proxiedHostSql() {
    const login = parseMysqlUrl(MYSQL_URL);
    const proxy = await startTcpProxy({ host: login.host, port: login.port });
    const hostSql = new MysqlHostSql((await octo.parts.get('logins')).admin, 4, () => ({ host: '127.0.0.1', port: proxy.port }));
    return { proxy, hostSql };
  }

  it('a child hit by a server outage goes back to the queue with backoff and gets the change once the server is back', async () => {
    const { adminToken, parentDb, children } = await h.parentWithChildren(3, PRODUCTS);
    for (const c of children) await octo.admin.query(`INSERT INTO \`${c.db}\`.products (title) VALUES ('kept')`);
    const { proxy, hostSql } = await proxiedHostSql();
    const restore = octo.parts.override({ hostSql });
    try {
      proxy.down();
      const parent = (await h.submit(adminToken, SKU)).jobs[0]!.job_id;
      const cascadeId = cascadeBatchId(parent);
      // Down for longer than the old three quick tries (20 + 40 ms of backoff) lasted.
      await waitFor(async () => (await cascadeStates(cascadeId)).some((j) => j.state === 'queued' && /transient error/.test(j.status_reason ?? '')), {
        what: 'a child to be queued again after a transient error',
        intervalMs: 20,
      });
      await new Promise((r) => setTimeout(r, 2000)); // the outage lasting: what this test is about
      expect((await cascadeStates(cascadeId)).map((j) => j.state)).not.toContain('failed');
      proxy.up();
      await h.waitForBatch(cascadeId, 60_000);
      await octo.invoker.idle();

      const jobs = await h.query(`SELECT state, attempts, flagged FROM ${h.meta('migration_jobs')} WHERE batch_id = ?`, [cascadeId]);
      expect(jobs.map((j) => j.state)).toEqual(['succeeded', 'succeeded', 'succeeded']);
      expect(Math.max(...jobs.map((j) => Number(j.attempts)))).toBeGreaterThan(3);
      await expectLikeParent(parentDb, children);
    } finally {
      restore();
      await hostSql.close();
      await proxy.close();
    }
  });

  it("a cascade worker rides out an outage of the server holding MetaDB and the children, and finishes once it is back", async () => {
    const { adminToken, parentDb, children } = await h.parentWithChildren(3, PRODUCTS);
    for (const c of children) await octo.admin.query(`INSERT INTO \`${c.db}\`.products (title) VALUES ('kept')`);
    const { proxy, hostSql } = await proxiedHostSql();
    // The migration store's MetaDB through the same proxy: the whole server goes away for the worker.
    const metaLogin = (await octo.parts.get('logins')).meta;
    const metaPool = createPool({ host: '127.0.0.1', port: proxy.port, user: metaLogin.user, password: metaLogin.password, database: octo.metaDb, ssl: TEST_TLS, connectionLimit: 4 });
    const slowAlters: HostSql = {
      async run(host, database, statements) {
        if (statements.some((s) => /^ALTER TABLE/i.test(s))) await new Promise((r) => setTimeout(r, 300));
        return hostSql.run(host, database, statements);
      },
      close: () => hostSql.close(),
    };
    const restore = octo.parts.override({ hostSql: slowAlters, migrations: new MysqlMigrationStore(metaPool, (await octo.parts.get('claimOwners')).self), config: { OCTODB_CASCADE_CHUNK: 1, OCTODB_CASCADE_CONCURRENCY: 1 } });
    try {
      const cascadeId = cascadeBatchId((await h.submit(adminToken, SKU)).jobs[0]!.job_id);
      await waitFor(async () => (await cascadeStates(cascadeId)).some((j) => j.state === 'running'), { what: 'the cascade to be under way', intervalMs: 10 });
      proxy.down();
      await new Promise((r) => setTimeout(r, 2000)); // the outage lasting: what this test is about
      proxy.up();
      await h.waitForBatch(cascadeId, 60_000);
      await octo.invoker.idle();

      expect((await cascadeStates(cascadeId)).map((j) => [j.state, j.flagged])).toEqual(children.map(() => ['succeeded', 0]));
      await expectLikeParent(parentDb, children);
    } finally {
      restore();
      await metaPool.end();
      await hostSql.close();
      await proxy.close();
    }
  });

  it('a child still failing past OCTODB_MIGRATION_TRANSIENT_RETRY_SECONDS fails, and is never marked customized at the next parent change', async () => {
    const { adminToken, children } = await h.parentWithChildren(2, PRODUCTS);
    const before = await h.showCreate(children[0]!.db, 'products');
    const { proxy, hostSql } = await proxiedHostSql();
    const restore = octo.parts.override({ hostSql, config: { OCTODB_MIGRATION_TRANSIENT_RETRY_SECONDS: 1 } });
    let first: string;
    try {
      proxy.down();
      first = (await h.submit(adminToken, SKU)).jobs[0]!.job_id;
      await h.waitForBatch(cascadeBatchId(first), 30_000);
      await octo.invoker.idle();
      const failed = await cascadeStates(cascadeBatchId(first));
      expect(failed.map((j) => j.state)).toEqual(['failed', 'failed']);
      expect(failed[0]).toMatchObject({ flagged: 1, status_reason: expect.stringMatching(/^gave up after \d+ attempts over \d+ s: /) });
    } finally {
      proxy.up();
      restore();
      await hostSql.close();
      await proxy.close();
    }
    // The server is back; the next parent change finds these children behind, not customized.
    const second = (await h.migrate(adminToken, SKU_COLOR)).jobs[0]!.job_id;
    await h.waitForBatch(cascadeBatchId(second));
    const behind = await cascadeStates(cascadeBatchId(second));
    expect(behind.map((j) => [j.state, j.skip_reason, j.flagged])).toEqual([
      ['failed', null, 1],
      ['failed', null, 1],
    ]);
    expect(behind[0]!.status_reason).toMatch(/its tenant never changed it/);
    expect(await customizations(children.map((c) => c.db_id))).toEqual([]);
    expect(await h.showCreate(children[0]!.db, 'products')).toBe(before);
  });
});
