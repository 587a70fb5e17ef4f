import { NotFoundError, UnavailableError } from './errors.ts';
import { databaseName } from './ids.ts';
import { ownedDatabase } from './owned-database.ts';
import { logCursor, openPageKey, sealPageKey } from './page-keys.ts';
import { statsReadPlan, summarizeBuckets, tally } from './query-stats.ts';
import type { AuditLog, BatchStore, CascadeStore, DatabaseRecord, JobStore, LogKind, LogStore, MetaStore, SchemaInspector, StorageQuotas, StoredLog, TenantLogin } from './ports.ts';
import { storageFields } from './storage-quotas.ts';
import type { Sealer } from './sealed.ts';

/** What the /dashboard actions read. Every function takes the caller's tenant id from the token. */
export interface DashboardDeps {
  meta: MetaStore;
  logStore: LogStore;
  schemas: SchemaInspector;
  sealer: Sealer;
  /** What get_database_metadata, get_migration_status, list_migrations and list_children read of the migration tables. */
  migrations: Pick<CascadeStore, 'customizedTables' | 'pendingParentChanges' | 'pageChildren'> & Pick<JobStore, 'getJob'> & Pick<BatchStore, 'getBatch' | 'countJobs' | 'pageJobs' | 'listBatches'> & AuditLog;
  quotas: Pick<StorageQuotas, 'usage' | 'lastUsage'>;
}

/**
 * get_user_info: the caller's own tenant row.
 * Primary course: read the tenant by the id from the token; answer its public fields only
 * (never the password hash) and its storage as last measured, against its quota.
 */
export async function getUserInfo(tenantId: string, deps: Pick<DashboardDeps, 'meta' | 'quotas'>) {
  const tenant = await deps.meta.getTenant(tenantId);
  if (!tenant) throw new NotFoundError('Tenant not found');
  return {
    tenant_id: tenant.tenantId,
    name: tenant.name,
    email: tenant.email,
    created_at: tenant.createdAt.toISOString(),
    is_admin: tenant.isAdmin,
    storage: storageFields(await deps.quotas.lastUsage(tenantId)),
  };
}

/**
 * list_databases: the caller's databases.
 * Primary course: list MetaDB's databases of this tenant, oldest first, with status, template,
 * host and creation time.
 */
export async function listTenantDatabases(tenantId: string, deps: Pick<DashboardDeps, 'meta'>) {
  const databases = await deps.meta.listDatabases(tenantId);
  return {
    databases: databases.map((db) => ({
      db_id: db.dbId,
      status: db.status,
      status_reason: db.statusReason,
      template: db.template,
      host_id: db.hostId,
      created_at: db.createdAt.toISOString(),
    })),
  };
}

/**
 * get_database_metadata: one database of the caller's.
 * Primary course: check the tenant owns it (else 404), when it is ready measure its storage
 * (unless measured within the window) and describe its schema on its host, and answer status,
 * size, storage against the tenant's quota, table count, parent, customized tables and the parent
 * changes they did not take.
 */
export async function getDatabaseMetadata(tenantId: string, dbId: string, deps: DashboardDeps) {
  const db = await ownedDatabase(deps.meta, tenantId, dbId);
  const login = await loginIfReady(db, deps);
  // Measured first: the measurement's ANALYZE makes the schema's size below fresh too.
  const usage = login ? await deps.quotas.usage(tenantId, db.dbId, login) : await deps.quotas.lastUsage(tenantId);
  const schema = login ? await deps.schemas.describe(login) : undefined;
  return {
    db_id: db.dbId,
    status: db.status,
    status_reason: db.statusReason,
    size_bytes: schema?.sizeBytes ?? null,
    table_count: schema?.tableCount ?? null,
    // The tenant's storage over all its databases, against its quota.
    storage: storageFields(usage),
    parent: db.template,
    customized_tables: await customizedTables(db, deps),
    // Kept for the tenant: the parent's definition of each customized table, to adopt with /migrate.
    pending_parent_changes: (await deps.migrations.pendingParentChanges(db.dbId)).map((c) => ({
      table: c.table,
      parent_job_id: c.parentJobId,
      job_id: c.cascadeJobId,
      definition: c.definition,
      skipped_at: c.skippedAt.toISOString(),
    })),
    created_at: db.createdAt.toISOString(),
  };
}

/**
 * get_database_tables: the tables of one database of the caller's.
 * Primary course: check ownership (else 404), read the table names and row estimates from its
 * host; a database that is not ready has none yet.
 */
export async function getDatabaseTables(tenantId: string, dbId: string, deps: DashboardDeps) {
  const db = await ownedDatabase(deps.meta, tenantId, dbId);
  const schema = await describeIfReady(db, deps);
  return {
    db_id: db.dbId,
    status: db.status,
    tables: (schema?.tables ?? []).map((t) => ({ name: t.name, rows_estimate: t.rowsEstimate })),
    // More tables than the query path's row cap: the listing stops there (table_count has them all).
    truncated: schema?.truncated ?? false,
  };
}

/**
 * The tables of `db` whose definition no longer follows its parent: those the tenant changed with
 * its own migration (recorded by M1), which parent cascades skip.
 */
export async function customizedTables(db: DatabaseRecord, deps: Pick<DashboardDeps, 'migrations'>): Promise<string[]> {
  return deps.migrations.customizedTables(db.dbId);
}

/**
 * get_log_table / get_query_logs: one page of the caller's records of one kind, newest first.
 * Primary course: open the client's sealed key (refusing one not issued to this tenant for this
 * kind), read one page from the tenant's partition, seal the key of where it ended.
 */
export async function getLogPage(
  tenantId: string,
  kind: LogKind,
  request: { limit: number; lastEvaluatedKey?: string },
  deps: Pick<DashboardDeps, 'logStore' | 'sealer'>,
): Promise<{ items: Omit<StoredLog, 'tenant_id'>[]; last_evaluated_key: string | null }> {
  const after = request.lastEvaluatedKey ? openPageKey(deps.sealer, tenantId, kind, request.lastEvaluatedKey, logCursor(tenantId, kind)) : undefined;
  const page = await deps.logStore.page(tenantId, kind, request.limit, after);
  return {
    items: page.items.map(({ tenant_id: _tenant, log_id, create_timestamp, ...item }) => ({ log_id, create_timestamp, ...item })),
    last_evaluated_key: page.next ? sealPageKey(deps.sealer, tenantId, kind, page.next) : null,
  };
}

/**
 * get_query_stats: the caller's query count, errors and p50/p95 latency over a recent window.
 * Primary course: read the window's full hours from the hour buckets and its two partial edge
 * hours from the raw query records (key ranges, never a Scan), and sum them overall and by statement
 * type into one histogram per type, the percentiles read from it.
 */
export async function getQueryStats(
  tenantId: string,
  window: { label: string; ms: number },
  deps: Pick<DashboardDeps, 'logStore'>,
  now: Date = new Date(),
) {
  const since = new Date(now.getTime() - window.ms);
  const plan = statsReadPlan(since, now);
  const [buckets, samples] = await Promise.all([
    plan.hours ? deps.logStore.statsBuckets(tenantId, plan.hours) : [],
    deps.logStore.querySamples(tenantId, plan.raw),
  ]);
  return { window: window.label, since: since.toISOString(), until: now.toISOString(), ...summarizeBuckets([...buckets, tally(samples)]) };
}

async function describeIfReady(db: DatabaseRecord, deps: Pick<DashboardDeps, 'meta' | 'schemas' | 'sealer'>) {
  const login = await loginIfReady(db, deps);
  return login ? deps.schemas.describe(login) : undefined;
}

async function loginIfReady(db: DatabaseRecord, deps: Pick<DashboardDeps, 'meta' | 'sealer'>): Promise<TenantLogin | undefined> {
  if (db.status !== 'ready') return undefined;
  const host = await deps.meta.getHost(db.hostId);
  if (!host) throw new UnavailableError('Database host not found');
  if (!db.mysqlPasswordSealed) throw new UnavailableError('Database login not available');
  // The tenant's own login: /dashboard holds no MySQL account that could read tenant databases.
  return { tenantId: db.tenantId, host, database: databaseName(db.dbId), user: db.mysqlUser, password: deps.sealer.open(db.mysqlPasswordSealed) };
}
