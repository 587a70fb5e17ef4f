import { ProhibitedError } from './errors.ts';
import { isDbId } from './ids.ts';
import { openPageKey, sealPageKey, SERVER_TIME } from './page-keys.ts';
import type { BatchCursor, CascadeStore, Caller, DatabaseStatus, MetaStore } from './ports.ts';
import type { Sealer } from './sealed.ts';

export interface ChildrenDeps {
  meta: Pick<MetaStore, 'listDatabases'>;
  migrations: Pick<CascadeStore, 'pageChildren'>;
  sealer: Sealer;
}

export interface ChildDatabase {
  db_id: string;
  parent_db_id: string;
  status: DatabaseStatus;
  created_at: string;
  customized_tables: string[];
}

/**
 * /dashboard `list_children`: the databases made from an admin's databases (their `template`),
 * newest first. Only database facts: never the name or email of the tenant that owns a child.
 * Primary course: refuse a tenant that is no admin (403 ADMIN_ONLY), list the admin's databases
 * (the parents), open the sealed key of where the last page ended, read one page of their children
 * with the tables each customized, and seal the key of where it ended; none after the last page.
 */
export async function listChildren(
  input: { limit: number; last_evaluated_key?: string },
  caller: Caller,
  deps: ChildrenDeps,
): Promise<{ children: ChildDatabase[]; last_evaluated_key?: string }> {
  if (!caller.isAdmin) throw new ProhibitedError('Only an admin tenant has child databases to list', { code: 'ADMIN_ONLY' });
  const parents = (await deps.meta.listDatabases(caller.tenantId)).map((db) => db.dbId);
  const after = input.last_evaluated_key ? openPageKey(deps.sealer, caller.tenantId, 'children', input.last_evaluated_key, childCursor) : undefined;
  const page = await deps.migrations.pageChildren({ parents, limit: input.limit, after });
  return {
    children: page.items.map((c) => ({
      db_id: c.dbId,
      parent_db_id: c.parentDbId,
      status: c.status,
      created_at: c.createdAt.toISOString(),
      customized_tables: c.customizedTables,
    })),
    ...(page.next && { last_evaluated_key: sealPageKey(deps.sealer, caller.tenantId, 'children', page.next) }),
  };
}

function childCursor(c: unknown): BatchCursor | undefined {
  const { at, id } = (c ?? {}) as Partial<Record<keyof BatchCursor, unknown>>;
  return typeof at === 'string' && SERVER_TIME.test(at) && typeof id === 'string' && isDbId(id) ? { at, id } : undefined;
}
