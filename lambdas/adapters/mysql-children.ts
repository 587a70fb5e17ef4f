import type { Pool, RowDataPacket } from 'mysql2/promise';
import type { BatchCursor, ChildListQuery, ChildSummary } from '#core/ports';

/**
 * An admin's children (list_children): one page newest first, read per parent along the index
 * (template, created_at, db_id) of schemas/meta/tenant_databases.sql, so a page reads at most
 * `limit + 1` entries per parent however many children there are (one `template IN (…)` sorted
 * them all).
 */
export async function pageChildren(pool: Pool, q: ChildListQuery): Promise<{ items: ChildSummary[]; next?: BatchCursor }> {
  if (q.parents.length === 0) return { items: [] };
  const after = q.after ? 'AND created_at <= ? AND (created_at < ? OR db_id < ?)' : '';
  const one = `(SELECT db_id, template, status, created_at, DATE_FORMAT(created_at, '%Y-%m-%d %H:%i:%s.%f') AS at
     FROM tenant_databases
     WHERE template = ? ${after} ORDER BY created_at DESC, db_id DESC LIMIT ?)`;
  const cursor = q.after ? [q.after.at, q.after.at, q.after.id] : [];
  const [rows] = await pool.query<RowDataPacket[]>(`${q.parents.map(() => one).join(' UNION ALL ')} ORDER BY created_at DESC, db_id DESC LIMIT ?`, [
    ...q.parents.flatMap((parent) => [parent, ...cursor, q.limit + 1]),
    q.limit + 1,
  ]);
  const page = rows.slice(0, q.limit);
  const customized = await customizedOf(pool, page.map((r) => String(r.db_id)));
  const last = page.at(-1);
  return {
    items: page.map((r) => ({
      dbId: String(r.db_id),
      parentDbId: String(r.template),
      status: r.status,
      createdAt: new Date(r.created_at),
      customizedTables: customized.get(String(r.db_id)) ?? [],
    })),
    next: rows.length > q.limit && last ? { at: String(last.at), id: String(last.db_id) } : undefined,
  };
}

/** The customized tables of a page's databases: primary key prefixes, by name. */
async function customizedOf(pool: Pool, dbIds: string[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  if (dbIds.length === 0) return out;
  const [rows] = await pool.query<RowDataPacket[]>('SELECT db_id, table_name FROM table_customizations WHERE db_id IN (?) ORDER BY db_id, table_name', [dbIds]);
  for (const r of rows) out.set(String(r.db_id), [...(out.get(String(r.db_id)) ?? []), String(r.table_name)]);
  return out;
}
