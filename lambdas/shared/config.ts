import { z } from 'zod';
import { HOST_SCRIPT_TIMEOUT_SECONDS } from '#core/host-script-timeout';
import { ORIGIN } from '#core/patterns';
import { parseRateLimit, type RateLimit } from '#core/token-bucket';
import { BATCH_MAX_STATEMENTS } from './requests.ts';

/** A rate limit setting: `N/s` or `N/Ts` (N per T seconds), optionally ` burst B`. */
const rateLimit = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((spec, ctx): RateLimit => {
      const limit = parseRateLimit(spec);
      if (!limit) ctx.addIssue({ code: 'custom', message: 'a rate limit looks like `100/s burst 200` or `30/3600s burst 10`' });
      return limit ?? { perSecond: 1, burst: 1 };
    });
/** An on/off setting: exactly `true` or `false`. */
const flag = (fallback: 'true' | 'false') =>
  z
    .enum(['true', 'false'])
    .default(fallback)
    .transform((v) => v === 'true');
const commaList = (s: string): string[] => s.split(',').map((item) => item.trim()).filter((item) => item !== '');

/**
 * Every setting OctoDB reads, declared once: env name, default, meaning. Read at start-up
 * (a Lambda cold start or the local gateway) and handed to adapters through constructors.
 */
const settings = z.object({
  /** Where this process runs: `lambda` (set by the CDK stack on every function) or `local` (npm start, tests, admin). */
  OCTODB_RUNTIME: z.enum(['lambda', 'local']).default('local'),
  /** The admin account (ALL PRIVILEGES: provisioning, migrations, host scripts); its path is the MetaDB schema. */
  OCTODB_MYSQL_URL: z.string().default('mysql://octodb:octodb@127.0.0.1:3306/octodb_meta'),
  /** On AWS: a Secrets Manager secret {username,password,host,port} used instead of the URL's login. */
  OCTODB_MYSQL_SECRET_ARN: z.string().optional(),
  /** The API account: SELECT/INSERT/UPDATE/DELETE on the MetaDB only; every MetaDB read and write goes through it (local start creates it). */
  OCTODB_MYSQL_API_URL: z.string().default('mysql://octodb_api:octodb_api@127.0.0.1:3306'),
  /** On AWS: the API account's secret {username,password,host,port}; a function deployed with it has no admin login. */
  OCTODB_MYSQL_API_SECRET_ARN: z.string().optional(),
  /**
   * The CA certificate (PEM file) that signed the MySQL server's certificate. Every MySQL connection
   * (MetaDB, tenant queries, host scripts' mysql and Skeema) uses TLS and verifies the server's
   * certificate and name against it; bin/setup.sh makes this one for the local server.
   */
  OCTODB_MYSQL_CA_FILE: z.string().default('/etc/mysql/octodb-tls/ca.pem'),
  /** On AWS: the SSM parameter the MySQL host publishes its CA certificate in at boot (read at cold start instead of the file). */
  OCTODB_MYSQL_CA_PARAMETER: z.string().optional(),
  /** Redis: `redis://[:password@]host:port`; `rediss://` for TLS, the server's certificate verified against Node's CAs. */
  OCTODB_REDIS_URL: z.string().default('redis://127.0.0.1:6379'),
  /** On AWS: a Secrets Manager secret whose whole string is Redis's AUTH token (ElastiCache), read at cold start; the URL then names no password. */
  OCTODB_REDIS_AUTH_SECRET_ARN: z.string().optional(),
  /** Redis unreachable: a connection attempt or command slower than this fails (503 REDIS_UNAVAILABLE) instead of waiting. */
  OCTODB_REDIS_TIMEOUT_MS: z.coerce.number().int().min(50).max(30_000).default(1000),
  /** MetaDB unreachable: a connection attempt slower than this fails (503 METADB_UNAVAILABLE). */
  OCTODB_METADB_CONNECT_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(2000),
  /** HS256 signing key for tenant JWTs (on AWS read from OCTODB_JWT_SECRET_ARN). */
  OCTODB_JWT_SECRET: z.string().min(32).optional(),
  OCTODB_JWT_SECRET_ARN: z.string().optional(),
  /** Key material sealing stored secrets (tenant MySQL passwords, issued tokens). */
  OCTODB_DATA_KEY: z.string().min(32).optional(),
  OCTODB_DATA_KEY_SECRET_ARN: z.string().optional(),
  OCTODB_TOKEN_TTL_SECONDS: z.coerce.number().int().min(60).max(30 * 86400).default(3600),
  /** `pubsub`: each tenant's current jti kept in memory, dropped on a Redis pub/sub announcement
   *  (long-running processes: `npm start`); `off`: a Redis lookup per token (Lambda). */
  OCTODB_TOKEN_CACHE: z.enum(['off', 'pubsub']).default('off'),
  /** Key of the HMAC-SHA-256 that API keys are stored under (on AWS read from OCTODB_API_KEY_SECRET_ARN); a new one invalidates every key. */
  OCTODB_API_KEY_SECRET: z.string().min(32).optional(),
  OCTODB_API_KEY_SECRET_ARN: z.string().optional(),
  /** Live (neither revoked nor expired) API keys a tenant may hold at once. */
  OCTODB_API_KEY_LIMIT: z.coerce.number().int().min(1).max(1000).default(20),
  OCTODB_BCRYPT_ROUNDS: z.coerce.number().int().min(4).max(15).default(10),
  /** Directory of template Skeema directories (schemas/templates in the repo, bundled on AWS). */
  OCTODB_TEMPLATES_DIR: z.string().default('schemas/templates'),
  /** How host scripts run: `bash` on this machine, `docker` in compose's dbhost, `ssm` on AWS. */
  OCTODB_HOST_RUNNER: z.enum(['bash', 'docker', 'ssm']).default('bash'),
  /** Where host scripts reach MySQL (bash/docker runners; the EC2 host uses its own 127.0.0.1). */
  OCTODB_DB_HOST: z.string().default('127.0.0.1'),
  OCTODB_DB_PORT: z.coerce.number().int().positive().default(3306),
  OCTODB_HOST_SCRIPT_TIMEOUT_SECONDS: z.coerce.number().int().positive().default(HOST_SCRIPT_TIMEOUT_SECONDS),
  /** On AWS: function names of the asynchronously invoked functions, as JSON {role: name}. */
  OCTODB_FUNCTION_NAMES: z.string().default('{}'),
  /** Local gateway port. */
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  /** The local gateway answers a 429 up to this long later (never past its Retry-After), so a client ignoring Retry-After cannot make it answer thousands a second (0: at once). On AWS, WAF's per-IP rule does that job. */
  OCTODB_LOCAL_REFUSAL_DELAY_MS: z.coerce.number().int().min(0).max(10_000).default(1000),
  /** Largest request body: the local gateway and every HTTP handler answer 413 above it (API Gateway's own cap is 10 MB). */
  OCTODB_MAX_BODY_BYTES: z.coerce.number().int().positive().default(1024 * 1024),
  /** The built web portal the local gateway serves at / (`npm run portal:build`); none there, no portal. */
  OCTODB_PORTAL_DIR: z.string().default('lib/portal/dist'),
  /** Browser origins allowed by CORS, comma-separated (`https://app.example.com`); empty: no CORS headers. */
  OCTODB_CORS_ORIGINS: z.string().default('').transform(commaList).pipe(z.array(z.string().regex(ORIGIN, 'each CORS origin must look like https://app.example.com (no path)'))),

  // --- /query ---
  /** Rows returned by one SELECT at most; the response says when it was truncated. */
  OCTODB_QUERY_ROW_LIMIT: z.coerce.number().int().positive().default(1000),
  /** Bytes of a SELECT's rows (as JSON) at most, the response under Lambda's 6 MB; past it the rows are truncated too. */
  OCTODB_QUERY_MAX_RESULT_BYTES: z.coerce.number().int().min(1024).default(4 * 1024 * 1024),
  /** Statement time limit enforced by the server (MAX_EXECUTION_TIME / max_statement_time). */
  OCTODB_QUERY_TIMEOUT_MS: z.coerce.number().int().positive().default(5000),
  /** A SELECT the server estimates would examine more rows (or row combinations of a join) is refused before it runs (max_join_size): 400 QUERY_TOO_BIG. */
  OCTODB_QUERY_MAX_JOIN_ROWS: z.coerce.number().int().min(1000).default(1_000_000_000),
  /** Connections per MySQL host for tenant statements, per process, shared by all its tenants (they switch user); a quarter of them is kept for tenants holding none. */
  OCTODB_QUERY_POOL_SIZE: z.coerce.number().int().min(1).max(100).default(16),
  /** Longest a statement waits for one of those connections (503 BUSY after it). */
  OCTODB_QUERY_ACQUIRE_TIMEOUT_MS: z.coerce.number().int().positive().default(2000),
  /** How long a ready database's login stays cached in memory (0: look it up on every query). */
  OCTODB_QUERY_LOGIN_CACHE_SECONDS: z.coerce.number().int().min(0).max(3600).default(30),
  /** Statements one /query batch (`statements`) holds at most; each is validated and limited as a single statement. */
  OCTODB_QUERY_BATCH_MAX_STATEMENTS: z.coerce.number().int().min(1).max(BATCH_MAX_STATEMENTS).default(20),
  /** A batch's statements together run at most this long on their connection (each also has OCTODB_QUERY_TIMEOUT_MS); 408 BATCH_TIMEOUT past it. */
  OCTODB_QUERY_BATCH_TIMEOUT_MS: z.coerce.number().int().positive().max(9000).default(8000),

  // --- migrations ---
  OCTODB_MIGRATION_MAX_RETRIES: z.coerce.number().int().min(0).max(10).default(2),
  OCTODB_MIGRATION_BACKOFF_MS: z.coerce.number().int().min(0).default(1000),
  /**
   * A migration job's or cascade's claim not renewed for this long is a dead worker's and is taken
   * over (also the per-database lock TTL); the worker's heartbeat renews both every third of it.
   */
  OCTODB_MIGRATION_LEASE_SECONDS: z.coerce.number().int().min(1).max(900).default(30),
  /** How long an M1 run waits for a database busy with another migration (at most a lease) before leaving the job to its retries and the sweep. */
  OCTODB_MIGRATION_LOCK_WAIT_SECONDS: z.coerce.number().int().min(1).default(30),
  /** Local runs only: how often the sweep of abandoned migrations runs (also once at start); on AWS a schedule runs it every minute. 0: only at start. */
  OCTODB_MIGRATION_SWEEP_SECONDS: z.coerce.number().int().min(0).default(30),
  /** How long a table removed by /migrate (drop_tables) is kept, with its rows, restorable with /dashboard restore_table; then the sweep drops it. */
  OCTODB_TABLE_BACKUP_HOURS: z.coerce.number().int().min(1).max(8760).default(72),
  /**
   * Root of the backup store (per-tenant point-in-time restore, and the whole-host backups in the same
   * layout): a directory (relative to the working directory locally; host scripts get it absolute),
   * or `s3://<bucket>[/prefix]` on AWS, the backup bucket the host may write.
   */
  OCTODB_BACKUP_DIR: z.string().default('.octodb/backups'),
  /** A ready database's base backup (for point-in-time restore) is taken again by the provisioning sweep once its newest is this old; also taken at provisioning. */
  OCTODB_BASE_BACKUP_HOURS: z.coerce.number().min(0.01).max(8760).default(24),
  /** Base backups older than this are deleted (each database's newest kept): how far back a database can be restored. Keep the server's binlog retention at least as long. */
  OCTODB_BASE_BACKUP_DAYS: z.coerce.number().min(0.01).max(365).default(7),
  /** A cascade child hit by transient errors (a server restarting, a connection lost) goes back to the queue with backoff until this long after its first try, then fails. */
  OCTODB_MIGRATION_TRANSIENT_RETRY_SECONDS: z.coerce.number().int().min(0).max(3600).default(300),
  /** Children altered at once per host by a cascade (its admin connections to that host). */
  OCTODB_CASCADE_CONCURRENCY: z.coerce.number().int().min(1).max(32).default(4),
  /** Cascade jobs claimed and recorded together. */
  OCTODB_CASCADE_CHUNK: z.coerce.number().int().min(1).max(1000).default(100),

  // --- logs and dashboard ---
  /** On AWS: the SQS queue producers send log records to (unset: the in-process queue). */
  OCTODB_LOG_QUEUE_URL: z.string().optional(),
  OCTODB_LOG_TABLE: z.string().default('octodb_log_table'),
  /** Days a log table item (log, query record, hour statistics) lives before DynamoDB's TTL deletes it (within days after); 0 = kept for ever. Under 30, /dashboard's 30-day statistics see less. */
  OCTODB_LOG_RETENTION_DAYS: z.coerce.number().int().min(0).max(3650).default(90),
  /** Local DynamoDB (dynalite) endpoint; unset on AWS. */
  OCTODB_DYNAMODB_ENDPOINT: z.string().optional(),
  /** Where the embedded dynalite keeps its data between local restarts. */
  OCTODB_DYNALITE_DIR: z.string().default('.octodb/dynalite'),
  /** Local log queue: dead letters and the backlog left at shutdown (JSON lines), sent again at start. */
  OCTODB_LOG_DEAD_LETTER_FILE: z.string().default('.octodb/log-dead-letters.jsonl'),

  // --- notifications (Mailgun) ---
  OCTODB_MAILGUN_API_KEY: z.string().optional(),
  OCTODB_MAILGUN_API_KEY_SECRET_ARN: z.string().optional(),
  OCTODB_MAILGUN_DOMAIN: z.string().optional(),
  OCTODB_MAILGUN_URL: z.string().default('https://api.mailgun.net'),
  OCTODB_MAIL_FROM: z.string().default('OctoDB <octodb@localhost>'),
  /** Who hears about jobs that failed for good. */
  OCTODB_ADMIN_EMAIL: z.string().optional(),
  /** Without a Mailgun key, emails are appended here locally (one JSON object a line); on Lambda they go to the structured log. */
  OCTODB_OUTBOX_FILE: z.string().default('.octodb/outbox.jsonl'),

  // --- migration bounds ---
  /**
   * How long one push of tenant DDL (a /migrate table, its rollback, each ALTER of a cascade) may run.
   * Past it the statement is stopped on the server (MariaDB max_statement_time; a KILL everywhere),
   * InnoDB rolls it back and the job fails with the reason. Kept DDL_MARGIN_SECONDS (30 s,
   * lambdas/core/host-script-timeout.ts) inside the host script limit.
   */
  OCTODB_MIGRATION_DDL_TIMEOUT_SECONDS: z.coerce.number().int().positive().default(300),

  // --- storage quotas ---
  /** Storage per tenant (data + indexes of all its databases, measured on the server); over it, INSERT, UPDATE and /migrate get 403 QUOTA_EXCEEDED. Per tenant: `npm run admin -- set-quota`. */
  OCTODB_STORAGE_QUOTA_BYTES: z.coerce.number().int().positive().default(1024 * 1024 * 1024),
  /** A database is measured again (ANALYZE + information_schema) at most this often, after its writes: also the window a tenant can write past its quota. */
  OCTODB_STORAGE_MEASURE_INTERVAL_MS: z.coerce.number().int().min(100).max(600_000).default(1000),
  /** How long a process trusts the shared (Redis) over-quota state before reading it again. */
  OCTODB_STORAGE_STATE_CACHE_MS: z.coerce.number().int().min(0).max(60_000).default(1000),

  // --- parse budget (bounded validation of /query and /migrate) ---
  /** Wall time the validator may spend on one statement, on a worker thread; past it: 403 (too costly to validate). */
  OCTODB_VALIDATOR_BUDGET_MS: z.coerce.number().int().min(5).max(10_000).default(50),
  /**
   * The validator's worker yields the CPU to the thread serving requests (the background nice); a
   * check it cannot give half its budget of CPU within the budget is answered 503 VALIDATOR_BUSY.
   */
  OCTODB_VALIDATOR_YIELDS: flag('true'),
  /** Validator worker threads per process: one keeps hostile parses to one core (a Lambda instance serves one request at a time anyway); tenants take turns on it. */
  OCTODB_VALIDATOR_WORKERS: z.coerce.number().int().min(1).max(16).default(1),
  /** Statements one tenant may have waiting for a validator worker (beyond its running one); past it: 503 VALIDATOR_BUSY. */
  OCTODB_VALIDATOR_QUEUE: z.coerce.number().int().min(1).max(1000).default(64),
  /** Longest a statement waits for a validator worker (its tenant past its share, or others' turns); then 503 VALIDATOR_BUSY, so the request settles. */
  OCTODB_VALIDATOR_MAX_WAIT_MS: z.coerce.number().int().min(100).max(60_000).default(5000),
  /** Validator worker time one tenant may use per second on average (0: no cap); past it (and its burst) its statements wait, leaving the core to others. */
  OCTODB_VALIDATOR_TENANT_MS_PER_SECOND: z.coerce.number().int().min(0).max(1000).default(100),
  /** Validator worker time one tenant may use at once before its average applies. */
  OCTODB_VALIDATOR_TENANT_BURST_MS: z.coerce.number().int().min(1).max(60_000).default(1000),

  // --- provisioning (LF6) ---
  /** A provisioning claim not renewed for this long is a dead worker's and is taken over (its heartbeat renews it every third of it). */
  OCTODB_PROVISION_LEASE_SECONDS: z.coerce.number().int().min(3).max(900).default(30),
  /** How long one provisioning retries what failed for a while (MetaDB or the host's MySQL unreachable), with backoff up to 5 s; then the sweep takes it on. */
  OCTODB_PROVISION_RETRY_SECONDS: z.coerce.number().int().min(0).max(180).default(120),
  /** Local runs only: how often the provisioning sweep runs (also once at start); on AWS a schedule runs it every minute. 0: only at start. */
  OCTODB_PROVISION_SWEEP_SECONDS: z.coerce.number().int().min(0).default(15),

  // --- signup guard ---
  /** Worker threads that run bcrypt for /signup, /token and the signup retry (0: on the request's own thread, as on Lambda). */
  OCTODB_PASSWORD_WORKERS: z.coerce.number().int().min(0).max(16).default(1),
  /** Password checks waiting for a worker at most; past it /signup and /token answer 503 BUSY with a retry hint. */
  OCTODB_PASSWORD_QUEUE: z.coerce.number().int().min(1).max(10_000).default(32),
  /** Tenant databases one host holds at most (`provisioning` and `ready`; failed and unverified ones do not count); past it /signup answers 503 NO_CAPACITY. */
  OCTODB_HOST_MAX_DATABASES: z.coerce.number().int().min(1).default(5000),
  /** `true`: /signup emails a code and provisions nothing until POST /verify {email, code}. */
  OCTODB_SIGNUP_VERIFY_EMAIL: flag('false'),
  /** How long a signup's emailed code works. */
  OCTODB_SIGNUP_CODE_TTL_SECONDS: z.coerce.number().int().min(60).max(86_400).default(900),
  /** Wrong codes tried at most per code; then only a new signup (same email and password) sends a new one. */
  OCTODB_SIGNUP_CODE_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(20).default(5),

  // --- /query fair share (issue 10) ---
  /** Pooled connections one tenant (all its databases together) holds at once on a host; more statements wait their turn. */
  OCTODB_QUERY_TENANT_CONCURRENCY: z.coerce.number().int().min(1).max(100).default(4),
  /** A /query statement holding its connection longer than this is slow (0: never); its tenant then gets the cap below for 10 s. */
  OCTODB_QUERY_SLOW_STATEMENT_MS: z.coerce.number().int().min(0).default(250),
  /** Connections a tenant whose statements are slow holds at once: slow statements cost CPU the host's other tenants need. */
  OCTODB_QUERY_SLOW_TENANT_CONCURRENCY: z.coerce.number().int().min(1).max(100).default(1),
  /** Connections all slow tenants of a host hold together, per process: each slow tenant's one connection is a core's worth of MySQL work, so two attacker tenants would otherwise take both cores of a small host. */
  OCTODB_QUERY_SLOW_HOST_CONCURRENCY: z.coerce.number().int().min(1).max(100).default(1),
  /** Connection time all slow tenants of a host use together, ms per second on average, per process (0: no bound): a slow connection never idle is a whole core of the host. */
  OCTODB_QUERY_SLOW_HOST_MS_PER_SECOND: z.coerce.number().int().min(0).max(100_000).default(500),
  /** …and at once, before that average applies: one statement at the time limit starts without waiting. */
  OCTODB_QUERY_SLOW_HOST_BURST_MS: z.coerce.number().int().min(0).max(600_000).default(5000),
  /** /query writes (and batches that write) one tenant runs at once: a write's disk I/O (rows, redo, binlog) is shared by the host's tenants, unbounded until its time limit. */
  OCTODB_QUERY_TENANT_WRITE_CONCURRENCY: z.coerce.number().int().min(1).max(100).default(1),

  // --- rate limits (docs/limits.md) ---
  /** /query per tenant, shared by every process; a tenant's plan (`npm run admin -- set-limits`) overrides it. */
  OCTODB_RATE_QUERY: rateLimit('100/s burst 200'),
  /** /migrate per tenant: each call may start a Skeema run per table on the host. */
  OCTODB_RATE_MIGRATE: rateLimit('30/60s burst 10'),
  /** /dashboard per tenant: schema listings and log pages read MySQL and DynamoDB. */
  OCTODB_RATE_DASHBOARD: rateLimit('20/s burst 40'),
  /** /signup per client IP: each signup creates a database, a MySQL user and a Skeema push. */
  OCTODB_RATE_SIGNUP_PER_IP: rateLimit('30/3600s burst 10'),
  /** /signup per email (a signup is once per email, but a failed provisioning may be retried). */
  OCTODB_RATE_SIGNUP_PER_EMAIL: rateLimit('5/3600s burst 3'),
  /** /token per client IP: each call runs bcrypt. */
  OCTODB_RATE_TOKEN_PER_IP: rateLimit('60/60s burst 30'),
  /** /token per email, failed or not. */
  OCTODB_RATE_TOKEN_PER_EMAIL: rateLimit('30/60s burst 10'),
  /** Failed /token logins per email before that email is locked out (429 before any bcrypt) until the budget refills. */
  OCTODB_LOGIN_FAILURES: rateLimit('10/900s burst 10'),
  /** /query's bucket also pays for connection time: one more token per this many ms a connection is held for the tenant past OCTODB_RATE_QUERY_FREE_MS (0: off). At the default rate (100/s) a tenant of slow statements sustains about one connection-second per second. */
  OCTODB_RATE_QUERY_MS_PER_TOKEN: z.coerce.number().min(0).max(60_000).default(10),
  /** A connection held up to this long costs nothing beyond the request's token: ordinary statements stay free, also on a host slowed by others. */
  OCTODB_RATE_QUERY_FREE_MS: z.coerce.number().int().min(0).max(600_000).default(100),
  /** Tokens of /query's bucket a statement refused at planning as too big (QUERY_TOO_BIG) costs: repeating it is soon refused with 429. */
  OCTODB_RATE_QUERY_TOO_BIG_TOKENS: z.coerce.number().int().min(0).max(100_000).default(20),
  /** Per-tenant buckets: a process draws this many seconds' worth of the rate from Redis at once (≥ 1 token)… */
  OCTODB_RATE_SLICE_SECONDS: z.coerce.number().min(0).max(86_400).default(0.1),
  /** …but never more than this many tokens (nor the burst): what a process may hold unused. */
  OCTODB_RATE_SLICE_MAX: z.coerce.number().int().min(1).max(10_000).default(100),
  /** How long a tenant's plan (its own limits) stays cached in a process. */
  OCTODB_RATE_PLAN_CACHE_SECONDS: z.coerce.number().int().min(0).max(3600).default(30),
  /** A Redis bucket call slower than this counts as Redis down: limits are kept per process for a while. */
  OCTODB_RATE_REDIS_TIMEOUT_MS: z.coerce.number().int().min(1).max(10_000).default(250),
});

export type Config = z.infer<typeof settings>;
/** A setting's environment variable name: what the CDK stack may set on a function (a typo does not compile). */
export type ConfigKey = keyof typeof settings.shape;
/** Environment variables that set settings, by name, as strings (a Lambda function's environment). */
export type ConfigEnvironment = Partial<Record<ConfigKey, string>>;
/** Every setting's name, for checks that a deployed environment names only settings. */
export const CONFIG_KEYS = Object.keys(settings.shape) as ConfigKey[];

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = settings.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`invalid configuration: ${problems}`);
  }
  return parsed.data;
}

export interface MysqlLogin {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
}

export function parseMysqlUrl(url: string): MysqlLogin {
  const u = new URL(url);
  if (u.protocol !== 'mysql:') throw new Error('OCTODB_MYSQL_URL must start with mysql://');
  return {
    host: u.hostname,
    port: Number(u.port || 3306),
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
    database: u.pathname.replace(/^\//, '') || 'octodb_meta',
  };
}
