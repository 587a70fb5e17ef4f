import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { SSMClient } from '@aws-sdk/client-ssm';
import { Redis } from 'ioredis';
import { createPool, type Pool } from 'mysql2/promise';
import type {
  AsyncFunction,
  DatabaseAccounts,
  HostRunner,
  HostSql,
  Invoker,
  LogSink,
  LogStore,
  MigrationLocks,
  MigrationStore,
  Notifier,
  QuotaSettings,
  PasswordHasher,
  SchemaInspector,
  StorageStateStore,
  TemplateSource,
  RateLimiter,
  TokenRegistry,
} from '#core/ports';
import type { MigrationDeps } from '#core/migration-deps';
import type { SignUpDeps } from '#core/signup';
import type { TokenDeps } from '#core/tokens';
import { ParentAwareTemplates } from '#core/parent-templates';
import { Sealer } from '#core/sealed';
import { type Config, loadConfig, type MysqlLogin, parseMysqlUrl } from '#shared/config';
import { BashHostRunner, dockerClientEnv } from './bash-host-runner.ts';
import { BufferedLogSink } from './buffered-log-sink.ts';
import { DynamoLogStore } from './dynamo-log-store.ts';
import { FileTemplateSource } from './file-template-source.ts';
import { LambdaInvoker } from './lambda-invoker.ts';
import { LoggerLogSink } from './logger-log-sink.ts';
import { LoggerNotifier } from './logger-notifier.ts';
import { MailgunNotifier } from './mailgun-notifier.ts';
import { MysqlHostSql } from './mysql-host-sql.ts';
import { MysqlMigrationStore } from './mysql-migration-store.ts';
import { OutboxNotifier } from './outbox-notifier.ts';
import { RedisMigrationLocks } from './redis-migration-locks.ts';
import { MysqlMetaStore } from './mysql-meta-store.ts';
import { MysqlSchemaInspector } from './mysql-schema-inspector.ts';
import { MysqlTenantSqlRunner } from './mysql-tenant-sql-runner.ts';
import { TenantLogins } from '#core/query';
import { StorageQuotaGuard } from '#core/storage-quotas';
import { logger } from '#shared/logger';
import { MysqlQuotaSettings } from './mysql-quota-settings.ts';
import { MysqlStorageMeter } from './mysql-storage-meter.ts';
import { RedisStorageState } from './redis-storage-state.ts';
import { CachedTokenRegistry, RedisTokenRegistry } from './redis-token-registry.ts';
import { readSecret } from './secrets.ts';
import { SqsLogSink } from './sqs-log-sink.ts';
import { SsmHostRunner } from './ssm-host-runner.ts';
import { WorkerStatementJudge } from './worker-statement-judge.ts';
import { InlinePasswordHasher, WorkerPasswordHasher } from './worker-password-hasher.ts';
import { DirectRateLimiter, MemoryBuckets, RedisBuckets } from './redis-rate-limiter.ts';
import { SlicedRateLimiter } from './sliced-rate-limiter.ts';
import { type RateLimitSettings, TenantPlans } from '#core/rate-limits';

/** Everything handlers need, built once per cold start (or once by the local gateway). */
export interface Deps {
  config: Config;
  /** MetaDB's login: the API account (DML on MetaDB only), or the admin one where only it is deployed. */
  metaLogin: MysqlLogin;
  /** Absent in a function deployed without the admin secret (every API function on AWS). */
  adminLogin?: MysqlLogin;
  /** MetaDB, as metaLogin. */
  pool: Pool;
  redis: Redis;
  meta: MysqlMetaStore;
  registry: TokenRegistry;
  invoker: Invoker;
  hostRunner: HostRunner;
  accounts: DatabaseAccounts;
  templates: TemplateSource;
  sealer: Sealer;
  logs: LogSink;
  dynamo: DynamoDBClient;
  logStore: LogStore;
  schemas: SchemaInspector;
  /** Only the token and authorizer functions are deployed with the signing key. */
  jwtSecret: string | undefined;
  migrations: MigrationStore;
  migrationState: MigrationLocks;
  hostSql: HostSql;
  notifier: Notifier;
  /** /query's log port: `logs` itself on AWS; locally a buffer in front of it (no wait per query). */
  queryLogs: LogSink;
  /** Hands on every log record still buffered (close() does it first). */
  flushLogs(): Promise<void>;
  /** /query: tenant statements over one pool per MySQL host, and the cached tenant logins. */
  tenantSql: MysqlTenantSqlRunner;
  tenantLogins: TenantLogins;
  /** Storage quotas: the shared over-quota state (Redis), per-tenant quotas (MetaDB), measured with tenant logins. */
  quotas: StorageQuotaGuard;
  quotaSettings: QuotaSettings;
  storageState: StorageStateStore;

  /** /query's and /migrate's validators, on worker threads under a time budget (started on first use). */
  statementJudge: WorkerStatementJudge;
  /** bcrypt for /signup, /token and /verify's signup retry: worker threads (started on first use), or inline. */
  passwords: PasswordHasher;

  /** Rate limits: per tenant (local slices of Redis buckets), per client and email (Redis per call). */
  tenantRates: RateLimiter;
  clientRates: RateLimiter;
  plans: TenantPlans;
  limits: RateLimitSettings;
  close(): Promise<void>;
}

/** What the local entry point supplies itself (the in-process invoker knows the handlers). */
export type DepsOverrides = Partial<Pick<Deps, 'invoker' | 'logs' | 'hostRunner'>>;

export async function buildDeps(config: Config, overrides: DepsOverrides = {}): Promise<Deps> {
  const { meta: metaLogin, admin: adminLogin } = await resolveMysqlLogins(config);
  // Each function is deployed with only the keys it uses; one without a key never reads it.
  const jwtSecret = config.OCTODB_JWT_SECRET ?? (await optionalSecret(config.OCTODB_JWT_SECRET_ARN));
  const dataKey = config.OCTODB_DATA_KEY ?? (await optionalSecret(config.OCTODB_DATA_KEY_SECRET_ARN));
  const pool = createPool({
    ...metaLogin,
    connectionLimit: 5,
    waitForConnections: true,
    enableKeepAlive: true,
    timezone: 'Z',
    dateStrings: false,
  });
  const redis = new Redis(config.OCTODB_REDIS_URL, { maxRetriesPerRequest: 2, enableAutoPipelining: true });
  const meta = new MysqlMetaStore(pool);
  const dynamo = dynamoClient(config);
  const hostRunner = overrides.hostRunner ?? hostRunnerFor(config, adminLogin);
  const sealer = new Sealer(dataKey);
  const hostSql = new MysqlHostSql(
    adminLogin,
    config.OCTODB_CASCADE_CONCURRENCY,
    (h) => (config.OCTODB_HOST_RUNNER === 'ssm' ? { host: h.endpoint, port: h.port } : { host: config.OCTODB_DB_HOST, port: config.OCTODB_DB_PORT }),
    config.OCTODB_MIGRATION_DDL_TIMEOUT_SECONDS,
  );
  const tokenCache =
    config.OCTODB_TOKEN_CACHE === 'pubsub'
      ? new CachedTokenRegistry(redis, redis.duplicate({ autoResubscribe: false }), { maxEntries: 100_000, maxAgeMs: 60_000 })
      : undefined;
  const logs = overrides.logs ?? logSinkFor(config);
  // On Lambda a buffer would freeze with the sandbox: there each query's record is sent before it answers.
  const queryLogBuffer = config.OCTODB_RUNTIME === 'lambda' ? undefined : new BufferedLogSink(logs);
  const tenantSql = new MysqlTenantSqlRunner({
    rowLimit: config.OCTODB_QUERY_ROW_LIMIT,
    maxResultBytes: config.OCTODB_QUERY_MAX_RESULT_BYTES,
    timeoutMs: config.OCTODB_QUERY_TIMEOUT_MS,
    poolSize: config.OCTODB_QUERY_POOL_SIZE,
    tenantConcurrency: config.OCTODB_QUERY_TENANT_CONCURRENCY,
    slowStatementMs: config.OCTODB_QUERY_SLOW_STATEMENT_MS,
    slowTenantConcurrency: config.OCTODB_QUERY_SLOW_TENANT_CONCURRENCY,
    acquireTimeoutMs: config.OCTODB_QUERY_ACQUIRE_TIMEOUT_MS,
  });
  const storageState = new RedisStorageState(redis, metaLogin.database);
  const quotaSettings = new MysqlQuotaSettings(pool);
  const quotas = new StorageQuotaGuard(
    { state: storageState, settings: quotaSettings, meter: new MysqlStorageMeter(tenantSql) },
    {
      defaultQuotaBytes: config.OCTODB_STORAGE_QUOTA_BYTES,
      measureIntervalMs: config.OCTODB_STORAGE_MEASURE_INTERVAL_MS,
      stateCacheMs: config.OCTODB_STORAGE_STATE_CACHE_MS,
      // As with query logs: on Lambda work left after the answer would freeze with the sandbox.
      awaitMeasurement: config.OCTODB_RUNTIME === 'lambda',
      onError: (error) => logger.warn('storage measurement failed', { error: error as Error }),
    },
  );

  const statementJudge = new WorkerStatementJudge(STATEMENT_JUDGE_SCRIPT, {
    budgetMs: config.OCTODB_VALIDATOR_BUDGET_MS,
    workers: config.OCTODB_VALIDATOR_WORKERS,
    perTenantQueue: config.OCTODB_VALIDATOR_QUEUE,
  });
  const passwords: PasswordHasher = config.OCTODB_PASSWORD_WORKERS === 0
    ? new InlinePasswordHasher()
    : new WorkerPasswordHasher({ workers: config.OCTODB_PASSWORD_WORKERS, maxQueue: config.OCTODB_PASSWORD_QUEUE });
  return {
    config,
    metaLogin,
    adminLogin,
    pool,
    redis,
    meta,
    registry: tokenCache ?? new RedisTokenRegistry(redis),
    invoker: overrides.invoker ?? lambdaInvoker(config),
    hostRunner,
    accounts: hostSql,
    templates: new ParentAwareTemplates(new FileTemplateSource(config.OCTODB_TEMPLATES_DIR), meta, hostSql),
    sealer,
    logs,
    queryLogs: queryLogBuffer ?? logs,
    flushLogs: async () => queryLogBuffer?.flush(),
    dynamo,
    logStore: logStoreFor(config, dynamo),
    schemas: new MysqlSchemaInspector(tenantSql),
    jwtSecret,
    migrations: new MysqlMigrationStore(pool),
    migrationState: new RedisMigrationLocks(redis),
    hostSql,
    notifier: await notifierFor(config),
    tenantSql,
    tenantLogins: new TenantLogins(meta, sealer, config.OCTODB_QUERY_LOGIN_CACHE_SECONDS * 1000),
    quotas,
    quotaSettings,
    storageState,
    statementJudge,
    passwords,

    ...rateLimitsFor(config, redis, meta, metaLogin.database),
    async close() {
      await queryLogBuffer?.flush();
      await Promise.allSettled([statementJudge.close(), pool.end(), redis.quit(), hostSql.close(), tenantSql.close(), hostRunner.close?.(), tokenCache?.close(), passwords.close?.()]);
      dynamo.destroy();
    },
  };
}

/**
 * The judge's worker entry: beside this module in the source tree (it registers tsx), and beside
 * index.mjs in a Lambda bundle, built there from statement-judge-thread.ts (lib/octo-function.ts).
 */
export const STATEMENT_JUDGE_SCRIPT = new URL('./statement-judge-worker.mjs', import.meta.url);

/** Buckets namespaced by the MetaDB name: OctoDBs (and test runs) sharing a Redis never share one. */
function rateLimitsFor(config: Config, redis: Redis, meta: MysqlMetaStore, metaDb: string): Pick<Deps, 'tenantRates' | 'clientRates' | 'plans' | 'limits'> {
  const store = new RedisBuckets(redis, { prefix: `octodb:rl:${metaDb}:`, timeoutMs: config.OCTODB_RATE_REDIS_TIMEOUT_MS, fallback: new MemoryBuckets() });
  const tenant = { query: config.OCTODB_RATE_QUERY, migrate: config.OCTODB_RATE_MIGRATE, dashboard: config.OCTODB_RATE_DASHBOARD };
  return {
    tenantRates: new SlicedRateLimiter(store, { sliceSeconds: config.OCTODB_RATE_SLICE_SECONDS, sliceMax: config.OCTODB_RATE_SLICE_MAX }),
    clientRates: new DirectRateLimiter(store),
    plans: new TenantPlans(meta, tenant, config.OCTODB_RATE_PLAN_CACHE_SECONDS * 1000),
    limits: {
      tenant,
      signupPerIp: config.OCTODB_RATE_SIGNUP_PER_IP,
      signupPerEmail: config.OCTODB_RATE_SIGNUP_PER_EMAIL,
      tokenPerIp: config.OCTODB_RATE_TOKEN_PER_IP,
      tokenPerEmail: config.OCTODB_RATE_TOKEN_PER_EMAIL,
      loginFailures: config.OCTODB_LOGIN_FAILURES,
    },
  };
}

function lambdaInvoker(config: Config): Invoker {
  const names = JSON.parse(config.OCTODB_FUNCTION_NAMES) as Partial<Record<AsyncFunction, string>>;
  return new LambdaInvoker(new LambdaClient({}), names);
}

/** SQS when a queue is configured (AWS); else the logger (the local entry supplies its own queue). */
function logSinkFor(config: Config): LogSink {
  return config.OCTODB_LOG_QUEUE_URL ? new SqsLogSink(new SQSClient({}), config.OCTODB_LOG_QUEUE_URL) : new LoggerLogSink();
}

export function logStoreFor(config: Config, dynamo: DynamoDBClient): LogStore {
  return new DynamoLogStore(DynamoDBDocumentClient.from(dynamo, { marshallOptions: { removeUndefinedValues: true } }), config.OCTODB_LOG_TABLE);
}

/** DynamoDB on AWS; dynalite (any endpoint, dummy credentials) locally. */
export function dynamoClient(config: Config): DynamoDBClient {
  if (!config.OCTODB_DYNAMODB_ENDPOINT) return new DynamoDBClient({});
  return new DynamoDBClient({
    endpoint: config.OCTODB_DYNAMODB_ENDPOINT,
    region: 'local',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
}

/**
 * Host scripts run as the admin account: SSM on AWS (the host's own ~/.my.cnf), else with this
 * login. Without it (an API function) there is nothing to run them with: a runner that refuses.
 */
export function hostRunnerFor(config: Config, login: MysqlLogin | undefined): HostRunner {
  const dbHost = { host: config.OCTODB_DB_HOST, port: config.OCTODB_DB_PORT };
  if (config.OCTODB_HOST_RUNNER === 'ssm') return new SsmHostRunner(new SSMClient({}));
  if (!login) return { run: () => Promise.reject(new Error('configuration: this function has no MySQL admin login for host scripts')) };
  switch (config.OCTODB_HOST_RUNNER) {
    case 'docker':
      // compose's dbhost container has skeema and the mysql client; it reaches MySQL as `mysql`.
      return new BashHostRunner(login, { host: 'mysql', port: 3306 }, ['docker', 'compose', 'exec', '-T', 'dbhost', 'bash', '-s'], dockerClientEnv(process.env));
    case 'bash':
      return new BashHostRunner(login, dbHost);
  }
}

/** The admin login: OCTODB_MYSQL_URL, or on AWS its secret. */
export async function resolveMysqlLogin(config: Config): Promise<MysqlLogin> {
  return loginFrom(config.OCTODB_MYSQL_URL, config.OCTODB_MYSQL_SECRET_ARN, parseMysqlUrl(config.OCTODB_MYSQL_URL).database);
}

/** The API account's login (OCTODB_MYSQL_API_URL or its secret), on the MetaDB OCTODB_MYSQL_URL names. */
export async function resolveApiLogin(config: Config): Promise<MysqlLogin> {
  return loginFrom(config.OCTODB_MYSQL_API_URL, config.OCTODB_MYSQL_API_SECRET_ARN, parseMysqlUrl(config.OCTODB_MYSQL_URL).database);
}

/**
 * Locally both logins come from their URLs. On AWS an API function is deployed with the API secret
 * only and reaches MetaDB as the API account, with no admin login; an admin function (LF6, M1,
 * admin) holds only the admin secret and uses it for MetaDB too. The MetaDB deployment alone holds
 * both: it creates the API account.
 */
export async function resolveMysqlLogins(config: Config): Promise<{ meta: MysqlLogin; admin?: MysqlLogin }> {
  const onAws = Boolean(config.OCTODB_MYSQL_SECRET_ARN || config.OCTODB_MYSQL_API_SECRET_ARN);
  const admin = !onAws || config.OCTODB_MYSQL_SECRET_ARN ? await resolveMysqlLogin(config) : undefined;
  const api = !onAws || config.OCTODB_MYSQL_API_SECRET_ARN ? await resolveApiLogin(config) : undefined;
  const meta = api ?? admin;
  if (!meta) throw new Error('configuration: no MySQL login');
  return { meta, admin };
}

async function loginFrom(url: string, secretArn: string | undefined, database: string): Promise<MysqlLogin> {
  const fromUrl = { ...parseMysqlUrl(url), database };
  if (!secretArn) return fromUrl;
  const secret = JSON.parse(await readSecret(secretArn)) as Record<string, unknown>;
  return {
    host: String(secret.host ?? fromUrl.host),
    port: Number(secret.port ?? fromUrl.port),
    user: String(secret.username),
    password: String(secret.password),
    database,
  };
}

async function optionalSecret(arn: string | undefined): Promise<string | undefined> {
  return arn ? readSecret(arn) : undefined;
}

let current: Promise<Deps> | undefined;

/** The process's dependencies: built from the environment on first use (a Lambda cold start). */
export function deps(): Promise<Deps> {
  current ??= buildDeps(loadConfig());
  return current;
}

/** The local gateway installs the dependencies it built (with its in-process invoker). */
export function useDeps(built: Deps): void {
  current = Promise.resolve(built);
}

export async function notifierFor(config: Config): Promise<Notifier> {
  const key = config.OCTODB_MAILGUN_API_KEY ?? (config.OCTODB_MAILGUN_API_KEY_SECRET_ARN && (await readSecret(config.OCTODB_MAILGUN_API_KEY_SECRET_ARN)));
  // A Lambda's file system is read-only: without Mailgun its emails go to the structured log.
  if (!key) return config.OCTODB_RUNTIME === 'lambda' ? new LoggerNotifier(config.OCTODB_MAIL_FROM) : new OutboxNotifier(config.OCTODB_OUTBOX_FILE, config.OCTODB_MAIL_FROM);
  if (!config.OCTODB_MAILGUN_DOMAIN) throw new Error('configuration: OCTODB_MAILGUN_DOMAIN is required with a Mailgun key');
  return new MailgunNotifier({ key, url: config.OCTODB_MAILGUN_URL }, config.OCTODB_MAILGUN_DOMAIN, config.OCTODB_MAIL_FROM);
}

export function migrationDeps(d: Deps): MigrationDeps {
  const c = d.config;
  return {
    ...d,
    // One adapter implements the four store ports; read per call, as tests swap d.migrations.
    jobs: d.migrations,
    batches: d.migrations,
    cascades: d.migrations,
    audit: d.migrations,
    locks: d.migrationState,
    settings: {
      maxRetries: c.OCTODB_MIGRATION_MAX_RETRIES,
      backoffMs: c.OCTODB_MIGRATION_BACKOFF_MS,
      staleSeconds: c.OCTODB_MIGRATION_STALE_SECONDS,
      lockWaitSeconds: c.OCTODB_MIGRATION_LOCK_WAIT_SECONDS,
      scriptTimeoutSeconds: c.OCTODB_HOST_SCRIPT_TIMEOUT_SECONDS,
      ddlTimeoutSeconds: c.OCTODB_MIGRATION_DDL_TIMEOUT_SECONDS,
      cascadeConcurrency: c.OCTODB_CASCADE_CONCURRENCY,
      cascadeChunk: c.OCTODB_CASCADE_CHUNK,
      adminEmail: c.OCTODB_ADMIN_EMAIL,
    },
  };
}

/** Only what the token functions use: the authorizer builds this on every request. */
export function tokenDeps(d: Deps): TokenDeps {
  if (!d.jwtSecret) throw new Error('configuration: set OCTODB_JWT_SECRET or OCTODB_JWT_SECRET_ARN');
  return {
    meta: d.meta,
    registry: d.registry,
    sealer: d.sealer,
    passwords: d.passwords,
    jwtSecret: d.jwtSecret,
    ttlSeconds: d.config.OCTODB_TOKEN_TTL_SECONDS,
    bcryptRounds: d.config.OCTODB_BCRYPT_ROUNDS,
  };
}

/** /signup and /verify: the host cap, and the email codes when verification is on. */
export function signupDeps(d: Deps): SignUpDeps {
  const c = d.config;
  return {
    ...d,
    bcryptRounds: c.OCTODB_BCRYPT_ROUNDS,
    hostMaxDatabases: c.OCTODB_HOST_MAX_DATABASES,
    verification: c.OCTODB_SIGNUP_VERIFY_EMAIL ? { ttlSeconds: c.OCTODB_SIGNUP_CODE_TTL_SECONDS, maxAttempts: c.OCTODB_SIGNUP_CODE_MAX_ATTEMPTS } : undefined,
  };
}

let currentLogStore: Promise<LogStore> | undefined;

/**
 * L1's only dependency. On Lambda it builds just the log table client (no MySQL, Redis or
 * secrets for a function that only writes logs); locally it shares the installed deps.
 */
export function logStoreDeps(): Promise<LogStore> {
  if (current) return current.then((d) => d.logStore);
  currentLogStore ??= Promise.resolve().then(() => {
    const config = loadConfig();
    return logStoreFor(config, dynamoClient(config));
  });
  return currentLogStore;
}
