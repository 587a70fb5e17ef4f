/**
 * `npm run bench -- cascade [N] [rows] [naive-sample]`: one parent change (ADD COLUMN c1) cascaded
 * to N children (default 1000, 20 rows each), against two baselines making the same change on the
 * same tables in this run (each child is put back to the old definition, untimed, before each):
 *   floor  — the parent's recorded ALTER sent directly to every child over one connection;
 *   naive  — one Skeema host script (pull + push) per child, the per-job design; on every child
 *            unless naive-sample is smaller than N (then extrapolated to N, printed as such).
 * Checks every child's definition equals the parent's, rows are kept, no "Too many connections".
 */
import { randomBytes } from 'node:crypto';
import { createPool, type Pool, type RowDataPacket } from 'mysql2/promise';

export async function main(args: string[]): Promise<void> {
  const n = Number(args[0] ?? 1000);
  const rowsPerChild = Number(args[1] ?? 20);
  const sample = Math.min(n, Number(args[2] ?? n));
  process.env.POWERTOOLS_LOG_LEVEL ??= 'SILENT';
  process.env.OCTODB_BCRYPT_ROUNDS ??= '4';
  const { startOctoDb } = await import('../bin/local.ts');
  const { createAdmin } = await import('#core/admin');
  const { adminRoot } = await import('#adapters/roots');
  const { databaseName, databaseUser, newDbId } = await import('#core/ids');
  const { buildTableSkeemaScript, newScriptMarkers } = await import('#core/host-scripts');
  const { tempSchemaName } = await import('#core/ids');

  const base = (process.env.OCTODB_MYSQL_URL ?? 'mysql://octodb:octodb@127.0.0.1:3306/octodb_meta').replace(/\/[^/]*$/, '');
  const metaDb = `octodb_bench_${randomBytes(4).toString('hex')}`;
  const octo = await startOctoDb({ PORT: '0', OCTODB_MYSQL_URL: `${base}/${metaDb}`, OCTODB_OUTBOX_FILE: `/tmp/${metaDb}-outbox.jsonl` });
  const login = (await octo.parts.get('logins')).admin!;
  const admin = createPool({ host: login.host, port: login.port, user: login.user, password: login.password, ssl: login.ssl, connectionLimit: 4 });
  const childDbIds: string[] = [];
  const post = async (path: string, body: unknown, token?: string) => {
    const res = await fetch(`${octo.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const waitBatch = async (batchId: string) => {
    for (;;) {
      const [r] = await admin.query<RowDataPacket[]>(`SELECT created_at, finished_at FROM \`${metaDb}\`.migration_batches WHERE batch_id = ?`, [batchId]);
      if (r[0]?.finished_at) return { created: new Date(r[0].created_at).getTime(), finished: new Date(r[0].finished_at).getTime() };
      await new Promise((res) => setTimeout(res, 20));
    }
  };
  const def = (extra: string) =>
    `CREATE TABLE items (id int unsigned NOT NULL AUTO_INCREMENT, name varchar(40) NOT NULL, qty int NOT NULL DEFAULT 0${extra}, PRIMARY KEY (id))`;

  try {
    // Prepare: an admin parent holding `items`, and N children created from it, each with rows.
    const email = `bench-${randomBytes(4).toString('hex')}@example.com`;
    const parent = await createAdmin(
      { name: 'Bench admin', email, password: 'bench-password', template: 'default' },
      { ...(await adminRoot(octo.parts).create()), bcryptRounds: 4, scriptTimeoutSeconds: 120 },
    );
    const token = String((await post('/token', { email, password: 'bench-password' })).body.token);
    const first = await post('/migrate', { sql: `${def('')};` }, token);
    await waitBatch(String(first.body.batch_id));
    const parentDef = await showCreate(admin, databaseName(parent.db_id));

    const tenantId = (await (await octo.parts.get('meta')).getDatabase(parent.db_id))!.tenantId;
    const t0 = Date.now();
    const values = Array.from({ length: rowsPerChild }, (_, i) => `('row ${i}', ${i})`).join(',');
    for (let i = 0; i < n; i++) childDbIds.push(newDbId());
    await admin.query(`INSERT INTO \`${metaDb}\`.tenant_databases (db_id, tenant_id, host_id, template, status, mysql_user) VALUES ?`, [
      childDbIds.map((id) => [id, tenantId, 'local', parent.db_id, 'ready', databaseUser(id)]),
    ]);
    await mapLimit(childDbIds, 4, async (id) => {
      const conn = await admin.getConnection();
      try {
        await conn.query(`CREATE DATABASE \`${databaseName(id)}\``);
        await conn.query(`USE \`${databaseName(id)}\``);
        await conn.query(parentDef);
        await conn.query(`INSERT INTO items (name, qty) VALUES ${values}`);
      } finally {
        conn.release();
      }
    });
    console.log(`prepared ${n} children with ${rowsPerChild} rows each in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

    // 1. The cascade: one admin migration on the parent (Skeema), fanned out to the children.
    const submitted = Date.now();
    const res = await post('/migrate', { sql: `${def(', c1 int DEFAULT NULL')};` }, token);
    const parentJob = (res.body.jobs as Array<{ job_id: string }>)[0]!.job_id;
    await waitBatch(String(res.body.batch_id));
    const { cascadeBatchId } = await import('#core/cascade');
    const cascade = await waitBatch(cascadeBatchId(parentJob));
    await octo.invoker.idle();
    const cascadeTotalMs = Date.now() - submitted;
    const fanOutMs = cascade.finished - cascade.created;
    const [states] = await admin.query<RowDataPacket[]>(
      `SELECT state, COUNT(*) AS n, SUM(status_reason LIKE '%Too many connections%') AS tmc FROM \`${metaDb}\`.migration_jobs WHERE batch_id = ? GROUP BY state`,
      [cascadeBatchId(parentJob)],
    );

    // Verify: every child has the parent's definition and still all its rows.
    const want = (await showCreate(admin, databaseName(parent.db_id))).replace(/ AUTO_INCREMENT=\d+/, '');
    let verified = 0;
    let rowsKept = 0;
    await mapLimit(childDbIds, 4, async (id) => {
      if ((await showCreate(admin, databaseName(id))).replace(/ AUTO_INCREMENT=\d+/, '') === want) verified++;
      const [c] = await admin.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM \`${databaseName(id)}\`.items`);
      if (Number(c[0]!.n) === rowsPerChild) rowsKept++;
    });

    // The baselines make the same change on the same tables: each starts from the old definition.
    const revert = () => mapLimit(childDbIds, 4, (id) => admin.query(`ALTER TABLE \`${databaseName(id)}\`.items DROP COLUMN c1`));

    // 2. The floor: the parent's own ALTER (as Skeema computed it), directly, one connection, one child after another.
    const [[parentRow]] = await admin.query<RowDataPacket[]>(`SELECT applied_sql FROM \`${metaDb}\`.migration_jobs WHERE job_id = ?`, [parentJob]);
    const alter = String(parentRow!.applied_sql).split('\n').find((l) => l.startsWith('ALTER TABLE `items` '))!.replace(/;$/, '');
    await revert();
    const conn = await admin.getConnection();
    const floorStart = Date.now();
    for (const id of childDbIds) await conn.query(alter.replace('ALTER TABLE `items`', `ALTER TABLE \`${databaseName(id)}\`.\`items\``));
    const floorMs = Date.now() - floorStart;
    conn.release();

    // 3. Naive: one Skeema host script per child (what one M1 job per child would run), same change.
    await revert();
    const host = (await (await octo.parts.get('meta')).getHost('local'))!;
    const naiveStart = Date.now();
    let naiveOk = 0;
    for (const id of childDbIds.slice(0, sample)) {
      const script = buildTableSkeemaScript({ database: databaseName(id), table: 'items', definition: def(', c1 int DEFAULT NULL'), tempSchema: tempSchemaName(), markers: newScriptMarkers(), ddlTimeoutSeconds: 100 }, 'push');
      if ((await (await octo.parts.get('hostRunner')).run(host, script, 120)).exitCode === 0) naiveOk++;
    }
    const naiveSampleMs = Date.now() - naiveStart;
    const naiveMs = (naiveSampleMs / sample) * n;

    const s = (ms: number) => `${(ms / 1000).toFixed(2)} s (${(ms / n).toFixed(2)} ms/child)`;
    console.log(`
children: ${n}, rows each: ${rowsPerChild}
cascade states: ${states.map((r) => `${r.state}=${r.n}`).join(' ')}; "Too many connections": ${states.reduce((a, r) => a + Number(r.tmc ?? 0), 0)}
verified: ${verified}/${n} children hold the parent's definition; rows kept: ${rowsKept}/${n}

change: ${alter}
floor   (that ALTER, direct, one connection):      ${s(floorMs)}
cascade (fan-out: verify, ALTER, verify, records): ${s(fanOutMs)}   ratio ${(fanOutMs / floorMs).toFixed(2)}x floor
cascade incl. parent Skeema job, submit → done:     ${s(cascadeTotalMs)}   ratio ${(cascadeTotalMs / floorMs).toFixed(2)}x floor
naive   (one Skeema process per child):            ${s(naiveMs)}   ratio ${(naiveMs / floorMs).toFixed(2)}x floor  [${naiveOk}/${sample} pushes ok${sample < n ? `, measured on ${sample} children in ${(naiveSampleMs / 1000).toFixed(2)} s, extrapolated to ${n}` : ''}]
cascade vs naive: ${(naiveMs / fanOutMs).toFixed(1)}x faster
goal (fan-out ≤ 3x floor): ${fanOutMs <= 3 * floorMs && verified === n && rowsKept === n ? 'met' : 'NOT met'}`);
  } finally {
    await mapLimit(childDbIds, 4, (id) => admin.query(`DROP DATABASE IF EXISTS \`${databaseName(id)}\``));
    const [dbs] = await admin.query<RowDataPacket[]>(`SELECT db_id, mysql_user FROM \`${metaDb}\`.tenant_databases WHERE template = 'default'`).catch(() => [[]] as never);
    for (const d of dbs as RowDataPacket[]) {
      await admin.query(`DROP DATABASE IF EXISTS \`${databaseName(d.db_id)}\``);
      await admin.query(`DROP USER IF EXISTS '${d.mysql_user}'@'%'`);
    }
    await admin.query(`DROP DATABASE IF EXISTS \`${metaDb}\``);
    // The API account's grant on this MetaDB goes with it (dropping a database keeps its grants).
    await admin.query(`REVOKE ALL PRIVILEGES ON \`${metaDb}\`.* FROM ?@'%'`, [(await octo.parts.get('logins')).meta.user]).catch(() => undefined);
    await admin.end();
    await octo.close();
  }
}

async function showCreate(pool: Pool, database: string): Promise<string> {
  const [rows] = await pool.query<RowDataPacket[]>(`SHOW CREATE TABLE \`${database}\`.items`);
  return String(rows[0]!['Create Table']);
}

async function mapLimit<T>(items: T[], limit: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}
