import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { SSMClient } from '@aws-sdk/client-ssm';
import { Redis } from 'ioredis';
import { createPool } from 'mysql2/promise';
import type { AsyncFunction, HostRunner } from '#core/ports';
import { KeyUseRecorder } from '#core/api-keys';
import { HOST_CA_FILE } from '#core/host-scripts';
import { ParentAwareTemplates } from '#core/parent-templates';
import { TenantLogins } from '#core/query';
import { QueryCharges, TenantPlans } from '#core/rate-limits';
import { Sealer } from '#core/sealed';
import { StorageQuotaGuard } from '#core/storage-quotas';
import { type Config, type MysqlLogin, parseMysqlUrl } from '#shared/config';
import { logger } from '#shared/logger';
import { BashHostRunner, dockerClientEnv } from './bash-host-runner.ts';
import { BufferedLogSink } from './buffered-log-sink.ts';
import { LeaseOnlyClaimOwners, LocalClaimOwners } from './claim-owners.ts';
import { DynamoLogEraser } from './dynamo-log-eraser.ts';
import { DynamoLogStore } from './dynamo-log-store.ts';
import { FileTemplateSource } from './file-template-source.ts';
import { LambdaInvoker } from './lambda-invoker.ts';
import { LoggerLogSink } from './logger-log-sink.ts';
import { LoggerNotifier } from './logger-notifier.ts';
import { MailgunNotifier } from './mailgun-notifier.ts';
import { MysqlApiKeyStore } from './mysql-api-key-store.ts';
import { MysqlErasureStore } from './mysql-erasure-store.ts';
import { metaDbPool } from './mysql-errors.ts';
import { MysqlHostSql } from './mysql-host-sql.ts';
import { MysqlPitrStore } from './mysql-pitr-store.ts';
import { MysqlMetaStore } from './mysql-meta-store.ts';
import { MysqlMigrationStore } from './mysql-migration-store.ts';
import { MysqlQuotaSettings } from './mysql-quota-settings.ts';
import { MysqlSchemaInspector } from './mysql-schema-inspector.ts';
import { MysqlStorageMeter } from './mysql-storage-meter.ts';
import { MysqlTenantSqlRunner } from './mysql-tenant-sql-runner.ts';
import { loadMysqlTls, type MysqlTls, type TlsLogin } from './mysql-tls.ts';
import { OutboxNotifier } from './outbox-notifier.ts';
import { ReportingNotifier } from './reporting-notifier.ts';
import type { MysqlLogins, PartName, PartTypes, Recipe } from './parts.ts';
import { DirectRateLimiter, MemoryBuckets, RedisBuckets } from './redis-rate-limiter.ts';
import { RedisMigrationLocks } from './redis-migration-locks.ts';
import { RedisStorageState } from './redis-storage-state.ts';
import { CachedTokenRegistry, RedisTokenRegistry } from './redis-token-registry.ts';
import { readSecret } from './secrets.ts';
import { SlicedRateLimiter } from './sliced-rate-limiter.ts';
import { SqsLogSink } from './sqs-log-sink.ts';
import { SsmHostRunner } from './ssm-host-runner.ts';
import { InlinePasswordHasher, WorkerPasswordHasher } from './worker-password-hasher.ts';
import { WorkerStatementJudge } from './worker-statement-judge.ts';
import { MysqlTableBackupStore } from './mysql-table-backup-store.ts';

/**
 * The judge's worker entry: beside this module in the source tree (it registers tsx), and beside
 * index.mjs in a Lambda bundle, built there from statement-judge-thread.ts (lib/octo-function.ts).
 */
export const STATEMENT_JUDGE_SCRIPT = new URL('./statement-judge-worker.mjs', import.meta.url);

/** A key's last use is written at most this often per key and process. */
const KEY_USE_INTERVAL_MS = 60_000;

const onLambda = (config: Config) => config.OCTODB_RUNTIME === 'lambda';
/** Redis keys are namespaced by the MetaDB name: OctoDBs (and test runs) sharing a Redis never share one. */
const metaDbOf = (config: Config) => parseMysqlUrl(config.OCTODB_MYSQL_URL).database;

export const RECIPES: { [K in PartName]: Recipe<PartTypes[K]> } = {
  mysqlTls: { make: (p) => loadMysqlTls(p.config) },
  logins: { make: async (p) => resolveMysqlLogins(p.config, await p.get('mysqlTls')) },
  // Each function is deployed with only the keys it uses; one without a key never reads it.
  jwtSecret: {
    make: async ({ config }) => {
      const secret = config.OCTODB_JWT_SECRET ?? (await optionalSecret(config.OCTODB_JWT_SECRET_ARN));
      if (!secret) throw new Error('configuration: set OCTODB_JWT_SECRET or OCTODB_JWT_SECRET_ARN');
      return secret;
    },
  },
  apiKeySecret: {
    make: async ({ config }) => {
      const secret = config.OCTODB_API_KEY_SECRET ?? (await optionalSecret(config.OCTODB_API_KEY_SECRET_ARN));
      if (!secret) throw new Error('configuration: set OCTODB_API_KEY_SECRET or OCTODB_API_KEY_SECRET_ARN');
      return secret;
    },
  },
  sealer: { make: async ({ config }) => new Sealer(config.OCTODB_DATA_KEY ?? (await optionalSecret(config.OCTODB_DATA_KEY_SECRET_ARN))) },
  pool: {
    // An outage is METADB_UNAVAILABLE (503) on every route, found within the connect timeout.
    make: async (p) =>
      metaDbPool(
        createPool({
          ...(await p.get('logins')).meta,
          connectionLimit: 5,
          waitForConnections: true,
          connectTimeout: p.config.OCTODB_METADB_CONNECT_TIMEOUT_MS,
          enableKeepAlive: true,
          timezone: 'Z',
          dateStrings: false,
        }),
      ),
    close: (pool) => pool.end(),
  },
  redis: {
    // Down, a command fails within OCTODB_REDIS_TIMEOUT_MS (REDIS_UNAVAILABLE, 503), never queued for reconnections.
    make: async ({ config: c }) =>
      new Redis(c.OCTODB_REDIS_URL, {
        ...(await redisAuth(c)),
        maxRetriesPerRequest: 1,
        connectTimeout: c.OCTODB_REDIS_TIMEOUT_MS,
        commandTimeout: c.OCTODB_REDIS_TIMEOUT_MS,
        enableAutoPipelining: true,
      }).on('error', (error: Error) => logger.warn('Redis connection failed', { error })),
    close: (redis) => redis.quit(),
  },
  meta: { make: async (p) => new MysqlMetaStore(await p.get('pool')) },
  registry: {
    make: async (p) => {
      const redis = await p.get('redis');
      // One long-running process (npm start) may cache current tokens, kept fresh by pub/sub.
      if (p.config.OCTODB_TOKEN_CACHE === 'off') return new RedisTokenRegistry(redis);
      return new CachedTokenRegistry(redis, redis.duplicate({ autoResubscribe: false }), { maxEntries: 100_000, maxAgeMs: 60_000 });
    },
    close: (registry) => (registry instanceof CachedTokenRegistry ? registry.close() : undefined),
  },
  apiKeys: { make: async (p) => new MysqlApiKeyStore(await p.get('pool')) },
  keyUses: {
    make: async (p) => new KeyUseRecorder(await p.get('apiKeys'), KEY_USE_INTERVAL_MS, (error) => logger.warn('recording an API key\'s last use failed', { error: error as Error })),
  },
  invoker: { make: ({ config }) => new LambdaInvoker(new LambdaClient({}), JSON.parse(config.OCTODB_FUNCTION_NAMES) as Partial<Record<AsyncFunction, string>>) },
  hostRunner: { make: async (p) => hostRunnerFor(p.config, (await p.get('logins')).admin), close: (runner) => runner.close?.() },
  adminSql: {
    make: async ({ config, get }) =>
      new MysqlHostSql(
        (await get('logins')).admin,
        config.OCTODB_CASCADE_CONCURRENCY,
        // On AWS a host is reached at its catalog endpoint; locally every host is this machine's MySQL.
        (h) => (onLambda(config) ? { host: h.endpoint, port: h.port } : { host: config.OCTODB_DB_HOST, port: config.OCTODB_DB_PORT }),
        config.OCTODB_MIGRATION_DDL_TIMEOUT_SECONDS,
      ),
    close: (adminSql) => adminSql.close(),
  },
  hostSql: { make: (p) => p.get('adminSql') },
  accounts: { make: (p) => p.get('adminSql') },
  claimOwners: {
    make: ({ config }) => (onLambda(config) ? new LeaseOnlyClaimOwners() : new LocalClaimOwners()),
    close: (owners) => (owners instanceof LocalClaimOwners ? owners.close() : undefined),
  },
  templates: { make: async ({ config, get }) => new ParentAwareTemplates(new FileTemplateSource(config.OCTODB_TEMPLATES_DIR), await get('meta'), await get('hostSql')) },
  // SQS where the function is given a queue; else the structured log (the local entry supplies its own queue).
  logs: { make: ({ config }) => (config.OCTODB_LOG_QUEUE_URL ? new SqsLogSink(new SQSClient({}), config.OCTODB_LOG_QUEUE_URL) : new LoggerLogSink()) },
  // On Lambda a buffer would freeze with the sandbox: there each query's record is sent before it answers.
  queryLogs: {
    make: async ({ config, get }) => (onLambda(config) ? get('logs') : new BufferedLogSink(await get('logs'))),
    flush: (sink) => (sink instanceof BufferedLogSink ? sink.flush() : undefined),
  },
  dynamo: { make: ({ config }) => dynamoClient(config), close: (dynamo) => dynamo.destroy() },
  logStore: {
    make: async ({ config, get }) =>
      new DynamoLogStore(DynamoDBDocumentClient.from(await get('dynamo'), { marshallOptions: { removeUndefinedValues: true } }), config.OCTODB_LOG_TABLE, {
        retentionDays: config.OCTODB_LOG_RETENTION_DAYS, // DynamoDB's TTL deletes items past it (lib/logging.ts)
      }),
  },
  erasures: { make: async (p) => new MysqlErasureStore(await p.get('pool')) },
  logEraser: { make: async ({ config, get }) => new DynamoLogEraser(DynamoDBDocumentClient.from(await get('dynamo')), config.OCTODB_LOG_TABLE) },
  tenantSql: {
    make: async ({ config: c, get }) =>
      new MysqlTenantSqlRunner(
        await get('mysqlTls'),
        {
          rowLimit: c.OCTODB_QUERY_ROW_LIMIT,
          maxResultBytes: c.OCTODB_QUERY_MAX_RESULT_BYTES,
          timeoutMs: c.OCTODB_QUERY_TIMEOUT_MS,
          maxJoinRows: c.OCTODB_QUERY_MAX_JOIN_ROWS,
          batchTimeoutMs: c.OCTODB_QUERY_BATCH_TIMEOUT_MS,
          poolSize: c.OCTODB_QUERY_POOL_SIZE,
          tenantConcurrency: c.OCTODB_QUERY_TENANT_CONCURRENCY,
          slowStatementMs: c.OCTODB_QUERY_SLOW_STATEMENT_MS,
          slowTenantConcurrency: c.OCTODB_QUERY_SLOW_TENANT_CONCURRENCY,
          tenantWriteConcurrency: c.OCTODB_QUERY_TENANT_WRITE_CONCURRENCY,
          slowHostConcurrency: c.OCTODB_QUERY_SLOW_HOST_CONCURRENCY,
          slowHostShare:
            c.OCTODB_QUERY_SLOW_HOST_MS_PER_SECOND > 0 ? { msPerSecond: c.OCTODB_QUERY_SLOW_HOST_MS_PER_SECOND, burstMs: c.OCTODB_QUERY_SLOW_HOST_BURST_MS } : undefined,
          acquireTimeoutMs: c.OCTODB_QUERY_ACQUIRE_TIMEOUT_MS,
        },
        await get('queryCharges'),
      ),
    close: (tenantSql) => tenantSql.close(),
  },
  tenantLogins: { make: async ({ config, get }) => new TenantLogins(await get('meta'), await get('sealer'), config.OCTODB_QUERY_LOGIN_CACHE_SECONDS * 1000) },
  schemas: { make: async (p) => new MysqlSchemaInspector(await p.get('tenantSql')) },
  migrations: { make: async (p) => new MysqlMigrationStore(await p.get('pool'), (await p.get('claimOwners')).self) },
  migrationLocks: { make: async (p) => new RedisMigrationLocks(await p.get('redis'), (await p.get('claimOwners')).self) },
  tableBackups: { make: async (p) => new MysqlTableBackupStore(await p.get('pool')) },
  // A restore still queued or running past two script limits lost its worker.
  pitr: { make: async (p) => new MysqlPitrStore(await p.get('pool'), 2 * p.config.OCTODB_HOST_SCRIPT_TIMEOUT_SECONDS + 120) },
  notifier: { make: (p) => notifierFor(p.config) },
  storageState: { make: async ({ config, get }) => new RedisStorageState(await get('redis'), metaDbOf(config)) },
  quotaSettings: { make: async (p) => new MysqlQuotaSettings(await p.get('pool')) },
  quotas: {
    make: async ({ config, get }) =>
      new StorageQuotaGuard(
        { state: await get('storageState'), settings: await get('quotaSettings'), meter: new MysqlStorageMeter(await get('tenantSql')) },
        {
          defaultQuotaBytes: config.OCTODB_STORAGE_QUOTA_BYTES,
          measureIntervalMs: config.OCTODB_STORAGE_MEASURE_INTERVAL_MS,
          stateCacheMs: config.OCTODB_STORAGE_STATE_CACHE_MS,
          // As with query logs: on Lambda work left after the answer would freeze with the sandbox.
          awaitMeasurement: onLambda(config),
          onError: (error) => logger.warn('storage measurement failed', { error: error as Error }),
        },
      ),
  },
  statementJudge: {
    make: ({ config: c }) =>
      new WorkerStatementJudge(STATEMENT_JUDGE_SCRIPT, {
        budgetMs: c.OCTODB_VALIDATOR_BUDGET_MS,
        yields: c.OCTODB_VALIDATOR_YIELDS,
        workers: c.OCTODB_VALIDATOR_WORKERS,
        perTenantQueue: c.OCTODB_VALIDATOR_QUEUE,
        maxWaitMs: c.OCTODB_VALIDATOR_MAX_WAIT_MS,
        tenantShare:
          c.OCTODB_VALIDATOR_TENANT_MS_PER_SECOND > 0 ? { msPerSecond: c.OCTODB_VALIDATOR_TENANT_MS_PER_SECOND, burstMs: c.OCTODB_VALIDATOR_TENANT_BURST_MS } : undefined,
      }),
    close: (judge) => judge.close(),
  },
  passwords: {
    make: ({ config: c }) =>
      c.OCTODB_PASSWORD_WORKERS === 0 ? new InlinePasswordHasher() : new WorkerPasswordHasher({ workers: c.OCTODB_PASSWORD_WORKERS, maxQueue: c.OCTODB_PASSWORD_QUEUE }),
    close: (passwords) => passwords.close?.(),
  },
  rateBuckets: {
    make: async ({ config, get }) =>
      new RedisBuckets(await get('redis'), { prefix: `octodb:rl:${metaDbOf(config)}:`, timeoutMs: config.OCTODB_RATE_REDIS_TIMEOUT_MS, fallback: new MemoryBuckets() }),
  },
  tenantRates: {
    make: async ({ config, get }) => new SlicedRateLimiter(await get('rateBuckets'), { sliceSeconds: config.OCTODB_RATE_SLICE_SECONDS, sliceMax: config.OCTODB_RATE_SLICE_MAX }),
  },
  clientRates: { make: async (p) => new DirectRateLimiter(await p.get('rateBuckets')) },
  queryCharges: {
    make: async ({ config: c, get }) =>
      new QueryCharges({ tenantRates: await get('tenantRates'), plans: await get('plans') }, {
        freeMs: c.OCTODB_RATE_QUERY_FREE_MS,
        msPerToken: c.OCTODB_RATE_QUERY_MS_PER_TOKEN,
        tooBigTokens: c.OCTODB_RATE_QUERY_TOO_BIG_TOKENS,
      }),
  },
  plans: { make: async ({ config, get }) => new TenantPlans(await get('meta'), tenantRateDefaults(config), config.OCTODB_RATE_PLAN_CACHE_SECONDS * 1000) },
};

/** Each route's rate per tenant unless its plan says otherwise. */
export const tenantRateDefaults = (c: Config) => ({ query: c.OCTODB_RATE_QUERY, migrate: c.OCTODB_RATE_MIGRATE, dashboard: c.OCTODB_RATE_DASHBOARD });

/** DynamoDB on AWS; dynalite (any endpoint, dummy credentials) locally. */
function dynamoClient(config: Config): DynamoDBClient {
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
  const dbHost = { host: config.OCTODB_DB_HOST, port: config.OCTODB_DB_PORT, caFile: config.OCTODB_MYSQL_CA_FILE };
  if (config.OCTODB_HOST_RUNNER === 'ssm') return new SsmHostRunner(new SSMClient({}));
  if (!login) return { run: () => Promise.reject(new Error('configuration: this function has no MySQL admin login for host scripts')) };
  switch (config.OCTODB_HOST_RUNNER) {
    case 'docker':
      // compose's dbhost container has skeema and the mysql client; it reaches MySQL as `mysql`,
      // verified with the CA mounted where the EC2 host keeps its own (docker-compose.yml).
      return new BashHostRunner(login, { host: 'mysql', port: 3306, caFile: HOST_CA_FILE }, ['docker', 'compose', 'exec', '-T', 'dbhost', 'bash', '-s'], dockerClientEnv(process.env));
    case 'bash':
      return new BashHostRunner(login, dbHost);
  }
}

/** The admin login: OCTODB_MYSQL_URL, or on AWS its secret. */
export async function resolveMysqlLogin(config: Config): Promise<MysqlLogin> {
  return loginFrom(config.OCTODB_MYSQL_URL, config.OCTODB_MYSQL_SECRET_ARN, metaDbOf(config));
}

/** The API account's login (OCTODB_MYSQL_API_URL or its secret), on the MetaDB OCTODB_MYSQL_URL names. */
export async function resolveApiLogin(config: Config): Promise<MysqlLogin> {
  return loginFrom(config.OCTODB_MYSQL_API_URL, config.OCTODB_MYSQL_API_SECRET_ARN, metaDbOf(config));
}

/**
 * Locally both logins come from their URLs (localMysqlLogins). On Lambda a login comes only from
 * its secret, never from a URL's default credentials: an API function is deployed with the API
 * secret only and reaches MetaDB as the API account, with no admin login; an admin function (LF6,
 * M1, admin) holds only the admin secret and uses it for MetaDB too. The MetaDB deployment alone
 * holds both: it creates the API account.
 */
export async function resolveMysqlLogins(config: Config, ssl: MysqlTls): Promise<MysqlLogins> {
  if (!onLambda(config)) return localMysqlLogins(config, ssl);
  const admin = config.OCTODB_MYSQL_SECRET_ARN ? { ...(await resolveMysqlLogin(config)), ssl } : undefined;
  const api = config.OCTODB_MYSQL_API_SECRET_ARN ? { ...(await resolveApiLogin(config)), ssl } : undefined;
  const meta = api ?? admin;
  if (!meta) throw new Error('configuration: no MySQL login (OCTODB_MYSQL_SECRET_ARN or OCTODB_MYSQL_API_SECRET_ARN)');
  return { meta, admin };
}

/** Both logins, from their URLs (or a secret named in the settings): every local process, `npm start` whatever runtime it stands in for. */
export async function localMysqlLogins(config: Config, ssl: MysqlTls): Promise<MysqlLogins> {
  const tls = (login: MysqlLogin): TlsLogin => ({ ...login, ssl });
  return { meta: tls(await resolveApiLogin(config)), admin: tls(await resolveMysqlLogin(config)) };
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

/**
 * Redis's AUTH password: on AWS the ElastiCache token from its secret (never in an environment
 * variable), locally the password OCTODB_REDIS_URL carries (ioredis reads it from the URL).
 */
export async function redisAuth(config: Config): Promise<{ password?: string }> {
  if (!config.OCTODB_REDIS_AUTH_SECRET_ARN) return {};
  // ioredis would prefer the URL's password to this one: two passwords are a mistake, said at once.
  if (URL.canParse(config.OCTODB_REDIS_URL) && new URL(config.OCTODB_REDIS_URL).password) throw new Error('configuration: OCTODB_REDIS_URL carries a password and OCTODB_REDIS_AUTH_SECRET_ARN names another: keep one');
  return { password: await readSecret(config.OCTODB_REDIS_AUTH_SECRET_ARN) };
}

async function optionalSecret(arn: string | undefined): Promise<string | undefined> {
  return arn ? readSecret(arn) : undefined;
}

/** The notifier, reporting every email it cannot hand over (ReportingNotifier). */
export async function notifierFor(config: Config): Promise<ReportingNotifier> {
  const key = config.OCTODB_MAILGUN_API_KEY ?? (await optionalSecret(config.OCTODB_MAILGUN_API_KEY_SECRET_ARN));
  // A Lambda's file system is read-only: without Mailgun its emails go to the structured log.
  if (!key && onLambda(config)) return new ReportingNotifier(new LoggerNotifier(config.OCTODB_MAIL_FROM), 'log');
  if (!key) return new ReportingNotifier(new OutboxNotifier(config.OCTODB_OUTBOX_FILE, config.OCTODB_MAIL_FROM), 'outbox');
  if (!config.OCTODB_MAILGUN_DOMAIN) throw new Error('configuration: OCTODB_MAILGUN_DOMAIN is required with a Mailgun key');
  return new ReportingNotifier(new MailgunNotifier({ key, url: config.OCTODB_MAILGUN_URL }, config.OCTODB_MAILGUN_DOMAIN, config.OCTODB_MAIL_FROM), 'mailgun');
}
