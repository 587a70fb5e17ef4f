import { databaseNotFound } from './errors.ts';
import type { DatabaseRecord, MetaStore } from './ports.ts';

/** A database of this tenant's; anyone else's (or none) is the same 404 on every route, so ids cannot be probed. */
export async function ownedDatabase(meta: Pick<MetaStore, 'getDatabase'>, tenantId: string, dbId: string): Promise<DatabaseRecord> {
  const db = await meta.getDatabase(dbId);
  if (!db || db.tenantId !== tenantId) throw databaseNotFound();
  return db;
}
