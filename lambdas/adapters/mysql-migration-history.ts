import type { Pool, RowDataPacket } from 'mysql2/promise';
import type { BatchCursor, BatchListQuery, BatchState, BatchSummary, JobPage, JobState } from '#core/ports';
import { toJob } from './mysql-cascade-store.ts';

/**
 * The migration history in MetaDB (list_migrations, get_migration_status's job pages): read only,
 * each read bounded by an index (schemas/meta/migration_batches.sql, migration_jobs.sql).
 */

type Counts = Partial<Record<JobState, number>>;

/** The tenant's batches newest first: at most `scan` index entries of (tenant_id, created_at, batch_id) looked at. */
export async function listBatches(pool: Pool, q: BatchListQuery): Promise<{ items: BatchSummary[]; next?: BatchCursor }> {
  const tests: string[] = [];
  const params: unknown[] = [];
  const test = (sql: string, ...values: unknown[]) => {
    tests.push(sql);
    params.push(...values);
  };
  if (q.dbId !== undefined) test('b.db_id = ?', q.dbId);
  if (q.state === 'running') test('b.finished_at IS NULL');
  else if (q.state !== undefined) test('b.outcome = ?', q.state);
  if (q.table !== undefined) {
    // A cascade's one table is its parent job's (never a scan of its children's jobs); a tenant batch's are its few jobs'.
    test(
      `(EXISTS (SELECT 1 FROM migration_jobs p WHERE p.job_id = b.parent_job_id AND p.table_name = ?)
        OR (b.kind = 'tenant' AND EXISTS (SELECT 1 FROM migration_jobs t WHERE t.batch_id = b.batch_id AND t.table_name = ?)))`,
      q.table,
      q.table,
    );
  }
  const after = q.after ? 'AND created_at <= ? AND (created_at < ? OR batch_id < ?)' : '';
  // Without a filter every row is a hit: one more than the page says whether another follows.
  const scan = tests.length > 0 ? q.scan : q.limit + 1;
  // The positions first, from the index alone (a range of it): asked for the other columns too,
  // the optimizer walked the tenant's whole index prefix from its newest batch down to the key.
  const [rows] = await pool.query<RowDataPacket[]>(
    `SELECT b.batch_id, b.db_id, b.kind, b.atomic, b.outcome, b.created_at, b.finished_at,
       DATE_FORMAT(b.created_at, '%Y-%m-%d %H:%i:%s.%f') AS at, ${tests.length > 0 ? tests.join(' AND ') : '1'} AS hit
     FROM (SELECT batch_id FROM migration_batches WHERE tenant_id = ? ${after} ORDER BY created_at DESC, batch_id DESC LIMIT ?) k
     JOIN migration_batches b ON b.batch_id = k.batch_id
     ORDER BY b.created_at DESC, b.batch_id DESC`,
    [...params, q.tenantId, ...(q.after ? [q.after.at, q.after.at, q.after.id] : []), scan],
  );
  const hits: RowDataPacket[] = [];
  let last: RowDataPacket | undefined;
  for (const row of rows) {
    last = row;
    if (Number(row.hit) === 1) hits.push(row);
    if (hits.length === q.limit) break;
  }
  // More may follow when rows were left unread, or the scan stopped at its bound.
  const more = last !== undefined && (last !== rows.at(-1) || rows.length === scan);
  const ids = hits.map((r) => String(r.batch_id));
  const [counts, tables] = await Promise.all([countsOf(pool, ids), tablesOf(pool, hits)]);
  return {
    items: hits.map((r) => {
      const id = String(r.batch_id);
      const c = counts.get(id) ?? {};
      return {
        batchId: id,
        dbId: String(r.db_id),
        kind: r.kind,
        atomic: Number(r.atomic) === 1,
        state: stateOf(r, c),
        counts: c,
        tables: tables.get(id) ?? [],
        createdAt: new Date(r.created_at),
        finishedAt: r.finished_at ? new Date(r.finished_at) : null,
      };
    }),
    next: more ? { at: String(last!.at), id: String(last!.batch_id) } : undefined,
  };
}

/** A batch finished before outcomes were recorded (an upgrade) is told by its jobs. */
function stateOf(r: RowDataPacket, counts: Counts): BatchState {
  if (!r.finished_at) return 'running';
  return r.outcome ?? (counts.failed ? 'failed' : 'succeeded');
}

async function countsOf(pool: Pool, ids: string[]): Promise<Map<string, Counts>> {
  const out = new Map<string, Counts>();
  if (ids.length === 0) return out;
  // Index only (batch_id, state, seq): a cascade's thousands of children are counted, never read.
  const [rows] = await pool.query<RowDataPacket[]>('SELECT batch_id, state, COUNT(*) AS n FROM migration_jobs WHERE batch_id IN (?) GROUP BY batch_id, state', [ids]);
  for (const r of rows) out.set(String(r.batch_id), { ...out.get(String(r.batch_id)), [r.state]: Number(r.n) });
  return out;
}

async function tablesOf(pool: Pool, batches: RowDataPacket[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  const tenant = batches.filter((b) => b.kind === 'tenant').map((b) => String(b.batch_id));
  const cascades = batches.filter((b) => b.kind === 'cascade').map((b) => String(b.batch_id));
  const [own] = tenant.length ? await pool.query<RowDataPacket[]>('SELECT batch_id, table_name FROM migration_jobs WHERE batch_id IN (?) ORDER BY batch_id, seq', [tenant]) : [[]];
  const [parents] = cascades.length
    ? await pool.query<RowDataPacket[]>('SELECT b.batch_id, p.table_name FROM migration_batches b JOIN migration_jobs p ON p.job_id = b.parent_job_id WHERE b.batch_id IN (?)', [cascades])
    : [[]];
  for (const r of [...(own as RowDataPacket[]), ...(parents as RowDataPacket[])]) out.set(String(r.batch_id), [...(out.get(String(r.batch_id)) ?? []), String(r.table_name)]);
  return out;
}

/** One page of a batch's jobs by sequence number, and the batch's counts, from one snapshot (they agree). */
export async function pageJobs(pool: Pool, batchId: string, q: { state?: JobState; afterSeq?: number; limit: number }): Promise<JobPage> {
  const conn = await pool.getConnection();
  try {
    await conn.query('START TRANSACTION READ ONLY, WITH CONSISTENT SNAPSHOT');
    const [countRows] = await conn.query<RowDataPacket[]>('SELECT state, COUNT(*) AS n FROM migration_jobs WHERE batch_id = ? GROUP BY state', [batchId]);
    const [rows] = await conn.query<RowDataPacket[]>(
      `SELECT * FROM migration_jobs WHERE batch_id = ? ${q.state ? 'AND state = ?' : ''} AND seq > ? ORDER BY seq LIMIT ?`,
      [batchId, ...(q.state ? [q.state] : []), q.afterSeq ?? 0, q.limit + 1],
    );
    await conn.query('COMMIT');
    const page = rows.slice(0, q.limit);
    return {
      jobs: page.map(toJob),
      counts: Object.fromEntries(countRows.map((r) => [r.state, Number(r.n)])),
      nextSeq: rows.length > q.limit ? Number(page.at(-1)!.seq) : undefined,
    };
  } finally {
    conn.release();
  }
}
