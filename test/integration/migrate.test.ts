import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import type { RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildAlterPlanScript, buildTableSkeemaScript, newScriptMarkers } from '#core/host-scripts';
import { databaseName, scratchSchemaName, tempSchemaName } from '#core/ids';
import { cascadeBatchId, WAITING_FOR_DATABASE } from '#core/cascade';
import { StatementTimeoutError } from '#core/errors';
import { ddlOf } from '#core/skeema';
import type { HostRunner, HostSql, Invoker, LogRecord } from '#core/ports';
import { MysqlHostSql } from '#adapters/mysql-host-sql';
import type { PartTypes } from '#adapters/parts';
import { main as adminMain } from '../../bin/admin.ts';
import { type MailgunCapture, startMailgunCapture } from '../support/mailgun-capture.ts';
import { MYSQL_URL, startTestOctoDb, type TestOctoDb } from '../support/octodb.ts';
import { TEST_TLS } from '../support/mysql-tls.ts';
import { parseMysqlUrl } from '#shared/config';
import { serversUp } from '../support/servers.ts';
import { waitFor } from '../support/wait.ts';

const ADMIN_EMAIL = 'ops@example.com';
let octo: TestOctoDb;
let mailgun: MailgunCapture;
let realRunner: HostRunner;
/** The real parts the functions use; a test swaps one only through octo.parts.override, restored in finally. */
let real: Pick<PartTypes, 'meta' | 'migrationLocks' | 'migrations' | 'redis'>;

beforeAll(async () => {
  mailgun = await startMailgunCapture();
  octo = await startTestOctoDb({
    OCTODB_MIGRATION_BACKOFF_MS: '20',
    OCTODB_MAILGUN_API_KEY: 'key-test-123',
    OCTODB_MAILGUN_DOMAIN: 'mg.example.com',
    OCTODB_MAILGUN_URL: mailgun.url,
    OCTODB_ADMIN_EMAIL: ADMIN_EMAIL,
  });
  realRunner = await octo.parts.get('hostRunner');
  real = await octo.parts.pick('meta', 'migrationLocks', 'migrations', 'redis');
});
afterAll(async () => {
  await octo?.close();
  await mailgun?.close();
});

const meta = (table: string) => `\`${octo.metaDb}\`.${table}`;
async function tenant(overrides: Record<string, unknown> = {}) {
  const t = await octo.signUp(overrides);
  expect((await octo.waitForDatabase(t.db_id)).status).toBe('ready');
  return { ...t, token: await octo.token(t.email, t.password), db: databaseName(t.db_id) };
}
async function waitForBatch(batchId: string, timeoutMs = 30_000) {
  await waitFor(
    async () => (await octo.admin.query<RowDataPacket[]>(`SELECT finished_at FROM ${meta('migration_batches')} WHERE batch_id = ?`, [batchId]))[0][0]?.finished_at,
    { timeoutMs, intervalMs: 50, what: `batch ${batchId} to finish` },
  );
}
async function migrate(token: string, sql: string, extra: Record<string, unknown> = {}) {
  const res = await octo.post<{ batch_id: string; jobs: Array<{ job_id: string; table: string }> }>('/migrate', { sql, ...extra }, token);
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  await waitForBatch(res.body.batch_id);
  // The batch's emails go out after it is marked finished: let the worker end.
  await octo.invoker.idle();
  return res.body;
}
async function jobRow(jobId: string) {
  const [rows] = await octo.admin.query<RowDataPacket[]>(`SELECT * FROM ${meta('migration_jobs')} WHERE job_id = ?`, [jobId]);
  return rows[0]!;
}
async function stages(jobId: string) {
  const [rows] = await octo.admin.query<RowDataPacket[]>(`SELECT stage, outcome, attempt, detail, started_at, finished_at FROM ${meta('migration_audit')} WHERE job_id = ? ORDER BY audit_id`, [jobId]);
  return rows;
}
async function showCreate(db: string, table: string) {
  const [rows] = await octo.admin.query<RowDataPacket[]>(`SHOW CREATE TABLE \`${db}\`.\`${table}\``);
  return String(rows[0]!['Create Table']).replace(/ AUTO_INCREMENT=\d+/, '');
}
async function rows(db: string, sql: string) {
  const [r] = await octo.admin.query<RowDataPacket[]>(sql.replaceAll('$db', `\`${db}\``));
  return r;
}
const jobCount = async () => Number((await octo.admin.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM ${meta('migration_jobs')}`))[0][0]!.n);

/** The parent change the cascade tests apply: products gains `sku`. Returns the cascade's batch id. */
async function addSkuOnParent(adminToken: string): Promise<string> {
  const sub = await octo.post<{ batch_id: string; jobs: Array<{ job_id: string }> }>(
    '/migrate',
    { sql: 'CREATE TABLE products (id int unsigned NOT NULL AUTO_INCREMENT, title varchar(50) NOT NULL, sku varchar(20) DEFAULT NULL, PRIMARY KEY (id));' },
    adminToken,
  );
  await waitForBatch(sub.body.batch_id);
  return cascadeBatchId(sub.body.jobs[0]!.job_id);
}

/** An admin whose parent database holds `products`, and `n` ready children created from it. */
async function parentWithChildren(n: number) {
  const admin = await octo.signUpAdmin();
  const adminToken = admin.token;
  await migrate(adminToken, 'CREATE TABLE products (id int unsigned NOT NULL AUTO_INCREMENT, title varchar(50) NOT NULL, PRIMARY KEY (id));');
  const children: Array<Awaited<ReturnType<typeof tenant>>> = [];
  for (let i = 0; i < n; i++) children.push(await tenant({ template: admin.db_id }));
  return { admin, adminToken, parentDb: databaseName(admin.db_id), children };
}

/** The parent change the cascade tests apply: products gains `sku`. */
const SKU = 'CREATE TABLE products (id int unsigned NOT NULL AUTO_INCREMENT, title varchar(50) NOT NULL, sku varchar(20) DEFAULT NULL, PRIMARY KEY (id));';
const ITEMS = 'CREATE TABLE items (id int unsigned NOT NULL AUTO_INCREMENT, name varchar(20) NOT NULL, PRIMARY KEY (id));';

describe.skipIf(!serversUp)('POST /migrate input', () => {
  let t: Awaited<ReturnType<typeof tenant>>;
  beforeAll(async () => {
    t = await tenant();
  });

  it.each([
    ['no sql', {}, 400, /sql/],
    ['sql of wrong type', { sql: 42 }, 400, /sql/],
    ['an empty sql', { sql: '' }, 400, /sql is required/],
    ['sql over 64 KB', { sql: `CREATE TABLE t (id int COMMENT '${'x'.repeat(70_000)}');` }, 400, /64 KB/],
    ['an unknown field', { sql: ITEMS, drop: true }, 400, /drop: unknown field/],
    ['allow_unsafe of wrong type', { sql: ITEMS, allow_unsafe: 'yes' }, 400, /allow_unsafe/],
    ['a malformed db_id', { sql: ITEMS, db_id: '../x' }, 400, /db_id/],
    ['a DROP TABLE', { sql: 'DROP TABLE customers;' }, 403, /only CREATE TABLE/],
    ['a valid table followed by an INSERT', { sql: `${ITEMS} INSERT INTO items VALUES (1, 'x');` }, 403, /statement 2/],
    ['a comment hiding text', { sql: `${ITEMS} -- DROP TABLE customers` }, 403, /comments/],
    ['a missing semicolon', { sql: ITEMS.slice(0, -1) }, 400, /semicolon/],
    ['another tenant database by name', { sql: 'CREATE TABLE db_0.t (id int);' }, 403, /own database/],
    ['a DEFAULT reading a server variable', { sql: 'CREATE TABLE t (id int, d varchar(200) DEFAULT (@@datadir));' }, 403, /system variable @@datadir/],
    ["a DEFAULT probing another database's sequence", { sql: 'CREATE TABLE t (id int DEFAULT (NEXTVAL(otherdb.seq)));' }, 403, /qualified name otherdb.seq/],
    ['a generated column calling SLEEP', { sql: 'CREATE TABLE t (id int, s int AS (SLEEP(5)) VIRTUAL);' }, 403, /SLEEP/],
    ['an index name forging a host script marker', { sql: 'CREATE TABLE t (id int, KEY `k\n__OCTODB_NO_TABLE__` (id));' }, 400, /invalid name/],
  ])('answers %s with its status and queues nothing', async (_label, body, status, message) => {
    const before = await jobCount();
    const res = await octo.post('/migrate', body, t.token);
    expect(res.status).toBe(status);
    expect(String(res.body.error)).toMatch(message);
    expect(await jobCount()).toBe(before);
  });

  it('answers a db_id that belongs to another tenant exactly like one that does not exist', async () => {
    const other = await tenant();
    const res = await octo.post('/migrate', { sql: ITEMS, db_id: other.db_id }, t.token);
    expect(res).toEqual({ status: 404, body: { error: 'Database not found', code: 'DATABASE_NOT_FOUND' } });
    expect(await octo.post('/migrate', { sql: ITEMS, db_id: 'f'.repeat(32) }, t.token)).toEqual(res);
  });

  it('answers 401 without a token', async () => {
    expect((await octo.post('/migrate', { sql: ITEMS })).status).toBe(401);
  });

  it('returns each statement verdict when one is invalid', async () => {
    const res = await octo.post<{ statements: Array<{ valid: boolean }> }>('/migrate', { sql: `${ITEMS} CREATE TABLE x (a int,);` }, t.token);
    expect(res.status).toBe(400);
    expect(res.body.statements.map((s) => s.valid)).toEqual([true, false]);
  });
});

describe.skipIf(!serversUp)('migrations with Skeema', () => {
  it('creates a table, adds a column, an index, modifies a column, and keeps the rows', async () => {
    const t = await tenant();
    const created = await migrate(t.token, ITEMS);
    expect(created.jobs).toEqual([{ job_id: expect.any(String), table: 'items' }]);
    expect((await jobRow(created.jobs[0]!.job_id)).state).toBe('succeeded');
    await octo.admin.query(`INSERT INTO \`${t.db}\`.items (name) VALUES ('a'), ('b'), ('c')`);

    await migrate(t.token, 'CREATE TABLE items (id int unsigned NOT NULL AUTO_INCREMENT, name varchar(20) NOT NULL, qty int NOT NULL DEFAULT 7, PRIMARY KEY (id));');
    await migrate(t.token, 'CREATE TABLE items (id int unsigned NOT NULL AUTO_INCREMENT, name varchar(20) NOT NULL, qty int NOT NULL DEFAULT 7, PRIMARY KEY (id), KEY ix_items_name (name));');
    const modified = await migrate(t.token, 'CREATE TABLE items (id int unsigned NOT NULL AUTO_INCREMENT, name varchar(100) NOT NULL, qty int NOT NULL DEFAULT 7, PRIMARY KEY (id), KEY ix_items_name (name));');

    const def = await showCreate(t.db, 'items');
    expect(def).toMatch(/`name` varchar\(100\) NOT NULL/);
    expect(def).toMatch(/`qty` int(\(11\))? NOT NULL DEFAULT '?7'?/);
    expect(def).toMatch(/KEY `ix_items_name` \(`name`\)/);
    expect(await rows(t.db, 'SELECT name, qty FROM $db.items ORDER BY id')).toEqual([
      { name: 'a', qty: 7 },
      { name: 'b', qty: 7 },
      { name: 'c', qty: 7 },
    ]);
    const job = await jobRow(modified.jobs[0]!.job_id);
    expect(job.applied_sql).toMatch(/ALTER TABLE `items` MODIFY COLUMN `name` varchar\(100\)/);
    expect((await stages(job.job_id)).map((s) => `${s.stage}:${s.outcome}`)).toEqual(['backup:ok', 'update:ok', 'validate:ok']);
    // The other tables of the database were left alone.
    expect((await rows(t.db, "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = DATABASE() OR table_schema = '" + t.db + "'"))[0]!.n).toBe(3);
  });

  it('creates several tables in one batch and reports them through the status entry', async () => {
    const t = await tenant();
    const batch = await migrate(t.token, `${ITEMS}\nCREATE TABLE tags (id int unsigned NOT NULL, label varchar(9), PRIMARY KEY (id));`);
    const status = await octo.post<{ counts: Record<string, number>; jobs: Array<{ table: string; state: string; stages: Array<{ stage: string; started_at: string }> }> }>(
      '/dashboard',
      { action: 'get_migration_status', batch_id: batch.batch_id },
      t.token,
    );
    expect(status.status).toBe(200);
    expect(status.body.counts).toEqual({ succeeded: 2 });
    expect(status.body.jobs.map((j) => j.table).sort()).toEqual(['items', 'tags']);
    expect(status.body.jobs[0]!.stages.map((s) => s.stage)).toEqual(['backup', 'update', 'validate']);
    const other = await tenant();
    const peek = await octo.post('/dashboard', { action: 'get_migration_status', batch_id: batch.batch_id }, other.token);
    expect(peek.status).toBe(404);
    expect((await octo.post('/dashboard', { action: 'get_migration_status', batch_id: 'nope' }, t.token)).status).toBe(400);
  });

  it('refuses an unsafe change naming it, leaves the table unchanged, and applies it with allow_unsafe', async () => {
    const t = await tenant();
    await migrate(t.token, 'CREATE TABLE items (id int unsigned NOT NULL AUTO_INCREMENT, name varchar(20) NOT NULL, note varchar(50), PRIMARY KEY (id));');
    await octo.admin.query(`INSERT INTO \`${t.db}\`.items (name, note) VALUES ('a', 'keep me')`);
    const before = await showCreate(t.db, 'items');

    const refused = await migrate(t.token, ITEMS);
    const job = await jobRow(refused.jobs[0]!.job_id);
    expect(job.state).toBe('failed');
    expect(job.status_reason).toMatch(/unsafe change refused: ALTER TABLE `items` DROP COLUMN `note`/);
    expect(job.attempts).toBe(1);
    expect(await showCreate(t.db, 'items')).toBe(before);
    expect(await rows(t.db, 'SELECT note FROM $db.items')).toEqual([{ note: 'keep me' }]);

    const allowed = await migrate(t.token, ITEMS, { allow_unsafe: true });
    expect((await jobRow(allowed.jobs[0]!.job_id)).state).toBe('succeeded');
    expect(await showCreate(t.db, 'items')).not.toMatch(/note/);
    expect(await rows(t.db, 'SELECT name FROM $db.items')).toEqual([{ name: 'a' }]);
  });

  it('rolls back a push that fails (a UNIQUE index over duplicate rows) and leaves the table as it was', async () => {
    const t = await tenant();
    await migrate(t.token, ITEMS);
    await octo.admin.query(`INSERT INTO \`${t.db}\`.items (name) VALUES ('dup'), ('dup')`);
    const before = await showCreate(t.db, 'items');
    const res = await migrate(t.token, 'CREATE TABLE items (id int unsigned NOT NULL AUTO_INCREMENT, name varchar(20) NOT NULL, PRIMARY KEY (id), UNIQUE KEY uq_name (name));');
    const job = await jobRow(res.jobs[0]!.job_id);
    expect(job.state).toBe('failed');
    expect(job.status_reason).toMatch(/Duplicate entry/);
    expect(job.flagged).toBe(0);
    expect((await stages(job.job_id)).map((s) => `${s.stage}:${s.outcome}`)).toEqual(['backup:ok', 'update:failed', 'rollback:ok']);
    expect(await showCreate(t.db, 'items')).toBe(before);
    expect((await rows(t.db, 'SELECT COUNT(*) AS n FROM $db.items'))[0]!.n).toBe(2);
  });

  it('validates a definition that differs only in index order (equivalent, as Skeema sees it)', async () => {
    const t = await tenant();
    await migrate(t.token, 'CREATE TABLE pairs (id int NOT NULL, a int, b int, PRIMARY KEY (id), KEY ix_a (a), KEY ix_b (b));');
    const before = await showCreate(t.db, 'pairs');
    const res = await migrate(t.token, 'create table pairs (id INT not null, a INT, b INT, primary key (id), key ix_b (b), key ix_a (a));');
    const job = await jobRow(res.jobs[0]!.job_id);
    expect(job.state, String(job.status_reason)).toBe('succeeded');
    expect((await stages(job.job_id)).map((s) => `${s.stage}:${s.outcome}`)).toEqual(['backup:ok', 'update:ok', 'validate:ok']);
    expect(job.after_sql).toBe(before);
  });

  it('fails validation when the definition read back differs from the desired one though skeema diff is clean', async () => {
    const t = await tenant();
    // Partitioning Skeema keeps by default: its diff is clean, the table is not what was asked for.
    await octo.admin.query(`CREATE TABLE \`${t.db}\`.events (id int NOT NULL, PRIMARY KEY (id)) PARTITION BY HASH (id) PARTITIONS 2`);
    await octo.admin.query(`INSERT INTO \`${t.db}\`.events VALUES (1), (2), (3)`);
    const before = await showCreate(t.db, 'events');
    const res = await migrate(t.token, 'CREATE TABLE events (id int NOT NULL, PRIMARY KEY (id));');
    const job = await jobRow(res.jobs[0]!.job_id);
    expect(job.state).toBe('failed');
    expect(job.status_reason).toMatch(/validation failed: the definition read back differs from the desired one/);
    expect((await stages(job.job_id)).map((s) => `${s.stage}:${s.outcome}`)).toEqual(['backup:ok', 'update:ok', 'validate:failed', 'rollback:ok']);
    expect(await showCreate(t.db, 'events')).toBe(before);
    expect((await rows(t.db, 'SELECT COUNT(*) AS n FROM $db.events'))[0]!.n).toBe(3);
  });
});

describe.skipIf(!serversUp)('migration logs', () => {
  it("sends each host script's stdout and stderr as log records of the job, under the tenant", async () => {
    const t = await tenant();
    await migrate(t.token, ITEMS);
    const sent: LogRecord[] = [];
    const restore = octo.parts.override({ logs: { send: async (records) => void sent.push(...records) } });
    let res: Awaited<ReturnType<typeof migrate>>;
    try {
      res = await migrate(t.token, 'CREATE TABLE items (id int unsigned NOT NULL AUTO_INCREMENT, name varchar(20) NOT NULL, qty int, PRIMARY KEY (id));');
    } finally {
      restore();
    }
    const jobId = res.jobs[0]!.job_id;
    const mine = sent.filter((r) => r.job_id === jobId);
    expect(mine.length).toBeGreaterThan(0);
    expect(mine.every((r) => r.tenant_id === t.tenant_id && r.db_id === t.db_id && r.source === 'migration')).toBe(true);
    expect(new Set(mine.map((r) => r.stage))).toEqual(new Set(['backup', 'update', 'validate', undefined]));
    // Skeema's own output: the DDL on stdout, its progress on stderr.
    // MariaDB prints int(11), MySQL 8 int.
    expect(mine.find((r) => r.stage === 'update' && /ALTER TABLE `items` ADD COLUMN `qty` int(\(11\))?/.test(r.message))).toBeDefined();
    expect(mine.find((r) => r.stage === 'update' && /\[INFO\]/.test(r.message))).toBeDefined();
    expect(mine.at(-1)).toMatchObject({ level: 'INFO', message: 'migration of items: succeeded' });
  });
});

describe.skipIf(!serversUp)('the ALTER a change needs, computed again (host script)', () => {
  it('computes it on a scratch schema for a table with a foreign key, and drops the scratch schema', async () => {
    const scratch = scratchSchemaName();
    const from = 'CREATE TABLE `lines` (\n  `id` int(11) NOT NULL,\n  `order_id` int(11) DEFAULT NULL,\n  PRIMARY KEY (`id`),\n  KEY `fk_o` (`order_id`),\n  CONSTRAINT `fk_o` FOREIGN KEY (`order_id`) REFERENCES `orders` (`id`)\n) ENGINE=InnoDB';
    const to = from.replace('  PRIMARY KEY', '  `qty` int(11) NOT NULL DEFAULT 1,\n  PRIMARY KEY');
    const host = (await real.meta.getHost('local'))!;
    const result = await realRunner.run(host, buildAlterPlanScript({ scratch, table: 'lines', from, to, tempSchema: tempSchemaName() }), 120);
    expect(result.exitCode, result.stderr).toBe(0);
    // As the server prints it: int(11) and DEFAULT 1 on MariaDB, int and DEFAULT '1' on MySQL 8.
    expect(ddlOf(result.stdout)).toMatch(/^ALTER TABLE `lines` ADD COLUMN `qty` int(\(11\))? NOT NULL DEFAULT '?1'?;$/);
    expect(await rows('', `SELECT COUNT(*) AS n FROM information_schema.schemata WHERE schema_name = '${scratch}'`)).toEqual([{ n: 0 }]);
  });
});

describe.skipIf(!serversUp)('retries', () => {
  /** Answers the first `failures` skeema pushes with a transient MySQL error, then runs for real. */
  function flakyPushes(failures: number) {
    let seen = 0;
    const runner: HostRunner = {
      async run(host, script, timeout) {
        if (script.includes('skeema push') && !script.includes('--allow-unsafe') && seen++ < failures) {
          return { exitCode: 2, stdout: '', stderr: '2026-01-01 00:00:00 [ERROR] Error 1040: Too many connections' };
        }
        return realRunner.run(host, script, timeout);
      },
    };
    return runner;
  }

  it('retries a transient failure with backoff, counted in MetaDB before each try, and then succeeds', async () => {
    const t = await tenant();
    const restore = octo.parts.override({ hostRunner: flakyPushes(1) });
    try {
      const res = await migrate(t.token, ITEMS);
      const job = await jobRow(res.jobs[0]!.job_id);
      expect(job.state).toBe('succeeded');
      expect(job.attempts).toBe(2);
      const status = await octo.post<{ attempts: number }>('/dashboard', { action: 'get_migration_status', job_id: job.job_id }, t.token);
      expect(status.body.attempts).toBe(2);
      const s = await stages(job.job_id);
      expect(s.map((x) => `${x.stage}:${x.outcome}:${x.attempt}`)).toEqual(['backup:ok:1', 'update:failed:1', 'update:ok:2', 'validate:ok:2']);
      expect(s[1]!.detail).toMatch(/Too many connections/);
      expect(await showCreate(t.db, 'items')).toMatch(/CREATE TABLE `items`/);
    } finally {
      restore();
    }
  });

  it('counts a try in MetaDB before its push starts, so a worker dying mid-push has used it', async () => {
    const t = await tenant();
    const duringPush: number[] = [];
    const runner: HostRunner = {
      async run(host, script, timeout) {
        if (script.includes('skeema push') && !script.includes('--allow-unsafe')) {
          const [r] = await octo.admin.query<RowDataPacket[]>(`SELECT attempts FROM ${meta('migration_jobs')} WHERE db_id = ? AND state = 'running'`, [t.db_id]);
          duringPush.push(Number(r[0]!.attempts));
        }
        return realRunner.run(host, script, timeout);
      },
    };
    const restore = octo.parts.override({ hostRunner: runner });
    try {
      const res = await migrate(t.token, ITEMS);
      expect(duringPush).toEqual([1]);
      expect((await jobRow(res.jobs[0]!.job_id)).attempts).toBe(1);
    } finally {
      restore();
    }
  });

  it('fails and flags a job whose transient failure persists, after max retries, and tells the admin', async () => {
    const t = await tenant();
    const restore = octo.parts.override({ hostRunner: flakyPushes(100) });
    try {
      const res = await migrate(t.token, ITEMS);
      const job = await jobRow(res.jobs[0]!.job_id);
      expect(job).toMatchObject({ state: 'failed', flagged: 1, attempts: 3 });
      expect(job.status_reason).toMatch(/gave up after 3 attempts: .*Too many connections/);
      expect((await stages(job.job_id)).filter((s) => s.stage === 'update').map((s) => s.attempt)).toEqual([1, 2, 3]);
      expect(await rows(t.db, "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = '" + t.db + "' AND table_name = 'items'")).toEqual([{ n: 0 }]);

      const toAdmin = mailgun.mails.find((m) => m.fields.to === ADMIN_EMAIL && m.fields.text?.includes(job.job_id));
      expect(toAdmin).toBeDefined();
      expect(toAdmin!.path).toBe('/v3/mg.example.com/messages');
      expect(toAdmin!.fields.subject).toMatch(/failed for good/);
      const toTenant = mailgun.mails.find((m) => m.fields.to === t.email && m.fields.subject?.includes(res.batch_id));
      expect(toTenant!.fields.text).toMatch(/items: failed/);
      expect(toTenant!.auth).toBe(`Basic ${Buffer.from('api:key-test-123').toString('base64')}`);
    } finally {
      restore();
    }
  });
});

describe.skipIf(!serversUp)('bounded DDL', () => {
  const BIG = 'CREATE TABLE big (id int NOT NULL, a varchar(100) DEFAULT NULL, PRIMARY KEY (id));';
  /**
   * A STORED generated column: the ALTER computes it for every row, hashing 20 KB each (tens of
   * seconds over these rows; with 2 KB a quiet machine finished it in about 2 s, racing the 1 s limits).
   */
  const SLOW = 'CREATE TABLE big (id int NOT NULL, a varchar(100) DEFAULT NULL, h varchar(128) AS (SHA2(REPEAT(CONCAT(a, id), 200), 512)) STORED, PRIMARY KEY (id));';
  const ROWS = 300_000;
  let t: Awaited<ReturnType<typeof tenant>>;
  let before: string;
  beforeAll(async () => {
    t = await tenant();
    await migrate(t.token, BIG);
    await octo.admin.query(`INSERT INTO \`${t.db}\`.big (id, a) SELECT seq, REPEAT('x', 100) FROM \`${t.db}\`.seq_1_to_${ROWS}`);
    before = await showCreate(t.db, 'big');
  }, 120_000);

  /** What of the ALTER is left on the server: statements of the admin account in the tenant database. */
  const leftOnServer = async () =>
    rows(t.db, `SELECT id, command, info FROM information_schema.processlist WHERE db = '${t.db}' AND command <> 'Sleep' AND id <> CONNECTION_ID()`);

  async function withDdlLimit<T>(seconds: number, fn: () => Promise<T>): Promise<T> {
    const restore = octo.parts.override({ config: { OCTODB_MIGRATION_DDL_TIMEOUT_SECONDS: seconds } });
    try {
      return await fn();
    } finally {
      restore();
    }
  }

  it('stops a migration past its DDL time limit on the server, leaves the table as it was and fails the job once with the reason', async () => {
    const res = await withDdlLimit(1, () => migrate(t.token, SLOW));
    const job = await jobRow(res.jobs[0]!.job_id);
    expect(job).toMatchObject({ state: 'failed', attempts: 1 });
    expect(job.status_reason).toMatch(/time limit.*stopped on the server/);
    expect((await stages(job.job_id)).filter((x) => x.stage === 'update')).toHaveLength(1);
    expect(await leftOnServer()).toEqual([]);
    expect(await showCreate(t.db, 'big')).toBe(before);
    expect(await rows(t.db, 'SELECT COUNT(*) AS n FROM $db.big')).toEqual([{ n: ROWS }]);
  }, 120_000);

  it('kills the push and its statement on the server where no server limit covers DDL (MySQL 8)', async () => {
    const markers = newScriptMarkers();
    const script = buildTableSkeemaScript(
      { database: t.db, table: 'big', definition: SLOW.replace(/;$/, ''), tempSchema: tempSchemaName(), markers, ddlTimeoutSeconds: 1, serverTimeLimit: false },
      'push',
    );
    const host = (await real.meta.getHost('local'))!;
    const result = await realRunner.run(host, script, 120);
    expect(result.stdout.split('\n')).toContain(markers.ddlTimeout);
    expect(await leftOnServer()).toEqual([]);
    expect(await showCreate(t.db, 'big')).toBe(before);
  }, 120_000);

  it("KILLs a cascade's ALTER past its limit on the server and says so with a typed error", async () => {
    const sql = new MysqlHostSql({ ...parseMysqlUrl(MYSQL_URL), ssl: TEST_TLS }, 2, () => ({ host: '127.0.0.1', port: 3306 }), 1);
    try {
      const host = (await real.meta.getHost('local'))!;
      const alter = 'ALTER TABLE big ADD COLUMN h varchar(128) AS (SHA2(REPEAT(CONCAT(a, id), 200), 512)) STORED';
      await expect(sql.run(host, t.db, [alter])).rejects.toBeInstanceOf(StatementTimeoutError);
      expect(await leftOnServer()).toEqual([]);
      expect(await showCreate(t.db, 'big')).toBe(before);
    } finally {
      await sql.close();
    }
  }, 120_000);

  it('fails once, unretried, a migration whose own text quotes a deadlock message but fails for another reason', async () => {
    const deadlock = 'Deadlock found when trying to get lock; try restarting transaction';
    const u = await tenant();
    await migrate(u.token, `CREATE TABLE notes (id int NOT NULL, a varchar(100) DEFAULT NULL, PRIMARY KEY (id)) COMMENT '${deadlock}';`);
    await octo.admin.query(`INSERT INTO \`${u.db}\`.notes VALUES (1, ?), (2, ?)`, [`Error 1213 (40001): ${deadlock}`, `Error 1213 (40001): ${deadlock}`]);
    // A unique key over duplicate rows: Error 1062, whose message quotes the row text.
    const res = await migrate(u.token, `CREATE TABLE notes (id int NOT NULL, a varchar(100) DEFAULT NULL, PRIMARY KEY (id), UNIQUE KEY uq_a (a)) COMMENT '${deadlock}';`);
    const job = await jobRow(res.jobs[0]!.job_id);
    expect(job).toMatchObject({ state: 'failed', attempts: 1, flagged: 0 });
    expect(job.status_reason).toMatch(/1062|Duplicate/);
    expect((await stages(job.job_id)).filter((x) => x.stage === 'update')).toHaveLength(1);
    expect(await showCreate(u.db, 'notes')).not.toMatch(/uq_a/);
  }, 120_000);
});

describe.skipIf(!serversUp)('notifications', () => {
  it('sends one email per finished batch to the tenant through Mailgun, with the per-table outcome', async () => {
    const t = await tenant();
    const res = await migrate(t.token, `${ITEMS}\nCREATE TABLE tags (id int unsigned NOT NULL, PRIMARY KEY (id));`);
    await octo.invoker.idle();
    const sent = mailgun.mails.filter((m) => m.fields.to === t.email);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.fields).toMatchObject({ from: expect.stringContaining('OctoDB'), subject: expect.stringContaining(res.batch_id) });
    expect(sent[0]!.fields.text).toMatch(/- items: succeeded/);
    expect(sent[0]!.fields.text).toMatch(/- tags: succeeded/);
  });
});

describe.skipIf(!serversUp)('concurrency and recovery', () => {
  it('fails only the jobs it could not start when an invoke fails midway, and says which', async () => {
    const t = await tenant();
    const realInvoker = await octo.parts.get('invoker');
    let calls = 0;
    const invoker: Invoker = {
      invokeAsync: (fn, payload) => (++calls === 2 ? Promise.reject(new Error('Rate exceeded')) : realInvoker.invokeAsync(fn, payload)),
    };
    const restore = octo.parts.override({ invoker });
    try {
      const res = await octo.post<{ error: string; batch_id: string; started: string[]; not_started: string[] }>(
        '/migrate',
        { sql: `${ITEMS}\nCREATE TABLE tags (id int unsigned NOT NULL, PRIMARY KEY (id));` },
        t.token,
      );
      expect(res.status).toBe(503);
      expect(res.body).toMatchObject({ started: ['items'], not_started: ['tags'] });
      await waitForBatch(res.body.batch_id);
      await octo.invoker.idle();
      const [jobs] = await octo.admin.query<RowDataPacket[]>(`SELECT table_name AS t, state FROM ${meta('migration_jobs')} WHERE batch_id = ? ORDER BY table_name`, [res.body.batch_id]);
      expect(jobs).toEqual([
        { t: 'items', state: 'succeeded' },
        { t: 'tags', state: 'failed' },
      ]);
      expect(await showCreate(t.db, 'items')).toMatch(/CREATE TABLE `items`/);
    } finally {
      restore();
    }
  });

  it('never runs two jobs on one table at once', async () => {
    const t = await tenant();
    await migrate(t.token, ITEMS);
    const wider = 'CREATE TABLE items (id int unsigned NOT NULL AUTO_INCREMENT, name varchar(20) NOT NULL, a int, PRIMARY KEY (id));';
    const [one, two] = await Promise.all([octo.post<{ batch_id: string; jobs: Array<{ job_id: string }> }>('/migrate', { sql: wider }, t.token), octo.post<{ batch_id: string; jobs: Array<{ job_id: string }> }>('/migrate', { sql: wider }, t.token)]);
    await Promise.all([waitForBatch(one.body.batch_id), waitForBatch(two.body.batch_id)]);
    const spans: Array<readonly [number, number]> = [];
    for (const b of [one.body, two.body]) {
      const s = await stages(b.jobs[0]!.job_id);
      expect((await jobRow(b.jobs[0]!.job_id)).state).toBe('succeeded');
      spans.push([new Date(s[0]!.started_at).getTime(), new Date(s.at(-1)!.finished_at).getTime()] as const);
    }
    spans.sort((a, b) => a[0] - b[0]);
    expect(spans[1]![0]).toBeGreaterThanOrEqual(spans[0]![1]);
    expect(await showCreate(t.db, 'items')).toMatch(/`a` int/);
  });

  it('a job whose database stays busy waits only OCTODB_MIGRATION_LOCK_WAIT_SECONDS, stays queued, and the sweep runs it later', async () => {
    const t = await tenant();
    await migrate(t.token, ITEMS);
    const before = await showCreate(t.db, 'items');
    const restore = octo.parts.override({ config: { OCTODB_MIGRATION_LOCK_WAIT_SECONDS: 1 } });
    // Another migration holds the database for longer than the run (and its two retries) will wait.
    const busy = (await real.migrationLocks.tryLock(t.db_id, 600_000))!;
    let jobId: string;
    try {
      const started = Date.now();
      const res = await octo.post<{ batch_id: string; jobs: Array<{ job_id: string }> }>('/migrate', { sql: 'CREATE TABLE items (id int unsigned NOT NULL AUTO_INCREMENT, name varchar(20) NOT NULL, b int, PRIMARY KEY (id));' }, t.token);
      jobId = res.body.jobs[0]!.job_id;
      await octo.invoker.idle();
      // Three runs of about a second each, not three TTLs.
      expect(Date.now() - started).toBeLessThan(30_000);
      expect((await jobRow(jobId)).state).toBe('queued');
      expect(await showCreate(t.db, 'items')).toBe(before);
    } finally {
      await real.migrationLocks.unlock(t.db_id, busy);
      restore();
    }
    await octo.admin.query(`UPDATE ${meta('migration_jobs')} SET created_at = NOW(3) - INTERVAL 1 DAY, claimed_at = NOW(3) - INTERVAL 1 DAY WHERE job_id = ?`, [jobId]);
    await octo.invoker.invokeAsync('migrate-run', { sweep: true });
    await octo.invoker.idle();
    expect((await jobRow(jobId)).state).toBe('succeeded');
    expect(await showCreate(t.db, 'items')).toMatch(/`b` int/);
  });

  it('picks up a job whose worker died while running, and re-running after its push is harmless', async () => {
    const t = await tenant();
    const res = await migrate(t.token, ITEMS);
    const jobId = res.jobs[0]!.job_id;
    // As if the worker died after the push: the job is `running` with an old claim.
    await octo.admin.query(`UPDATE ${meta('migration_jobs')} SET state = 'running', claimed_at = NOW(3) - INTERVAL 1 DAY, finished_at = NULL WHERE job_id = ?`, [jobId]);
    await octo.admin.query(`UPDATE ${meta('migration_batches')} SET finished_at = NULL WHERE batch_id = ?`, [res.batch_id]);
    await octo.invoker.invokeAsync('migrate-run', { sweep: true });
    await waitForBatch(res.batch_id);
    const job = await jobRow(jobId);
    expect(job.state).toBe('succeeded');
    const updates = (await stages(jobId)).filter((s) => s.stage === 'update');
    expect(updates.at(-1)!.detail).toBe('no changes');
    // The re-run keeps the DDL the first push applied (a parent's cascade replays it).
    expect(job.applied_sql).toMatch(/CREATE TABLE `items`/);
  });

  it('restores the backup before failing a job whose worker died on its last try after its push went through', async () => {
    const t = await tenant();
    await migrate(t.token, ITEMS);
    await octo.admin.query(`INSERT INTO \`${t.db}\`.items (name) VALUES ('a'), ('b')`);
    const before = await showCreate(t.db, 'items');
    const res = await migrate(t.token, 'CREATE TABLE items (id int unsigned NOT NULL AUTO_INCREMENT, name varchar(20) NOT NULL, a int, PRIMARY KEY (id));');
    const jobId = res.jobs[0]!.job_id;
    expect(await showCreate(t.db, 'items')).toMatch(/`a` int/);
    // As if the worker died on its third and last try, after the push went through.
    await octo.admin.query(`UPDATE ${meta('migration_jobs')} SET state = 'running', claimed_at = NOW(3) - INTERVAL 1 DAY, finished_at = NULL, follow_up = 0, attempts = 3 WHERE job_id = ?`, [jobId]);
    await octo.admin.query(`UPDATE ${meta('migration_batches')} SET finished_at = NULL WHERE batch_id = ?`, [res.batch_id]);

    await octo.invoker.invokeAsync('migrate-run', { sweep: true });
    await waitForBatch(res.batch_id, 10_000);
    const job = await jobRow(jobId);
    expect(job).toMatchObject({ state: 'failed', flagged: 1 });
    expect(job.status_reason).toMatch(/no tries left; the table was restored from its backup/);
    expect((await stages(jobId)).at(-1)).toMatchObject({ stage: 'rollback', outcome: 'ok' });
    expect(await showCreate(t.db, 'items')).toBe(before);
    expect(await rows(t.db, 'SELECT name FROM $db.items ORDER BY id')).toEqual([{ name: 'a' }, { name: 'b' }]);
  });

  it('renews the database lock and the job claim while a job runs longer than their TTL', async () => {
    const t = await tenant();
    const seen: Array<{ lock: string | undefined; stale: string[] }> = [];
    const runner: HostRunner = {
      async run(host, script, timeout) {
        if (script.includes('skeema push') && seen.length === 0) {
          // A push taking over twice the TTL: time passing is what this test is about.
          await new Promise((r) => setTimeout(r, 2500));
          const lock = await real.migrationLocks.tryLock(t.db_id, 1000);
          if (lock) await real.migrationLocks.unlock(t.db_id, lock);
          seen.push({ lock, stale: (await real.migrations.listStaleJobs(1, 1000)).map((j) => j.jobId) });
        }
        return realRunner.run(host, script, timeout);
      },
    };
    const restore = octo.parts.override({ hostRunner: runner, config: { OCTODB_MIGRATION_LEASE_SECONDS: 1 } });
    try {
      const res = await migrate(t.token, ITEMS);
      const jobId = res.jobs[0]!.job_id;
      expect(seen).toEqual([{ lock: undefined, stale: expect.not.arrayContaining([jobId]) }]);
      expect((await jobRow(jobId)).state).toBe('succeeded');
      // One worker ran it: a stale claim would have started a second one.
      expect((await stages(jobId)).map((s) => s.stage)).toEqual(['backup', 'update', 'validate']);
    } finally {
      restore();
    }
  });

  it('runs a job left queued after its invocations gave up waiting for a busy database', async () => {
    const t = await tenant();
    const restore = octo.parts.override({ config: { OCTODB_MIGRATION_LEASE_SECONDS: 1 } }); // each invocation waits 1 s for the lock
    const long = (await real.migrationLocks.tryLock(t.db_id, 60_000))!; // a long job holds the database
    try {
      const res = await octo.post<{ batch_id: string; jobs: Array<{ job_id: string }> }>('/migrate', { sql: ITEMS }, t.token);
      await octo.invoker.idle(); // the invocation and its two retries gave up
      const jobId = res.body.jobs[0]!.job_id;
      expect((await jobRow(jobId)).state).toBe('queued');
      await real.migrationLocks.unlock(t.db_id, long);
      await octo.admin.query(`UPDATE ${meta('migration_jobs')} SET claimed_at = NOW(3) - INTERVAL 1 DAY WHERE job_id = ?`, [jobId]);
      await octo.invoker.invokeAsync('migrate-run', { sweep: true });
      await waitForBatch(res.body.batch_id, 10_000);
      expect((await jobRow(jobId)).state).toBe('succeeded');
      expect((await stages(jobId)).map((s) => s.stage)).toEqual(['backup', 'update', 'validate']);
    } finally {
      restore();
      await real.migrationLocks.unlock(t.db_id, long);
    }
  });

  it('a worker that lost its lock stops before writing; the job is run again once its claim is stale', async () => {
    const t = await tenant();
    let thief: string | undefined;
    const runner: HostRunner = {
      async run(host, script, timeout) {
        if (script.includes('octodb-backups') && thief === undefined) {
          // As if the lock expired unrenewed (a frozen worker) and another worker took the database.
          await real.redis.del(`octodb:migration:lock:${t.db_id}`);
          thief = await real.migrationLocks.tryLock(t.db_id, 60_000);
        }
        return realRunner.run(host, script, timeout);
      },
    };
    const restore = octo.parts.override({ hostRunner: runner });
    try {
      const res = await octo.post<{ batch_id: string; jobs: Array<{ job_id: string }> }>('/migrate', { sql: ITEMS }, t.token);
      expect(res.status).toBe(202);
      await octo.invoker.idle();
      const jobId = res.body.jobs[0]!.job_id;
      expect(thief).toEqual(expect.any(String));
      expect((await jobRow(jobId)).state).toBe('running');
      expect((await stages(jobId)).map((s) => `${s.stage}:${s.outcome}`)).toEqual(['backup:ok']);
      expect(await rows(t.db, "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = '" + t.db + "' AND table_name = 'items'")).toEqual([{ n: 0 }]);
      // The other worker's lock was left alone.
      expect(await real.migrationLocks.tryLock(t.db_id, 1000)).toBeUndefined();

      await real.migrationLocks.unlock(t.db_id, thief!);
      await octo.admin.query(`UPDATE ${meta('migration_jobs')} SET claimed_at = NOW(3) - INTERVAL 1 DAY WHERE job_id = ?`, [jobId]);
      await octo.invoker.invokeAsync('migrate-run', { sweep: true });
      await waitForBatch(res.body.batch_id);
      expect((await jobRow(jobId)).state).toBe('succeeded');
      expect(await showCreate(t.db, 'items')).toMatch(/CREATE TABLE `items`/);
    } finally {
      restore();
    }
  });
});

describe.skipIf(!serversUp)('parent → child cascades', () => {
  it('creates an admin with the operator command, cascades a parent change to its children, and skips a customized one', async () => {
    const email = `admin-${randomBytes(4).toString('hex')}@example.com`;
    const { stdout } = await promisify(execFile)('npx', ['tsx', 'bin/admin.ts', 'create', '--name', 'Ops', '--email', email, '--password', 'admin-password-1'], {
      env: { ...process.env, OCTODB_MYSQL_URL: `${MYSQL_URL.replace(/\/[^/]*$/, '')}/${octo.metaDb}` },
    });
    const admin = JSON.parse(stdout.trim().split('\n').at(-1)!) as { db_id: string; status: string };
    expect(admin.status).toBe('ready');
    const adminToken = await octo.token(email, 'admin-password-1');
    expect((await octo.post('/signup', { name: 'x', email, password: 'admin-password-1' })).status).toBe(409);

    await migrate(adminToken, 'CREATE TABLE products (id int unsigned NOT NULL AUTO_INCREMENT, title varchar(50) NOT NULL, PRIMARY KEY (id));');
    const children: Array<Awaited<ReturnType<typeof tenant>>> = [];
    for (let i = 0; i < 3; i++) children.push(await tenant({ template: admin.db_id }));
    for (const [i, c] of children.entries()) {
      expect((await rows(c.db, "SELECT table_name AS t FROM information_schema.tables WHERE table_schema = '" + c.db + "' ORDER BY 1")).map((r) => r.t)).toEqual(['customers', 'orders', 'products']);
      await octo.admin.query(`INSERT INTO \`${c.db}\`.products (title) VALUES (?), (?)`, [`p${i}a`, `p${i}b`]);
    }
    // The third child makes products its own.
    const custom = 'CREATE TABLE products (id int unsigned NOT NULL AUTO_INCREMENT, title varchar(50) NOT NULL, color varchar(9), PRIMARY KEY (id));';
    await migrate(children[2]!.token, custom);
    const customBefore = await showCreate(children[2]!.db, 'products');

    const parent = await migrate(adminToken, 'CREATE TABLE products (id int unsigned NOT NULL AUTO_INCREMENT, title varchar(50) NOT NULL, sku varchar(20) DEFAULT NULL, PRIMARY KEY (id));');
    const status = await octo.post<{ jobs: Array<{ cascade: { batch_id: string } }> }>('/dashboard', { action: 'get_migration_status', job_id: parent.jobs[0]!.job_id }, adminToken);
    expect(status.status).toBe(200);
    const cascadeId = (status.body as unknown as { cascade: { batch_id: string } }).cascade.batch_id;
    await waitForBatch(cascadeId);

    const cascade = await octo.post<{ kind: string; counts: Record<string, number>; jobs: Array<{ db_id: string; state: string; status_reason: string | null }> }>(
      '/dashboard',
      { action: 'get_migration_status', batch_id: cascadeId },
      adminToken,
    );
    expect(cascade.body.kind).toBe('cascade');
    expect(cascade.body.counts).toEqual({ succeeded: 2, skipped: 1 });
    expect(cascade.body.jobs.find((j) => j.db_id === children[2]!.db_id)).toMatchObject({ state: 'skipped', status_reason: 'customized' });
    const reasons = await rows('', `SELECT db_id, skip_reason FROM ${meta('migration_jobs')} WHERE batch_id = '${cascadeId}' ORDER BY db_id`);
    expect(reasons).toEqual(children.map((c, i) => ({ db_id: c.db_id, skip_reason: i === 2 ? 'customized' : null })).sort((a, b) => (a.db_id < b.db_id ? -1 : 1)));
    type Metadata = { customized_tables: string[]; pending_parent_changes: Array<{ table: string; parent_job_id: string; definition: string }> };
    const metadata = async (token: string) => (await octo.post<Metadata>('/dashboard', { action: 'get_database_metadata' }, token)).body;
    const meta2 = await metadata(children[2]!.token);
    expect(meta2.customized_tables).toEqual(['products']);
    // The skipped change is kept for the customized child: the parent's new definition, to adopt.
    expect(meta2.pending_parent_changes).toMatchObject([{ table: 'products', parent_job_id: parent.jobs[0]!.job_id }]);
    expect(meta2.pending_parent_changes[0]!.definition).toMatch(/`sku` varchar\(20\)/);
    const meta0 = await metadata(children[0]!.token);
    expect(meta0.customized_tables).toEqual([]);
    expect(meta0.pending_parent_changes).toEqual([]);
    const parentDef = await showCreate(databaseName(admin.db_id), 'products');
    for (const [i, c] of children.slice(0, 2).entries()) {
      expect(await showCreate(c.db, 'products')).toBe(parentDef);
      expect(await rows(c.db, 'SELECT title, sku FROM $db.products ORDER BY id')).toEqual([
        { title: `p${i}a`, sku: null },
        { title: `p${i}b`, sku: null },
      ]);
    }
    expect(await showCreate(children[2]!.db, 'products')).toBe(customBefore);
    // A child sees its own cascade job; it cannot read the admin's batch.
    const childJob = cascade.body.jobs.find((j) => j.db_id === children[0]!.db_id) as unknown as { job_id: string };
    expect((await octo.post('/dashboard', { action: 'get_migration_status', job_id: childJob.job_id }, children[0]!.token)).status).toBe(200);
    expect((await octo.post('/dashboard', { action: 'get_migration_status', batch_id: cascadeId }, children[0]!.token)).status).toBe(404);

    // Other tables of the customized child still follow the parent.
    await migrate(adminToken, 'CREATE TABLE customers (id bigint unsigned NOT NULL AUTO_INCREMENT, name varchar(200) NOT NULL, email varchar(254) DEFAULT NULL, vip tinyint(1) NOT NULL DEFAULT 0, created_at datetime NOT NULL DEFAULT CURRENT_TIMESTAMP, PRIMARY KEY (id), KEY ix_customers_email (email)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;');
    await octo.invoker.idle();
    expect(await showCreate(children[2]!.db, 'customers')).toMatch(/`vip` tinyint\(1\) NOT NULL DEFAULT '?0'?/);

    // The customized child adopts the kept change with its own migration (dropping its own column
    // is unsafe, so it says so): nothing is pending then.
    await migrate(children[2]!.token, `${meta2.pending_parent_changes[0]!.definition};`, { allow_unsafe: true });
    expect(await showCreate(children[2]!.db, 'products')).toBe(parentDef);
    expect((await metadata(children[2]!.token)).pending_parent_changes).toEqual([]);
  });

  it('a child still provisioning gets the parent change once ready; one that failed is skipped; neither is customized', async () => {
    const admin = await octo.signUpAdmin();
    expect(admin.status).toBe('ready');
    const adminToken = admin.token;
    await migrate(adminToken, 'CREATE TABLE products (id int unsigned NOT NULL AUTO_INCREMENT, title varchar(50) NOT NULL, PRIMARY KEY (id));');

    // Provisioning held until the test decides: the children read the parent's tables first (v1).
    const decisions = new Map<string, { promise: Promise<'run' | 'fail'>; decide: (d: 'run' | 'fail') => void }>();
    const gate = (db: string) => {
      if (!decisions.has(db)) {
        let decide!: (d: 'run' | 'fail') => void;
        decisions.set(db, { promise: new Promise((r) => (decide = r)), decide });
      }
      return decisions.get(db)!;
    };
    const runner: HostRunner = {
      async run(host, script, timeout) {
        const db = /CREATE DATABASE \\`(db_[0-9a-f]+)\\`/.exec(script)?.[1];
        if (db && (await gate(db).promise) === 'fail') return { exitCode: 1, stdout: '', stderr: 'ERROR 1030 (HY000): Got error 28 "No space left on device"' };
        return realRunner.run(host, script, timeout);
      },
    };
    const restore = octo.parts.override({ hostRunner: runner });
    const [late, broken] = [await octo.signUp({ template: admin.db_id }), await octo.signUp({ template: admin.db_id })];
    try {
      const cascadeId = await addSkuOnParent(adminToken);
      const cascadeJobs = async () => {
        const [r] = await octo.admin.query<RowDataPacket[]>(`SELECT db_id, state, status_reason, skip_reason, wait_reason FROM ${meta('migration_jobs')} WHERE batch_id = ? ORDER BY db_id`, [cascadeId]);
        return Object.fromEntries(r.map((j) => [j.db_id, { state: j.state, status_reason: j.status_reason, skip_reason: j.skip_reason, wait_reason: j.wait_reason }]));
      };
      // The cascade's run leaves both children waiting, the batch open.
      // Machines read why in wait_reason; status_reason keeps the sentence for people.
      const waiting = { state: 'queued', status_reason: WAITING_FOR_DATABASE, skip_reason: null, wait_reason: 'database_not_ready' };
      const parked = (jobs: Record<string, { status_reason: string | null }>) => Object.values(jobs).filter((j) => j.status_reason === WAITING_FOR_DATABASE).length === 2;
      await waitFor(async () => parked(await cascadeJobs()), { intervalMs: 50, what: 'both children to wait for their database' });
      expect(await cascadeJobs()).toEqual({ [late.db_id]: waiting, [broken.db_id]: waiting });

      gate(databaseName(broken.db_id)).decide('fail');
      gate(databaseName(late.db_id)).decide('run');
      expect((await octo.waitForDatabase(broken.db_id)).status).toBe('failed');
      expect((await octo.waitForDatabase(late.db_id)).status).toBe('ready');
      // Provisioned with the parent's old definition; the sweep (any M1 run, or the schedule) resumes the cascade.
      expect(await showCreate(databaseName(late.db_id), 'products')).not.toMatch(/sku/);
      await octo.invoker.invokeAsync('migrate-run', { sweep: true });
      await waitForBatch(cascadeId);

      const done = await cascadeJobs();
      expect(done[late.db_id]).toEqual({ state: 'succeeded', status_reason: null, skip_reason: null, wait_reason: null });
      expect(done[broken.db_id]).toEqual({ state: 'skipped', status_reason: 'database failed: no tables to migrate', skip_reason: 'no_database', wait_reason: null });
      expect(await showCreate(databaseName(late.db_id), 'products')).toBe(await showCreate(databaseName(admin.db_id), 'products'));
      const [custom] = await octo.admin.query<RowDataPacket[]>(`SELECT db_id FROM ${meta('table_customizations')} WHERE db_id IN (?, ?)`, [late.db_id, broken.db_id]);
      expect(custom).toEqual([]);
    } finally {
      for (const d of decisions.values()) d.decide('run');
      restore();
    }
  });

  it('a cascade worker that lost a child lock does not alter that child; the child gets the change once the lock is free', async () => {
    const admin = await octo.signUpAdmin();
    const adminToken = admin.token;
    await migrate(adminToken, 'CREATE TABLE products (id int unsigned NOT NULL AUTO_INCREMENT, title varchar(50) NOT NULL, PRIMARY KEY (id));');
    const child = await tenant({ template: admin.db_id });
    const realSql = await octo.parts.get('hostSql');
    let thief: string | undefined;
    const hostSql: HostSql = {
      async run(host, database, statements) {
        if (database === child.db && thief === undefined) {
          // Between the worker's lock and its ALTER, the lock lapses and another worker takes the child.
          await real.redis.del(`octodb:migration:lock:${child.db_id}`);
          thief = await real.migrationLocks.tryLock(child.db_id, 60_000);
        }
        return realSql.run(host, database, statements);
      },
      close: () => realSql.close(),
    };
    const restore = octo.parts.override({ hostSql });
    try {
      const cascadeId = await addSkuOnParent(adminToken);
      const childJob = async () =>
        (await octo.admin.query<RowDataPacket[]>(`SELECT job_id, state FROM ${meta('migration_jobs')} WHERE batch_id = ? AND db_id = ?`, [cascadeId, child.db_id]))[0][0];
      const lost = await waitFor(
        async () => {
          const job = await childJob();
          const found = job ? (await stages(job.job_id)).filter((s) => /lock lost/.test(s.detail ?? '')) : [];
          return found.length > 0 && found;
        },
        { intervalMs: 50, what: 'the child job to record its lost lock' },
      );
      expect(lost).toHaveLength(1);
      expect((await childJob())!.state).not.toBe('succeeded');
      expect(await showCreate(child.db, 'products')).not.toMatch(/sku/);

      await real.migrationLocks.unlock(child.db_id, thief!);
      await waitForBatch(cascadeId);
      expect((await childJob())!.state).toBe('succeeded');
      expect(await showCreate(child.db, 'products')).toBe(await showCreate(databaseName(admin.db_id), 'products'));
    } finally {
      restore();
    }
  });

  it('a parent job retried after its push went through still cascades the ALTER to its children', async () => {
    const { adminToken, parentDb, children } = await parentWithChildren(1);
    let cut = false;
    const runner: HostRunner = {
      async run(host, script, timeout) {
        const result = await realRunner.run(host, script, timeout);
        if (!cut && script.includes('skeema push') && script.includes(parentDb)) {
          // The ALTER ran on the parent; the connection dropped before Skeema reported it: a transient failure.
          cut = true;
          return { exitCode: 2, stdout: '', stderr: '2026-01-01 00:00:00 [ERROR] Error 2013: Lost connection to MySQL server during query' };
        }
        return result;
      },
    };
    const restore = octo.parts.override({ hostRunner: runner });
    try {
      const parentJobId = (await octo.post<{ jobs: Array<{ job_id: string }> }>('/migrate', { sql: 'CREATE TABLE products (id int unsigned NOT NULL AUTO_INCREMENT, title varchar(50) NOT NULL, sku varchar(20) DEFAULT NULL, PRIMARY KEY (id));' }, adminToken)).body.jobs[0]!.job_id;
      await waitForBatch(cascadeBatchId(parentJobId));
      const parent = await jobRow(parentJobId);
      expect(parent).toMatchObject({ state: 'succeeded', attempts: 2 });
      // The retry's push printed no changes; the ALTER the cascade replays was recomputed.
      expect((await stages(parentJobId)).filter((s) => s.stage === 'update').map((s) => s.detail)).toEqual([expect.stringMatching(/Lost connection/), 'no changes']);
      expect(parent.applied_sql).toMatch(/ALTER TABLE `products` ADD COLUMN `sku` varchar\(20\)/);
      const [child] = await rows(children[0]!.db, `SELECT state, status_reason, flagged FROM ${meta('migration_jobs')} WHERE batch_id = '${cascadeBatchId(parentJobId)}'`);
      expect(child).toEqual({ state: 'succeeded', status_reason: null, flagged: 0 });
      expect(await showCreate(children[0]!.db, 'products')).toBe(await showCreate(parentDb, 'products'));
    } finally {
      restore();
    }
  });

  it('a cascade whose invoke was refused once (Rate exceeded) is queued by the retry, and the parent batch finishes', async () => {
    const { adminToken, parentDb, children } = await parentWithChildren(1);
    const realInvoker = await octo.parts.get('invoker');
    let refused = 0;
    const invoker: Invoker = {
      invokeAsync: (fn, payload) => ('cascade_batch_id' in payload && refused++ === 0 ? Promise.reject(new Error('Rate exceeded')) : realInvoker.invokeAsync(fn, payload)),
    };
    const restore = octo.parts.override({ invoker });
    try {
      const sub = await octo.post<{ batch_id: string; jobs: Array<{ job_id: string }> }>('/migrate', { sql: SKU }, adminToken);
      await waitForBatch(cascadeBatchId(sub.body.jobs[0]!.job_id), 10_000);
      await waitForBatch(sub.body.batch_id, 1000);
      expect(refused).toBeGreaterThan(1);
      expect(await showCreate(children[0]!.db, 'products')).toBe(await showCreate(parentDb, 'products'));
    } finally {
      restore();
    }
  });

  it('the sweep queues the cascade of a parent job whose worker died right after it succeeded', async () => {
    const { admin, adminToken, parentDb, children } = await parentWithChildren(1);
    // Every try fails between the job's success and its cascade, as a worker dying there would.
    const restore = octo.parts.override({ migrations: Object.assign(Object.create(real.migrations), { listChildren: () => Promise.reject(new Error('MetaDB went away')) }) });
    let sub: { batch_id: string; jobs: Array<{ job_id: string }> };
    try {
      sub = (await octo.post<typeof sub>('/migrate', { sql: SKU }, adminToken)).body;
      await octo.invoker.idle();
    } finally {
      restore();
    }
    const parentJobId = sub.jobs[0]!.job_id;
    expect((await jobRow(parentJobId)).state).toBe('succeeded');
    expect(await rows('', `SELECT finished_at FROM ${meta('migration_batches')} WHERE batch_id IN ('${sub.batch_id}', '${cascadeBatchId(parentJobId)}')`)).toEqual([{ finished_at: null }]);

    await octo.admin.query(`UPDATE ${meta('migration_jobs')} SET finished_at = NOW(3) - INTERVAL 1 DAY WHERE job_id = ?`, [parentJobId]);
    await octo.invoker.invokeAsync('migrate-run', { sweep: true });
    await waitForBatch(cascadeBatchId(parentJobId), 10_000);
    await waitForBatch(sub.batch_id, 1000);
    await octo.invoker.idle();
    expect(await showCreate(children[0]!.db, 'products')).toBe(await showCreate(parentDb, 'products'));
    const adminEmail = (await real.meta.getTenant((await real.meta.getDatabase(admin.db_id))!.tenantId))!.email;
    expect(mailgun.mails.filter((m) => m.fields.to === adminEmail).map((m) => m.fields.subject)).toEqual(
      expect.arrayContaining([expect.stringContaining(sub.batch_id), expect.stringContaining(cascadeBatchId(parentJobId))]),
    );
  });

  it("flags a parent job whose cascade keeps failing to be queued, closes its batch, and still queues the cascade once it can", async () => {
    const { adminToken, parentDb, children } = await parentWithChildren(1);
    const restore = octo.parts.override({ migrations: Object.assign(Object.create(real.migrations), { listChildren: () => Promise.reject(new Error('MetaDB went away')) }) });
    let sub: { batch_id: string; jobs: Array<{ job_id: string }> };
    const fresh = mailgun.mails.length;
    try {
      sub = (await octo.post<typeof sub>('/migrate', { sql: SKU }, adminToken)).body;
      await octo.invoker.idle();
      // Failing for longer than four stale periods: the next sweep flags the job and closes the batch.
      await octo.admin.query(`UPDATE ${meta('migration_jobs')} SET finished_at = NOW(3) - INTERVAL 1 DAY WHERE job_id = ?`, [sub.jobs[0]!.job_id]);
      await octo.invoker.invokeAsync('migrate-run', { sweep: true });
      await waitForBatch(sub.batch_id, 10_000);
      await octo.invoker.idle();
    } finally {
      restore();
    }
    const parentJobId = sub.jobs[0]!.job_id;
    const job = await jobRow(parentJobId);
    expect(job).toMatchObject({ state: 'succeeded', flagged: 1, follow_up: 1 });
    expect(String(job.status_reason)).toMatch(/cascade to child databases\) keeps failing: MetaDB went away/);
    expect(mailgun.mails.slice(fresh).filter((m) => m.fields.to === ADMIN_EMAIL).map((m) => m.fields.subject)).toEqual([expect.stringContaining(sub.batch_id)]);

    // MetaDB is back: the mark stays, so a sweep still delivers the change to the child.
    await octo.invoker.invokeAsync('migrate-run', { sweep: true });
    await waitForBatch(cascadeBatchId(parentJobId), 10_000);
    await octo.invoker.idle();
    expect(await showCreate(children[0]!.db, 'products')).toBe(await showCreate(parentDb, 'products'));
    expect((await jobRow(parentJobId)).follow_up).toBe(0);
  });

  it('sends a batch email that a mail outage held back on a later sweep, once', async () => {
    const t = await tenant();
    const fresh = mailgun.mails.length;
    mailgun.outage = 1;
    const sub = await migrate(t.token, ITEMS);
    expect(mailgun.outage).toBe(0); // the one send was refused
    expect(mailgun.mails.slice(fresh).filter((m) => m.fields.to === t.email)).toEqual([]);
    // Past the sweep's grace minute, the held-back email goes out, and only once.
    await octo.admin.query(`UPDATE ${meta('migration_batches')} SET finished_at = NOW(3) - INTERVAL 2 MINUTE WHERE batch_id = ?`, [sub.batch_id]);
    for (let i = 0; i < 2; i++) {
      await octo.invoker.invokeAsync('migrate-run', { sweep: true });
      await octo.invoker.idle();
    }
    expect(mailgun.mails.slice(fresh).filter((m) => m.fields.to === t.email).map((m) => m.fields.subject)).toEqual([expect.stringContaining(sub.batch_id)]);
  });

  it('the sweep closes a batch whose worker died after its last job, and sends its email once', async () => {
    const t = await tenant();
    const sub = await migrate(t.token, ITEMS);
    // As if the worker died between the job's outcome and closing the batch.
    await octo.admin.query(`UPDATE ${meta('migration_batches')} SET finished_at = NULL WHERE batch_id = ?`, [sub.batch_id]);
    const fresh = mailgun.mails.length;
    await octo.invoker.invokeAsync('migrate-run', { sweep: true });
    await octo.invoker.idle();
    // Ended too recently: a live worker may still be closing it.
    expect((await rows('', `SELECT finished_at FROM ${meta('migration_batches')} WHERE batch_id = '${sub.batch_id}'`))[0]!.finished_at).toBeNull();

    await octo.admin.query(`UPDATE ${meta('migration_jobs')} SET finished_at = NOW(3) - INTERVAL 1 DAY WHERE batch_id = ?`, [sub.batch_id]);
    await octo.invoker.invokeAsync('migrate-run', { sweep: true });
    await waitForBatch(sub.batch_id, 10_000);
    await octo.invoker.invokeAsync('migrate-run', { sweep: true });
    await octo.invoker.idle();
    expect(mailgun.mails.slice(fresh).filter((m) => m.fields.to === t.email).map((m) => m.fields.subject)).toEqual([expect.stringContaining(sub.batch_id)]);
  });

  it('a cascade whose worker died between chunks resumes where it stopped on the next sweep', async () => {
    const { adminToken, parentDb, children } = await parentWithChildren(3);
    const realStore = real.migrations;
    let claims = 0;
    // The worker (and each retry) dies once it has applied its first chunk of one child.
    const restore = octo.parts.override({
      config: { OCTODB_CASCADE_CHUNK: 1 },
      migrations: Object.assign(Object.create(realStore), {
        claimCascadeJobs: (...args: Parameters<typeof realStore.claimCascadeJobs>) => (claims++ === 0 ? realStore.claimCascadeJobs(...args) : Promise.reject(new Error('worker killed'))),
      }),
    });
    let cascadeId: string;
    try {
      cascadeId = await addSkuOnParent(adminToken);
      await octo.invoker.idle();
    } finally {
      restore();
    }
    const jobs = async () => rows('', `SELECT job_id, state FROM ${meta('migration_jobs')} WHERE batch_id = '${cascadeId}' ORDER BY job_id`);
    const first = (await jobs()).filter((j) => j.state === 'succeeded');
    expect((await jobs()).map((j) => j.state).sort()).toEqual(['queued', 'queued', 'succeeded']);

    await octo.admin.query(`UPDATE ${meta('migration_jobs')} SET created_at = NOW(3) - INTERVAL 1 DAY, claimed_at = NOW(3) - INTERVAL 1 DAY WHERE batch_id = ? AND state = 'queued'`, [cascadeId]);
    await octo.invoker.invokeAsync('migrate-run', { sweep: true });
    await waitForBatch(cascadeId, 10_000);
    expect((await jobs()).map((j) => j.state)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    for (const c of children) expect(await showCreate(c.db, 'products')).toBe(await showCreate(parentDb, 'products'));
    // The child done before the worker died was not done again.
    expect((await stages(first[0]!.job_id)).map((s) => s.stage)).toEqual(['verify', 'update', 'validate']);
  });

  it("refuses a template that is not an admin's ready database", async () => {
    const plain = await tenant();
    const res = await octo.post('/signup', { name: 'Child', email: `c-${randomBytes(4).toString('hex')}@example.com`, password: 'child-password', template: plain.db_id });
    expect(res.status).toBe(400);
    expect(String(res.body.error)).toMatch(/Unknown template/);
  });

  it.each([
    ['no command', []],
    ['a missing email', ['create', '--name', 'Ops', '--password', 'admin-password-1']],
    ['a short password', ['create', '--name', 'Ops', '--email', 'o@example.com', '--password', 'short']],
  ])('the admin command refuses %s with exit code 2 and creates nothing', async (_label, args) => {
    const tenants = async () => Number((await octo.admin.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM ${meta('tenants')}`))[0][0]!.n);
    const before = await tenants();
    expect(await adminMain(args)).toBe(2);
    expect(await tenants()).toBe(before);
  });
});
