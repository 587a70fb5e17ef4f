/**
 * `npm run bench -- storage [--tables 100] [--rounds 5]`
 *
 * What a storage quota costs and how far a tenant can get past it, on a throwaway database and
 * user with a tenant's grants (dropped at the end):
 *   - one measurement (listing + ANALYZE + SUM, the tenant's own login) of a database with 1 table
 *     and with --tables tables, against one `SELECT 1` round trip on the same pool;
 *   - the rate one INSERT … SELECT REPEAT('x', 1000000) writes at (20 rows), and from it the bytes one
 *     statement can write within the statement time limit (the overshoot before the next measurement);
 *   - how long after a DELETE the measure drops (InnoDB's purge), i.e. when writes are accepted again.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { createConnection } from 'mysql2/promise';
import { MysqlStorageMeter } from '#adapters/mysql-storage-meter';
import { MysqlTenantSqlRunner } from '#adapters/mysql-tenant-sql-runner';
import { loadMysqlTls } from '#adapters/mysql-tls';
import type { TenantLogin } from '#core/ports';
import { loadConfig, parseMysqlUrl } from '#shared/config';
import { percentile } from './stats.ts';

const MB = 1024 * 1024;

export async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { tables: { type: 'string', default: '100' }, rounds: { type: 'string', default: '5' } } });
  const tableCount = Number(values.tables);
  const rounds = Number(values.rounds);
  const config = loadConfig();
  const adminLogin = parseMysqlUrl(config.OCTODB_MYSQL_URL);
  const tls = await loadMysqlTls(config);
  const admin = await createConnection({ host: adminLogin.host, port: adminLogin.port, user: adminLogin.user, password: adminLogin.password, ssl: tls });
  const suffix = randomBytes(4).toString('hex');
  const dbs = [`qbench_one_${suffix}`, `qbench_many_${suffix}`];
  const user = `qbench_${suffix}`;
  const password = randomBytes(12).toString('hex');
  const runner = new MysqlTenantSqlRunner(tls, {
    rowLimit: config.OCTODB_QUERY_ROW_LIMIT,
    maxResultBytes: config.OCTODB_QUERY_MAX_RESULT_BYTES,
    timeoutMs: config.OCTODB_QUERY_TIMEOUT_MS,
    poolSize: config.OCTODB_QUERY_POOL_SIZE,
    acquireTimeoutMs: config.OCTODB_QUERY_ACQUIRE_TIMEOUT_MS,
  });
  const host = { hostId: 'bench', instanceId: 'bench', endpoint: adminLogin.host, port: adminLogin.port, active: true } as never;
  const login = (database: string): TenantLogin => ({ tenantId: 'bench', host, database, user, password });
  const meter = new MysqlStorageMeter(runner);
  const time = async (n: number, f: () => Promise<unknown>) => {
    const ms: number[] = [];
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      await f();
      ms.push(performance.now() - t);
    }
    return percentile(ms, 50);
  };
  try {
    await admin.query(`CREATE USER '${user}'@'%' IDENTIFIED BY '${password}'`);
    for (const [i, db] of dbs.entries()) {
      await admin.query(`CREATE DATABASE \`${db}\``);
      await admin.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON \`${db}\`.* TO '${user}'@'%'`);
      for (let t = 0; t < (i === 0 ? 1 : tableCount); t++) {
        await admin.query(`CREATE TABLE \`${db}\`.t${t} (id int NOT NULL AUTO_INCREMENT, v longtext, PRIMARY KEY (id)) ENGINE=InnoDB`);
        await admin.query(`INSERT INTO \`${db}\`.t${t} (v) VALUES (REPEAT('x', 100))`);
      }
    }
    const one = login(dbs[0]!);
    const many = login(dbs[1]!);
    const roundTrip = await time(rounds * 4, () => runner.run(one, 'SELECT 1', []));
    const measureOne = await time(rounds, () => meter.measure(one));
    const measureMany = await time(rounds, () => meter.measure(many));
    // What a write costs in the steady state: one table changed since the last measurement, a second ago.
    const measureChanged = await time(rounds, async () => {
      await runner.run(many, "INSERT INTO t7 (v) VALUES ('y')", []);
      return meter.measure(many, 1000);
    });
    console.log(`\nmeasurement cost (p50 of ${rounds}; tenant login, same pool)`);
    console.log(`SELECT 1 round trip           ${roundTrip.toFixed(2)} ms`);
    console.log(`measure, 1 table              ${measureOne.toFixed(2)} ms  (${(measureOne / roundTrip).toFixed(1)}× a round trip)`);
    console.log(`measure, ${tableCount} tables, all        ${measureMany.toFixed(2)} ms  (${(measureMany / roundTrip).toFixed(1)}× a round trip, ${(measureMany / tableCount).toFixed(2)} ms a table)`);
    console.log(`measure, ${tableCount} tables, 1 changed  ${measureChanged.toFixed(2)} ms  (${(measureChanged / roundTrip).toFixed(1)}× a round trip, the insert included)`);

    const stale = await runner.run(one, `SELECT DATA_LENGTH + INDEX_LENGTH AS b FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 't0'`, []);
    const t0 = performance.now();
    await runner.run(one, "INSERT INTO t0 (v) SELECT REPEAT('x', 1000000) FROM seq_1_to_20", []);
    const writeMs = performance.now() - t0;
    const staleAfter = await runner.run(one, `SELECT DATA_LENGTH + INDEX_LENGTH AS b FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 't0'`, []);
    const measured = await meter.measure(one);
    const rate = (20 * 1e6) / MB / (writeMs / 1000);
    const windowS = (config.OCTODB_QUERY_TIMEOUT_MS + 1000) / 1000;
    console.log(`\nwrites`);
    console.log(`20 × 1 MB INSERT…SELECT        ${writeMs.toFixed(0)} ms → ${rate.toFixed(0)} MiB/s`);
    console.log(`information_schema before/after ${Number(stale.rows[0]?.b)} / ${Number(staleAfter.rows[0]?.b)} bytes (no ANALYZE); measured ${(measured / MB).toFixed(1)} MiB`);
    console.log(`one statement within the time limit (+1 s watchdog grace) can write ≈ ${((rate * windowS) / 1024).toFixed(2)} GiB`);

    const d0 = performance.now();
    await runner.run(one, 'DELETE FROM t0', []);
    let after = await meter.measure(one);
    let checks = 1;
    while (after > measured / 2 && performance.now() - d0 < 120_000) {
      await new Promise((r) => setTimeout(r, 250));
      after = await meter.measure(one);
      checks++;
    }
    console.log(`\nafter DELETE: measure ${(after / MB).toFixed(2)} MiB after ${((performance.now() - d0) / 1000).toFixed(1)} s (${checks} measurements; purge frees the pages)`);
  } finally {
    await runner.close();
    for (const db of dbs) await admin.query(`DROP DATABASE IF EXISTS \`${db}\``);
    await admin.query(`DROP USER IF EXISTS '${user}'@'%'`);
    await admin.end();
  }
}
