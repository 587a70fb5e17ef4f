/**
 * Signup-to-ready latency: POST /signup through the local gateway until MetaDB says `ready`,
 * against the floor measured in the same run: the very same provisioning script run directly on
 * the host runner (what creating a database with Skeema costs without OctoDB around it).
 * Usage: npm run bench -- signup [tenants=20]
 */
import { randomBytes } from 'node:crypto';
import { createConnection, type RowDataPacket } from 'mysql2/promise';
import { buildDropDatabaseScript, buildProvisionScript } from '#core/host-scripts';
import { databaseName, databaseUser, newDbId, tempSchemaName } from '#core/ids';
import { startOctoDb } from '../bin/local.ts';
import { percentile, summary } from './stats.ts';

export async function main(args: string[]): Promise<void> {
  const n = Number(args[0] ?? 20);
  const metaDb = `octodb_bench_${randomBytes(4).toString('hex')}`;
  const base = (process.env.OCTODB_MYSQL_URL ?? 'mysql://octodb:octodb@127.0.0.1:3306/octodb_meta').replace(/\/[^/]*$/, '');
  const octo = await startOctoDb({ PORT: '0', OCTODB_MYSQL_URL: `${base}/${metaDb}` });
  const admin = await createConnection({ ...(await octo.parts.get('logins')).admin!, database: metaDb });
  const host = (await (await octo.parts.get('meta')).getHost('local'))!;
  const templates = (await (await octo.parts.get('templates')).load('default'))!;
  const hostRunner = await octo.parts.get('hostRunner');

  try {
    const direct: number[] = [];
    for (let i = 0; i < n; i++) {
      const dbId = newDbId();
      const script = buildProvisionScript({
        database: databaseName(dbId),
        user: databaseUser(dbId),
        templateFiles: templates,
        tempSchema: tempSchemaName(),
      });
      const started = performance.now();
      const result = await hostRunner.run(host, script, 120);
      direct.push(performance.now() - started);
      if (result.exitCode !== 0) throw new Error(result.stderr);
      await hostRunner.run(host, buildDropDatabaseScript({ database: databaseName(dbId), user: databaseUser(dbId) }), 60);
    }

    const endToEnd: number[] = [];
    for (let i = 0; i < n; i++) {
      const started = performance.now();
      const res = await fetch(`${octo.url}/signup`, {
        method: 'POST',
        body: JSON.stringify({ name: `Bench ${i}`, email: `bench-${i}-${randomBytes(4).toString('hex')}@example.com`, password: 'bench-password' }),
      });
      const { db_id } = (await res.json()) as { db_id: string };
      for (;;) {
        const [rows] = await admin.query<RowDataPacket[]>('SELECT status FROM tenant_databases WHERE db_id = ?', [db_id]);
        if (rows[0]?.status === 'ready') break;
        if (rows[0]?.status === 'failed') throw new Error(`provisioning failed for ${db_id}`);
        await new Promise((r) => setTimeout(r, 5));
      }
      endToEnd.push(performance.now() - started);
    }

    console.log(`signup → ready over ${n} tenants (sequential)`);
    console.log(`  provisioning script alone  ${summary(direct)}`);
    console.log(`  POST /signup → ready       ${summary(endToEnd)}`);
    console.log(`  ratio p50 ${(percentile(endToEnd, 50) / percentile(direct, 50)).toFixed(2)}×`);
  } finally {
    const [dbs] = await admin.query<RowDataPacket[]>('SELECT db_id, mysql_user FROM tenant_databases');
    for (const db of dbs) {
      await admin.query(`DROP DATABASE IF EXISTS \`db_${db.db_id}\``);
      await admin.query(`DROP USER IF EXISTS '${db.mysql_user}'@'%'`);
    }
    await admin.query(`DROP DATABASE \`${metaDb}\``);
    // The API account's grant on this MetaDB goes with it (dropping a database keeps its grants).
    await admin.query(`REVOKE ALL PRIVILEGES ON \`${metaDb}\`.* FROM ?@'%'`, [(await octo.parts.get('logins')).meta.user]).catch(() => undefined);
    await admin.end();
    await octo.close();
  }
}
