/**
 * `npm run bench -- plan [tables] [runs]`: what a /migrate dry run costs, against baselines measured
 * in this run on the same tenant database (default 10 tables, 5 runs each):
 *   diff     — one Skeema host script diffing one table (pull + diff: the job's validate step), the floor;
 *   apply    — the real /migrate of the same one-table change, submit to batch finished (then put back);
 *   safe     — a dry run of one safe ALTER (pull, diff --allow-unsafe, diff);
 *   unsafe   — a dry run of `tables` ALTERs, one unsafe (a diff per existing table on top);
 * (The validator's budget is raised: on a loaded 2-core machine the first judgement may exceed 50 ms.)
 * and the event loop's longest delay while dry runs are under way (monitorEventLoopDelay): the
 * work is a host script, the loop keeps turning.
 */
import { randomBytes } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createPool, type RowDataPacket } from 'mysql2/promise';
import { summary, percentile } from './stats.ts';

export async function main(args: string[]): Promise<void> {
  const tables = Number(args[0] ?? 10);
  const runs = Number(args[1] ?? 5);
  process.env.POWERTOOLS_LOG_LEVEL ??= 'SILENT';
  process.env.OCTODB_BCRYPT_ROUNDS ??= '4';
  const { startOctoDb } = await import('../bin/local.ts');
  const { buildTableSkeemaScript, newScriptMarkers, runOnHost } = await import('#core/host-scripts');
  const { databaseName, databaseUser, tempSchemaName } = await import('#core/ids');

  const base = (process.env.OCTODB_MYSQL_URL ?? 'mysql://octodb:octodb@127.0.0.1:3306/octodb_meta').replace(/\/[^/]*$/, '');
  const metaDb = `octodb_bench_${randomBytes(4).toString('hex')}`;
  const octo = await startOctoDb({ PORT: '0', OCTODB_MYSQL_URL: `${base}/${metaDb}`, OCTODB_OUTBOX_FILE: `/tmp/${metaDb}-outbox.jsonl`, OCTODB_RATE_MIGRATE: '1000/1s burst 1000', OCTODB_VALIDATOR_BUDGET_MS: '1000' });
  const login = (await octo.parts.get('logins')).admin!;
  const admin = createPool({ host: login.host, port: login.port, user: login.user, password: login.password, ssl: login.ssl, connectionLimit: 2 });
  const post = async (path: string, body: unknown, token?: string) => {
    const res = await fetch(`${octo.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const def = (i: number, extra = '') => `CREATE TABLE t${i} (id int unsigned NOT NULL AUTO_INCREMENT, name varchar(40) NOT NULL, note varchar(20) DEFAULT NULL${extra}, PRIMARY KEY (id))`;
  const timed = async (fn: () => Promise<unknown>) => {
    const t0 = performance.now();
    await fn();
    return performance.now() - t0;
  };
  let dbId = '';
  try {
    const email = `bench-${randomBytes(4).toString('hex')}@example.com`;
    const signup = await post('/signup', { name: 'Bench', email, password: 'bench-password-1' });
    dbId = String(signup.body.db_id);
    for (;;) {
      const [r] = await admin.query<RowDataPacket[]>(`SELECT status FROM \`${metaDb}\`.tenant_databases WHERE db_id = ?`, [dbId]);
      if (r[0]?.status === 'ready') break;
      await new Promise((res) => setTimeout(res, 100));
    }
    const token = String((await post('/token', { email, password: 'bench-password-1' })).body.token);
    const db = databaseName(dbId);
    for (let i = 0; i < tables; i++) await admin.query(`${def(i).replace(`CREATE TABLE t${i}`, `CREATE TABLE \`${db}\`.t${i}`)}`);
    const waitBatch = async (batchId: string) => {
      for (;;) {
        const [r] = await admin.query<RowDataPacket[]>(`SELECT finished_at FROM \`${metaDb}\`.migration_batches WHERE batch_id = ?`, [batchId]);
        if (r[0]?.finished_at) return;
        await new Promise((res) => setTimeout(res, 10));
      }
    };
    const runner = await octo.parts.get('hostRunner');
    const host = (await (await octo.parts.get('meta')).getHost('local'))!;
    const alter = `${def(0, ', KEY ix_name (name)')};`;
    const unsafe = `${Array.from({ length: tables }, (_, i) => `${i === 0 ? def(0, ', KEY ix_name (name)').replace(', note varchar(20) DEFAULT NULL', '') : def(i, ', KEY ix_name (name)')};`).join('\n')}`;

    const samples: Record<string, number[]> = { diff: [], apply: [], safe: [], unsafe: [] };
    // A fresh histogram per dry run: re-enabling one would count the time it was off as a delay.
    const lags: number[] = [];
    const watched = async (fn: () => Promise<unknown>) => {
      const lag = monitorEventLoopDelay({ resolution: 5 });
      lag.enable();
      try {
        return await timed(fn);
      } finally {
        lag.disable();
        lags.push(lag.max / 1e6);
      }
    };
    for (let r = 0; r < runs; r++) {
      samples.diff!.push(
        await timed(() =>
          runOnHost(runner, host, buildTableSkeemaScript({ database: db, table: 't0', definition: alter, tempSchema: tempSchemaName(), markers: newScriptMarkers(), ddlTimeoutSeconds: 60 }, 'diff'), 120),
        ),
      );
      samples.safe!.push(await watched(async () => expectStatus(await post('/migrate', { sql: alter, dry_run: true }, token), 200)));
      samples.unsafe!.push(await watched(async () => expectStatus(await post('/migrate', { sql: unsafe, dry_run: true }, token), 200)));
      samples.apply!.push(
        await timed(async () => {
          const res = await post('/migrate', { sql: alter }, token);
          await waitBatch(String(res.body.batch_id));
        }),
      );
      await admin.query(`ALTER TABLE \`${db}\`.t0 DROP KEY ix_name`); // put back, untimed
    }
    const floor = percentile(samples.diff!, 50);
    for (const [name, s] of Object.entries(samples)) console.log(`${name.padEnd(7)} ${summary(s)}  ×${(percentile(s, 50) / floor).toFixed(2)} of one diff`);
    console.log(`event loop: longest delay during each dry run ${summary(lags)}`);
  } finally {
    await octo.close();
    await admin.query(`DROP DATABASE IF EXISTS \`${metaDb}\``);
    if (dbId) await admin.query(`DROP DATABASE IF EXISTS \`${databaseName(dbId)}\``);
    if (dbId) await admin.query(`DROP USER IF EXISTS '${databaseUser(dbId)}'@'%'`);
    await admin.end();
  }
}

function expectStatus(res: { status: number; body: unknown }, status: number): void {
  if (res.status !== status) throw new Error(`expected ${status}, got ${res.status}: ${JSON.stringify(res.body).slice(0, 300)}`);
}
