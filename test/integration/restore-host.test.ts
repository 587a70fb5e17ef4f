import { cpSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createConnection, type Connection, type RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseName, databaseUser, newDatabasePassword, newDbId } from '#core/ids';
import { faultServersMissing, type OwnMariaDb, startOwnMariaDb } from '../support/fault-servers.ts';
import { BINLOG_ARGS, type BackupSite, backupSite } from '../support/host-backups.ts';
import { TEST_TLS } from '../support/mysql-tls.ts';

// Issue 16, "Lose the host, not the data": the host's base backups and shipped binlogs
// (lib/host/octodb-backup.sh) restored by the runbook script (bin/restore-host.sh) into a fresh
// MariaDB, to a chosen second. Both servers are this test's own (own datadir and port); the source
// is stopped before the restore, as a lost host is.

interface Tenant {
  db: string;
  user: string;
  password: string;
}
const tenant = (): Tenant => {
  const id = newDbId();
  return { db: databaseName(id), user: databaseUser(id), password: newDatabasePassword() };
};
const A = tenant();
const B = tenant();
const C = tenant();
const BACKUPS_OF_A = `octodb_bk_${A.db.slice(3)}`;

let source: OwnMariaDb;
let target: OwnMariaDb | undefined;
/** A fresh server the refused restores are pointed at. */
let empty: OwnMariaDb | undefined;
let site: BackupSite;
/** The chosen time: everything written before it is restored, nothing after. */
let chosen: string;

const rows = async (conn: Connection, text: string) => (await conn.query<RowDataPacket[]>(text))[0];
const asAdmin = async <T>(server: OwnMariaDb, fn: (c: Connection) => Promise<T>, database?: string) => {
  const c = await createConnection({ host: '127.0.0.1', port: server.port, user: 'octodb', password: 'octodb', database, multipleStatements: true, ssl: TEST_TLS });
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
};
const asTenant = async <T>(server: OwnMariaDb, t: Tenant, fn: (c: Connection) => Promise<T>) => {
  const c = await createConnection({ host: '127.0.0.1', port: server.port, user: t.user, password: t.password, database: t.db, ssl: TEST_TLS });
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
};
/** As provisioning does: the database, its user allowed DML on it only, a table (DDL in the database, as Skeema runs it). */
const provision = async (t: Tenant) => {
  await asAdmin(source, (c) =>
    c.query(`CREATE DATABASE \`${t.db}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
      CREATE USER '${t.user}'@'%' IDENTIFIED BY '${t.password}';
      GRANT SELECT, INSERT, UPDATE, DELETE ON \`${t.db}\`.* TO '${t.user}'@'%'`),
  );
  await asAdmin(source, (c) => c.query('CREATE TABLE items (id int PRIMARY KEY, label varchar(100) NOT NULL)'), t.db);
};
const ship = () => {
  const r = site.backup(source.port, 'ship');
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
};
/** Waits into the next whole second and gives it (binlog event times and --to are whole seconds). */
const nextSecond = async () => {
  const second = Math.floor(Date.now() / 1000) + 1;
  await new Promise((r) => setTimeout(r, second * 1000 - Date.now() + 20));
  return new Date(second * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
};

describe.skipIf(faultServersMissing.length > 0)('whole-host restore: base backups + binlogs into a fresh server (issue 16)', () => {
  beforeAll(async () => {
    site = backupSite();
    source = await startOwnMariaDb({ args: BINLOG_ARGS });

    // The host's first tick: A and B with rows, each database's base taken.
    await provision(A);
    await provision(B);
    await asTenant(source, A, (c) => c.query("INSERT INTO items VALUES (1, 'a-one'), (2, 'a-two')"));
    await asTenant(source, B, (c) => c.query("INSERT INTO items VALUES (1, 'b-one')"));
    ship();

    // Between ticks: writes, a column added (in the database, as Skeema does), a new tenant C, and a
    // table moved into A's table-backup schema by a statement naming both databases (no default one).
    await asTenant(source, A, (c) => c.query("INSERT INTO items VALUES (3, 'a-three')"));
    await asTenant(source, A, (c) => c.query("UPDATE items SET label = 'a-two!' WHERE id = 2"));
    await asAdmin(source, (c) => c.query('ALTER TABLE items ADD COLUMN note varchar(20) NULL; CREATE TABLE removed (id int PRIMARY KEY)'), A.db);
    await asTenant(source, B, (c) => c.query("INSERT INTO items VALUES (2, 'b-two')"));
    await provision(C);
    await asTenant(source, C, (c) => c.query("INSERT INTO items VALUES (1, 'c-one')"));
    ship();
    await asAdmin(source, (c) => c.query(`CREATE DATABASE \`${BACKUPS_OF_A}\`; RENAME TABLE \`${A.db}\`.removed TO \`${BACKUPS_OF_A}\`.b1`));
    ship();

    // After the last tick before the chosen time: only in the binlogs (shipped by the tick after it).
    await asTenant(source, A, (c) => c.query("INSERT INTO items (id, label, note) VALUES (4, 'a-four', 'late')"));
    await asTenant(source, B, (c) => c.query('DELETE FROM items WHERE id = 1'));
    chosen = await nextSecond();

    // After the chosen time: none of this may come back.
    await asTenant(source, A, (c) => c.query("INSERT INTO items VALUES (5, 'a-after', NULL)"));
    await asTenant(source, A, (c) => c.query('DELETE FROM items WHERE id = 1'));
    await asAdmin(source, (c) => c.query(`DROP TABLE items; DROP DATABASE \`${C.db}\`; DROP USER '${C.user}'@'%'`), B.db);
    ship();
    await source.stop();
  }, 240_000);

  afterAll(async () => {
    await source?.stop();
    await target?.stop();
    await empty?.stop();
    site?.remove();
  });

  it('restores every database and account to the chosen second, from base backups and binlogs', async () => {
    target = await startOwnMariaDb({ args: BINLOG_ARGS });
    const run = site.restore(target.port, ['--from', site.store, '--to', chosen]);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);

    // A: rows up to the chosen time (3 and 4 replayed from binlogs), the added column, the moved table gone.
    expect(await asTenant(target, A, (c) => rows(c, 'SELECT id, label, note FROM items ORDER BY id'))).toEqual([
      { id: 1, label: 'a-one', note: null },
      { id: 2, label: 'a-two!', note: null },
      { id: 3, label: 'a-three', note: null },
      { id: 4, label: 'a-four', note: 'late' },
    ]);
    expect(await asAdmin(target, (c) => rows(c, `SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema IN ('${A.db}', '${BACKUPS_OF_A}') ORDER BY 1, 2`))).toEqual([
      { table_schema: A.db, table_name: 'items' },
      { table_schema: BACKUPS_OF_A, table_name: 'b1' },
    ]);
    // B: its row 1 deleted before the chosen time; its table dropped after it is there.
    expect(await asTenant(target, B, (c) => rows(c, 'SELECT id, label FROM items ORDER BY id'))).toEqual([{ id: 2, label: 'b-two' }]);
    // C: dropped after the chosen time, so here, with its user and password.
    expect(await asTenant(target, C, (c) => rows(c, 'SELECT id, label FROM items'))).toEqual([{ id: 1, label: 'c-one' }]);
    // Grants as they were: a tenant's user reaches its own database only.
    await expect(asTenant(target, A, (c) => c.query(`SELECT * FROM \`${B.db}\`.items`))).rejects.toMatchObject({ code: 'ER_TABLEACCESS_DENIED_ERROR' });
    await expect(asTenant(target, A, (c) => c.query('DROP TABLE items'))).rejects.toMatchObject({ code: 'ER_TABLEACCESS_DENIED_ERROR' });
    // The new server's binlogs are numbered after the stored ones (one name never means two files).
    const stored = readdirSync(join(site.store, 'binlog')).sort();
    const logs = (await asAdmin(target, (c) => rows(c, 'SHOW BINARY LOGS'))) as Array<{ Log_name: string }>;
    expect(Number(logs[0]!.Log_name.split('.').pop())).toBeGreaterThan(Number(stored.at(-1)!.split('.').pop()));
  }, 120_000);

  it('ships from the restored server on, and refuses to ship from a fresh one that would overwrite the lost host\'s binlogs', async () => {
    const stored = () => ['binlog', 'host'].map((d) => readdirSync(join(site.store, d)).sort());
    const before = stored();
    const fresh = await startOwnMariaDb({ args: BINLOG_ARGS });
    try {
      const refused = site.backup(fresh.port, 'ship');
      expect(refused.stderr).toMatch(/^not shipping: the store already holds octodb-bin\.\d+, and this server writes octodb-bin\.000002: restore it/);
      expect(refused.status).toBe(3);
      expect(stored()).toEqual(before);
    } finally {
      await fresh.stop();
    }
    const shipped = site.backup(target!.port, 'ship');
    expect(shipped.stderr).toBe('');
    expect(shipped.status).toBe(0);
    const [binlogs, catalogs] = stored();
    expect(binlogs!.length).toBeGreaterThan(before[0]!.length);
    expect(binlogs!.slice(0, before[0]!.length)).toEqual(before[0]);
    expect(catalogs).toHaveLength(before[1]!.length + 1);
  }, 60_000);

  it('refuses a server that already holds databases, leaving it as it was', async () => {
    const run = site.restore(target!.port, ['--from', site.store, '--to', chosen]);
    expect(run.status).toBe(4);
    expect(run.stderr).toMatch(/already holds \d+ database/);
    expect(await asTenant(target!, B, (c) => rows(c, 'SELECT id FROM items'))).toEqual([{ id: 2 }]);
  });

  it.each([
    ['a time before any backup', ['--to', '2020-01-01T00:00:00Z'], 3, /no host catalog before/],
    ['a time in the future', ['--to', '2999-01-01T00:00:00Z'], 2, /in the future/],
    ['a malformed time', ['--to', "2026-01-01T00:00:00Z'; DROP DATABASE x; --"], 2, /UTC time/],
    ['an impossible date', ['--to', '2026-02-31T00:00:00Z'], 2, /not a valid time/],
    ['no store', ['--to', '2026-01-01T00:00:00Z', '--from'], 2, /usage/],
    ['an unknown option', ['--to', '2026-01-01T00:00:00Z', '--drop-everything'], 2, /usage/],
  ])('refuses %s before touching the server', async (_what, args, status, message) => {
    empty ??= await startOwnMariaDb({ args: BINLOG_ARGS });
    const run = site.restore(empty.port, args.includes('--from') ? args : ['--from', site.store, ...args]);
    expect(run.stderr).toMatch(message);
    expect(run.status).toBe(status);
    const held = await asAdmin(empty, (c) => rows(c, "SELECT COUNT(*) AS n FROM information_schema.schemata WHERE schema_name NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys')"));
    expect(held).toEqual([{ n: 0 }]);
    expect(await asAdmin(empty, (c) => rows(c, 'SHOW BINARY LOGS'))).toHaveLength(1);
  }, 60_000);

  it('names a database without a base before the time and restores the others', async () => {
    const store = join(site.dir, 'store-without-b');
    cpSync(site.store, store, { recursive: true });
    rmSync(join(store, 'base', B.db), { recursive: true });
    const fresh = await startOwnMariaDb({ args: BINLOG_ARGS });
    try {
      const run = site.restore(fresh.port, ['--from', store, '--to', chosen]);
      expect(run.stderr).toBe('');
      expect(run.status).toBe(0);
      expect(run.stdout).toContain(`NOT RESTORED ${B.db}: no base backup before ${chosen}`);
      expect(await asTenant(fresh, C, (c) => rows(c, 'SELECT id FROM items'))).toEqual([{ id: 1 }]);
      expect(await asAdmin(fresh, (c) => rows(c, `SELECT schema_name FROM information_schema.schemata WHERE schema_name = '${B.db}'`))).toEqual([]);
    } finally {
      await fresh.stop();
    }
  }, 60_000);

  it('fails, naming it, when a binlog a base needs is missing from the store', async () => {
    const store = join(site.dir, 'store-with-a-gap');
    cpSync(site.store, store, { recursive: true });
    // The first tick flushed the first binlog, then took B's base (B's only one) in the second.
    const needed = readdirSync(join(store, 'binlog')).sort()[1]!;
    rmSync(join(store, 'binlog', needed));
    const fresh = await startOwnMariaDb({ args: BINLOG_ARGS });
    try {
      const run = site.restore(fresh.port, ['--from', store, '--to', chosen]);
      expect(run.stderr).toContain(`binlog ${needed} (where the base of ${B.db} starts) is not in the store`);
      expect(run.status).toBe(1);
    } finally {
      await fresh.stop();
    }
  }, 60_000);
});
