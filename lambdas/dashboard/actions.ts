import { z } from 'zod';
import {
  getDatabaseMetadata,
  getDatabaseTables,
  getLogPage,
  getQueryStats,
  getUserInfo,
  listTenantDatabases,
  type DashboardDeps,
} from '#core/dashboard';
import { type ApiKeyDeps, createApiKey, databaseFor, listApiKeys, revokeApiKey } from '#core/api-keys';
import { listChildren } from '#core/children';
import { listMigrations } from '#core/migration-history';
import { getMigrationStatus } from '#core/migration-status';
import { listTableBackups, restoreTableBackup, type TableBackupDeps } from '#core/table-backups';
import { type AccountDeps, deleteOwnAccount } from '#core/offboarding';
import { getRestoreStatus, type PitrRequestDeps, requestRestore } from '#core/pitr';
import { API_KEY_SCOPES, type ApiKeyScope } from '#core/ports';
import { createApiKeyRequest, dbIdField, deleteAccountRequest, listApiKeysRequest, listChildrenRequest, listMigrationsRequest, migrationStatusRequest, pageKeyField, restoreDatabaseRequest, restoreStatusRequest, restoreTableRequest, revokeApiKeyRequest } from '#shared/requests';
import type { Caller } from '#shared/http';

/**
 * The /dashboard actions: name → parameter schema + the core function it calls. Adding an action
 * is one entry here (and its example in docs/api.md); the handler needs no change. Parameters come from
 * the body; the tenant only ever from the caller (the authorizer context).
 */
export interface DashboardAction<S extends z.ZodType = z.ZodType> {
  params: S;
  /** The API key scopes that may run it (the tenant's token runs every action); none when absent. */
  keyScopes?: readonly ApiKeyScope[];
  run(params: z.infer<S>, caller: Caller, deps: DashboardDeps & ApiKeyDeps & TableBackupDeps & AccountDeps & { restores: () => Promise<PitrRequestDeps> }): Promise<unknown>;
}

/** A key's app may read its database's schema facts; the account, logs and keys are the tenant's token's. */
const ANY_KEY = API_KEY_SCOPES;

const action = <S extends z.ZodType>(a: DashboardAction<S>): DashboardAction => a as unknown as DashboardAction;

/** An action's parameters next to `action` itself; any other field is refused (a typo must not be ignored). */
const params = <T extends z.ZodRawShape>(shape: T) => z.strictObject({ action: z.string(), ...shape });
const dbId = dbIdField.optional();
const page = params({
  limit: z.number().int('limit must be an integer').min(1).max(100).default(25),
  last_evaluated_key: pageKeyField,
});
const WINDOW_UNITS_MS = { m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const MAX_WINDOW_MS = 30 * 86_400_000;
const window = z
  .string()
  .regex(/^[1-9][0-9]{0,5}[mhd]$/, 'window must look like 15m, 1h or 7d')
  .default('1h')
  .transform((label) => ({ label, ms: Number(label.slice(0, -1)) * WINDOW_UNITS_MS[label.at(-1) as keyof typeof WINDOW_UNITS_MS] }))
  .refine((w) => w.ms <= MAX_WINDOW_MS, 'window must be at most 30d');

export const dashboardActions: Record<string, DashboardAction> = {
  get_user_info: action({
    params: params({}),
    run: (_, caller, deps) => getUserInfo(caller.tenantId, deps),
  }),
  list_databases: action({
    params: params({}),
    run: (_, caller, deps) => listTenantDatabases(caller.tenantId, deps),
  }),
  get_database_metadata: action({
    params: params({ db_id: dbId }),
    keyScopes: ANY_KEY,
    run: (p, caller, deps) => getDatabaseMetadata(caller.tenantId, databaseFor(caller, p.db_id), deps),
  }),
  get_database_tables: action({
    params: params({ db_id: dbId }),
    keyScopes: ANY_KEY,
    run: (p, caller, deps) => getDatabaseTables(caller.tenantId, databaseFor(caller, p.db_id), deps),
  }),
  get_log_table: action({
    params: page,
    run: (p, caller, deps) => getLogPage(caller.tenantId, 'log', { limit: p.limit, lastEvaluatedKey: p.last_evaluated_key }, deps),
  }),
  get_query_logs: action({
    params: page,
    run: (p, caller, deps) => getLogPage(caller.tenantId, 'query', { limit: p.limit, lastEvaluatedKey: p.last_evaluated_key }, deps),
  }),
  get_query_stats: action({
    params: params({ window }),
    run: (p, caller, deps) => getQueryStats(caller.tenantId, p.window, deps),
  }),
  get_migration_status: action({
    params: migrationStatusRequest,
    keyScopes: ['migrate'],
    run: (p, caller, deps) => getMigrationStatus(p, caller, deps),
  }),
  list_table_backups: action({
    params: params({ db_id: dbId }),
    run: (p, caller, deps) => listTableBackups(caller, p.db_id, deps),
  }),
  restore_table: action({
    params: restoreTableRequest,
    run: (p, caller, deps) => restoreTableBackup(caller, p.backup_id, deps),
  }),
  // The tenant's token (its own databases) or an admin's (any); no key scope: a restore rewrites data.
  restore_database: action({
    params: restoreDatabaseRequest,
    run: async (p, caller, deps) => requestRestore(caller, p, await deps.restores()),
  }),
  get_restore_status: action({
    params: restoreStatusRequest,
    run: async (p, caller, deps) => getRestoreStatus(caller, p.restore_id, await deps.restores()),
  }),
  list_migrations: action({
    params: listMigrationsRequest,
    keyScopes: ['migrate'],
    run: (p, caller, deps) => listMigrations(p, caller, deps),
  }),
  // An admin's token only: the children belong to other tenants.
  list_children: action({
    params: listChildrenRequest,
    run: (p, caller, deps) => listChildren(p, caller, deps),
  }),
  create_api_key: action({
    params: createApiKeyRequest,
    run: (p, caller, deps) => createApiKey(p, caller, deps),
  }),
  list_api_keys: action({
    params: listApiKeysRequest,
    run: (_, caller, deps) => listApiKeys(caller, deps),
  }),
  revoke_api_key: action({
    params: revokeApiKeyRequest,
    run: (p, caller, deps) => revokeApiKey(p, caller, deps),
  }),
  // The tenant's token only (no key scope), and its password again.
  delete_account: action({
    params: deleteAccountRequest,
    run: async (p, caller, deps) => deleteOwnAccount(p, caller.tenantId, await deps.deleteAccount()),
  }),
};
