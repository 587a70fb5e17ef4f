/**
 * `npm run bench -- pitr [--mb 40]`
 *
 * What a point-in-time restore of one database costs, per MB, on a throwaway database (dropped at
 * the end) through the real host scripts and the bash host runner:
 *   - the base backup (mariadb-dump --single-transaction --master-data=2, gzip, into the store);
 *   - the restore of a database of --mb/2 and of --mb MB (half in the base backup, half written
 *     after it as row events, all of it replayed from the binlog);
 * against the floor measured in the same run: copying the same database with a plain
 * `mariadb-dump | mysql` (no binlog, no store), so the ratio says what the restore adds to moving
 * the bytes at all.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createConnection } from 'mysql2/promise';
import { hostRunnerFor } from '#adapters/wiring';
import { PRELUDE } from '#core/host-scripts';
import { backupStamp, baseBackupKey, buildBaseBackupScript, buildRestoreScript, newBaseMarker, parseBaseBackup } from '#core/pitr-scripts';
import { loadConfig, parseMysqlUrl } from '#shared/config';

const MB = 1024 * 1024;

export async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { mb: { type: 'string', default: '40' } } });
  const config = loadConfig();
  const login = parseMysqlUrl(config.OCTODB_MYSQL_URL);
  const admin = await createConnection({ host: login.host, port: login.port, user: login.user, password: login.password });
  const runner = hostRunnerFor(config, login); // as npm start makes it (bash, or compose's dbhost)
  const host = { hostId: 'bench', instanceId: 'bench', endpoint: login.host, port: login.port };
  const root = mkdtempSync(join(tmpdir(), 'octodb-pitr-bench-'));
  const suffix = randomBytes(4).toString('hex');
  const made: string[] = [];
  const run = async (script: string) => {
    const t = performance.now();
    const r = await runner.run(host, script, 1800);
    if (r.exitCode !== 0) throw new Error(`host script failed (${r.exitCode}): ${r.stderr.slice(-500)}`);
    return { ms: performance.now() - t, stdout: r.stdout };
  };
  /** About `mb` MB of rows (1 KB of hex each, 1000 a statement: MariaDB caps recursion there): row events in the binlog. */
  const fill = async (db: string, mb: number) => {
    for (let i = 0; i < mb; i++) {
      await admin.query(`INSERT INTO \`${db}\`.t (v) WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 1000) SELECT REPEAT(MD5(RAND() * n), 32) FROM s`);
    }
  };
  const sizeMb = async (db: string) => {
    await admin.query(`ANALYZE TABLE \`${db}\`.t`); // information_schema's sizes are estimates until then
    const [rows] = await admin.query(`SELECT SUM(data_length + index_length) AS b FROM information_schema.tables WHERE table_schema = ?`, [db]);
    return Number((rows as { b: number }[])[0]!.b) / MB;
  };
  try {
    console.log(`point-in-time restore of one database (store: a local directory), floor: mariadb-dump | mysql of the same database`);
    console.log('written MB | on disk MB | base backup s | restore s | restore s per written MB | floor (dump|load) s | restore / floor');
    for (const mb of [Math.max(2, Math.round(Number(values.mb) / 2)), Number(values.mb)]) {
      const src = `pitrbench_${suffix}_${mb}`;
      made.push(src, `${src}_r`, `${src}_f`);
      await admin.query(`CREATE DATABASE \`${src}\``);
      await admin.query(`CREATE TABLE \`${src}\`.t (id bigint NOT NULL AUTO_INCREMENT, v varchar(1024) NOT NULL, PRIMARY KEY (id)) ENGINE=InnoDB`);
      await fill(src, mb / 2);
      const marker = newBaseMarker();
      const stamp = backupStamp(new Date());
      const base = await run(buildBaseBackupScript({ database: src, stamp, root, marker }));
      if (!parseBaseBackup(base.stdout, marker)) throw new Error('the base backup printed no coordinates');
      await fill(src, mb / 2); // replayed from the binlog
      await new Promise((r) => setTimeout(r, 1100)); // the replay stops at a whole second after the last write
      const stop = new Date().toISOString().slice(0, 19).replace('T', ' ');
      const restore = await run(buildRestoreScript({ source: src, target: `${src}_r`, baseKey: baseBackupKey(src, stamp), stopDatetime: stop, root }));
      const [counts] = await admin.query(`SELECT (SELECT COUNT(*) FROM \`${src}\`.t) AS a, (SELECT COUNT(*) FROM \`${src}_r\`.t) AS b`);
      const { a, b } = (counts as { a: number; b: number }[])[0]!;
      if (Number(a) !== Number(b)) throw new Error(`the restore holds ${b} rows, the source ${a}`);
      const floor = await run(`${PRELUDE}sql "CREATE DATABASE \\\`${src}_f\\\`"\nmariadb-dump --protocol=TCP -h "$DB_HOST" -P "$DB_PORT" --single-transaction --quick '${src}' | mysql --protocol=TCP -h "$DB_HOST" -P "$DB_PORT" '${src}_f'\n`);
      const size = await sizeMb(src);
      const s = (ms: number) => (ms / 1000).toFixed(2);
      console.log(`${mb} | ${size.toFixed(1)} | ${s(base.ms)} | ${s(restore.ms)} | ${(restore.ms / 1000 / mb).toFixed(3)} | ${s(floor.ms)} | ${(restore.ms / floor.ms).toFixed(2)}`);
    }
  } finally {
    for (const db of made) await admin.query(`DROP DATABASE IF EXISTS \`${db}\``);
    await admin.end();
    await runner.close?.();
    rmSync(root, { recursive: true, force: true });
  }
}
