import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Redis } from 'ioredis';
import type { Pool } from 'mysql2/promise';
import type { KeyUseRecorder } from '#core/api-keys';
import type {
  ApiKeyStore,
  DatabaseAccounts,
  HostRunner,
  HostSql,
  Invoker,
  LogSink,
  LogStore,
  MigrationLocks,
  PasswordHasher,
  QuotaSettings,
  RateLimiter,
  SchemaInspector,
  StorageStateStore,
  TemplateSource,
  TokenRegistry,
} from '#core/ports';
import type { ClaimOwners } from '#core/provisioning-ports';
import type { TenantLogins } from '#core/query';
import type { QueryCharges, TenantPlans } from '#core/rate-limits';
import type { Sealer } from '#core/sealed';
import type { StorageQuotaGuard } from '#core/storage-quotas';
import { type Config, loadConfig } from '#shared/config';
import type { MysqlHostSql } from './mysql-host-sql.ts';
import type { MysqlMetaStore } from './mysql-meta-store.ts';
import type { ErasureStore, LogEraser } from '#core/offboarding-ports';
import type { MysqlMigrationStore } from './mysql-migration-store.ts';
import type { MysqlTenantSqlRunner } from './mysql-tenant-sql-runner.ts';
import type { MysqlTls, TlsLogin } from './mysql-tls.ts';
import type { BucketStore } from './redis-rate-limiter.ts';
import { RECIPES } from './wiring.ts';
import type { ReportingNotifier } from './reporting-notifier.ts';
import type { WorkerStatementJudge } from './worker-statement-judge.ts';
import type { MysqlTableBackupStore } from './mysql-table-backup-store.ts';
import type { MysqlPitrStore } from './mysql-pitr-store.ts';

/** The MySQL logins a function holds (see wiring.ts's resolveMysqlLogins). */
export interface MysqlLogins {
  /** MetaDB's login: the API account (DML on MetaDB only), or the admin one where only it is deployed. */
  meta: TlsLogin;
  /** Absent in a function deployed without the admin secret (every API function on AWS). */
  admin?: TlsLogin;
}

/** Every shared part by name: what the functions' roots (roots.ts) are composed of. */
export interface PartTypes {
  /** How every MySQL connection verifies its server (the CA), shared by all of them. */
  mysqlTls: MysqlTls;
  logins: MysqlLogins;
  /** Only the token and authorizer functions are deployed with the signing key. */
  jwtSecret: string;
  sealer: Sealer;
  /** The HMAC key API keys are stored under: only the authorizer and /dashboard are deployed with it. */
  apiKeySecret: string;
  /** MetaDB, as logins.meta. */
  pool: Pool;
  redis: Redis;
  meta: MysqlMetaStore;
  registry: TokenRegistry;
  apiKeys: ApiKeyStore;
  /** LF0: each key's last use, written at most once a minute per key. */
  keyUses: KeyUseRecorder;
  invoker: Invoker;
  hostRunner: HostRunner;
  /** The admin login's pools on tenant hosts, serving the two parts below. */
  adminSql: MysqlHostSql;
  /** Admin SQL on tenant hosts (the cascade's ALTERs, a parent's tables). */
  hostSql: HostSql;
  /** The tenants' MySQL accounts. */
  accounts: DatabaseAccounts;
  /** Who this process is in provisioning claims, and which other holders are known to be gone. */
  claimOwners: ClaimOwners;
  templates: TemplateSource;
  logs: LogSink;
  /** /query's log port: `logs` itself on Lambda; locally a buffer in front of it (no wait per query). */
  queryLogs: LogSink;
  dynamo: DynamoDBClient;
  logStore: LogStore;
  /** Tenant suspension and erasure records (MetaDB). */
  erasures: ErasureStore;
  /** An erasure's deletion of a tenant's log partition. */
  logEraser: LogEraser;
  /** /query: tenant statements over one pool per MySQL host. */
  tenantSql: MysqlTenantSqlRunner;
  tenantLogins: TenantLogins;
  schemas: SchemaInspector;
  migrations: MysqlMigrationStore;
  /** Removed tables kept restorable (MetaDB's table_backups). */
  tableBackups: MysqlTableBackupStore;
  /** Point-in-time restore: base backups and restores (MetaDB's base_backups, database_restores). */
  pitr: MysqlPitrStore;
  migrationLocks: MigrationLocks;
  /** Email; counts and logs what it cannot send. */
  notifier: ReportingNotifier;
  /** Storage quotas: the shared over-quota state (Redis), per-tenant quotas (MetaDB), measured with tenant logins. */
  storageState: StorageStateStore;
  quotaSettings: QuotaSettings;
  quotas: StorageQuotaGuard;
  /** /query's and /migrate's validators, on worker threads under a time budget (started on first use). */
  statementJudge: WorkerStatementJudge;
  /** bcrypt for /signup, /token and /verify's signup retry: worker threads (started on first use), or inline. */
  passwords: PasswordHasher;
  /** Rate limits: per tenant (local slices of Redis buckets), per client and email (Redis per call). */
  rateBuckets: BucketStore;
  tenantRates: RateLimiter;
  clientRates: RateLimiter;
  plans: TenantPlans;
  queryCharges: QueryCharges;
}

export type PartName = keyof PartTypes;

/** How a part is made from the config and other parts (wiring.ts), and what it holds that must be let go. */
export interface Recipe<T> {
  make(parts: Parts): T | Promise<T>;
  /** Hands on what the part still holds (before close, and whenever asked). */
  flush?(part: T): Promise<void> | void;
  close?(part: T): Promise<unknown> | unknown;
}

/** Parts (and settings) a test puts in place of the real ones for a while (Parts.override). */
export type PartOverrides = Partial<PartTypes> & { config?: Partial<Config> };

/**
 * The parts a process's functions are composed of (pools, clients, adapters), each made on first
 * use (wiring.ts's recipes) and then kept: a function whose root (roots.ts) never asks for Redis
 * never connects to it. On Lambda each function's process has its own set; `npm start` installs
 * one set that every function shares (one MetaDB pool, one Redis).
 */
export class Parts {
  private readonly made = new Map<PartName, Promise<unknown>>();
  private readonly provided: ReadonlySet<PartName>;
  private overrides: PartOverrides = {};
  /**
   * Each set of parts a root has picked, once all were made, by the names it asked for: a root is
   * assembled per request, and the /query path picked 7 parts on every one (a Promise.all, 10 µs
   * of a 450 µs request). Frozen: roots share it. Forgotten when the overrides change.
   */
  private readonly picked = new Map<string, object>();

  /** `provided`: parts the caller made itself (the local invoker, its log queue), used as they are and never closed here. */
  constructor(
    private readonly baseConfig: Config,
    provided: Partial<PartTypes> = {},
  ) {
    for (const [name, part] of Object.entries(provided)) this.made.set(name as PartName, Promise.resolve(part));
    this.provided = new Set(Object.keys(provided) as PartName[]);
  }

  /** The settings, as overridden for the while (roots read them per invocation, recipes when they make a part). */
  get config(): Config {
    return this.overrides.config ? { ...this.baseConfig, ...this.overrides.config } : this.baseConfig;
  }

  /** The part, made now if it was not yet. A failed make is forgotten, so the next call tries again. (Bound: recipes destructure it.) */
  readonly get = <K extends PartName>(name: K): Promise<PartTypes[K]> => {
    if (Object.hasOwn(this.overrides, name)) return Promise.resolve(this.overrides[name] as PartTypes[K]);
    let part = this.made.get(name) as Promise<PartTypes[K]> | undefined;
    if (!part) {
      const making = Promise.resolve().then(() => RECIPES[name].make(this));
      making.catch(() => this.made.get(name) === making && this.made.delete(name));
      this.made.set(name, making);
      part = making;
    }
    return part;
  };

  /** Several parts at once (made side by side: a cold start reads its secrets in parallel). */
  pick<K extends PartName>(...names: K[]): Promise<Pick<PartTypes, K>> {
    const key = names.join();
    const picked = this.picked.get(key);
    return picked ? Promise.resolve(picked as Pick<PartTypes, K>) : this.pickNow(names, key);
  }

  private async pickNow<K extends PartName>(names: K[], key: string): Promise<Pick<PartTypes, K>> {
    const overrides = this.overrides;
    const parts = await Promise.all(names.map((name) => this.get(name)));
    const picked = Object.freeze(Object.fromEntries(names.map((name, i) => [name, parts[i]])));
    // Overrides changed while the parts were made: this set is right for this call only.
    if (this.overrides === overrides) this.picked.set(key, picked);
    return picked as unknown as Pick<PartTypes, K>;
  }

  /** The parts made here so far, in the order they were first asked for. */
  opened(): PartName[] {
    return [...this.made.keys()].filter((name) => !this.provided.has(name));
  }

  /**
   * Tests: these parts and settings instead of the real ones, for every root built until restore()
   * is called. Parts already made keep what they were made with.
   */
  override(values: PartOverrides): () => void {
    const before = this.overrides;
    const config = before.config || values.config ? { ...before.config, ...values.config } : undefined;
    this.overrides = { ...before, ...values, config };
    this.picked.clear();
    return () => {
      this.overrides = before;
      this.picked.clear();
    };
  }

  /** Hands on what made parts still hold (the buffered /query records). */
  async flush(): Promise<void> {
    await Promise.all(this.own('flush').map(async ([name, part]) => (RECIPES[name] as Recipe<unknown>).flush?.(await part)));
  }

  /** Flushes, then lets go of every part made here (never the provided ones), even if the flush failed. */
  async close(): Promise<void> {
    try {
      await this.flush();
    } finally {
      await Promise.allSettled(this.own('close').map(async ([name, part]) => (RECIPES[name] as Recipe<unknown>).close?.(await part)));
    }
  }

  /** The parts made here (not provided) whose recipe has this step. */
  private own(step: 'flush' | 'close'): Array<[PartName, Promise<unknown>]> {
    return [...this.made].filter(([name]) => !this.provided.has(name) && RECIPES[name][step]);
  }
}

let installed: Parts | undefined;

/** The process's parts: on Lambda from the environment, made as the function's root asks (a cold start). */
export function sharedParts(): Parts {
  installed ??= new Parts(loadConfig());
  return installed;
}

/** `npm start` installs the parts it built (with its in-process invoker and log queue) for every function. */
export function useParts(parts: Parts): void {
  installed = parts;
}
