import { LambdaClient } from '@aws-sdk/client-lambda';
import { SSMClient } from '@aws-sdk/client-ssm';
import { Redis } from 'ioredis';
import { createPool, type Pool } from 'mysql2/promise';
import type { AsyncFunction, HostRunner, Invoker, LogSink, TemplateSource, TokenRegistry } from '#core/ports';
import { Sealer } from '#core/sealed';
import { type Config, loadConfig, type MysqlLogin, parseMysqlUrl } from '#shared/config';
import { BashHostRunner } from './bash-host-runner.ts';
import { FileTemplateSource } from './file-template-source.ts';
import { LambdaInvoker } from './lambda-invoker.ts';
import { LoggerLogSink } from './logger-log-sink.ts';
import { MysqlMetaStore } from './mysql-meta-store.ts';
import { MysqlTenantSqlRunner } from './mysql-tenant-sql-runner.ts';
import { TenantLogins } from '#core/query';
import { RedisTokenRegistry } from './redis-token-registry.ts';
import { readSecret } from './secrets.ts';
import { SsmHostRunner } from './ssm-host-runner.ts';

/** Everything handlers need, built once per cold start (or once by the local gateway). */
export interface Deps {
  config: Config;
  mysqlLogin: MysqlLogin;
  pool: Pool;
  redis: Redis;
  meta: MysqlMetaStore;
  registry: TokenRegistry;
  invoker: Invoker;
  hostRunner: HostRunner;
  templates: TemplateSource;
  sealer: Sealer;
  logs: LogSink;
  jwtSecret: string;
  /** /query: tenant statements over one pool per MySQL host, and the cached tenant logins. */
  tenantSql: MysqlTenantSqlRunner;
  tenantLogins: TenantLogins;
  close(): Promise<void>;
}

/** What the local entry point supplies itself (the in-process invoker knows the handlers). */
export type DepsOverrides = Partial<Pick<Deps, 'invoker' | 'logs' | 'hostRunner'>>;

export async function buildDeps(config: Config, overrides: DepsOverrides = {}): Promise<Deps> {
  const mysqlLogin = await resolveMysqlLogin(config);
  const jwtSecret = config.OCTODB_JWT_SECRET ?? (await secretOrFail(config.OCTODB_JWT_SECRET_ARN, 'OCTODB_JWT_SECRET or OCTODB_JWT_SECRET_ARN'));
  const dataKey = config.OCTODB_DATA_KEY ?? (await secretOrFail(config.OCTODB_DATA_KEY_SECRET_ARN, 'OCTODB_DATA_KEY or OCTODB_DATA_KEY_SECRET_ARN'));
  const pool = createPool({
    ...mysqlLogin,
    connectionLimit: 5,
    waitForConnections: true,
    enableKeepAlive: true,
    timezone: 'Z',
    dateStrings: false,
  });
  const redis = new Redis(config.OCTODB_REDIS_URL, { maxRetriesPerRequest: 2, enableAutoPipelining: true });
  const meta = new MysqlMetaStore(pool);
  const tenantSql = new MysqlTenantSqlRunner(mysqlLogin, {
    rowLimit: config.OCTODB_QUERY_ROW_LIMIT,
    timeoutMs: config.OCTODB_QUERY_TIMEOUT_MS,
    poolSize: config.OCTODB_QUERY_POOL_SIZE,
  });
  return {
    config,
    mysqlLogin,
    pool,
    redis,
    meta,
    registry: new RedisTokenRegistry(redis),
    invoker: overrides.invoker ?? lambdaInvoker(config),
    hostRunner: overrides.hostRunner ?? hostRunnerFor(config, mysqlLogin),
    templates: new FileTemplateSource(config.OCTODB_TEMPLATES_DIR),
    sealer: new Sealer(dataKey),
    logs: overrides.logs ?? new LoggerLogSink(),
    jwtSecret,
    tenantSql,
    tenantLogins: new TenantLogins(meta, new Sealer(dataKey), config.OCTODB_QUERY_LOGIN_CACHE_SECONDS * 1000),
    async close() {
      await Promise.allSettled([pool.end(), redis.quit(), tenantSql.close()]);
    },
  };
}

function lambdaInvoker(config: Config): Invoker {
  const names = JSON.parse(config.OCTODB_FUNCTION_NAMES) as Partial<Record<AsyncFunction, string>>;
  return new LambdaInvoker(new LambdaClient({}), names);
}

export function hostRunnerFor(config: Config, login: MysqlLogin): HostRunner {
  const dbHost = { host: config.OCTODB_DB_HOST, port: config.OCTODB_DB_PORT };
  switch (config.OCTODB_HOST_RUNNER) {
    case 'ssm':
      return new SsmHostRunner(new SSMClient({}));
    case 'docker':
      // compose's dbhost container has skeema and the mysql client; it reaches MySQL as `mysql`.
      return new BashHostRunner(login, { host: 'mysql', port: 3306 }, ['docker', 'compose', 'exec', '-T', 'dbhost', 'bash', '-s']);
    case 'bash':
      return new BashHostRunner(login, dbHost);
  }
}

async function resolveMysqlLogin(config: Config): Promise<MysqlLogin> {
  const fromUrl = parseMysqlUrl(config.OCTODB_MYSQL_URL);
  if (!config.OCTODB_MYSQL_SECRET_ARN) return fromUrl;
  const secret = JSON.parse(await readSecret(config.OCTODB_MYSQL_SECRET_ARN)) as Record<string, unknown>;
  return {
    host: String(secret.host ?? fromUrl.host),
    port: Number(secret.port ?? fromUrl.port),
    user: String(secret.username),
    password: String(secret.password),
    database: fromUrl.database,
  };
}

async function secretOrFail(arn: string | undefined, names: string): Promise<string> {
  if (!arn) throw new Error(`configuration: set ${names}`);
  return readSecret(arn);
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

export function tokenDeps(d: Deps) {
  return { ...d, ttlSeconds: d.config.OCTODB_TOKEN_TTL_SECONDS };
}
