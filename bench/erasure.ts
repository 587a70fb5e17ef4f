/**
 * The cost of an erasure's host step for a tenant with many databases: dropping N databases and
 * users with one chunked host script (what runErasure does, DROP_CHUNK per script) against one
 * host script per database (the provisioning clean-up's script, run N times) and against the
 * floor, the same DROPs sent over one admin connection, all in the same run.
 * Usage: npm run bench -- erasure [databases=100]
 */
import { randomBytes } from 'node:crypto';
import { createConnection } from 'mysql2/promise';
import { buildDropDatabaseScript, buildDropDatabasesScript } from '#core/host-scripts';
import { databaseName, databaseUser, newDbId } from '#core/ids';
import { startOctoDb } from '../bin/local.ts';

export async function main(args: string[]): Promise<void> {
  const n = Number(args[0] ?? 100);
  const metaDb = `octodb_bench_${randomBytes(4).toString('hex')}`;
  const base = (process.env.OCTODB_MYSQL_URL ?? 'mysql://octodb:octodb@127.0.0.1:3306/octodb_meta').replace(/\/[^/]*$/, '');
  const octo = await startOctoDb({ PORT: '0', OCTODB_MYSQL_URL: `${base}/${metaDb}` });
  const admin = await createConnection({ ...(await octo.parts.get('logins')).admin! });
  const host = (await (await octo.parts.get('meta')).getHost('local'))!;
  const runner = await octo.parts.get('hostRunner');
  const made: string[] = [];
  const make = async () => {
    const ids = Array.from({ length: n }, () => newDbId());
    for (const id of ids) {
      made.push(id);
      await admin.query(`CREATE DATABASE \`${databaseName(id)}\``);
      await admin.query(`CREATE USER '${databaseUser(id)}'@'%' IDENTIFIED BY 'b-${id}'`);
    }
    return ids.map((id) => ({ database: databaseName(id), user: databaseUser(id) }));
  };
  const timed = async (work: () => Promise<void>) => {
    const started = performance.now();
    await work();
    return performance.now() - started;
  };
  const mustRun = async (script: string) => {
    const result = await runner.run(host, script, 600);
    if (result.exitCode !== 0) throw new Error(result.stderr);
  };

  try {
    const floorTargets = await make();
    const floor = await timed(async () => {
      for (const t of floorTargets) {
        await admin.query(`DROP DATABASE IF EXISTS \`${t.database}\``);
        await admin.query(`DROP USER IF EXISTS '${t.user}'@'%'`);
      }
    });
    const eachTargets = await make();
    const each = await timed(async () => {
      for (const t of eachTargets) await mustRun(buildDropDatabaseScript(t));
    });
    const chunkTargets = await make();
    const chunked = await timed(() => mustRun(buildDropDatabasesScript(chunkTargets)));

    console.log(`dropping ${n} tenant databases and users on one host`);
    console.log(`  admin connection, DROP by DROP (floor)   ${floor.toFixed(0)} ms  1.00x`);
    console.log(`  one host script per database             ${each.toFixed(0)} ms  ${(each / floor).toFixed(2)}x  (${n} SSM commands on AWS)`);
    console.log(`  one chunked host script (the erasure)    ${chunked.toFixed(0)} ms  ${(chunked / floor).toFixed(2)}x  (1 SSM command per 100)`);
  } finally {
    for (const id of made) {
      await admin.query(`DROP DATABASE IF EXISTS \`${databaseName(id)}\``);
      await admin.query(`DROP USER IF EXISTS '${databaseUser(id)}'@'%'`);
    }
    await admin.query(`DROP DATABASE IF EXISTS \`${metaDb}\``);
    await admin.end();
    await octo.close();
  }
}
