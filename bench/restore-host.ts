/**
 * How long a whole-host restore (bin/restore-host.sh) takes per MB, against its floor measured in
 * the same run: the same base backups piped into mysql by hand (no catalog, no binlog replay).
 * Two servers of the bench's own (own datadir and port): the source gets `databases` tenant
 * databases of `mb` MB of rows in all, a base backup of each, then as many MB again of writes that
 * only the binlogs hold; the restore replays them into a fresh server.
 * Usage: npm run bench -- restore-host [databases=20] [mb=40]
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createConnection } from 'mysql2/promise';
import { databaseName, newDbId } from '#core/ids';
import { startOwnMariaDb } from '../test/support/fault-servers.ts';
import { BINLOG_ARGS, backupSite } from '../test/support/host-backups.ts';
import { TEST_TLS } from '../test/support/mysql-tls.ts';

const ROW_BYTES = 1000;
const mbOf = (dir: string): number => readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).reduce((n, e) => n + statSync(join(e.parentPath, e.name)).size, 0) / 1e6;

export async function main(args: string[]): Promise<void> {
  const databases = Number(args[0] ?? 20);
  const mb = Number(args[1] ?? 40);
  const rowsEach = Math.ceil((mb * 1e6) / ROW_BYTES / databases);
  const site = backupSite();
  const source = await startOwnMariaDb({ args: BINLOG_ARGS });
  const servers = [source];
  try {
    const admin = await createConnection({ host: '127.0.0.1', port: source.port, user: 'octodb', password: 'octodb', multipleStatements: true, ssl: TEST_TLS });
    const names = Array.from({ length: databases }, () => databaseName(newDbId()));
    const fill = async (db: string, from: number) => {
      for (let i = from; i < from + rowsEach; i += 500) {
        const values = Array.from({ length: Math.min(500, from + rowsEach - i) }, (_, k) => `(${i + k}, REPEAT('x', ${ROW_BYTES - 20}))`);
        await admin.query(`INSERT INTO \`${db}\`.items VALUES ${values.join(',')}`);
      }
    };
    for (const db of names) {
      await admin.query(`CREATE DATABASE \`${db}\`; CREATE TABLE \`${db}\`.items (id int PRIMARY KEY, payload text NOT NULL)`);
      await fill(db, 0);
    }
    const ship = () => {
      const r = site.backup(source.port, 'ship');
      if (r.status !== 0) throw new Error(r.stderr);
    };
    const nextSecond = async () => {
      const t = new Date(Math.floor(Date.now() / 1000) * 1000 + 1000);
      await new Promise((r) => setTimeout(r, t.getTime() - Date.now() + 20));
      return t;
    };
    ship();
    for (const db of names) await fill(db, rowsEach);
    await admin.end();
    ship();
    // Restored to `between`: the first bases and the second fill from the binlogs; to `to`: the new bases.
    const between = await nextSecond();
    if (site.backup(source.port, 'base').status !== 0) throw new Error('base backups failed');
    const to = await nextSecond();
    const baseMb = mbOf(join(site.store, 'base')) / 2;
    const binlogMb = mbOf(join(site.store, 'binlog'));

    // The floor: each database's first base loaded by hand into a fresh server (its first fill only).
    const floorServer = await startOwnMariaDb({ args: BINLOG_ARGS });
    servers.push(floorServer);
    const floorStart = performance.now();
    for (const db of names) {
      const [first] = readdirSync(join(site.store, 'base', db)).sort();
      const load = spawnSync('bash', ['-c', `mysql -h 127.0.0.1 -P ${floorServer.port} -uoctodb -poctodb -e 'CREATE DATABASE \`${db}\`' && gunzip -c '${join(site.store, 'base', db, first!)}' | mysql -h 127.0.0.1 -P ${floorServer.port} -uoctodb -poctodb '${db}'`]);
      if (load.status !== 0) throw new Error(load.stderr.toString());
    }
    const floor = performance.now() - floorStart;

    const restore = async (source: string, toTime: Date) => {
      const target = await startOwnMariaDb({ args: BINLOG_ARGS });
      servers.push(target);
      const started = performance.now();
      const r = site.restore(target.port, ['--from', site.store, '--to', toTime.toISOString().replace(/\.\d{3}Z$/, 'Z')]);
      if (r.status !== 0) throw new Error(`restore-host.sh exited ${r.status}: ${r.stderr}${r.stdout}`);
      const ms = performance.now() - started;
      // Timed only if it restored every row.
      const check = await createConnection({ host: '127.0.0.1', port: target.port, user: 'octodb', password: 'octodb', ssl: TEST_TLS });
      for (const db of names) {
        const [[row]] = await check.query<import('mysql2').RowDataPacket[]>(`SELECT COUNT(*) AS n FROM \`${db}\`.items`);
        if (Number(row!.n) !== 2 * rowsEach) throw new Error(`${db}: ${row!.n} rows restored, ${2 * rowsEach} written`);
      }
      await check.end();
      return { source, ms };
    };
    const replayed = await restore('the first bases + binlogs', between);
    const latest = await restore('the second bases', to);

    console.log(`whole-host restore of ${databases} databases: first bases ${baseMb.toFixed(1)} MB gzipped (${(rowsEach * databases).toLocaleString()} rows of ${ROW_BYTES} B), then binlogs ${binlogMb.toFixed(1)} MB (as many rows again)`);
    console.log(`  first bases by hand (floor)            ${floor.toFixed(0)} ms  1.00x`);
    for (const r of [replayed, latest]) console.log(`  restore-host.sh from ${r.source.padEnd(26)} ${r.ms.toFixed(0)} ms  ${(r.ms / floor).toFixed(2)}x`);
    const rowMb = (rowsEach * databases * ROW_BYTES) / 1e6;
    console.log(`  per MB of rows: floor ${(floor / 1000 / rowMb).toFixed(2)} s (bases only); from bases + binlogs ${(replayed.ms / 1000 / (2 * rowMb)).toFixed(2)} s`);
  } finally {
    for (const s of servers) await s.stop();
    site.remove();
  }
}
