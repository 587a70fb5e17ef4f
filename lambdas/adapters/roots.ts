import { resolve } from 'node:path';
import type { CreateAdminDeps } from '#core/admin';
import type { ApiKeyDeps, VerifyApiKeyDeps } from '#core/api-keys';
import type { DashboardDeps } from '#core/dashboard';
import type { MigrationDeps, MigrationSettings } from '#core/migration-deps';
import type { submitMigration } from '#core/migration-submit';
import type { planMigration } from '#core/migration-plan';
import type { TableBackupDeps } from '#core/table-backups';
import type { PitrDeps, PitrRequestDeps, PitrSettings } from '#core/pitr';
import type { MetaDbDeploymentDeps } from '#core/metadb';
import type { AccountDeps, DeleteOwnAccountDeps, EraseDeps, LifecycleDeps } from '#core/offboarding';
import type { Invoker, LogStore, SchemaFiles } from '#core/ports';
import type { ProvisionDeps } from '#core/provisioning';
import type { QueryDeps } from '#core/query';
import type { BatchSettings } from '#core/query-batch';
import type { ClientRateDeps, RateLimitSettings, setTenantLimit, TenantRateDeps } from '#core/rate-limits';
import type { SignUpDeps, VerifyDeps } from '#core/signup';
import type { SetQuotaDeps } from '#core/storage-quotas';
import type { TokenDeps, VerifyTokenDeps } from '#core/tokens';
import type { Config } from '#shared/config';
import type { RequestKeys } from '#shared/logger';
import { ensureApiAccount } from './mysql-api-account.ts';
import { type Parts, sharedParts } from './parts.ts';
import { tenantRateDefaults } from './wiring.ts';

/*
 * One composition root per function: exactly what its handler and core function use, typed by the
 * core's deps interfaces, drawn from the shared parts (made on first use). A root is assembled per
 * invocation from parts made once; the handler calls its own root and nothing else. A root whose
 * function starts async invokes takes the request it serves, whose correlation id they carry on.
 */

/** Which request a root serves: its async invokes carry the correlation id, so the invoked function's lines name it. */
export type Trace = Pick<RequestKeys, 'correlation_id'> | undefined;

/** The invoker as one request uses it: every payload carries the request's correlation id. */
export function tracedInvoker(invoker: Invoker, trace: Trace): Invoker {
  if (trace === undefined) return invoker;
  return { invokeAsync: (fn, payload) => invoker.invokeAsync(fn, { ...payload, correlation_id: trace.correlation_id }) };
}

/** Picked parts, their invoker traced: what every root of a function that starts async invokes draws. */
function traced<P extends { invoker: Invoker }>(picked: P, trace: Trace): P {
  return trace === undefined ? picked : { ...picked, invoker: tracedInvoker(picked.invoker, trace) };
}

/** LF0: the token's signature, and whether it is still the tenant's current one (Redis, else MetaDB). */
export function authorizerRoot(parts = sharedParts()): Promise<VerifyTokenDeps> {
  return parts.pick('meta', 'registry', 'jwtSecret');
}

/** LF0 given an API key: its stored hash (MetaDB, read on every request), and its debounced last use. */
export async function apiKeyAuthorizerRoot(parts = sharedParts()): Promise<VerifyApiKeyDeps> {
  const p = await parts.pick('apiKeys', 'apiKeySecret', 'keyUses');
  return { keys: p.apiKeys, apiKeySecret: p.apiKeySecret, keyUses: p.keyUses };
}

/** POST /token: issues or reads back a token, within the per-client and per-email limits. */
export async function tokenRoot(parts = sharedParts()): Promise<TokenDeps & ClientRateDeps> {
  const c = parts.config;
  const p = await parts.pick('meta', 'registry', 'sealer', 'passwords', 'jwtSecret', 'clientRates');
  return { ...p, ttlSeconds: c.OCTODB_TOKEN_TTL_SECONDS, bcryptRounds: c.OCTODB_BCRYPT_ROUNDS, limits: rateLimitSettings(c) };
}

/** LF3 — POST /signup: records the tenant and starts LF6 (or emails a code), within the per-client limits. */
export async function signupRoot(trace: Trace, parts = sharedParts()): Promise<SignUpDeps & ClientRateDeps> {
  const p = traced(await parts.pick('meta', 'invoker', 'templates', 'passwords', 'notifier', 'clientRates'), trace);
  return { ...p, ...signupSettings(parts.config), limits: rateLimitSettings(parts.config) };
}

/** POST /verify: a signup's code checked in MetaDB starts LF6 (no Redis, no template, no hash). */
export async function verifyRoot(trace: Trace, parts = sharedParts()): Promise<VerifyDeps> {
  const { hostMaxDatabases, verification } = signupSettings(parts.config);
  return { ...traced(await parts.pick('meta', 'invoker'), trace), hostMaxDatabases, verification };
}

/** LF6: host scripts, the tenant's MySQL account and its sealed password (no Redis). */
export async function provisionRoot(parts = sharedParts()): Promise<ProvisionDeps> {
  const { claimOwners, ...p } = await parts.pick('meta', 'claimOwners', 'hostRunner', 'accounts', 'templates', 'sealer', 'logs');
  const { config } = parts;
  return {
    ...p,
    claims: p.meta,
    owners: claimOwners,
    scriptTimeoutSeconds: config.OCTODB_HOST_SCRIPT_TIMEOUT_SECONDS,
    leaseSeconds: config.OCTODB_PROVISION_LEASE_SECONDS,
    retrySeconds: config.OCTODB_PROVISION_RETRY_SECONDS,
  };
}

/** POST /query: the tenant's statement, judged and run as its own MySQL user, within its rate and quota. */
export async function queryRoot(parts = sharedParts()): Promise<QueryDeps & { batch: BatchSettings } & TenantRateDeps> {
  const p = await parts.pick('tenantLogins', 'tenantSql', 'queryLogs', 'quotas', 'statementJudge', 'tenantRates', 'plans');
  const batch = { maxStatements: parts.config.OCTODB_QUERY_BATCH_MAX_STATEMENTS };
  return { tenantLogins: p.tenantLogins, tenantSql: p.tenantSql, logs: p.queryLogs, quotas: p.quotas, judge: p.statementJudge, tenantRates: p.tenantRates, plans: p.plans, batch };
}

/**
 * POST /dashboard: MetaDB, the log table, the tenant's schema facts, its API keys, within its rate;
 * `deleteAccount`'s parts (bcrypt, the invoker) made only when that action runs.
 */
export async function dashboardRoot(trace: Trace, parts = sharedParts()): Promise<DashboardDeps & ApiKeyDeps & TenantRateDeps & TableBackupDeps & AccountDeps & { restores: () => Promise<PitrRequestDeps> }> {
  const p = await parts.pick('meta', 'logStore', 'schemas', 'sealer', 'migrations', 'quotas', 'tenantRates', 'plans', 'apiKeys', 'apiKeySecret', 'tableBackups', 'hostRunner');
  const { apiKeys, tableBackups, ...rest } = p;
  const deleteAccount = async (): Promise<DeleteOwnAccountDeps> => ({
    ...(await lifecycleRoot(parts)),
    ...traced(await parts.pick('passwords', 'invoker', 'clientRates'), trace),
    limits: rateLimitSettings(parts.config),
  });
  // restore_table moves a backup back on the host (a host script, as M1 runs).
  const backups = { backups: tableBackups, scriptTimeoutSeconds: parts.config.OCTODB_HOST_SCRIPT_TIMEOUT_SECONDS };
  // restore_database records the restore and hands it to LF6 (the invoker), which runs it on the host.
  const restores = async (): Promise<PitrRequestDeps> => {
    const { pitr, meta, invoker, quotas } = traced(await parts.pick('pitr', 'meta', 'invoker', 'quotas'), trace);
    return { meta, invoker, quotas, bases: pitr, restores: pitr, pitr: pitrSettings(parts.config) };
  };
  return { ...rest, ...backups, keys: apiKeys, keyLimit: parts.config.OCTODB_API_KEY_LIMIT, deleteAccount, restores };
}

/** LF6's restores and base backups: host scripts, the tenant accounts of restored databases, MetaDB. */
export async function pitrRoot(trace: Trace, parts = sharedParts()): Promise<PitrDeps> {
  const { pitr, ...p } = traced(await parts.pick('pitr', 'meta', 'hostRunner', 'accounts', 'sealer', 'invoker'), trace);
  return { ...p, bases: pitr, restores: pitr, pitr: pitrSettings(parts.config) };
}

function pitrSettings(c: Config): PitrSettings {
  // Host scripts run elsewhere than this process's working directory: a local root goes in absolute.
  const root = c.OCTODB_BACKUP_DIR.startsWith('s3://') ? c.OCTODB_BACKUP_DIR : resolve(c.OCTODB_BACKUP_DIR);
  return { backupRoot: root, scriptTimeoutSeconds: c.OCTODB_HOST_SCRIPT_TIMEOUT_SECONDS, baseBackupHours: c.OCTODB_BASE_BACKUP_HOURS, baseBackupDays: c.OCTODB_BASE_BACKUP_DAYS };
}

/** Beginning an erasure or a suspension: MetaDB, and Redis to tell every token check at once. */
async function lifecycleRoot(parts: Parts): Promise<LifecycleDeps> {
  return { ...(await parts.pick('erasures', 'meta', 'registry')), tokenTtlSeconds: parts.config.OCTODB_TOKEN_TTL_SECONDS };
}

/** An erasure's worker (LF6's function on AWS, the admin command): host scripts, MetaDB, the log table; no Redis. */
export async function eraseRoot(parts = sharedParts()): Promise<EraseDeps> {
  const { claimOwners, ...p } = await parts.pick('erasures', 'meta', 'hostRunner', 'logEraser', 'claimOwners');
  const { config } = parts;
  return { ...p, owners: claimOwners, scriptTimeoutSeconds: config.OCTODB_HOST_SCRIPT_TIMEOUT_SECONDS, leaseSeconds: config.OCTODB_PROVISION_LEASE_SECONDS, backupRoot: pitrSettings(config).backupRoot };
}

/** M0 — POST /migrate: judges the statements and queues the jobs for M1, within the tenant's rate and quota. */
export async function migrateSubmitRoot(trace: Trace, parts = sharedParts()): Promise<Parameters<typeof submitMigration>[2] & Parameters<typeof planMigration>[2] & TenantRateDeps> {
  const p = traced(await parts.pick('meta', 'migrations', 'invoker', 'quotas', 'statementJudge', 'tenantRates', 'plans', 'hostRunner'), trace);
  const { hostRunner, migrations, statementJudge: judge, ...rest } = p;
  // The dry run (planMigration) runs Skeema on the host as M1 does.
  return { ...rest, jobs: migrations, batches: migrations, judge, hostRunner, scriptTimeoutSeconds: parts.config.OCTODB_HOST_SCRIPT_TIMEOUT_SECONDS, tableBackupHours: parts.config.OCTODB_TABLE_BACKUP_HOURS };
}

/** M1: runs jobs and cascades on the host, under Redis locks; notifies and logs. */
export async function migrateRunRoot(trace: Trace, parts = sharedParts()): Promise<MigrationDeps> {
  const p = traced(await parts.pick('meta', 'migrations', 'migrationLocks', 'invoker', 'hostRunner', 'hostSql', 'notifier', 'logs', 'claimOwners', 'tableBackups'), trace);
  const { migrations, migrationLocks: locks, claimOwners: owners, tableBackups: backups, ...rest } = p;
  // One adapter holds the four migration stores.
  return { ...rest, jobs: migrations, batches: migrations, cascades: migrations, audit: migrations, locks, owners, backups, settings: migrationSettings(parts.config) };
}

/** The operator's function: each action's deps made when that action runs (creating a tenant needs no Redis). */
export function adminRoot(parts = sharedParts()) {
  return {
    create: async (): Promise<CreateAdminDeps> => ({ ...(await provisionRoot(parts)), bcryptRounds: parts.config.OCTODB_BCRYPT_ROUNDS }),
    setQuota: async (): Promise<SetQuotaDeps> => ({
      ...(await parts.pick('meta', 'quotaSettings', 'storageState')),
      defaultQuotaBytes: parts.config.OCTODB_STORAGE_QUOTA_BYTES,
    }),
    setLimits: (): Promise<Parameters<typeof setTenantLimit>[1]> => parts.pick('meta'),
    deleteTenant: async (): Promise<LifecycleDeps & EraseDeps> => ({ ...(await eraseRoot(parts)), ...(await lifecycleRoot(parts)), meta: await parts.get('meta') }),
    suspend: (): Promise<LifecycleDeps> => lifecycleRoot(parts),
  };
}
export type AdminRoot = ReturnType<typeof adminRoot>;

/**
 * The MetaDB deployment (#core/metadb), for local start and the custom resource: the host runner,
 * MetaDB as its API account, and that account made or brought in step by the admin login (over a
 * direct connection, so the API password never enters SSM's command history).
 */
export async function metaDbRoot(files: SchemaFiles, parts: Parts = sharedParts()): Promise<MetaDbDeploymentDeps> {
  const { hostRunner, logins, meta } = await parts.pick('hostRunner', 'logins', 'meta');
  const { admin, meta: api } = logins;
  return {
    runner: hostRunner,
    hosts: meta,
    ensureApiAccount: admin && api.user !== admin.user ? () => ensureApiAccount(admin, api) : undefined,
    schema: api.database,
    files,
    scriptTimeoutSeconds: parts.config.OCTODB_HOST_SCRIPT_TIMEOUT_SECONDS,
  };
}

/** L1: the log table only (no MySQL, Redis or secrets for a function that only writes logs). */
export function logIngestRoot(parts: Parts = sharedParts()): Promise<LogStore> {
  return parts.get('logStore');
}

function rateLimitSettings(c: Config): RateLimitSettings {
  return {
    tenant: tenantRateDefaults(c),
    signupPerIp: c.OCTODB_RATE_SIGNUP_PER_IP,
    signupPerEmail: c.OCTODB_RATE_SIGNUP_PER_EMAIL,
    tokenPerIp: c.OCTODB_RATE_TOKEN_PER_IP,
    tokenPerEmail: c.OCTODB_RATE_TOKEN_PER_EMAIL,
    loginFailures: c.OCTODB_LOGIN_FAILURES,
  };
}

/** /signup and /verify: the bcrypt cost, the host cap, and the email codes when verification is on. */
function signupSettings(c: Config): Pick<SignUpDeps, 'bcryptRounds' | 'hostMaxDatabases' | 'verification'> {
  return {
    bcryptRounds: c.OCTODB_BCRYPT_ROUNDS,
    hostMaxDatabases: c.OCTODB_HOST_MAX_DATABASES,
    verification: c.OCTODB_SIGNUP_VERIFY_EMAIL ? { ttlSeconds: c.OCTODB_SIGNUP_CODE_TTL_SECONDS, maxAttempts: c.OCTODB_SIGNUP_CODE_MAX_ATTEMPTS } : undefined,
  };
}

function migrationSettings(c: Config): MigrationSettings {
  return {
    maxRetries: c.OCTODB_MIGRATION_MAX_RETRIES,
    backoffMs: c.OCTODB_MIGRATION_BACKOFF_MS,
    staleSeconds: c.OCTODB_MIGRATION_LEASE_SECONDS,
    lockWaitSeconds: c.OCTODB_MIGRATION_LOCK_WAIT_SECONDS,
    scriptTimeoutSeconds: c.OCTODB_HOST_SCRIPT_TIMEOUT_SECONDS,
    ddlTimeoutSeconds: c.OCTODB_MIGRATION_DDL_TIMEOUT_SECONDS,
    transientRetrySeconds: c.OCTODB_MIGRATION_TRANSIENT_RETRY_SECONDS,
    cascadeConcurrency: c.OCTODB_CASCADE_CONCURRENCY,
    tableBackupSeconds: Math.round(c.OCTODB_TABLE_BACKUP_HOURS * 3600),
    cascadeChunk: c.OCTODB_CASCADE_CHUNK,
    adminEmail: c.OCTODB_ADMIN_EMAIL,
  };
}
