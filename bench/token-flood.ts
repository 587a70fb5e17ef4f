/**
 * A victim tenant's /query latency alone, then while attackers flood /token with wrong passwords,
 * with bcrypt on the event loop (OCTODB_PASSWORD_WORKERS=0, as before the workers) and on one
 * worker (the default), each measured in the same run on its own OctoDB. Prints p50/p99 and the
 * ratio under attack to alone. bcrypt at the production cost (10).
 * Usage: npm run bench -- token-flood [queries=200] [attackers=8]
 */
import { randomBytes } from 'node:crypto';
import { createConnection, type RowDataPacket } from 'mysql2/promise';
import { startOctoDb } from '../bin/local.ts';
import { percentile, summary } from './stats.ts';

export async function main(args: string[]): Promise<void> {
  const queries = Number(args[0] ?? 200);
  const attackers = Number(args[1] ?? 8);
  for (const workers of ['0', '1']) {
    const { alone, attacked, tokens } = await measure(workers, queries, attackers);
    const ratio = (p: number) => (percentile(attacked, p) / percentile(alone, p)).toFixed(1);
    console.log(`OCTODB_PASSWORD_WORKERS=${workers}`);
    console.log(`  victim /query alone:        ${summary(alone)}`);
    console.log(`  victim /query under flood:  ${summary(attacked)}  → p50 ×${ratio(50)}, p99 ×${ratio(99)}`);
    console.log(`  flood answers: ${JSON.stringify(tokens)}`);
  }
}

async function measure(workers: string, queries: number, attackers: number) {
  const metaDb = `octodb_bench_${randomBytes(4).toString('hex')}`;
  const base = (process.env.OCTODB_MYSQL_URL ?? 'mysql://octodb:octodb@127.0.0.1:3306/octodb_meta').replace(/\/[^/]*$/, '');
  const octo = await startOctoDb({
    PORT: '0',
    OCTODB_MYSQL_URL: `${base}/${metaDb}`,
    OCTODB_BCRYPT_ROUNDS: '10',
    OCTODB_PASSWORD_WORKERS: workers,
    OCTODB_PASSWORD_QUEUE: '64',
  });
  const admin = await createConnection({ ...octo.deps.adminLogin!, database: metaDb });
  const post = async (path: string, body: unknown, token?: string) => {
    const res = await fetch(`${octo.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  try {
    const email = `bench-${randomBytes(4).toString('hex')}@example.com`;
    const signup = await post('/signup', { name: 'Victim', email, password: 'victim-password' });
    for (;;) {
      const [rows] = await admin.query<RowDataPacket[]>('SELECT status FROM tenant_databases WHERE db_id = ?', [signup.body.db_id]);
      if (rows[0]?.status === 'ready') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const token = String((await post('/token', { email, password: 'victim-password' })).body.token);
    const run = async (n: number) => {
      const samples: number[] = [];
      for (let i = 0; i < n; i++) {
        const started = performance.now();
        const res = await post('/query', { query: 'SELECT 1 AS one' }, token);
        if (res.status !== 200) throw new Error(`victim query answered ${res.status}`);
        samples.push(performance.now() - started);
      }
      return samples;
    };
    await run(20); // warm-up
    const alone = await run(queries);
    let flooding = true;
    const tokens: Record<number, number> = {};
    const flood = Array.from({ length: attackers }, async () => {
      while (flooding) {
        const res = await post('/token', { email, password: 'not-the-password' });
        tokens[res.status] = (tokens[res.status] ?? 0) + 1;
        if (res.status === 503) await new Promise((r) => setTimeout(r, 20));
      }
    });
    await new Promise((r) => setTimeout(r, 200));
    const attacked = await run(queries);
    flooding = false;
    await Promise.all(flood);
    return { alone, attacked, tokens };
  } finally {
    await octo.invoker.idle();
    const [dbs] = await admin.query<RowDataPacket[]>('SELECT db_id, mysql_user FROM tenant_databases');
    for (const db of dbs) {
      await admin.query(`DROP DATABASE IF EXISTS \`db_${db.db_id}\``);
      await admin.query(`DROP USER IF EXISTS '${db.mysql_user}'@'%'`);
    }
    await admin.query(`DROP DATABASE \`${metaDb}\``);
    await admin.query(`REVOKE ALL PRIVILEGES ON \`${metaDb}\`.* FROM ?@'%'`, [octo.deps.metaLogin.user]).catch(() => undefined);
    await admin.end();
    await octo.close();
  }
}
