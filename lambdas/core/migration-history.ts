import { databaseFor } from './api-keys.ts';
import { ownedDatabase } from './owned-database.ts';
import { openPageKey, sealPageKey, SERVER_TIME } from './page-keys.ts';
import { JOB_ID } from './patterns.ts';
import type { BatchCursor, BatchState, BatchStore, Caller, JobState, MetaStore } from './ports.ts';
import type { Sealer } from './sealed.ts';

/** Batches looked at per list_migrations request at most, whatever the filters: a page with a rare filter may end short. */
export const MIGRATIONS_SCAN = 1000;

export interface MigrationHistoryDeps {
  meta: Pick<MetaStore, 'getDatabase'>;
  migrations: Pick<BatchStore, 'listBatches'>;
  sealer: Sealer;
}

export interface MigrationSummary {
  batch_id: string;
  db_id: string;
  kind: 'tenant' | 'cascade';
  atomic: boolean;
  created_at: string;
  finished_at: string | null;
  state: BatchState;
  counts: Partial<Record<JobState, number>>;
  tables: string[];
}

/**
 * /dashboard `list_migrations`: the caller's migration batches, newest first.
 * Primary course: check a named database is the caller's (a key bound to one database lists only
 * that one), open the sealed key of where the last page ended, read one page of the tenant's batches
 * with the filters, and seal the key of where it ended; none after the last page.
 */
export async function listMigrations(
  input: { db_id?: string; state?: BatchState; table?: string; limit: number; last_evaluated_key?: string },
  caller: Caller,
  deps: MigrationHistoryDeps,
): Promise<{ migrations: MigrationSummary[]; last_evaluated_key?: string }> {
  const dbId = input.db_id !== undefined || caller.key?.dbBound ? databaseFor(caller, input.db_id) : undefined;
  if (dbId !== undefined) await ownedDatabase(deps.meta, caller.tenantId, dbId);
  const after = input.last_evaluated_key ? openPageKey(deps.sealer, caller.tenantId, 'migrations', input.last_evaluated_key, batchCursor) : undefined;
  const page = await deps.migrations.listBatches({ tenantId: caller.tenantId, dbId, state: input.state, table: input.table, limit: input.limit, scan: MIGRATIONS_SCAN, after });
  return {
    migrations: page.items.map((b) => ({
      batch_id: b.batchId,
      db_id: b.dbId,
      kind: b.kind,
      atomic: b.atomic,
      created_at: b.createdAt.toISOString(),
      finished_at: b.finishedAt?.toISOString() ?? null,
      state: b.state,
      counts: b.counts,
      tables: b.tables,
    })),
    ...(page.next && { last_evaluated_key: sealPageKey(deps.sealer, caller.tenantId, 'migrations', page.next) }),
  };
}

function batchCursor(c: unknown): BatchCursor | undefined {
  const { at, id } = (c ?? {}) as Partial<Record<keyof BatchCursor, unknown>>;
  return typeof at === 'string' && SERVER_TIME.test(at) && typeof id === 'string' && JOB_ID.test(id) ? { at, id } : undefined;
}
