import type { ClaimOwners } from './provisioning-ports.ts';
import type { TableBackupStore } from './backup-ports.ts';
import type { Sleep } from './retry.ts';
import type {
  AuditLog,
  BatchStore,
  CascadeStore,
  HostRunner,
  HostSql,
  Invoker,
  JobState,
  JobStore,
  LogSink,
  MetaStore,
  MigrationLocks,
  Notifier,
  StorageQuotas,
} from './ports.ts';

export interface MigrationSettings {
  maxRetries: number;
  backoffMs: number;
  /**
   * The lease (OCTODB_MIGRATION_LEASE_SECONDS): a claim not renewed for this long belongs to a dead
   * worker; also the lock TTL. The heartbeat renews both every third of it, so a job may run longer.
   */
  staleSeconds: number;
  /** How long a run waits for a busy database (at most a lease). */
  lockWaitSeconds: number;
  scriptTimeoutSeconds: number;
  /** How long one push of tenant DDL may run before it is stopped on the server (the cascade's ALTERs are bounded by HostSql). */
  ddlTimeoutSeconds: number;
  /** Children altered at once per host (the HostSql pool size bounds it as well). */
  /** How long a cascade child hit by transient errors (a server restarting) keeps being retried, from its first try. */
  transientRetrySeconds: number;
  cascadeConcurrency: number;
  cascadeChunk: number;
  adminEmail?: string;
  /** How long a removed table's backup can be restored (OCTODB_TABLE_BACKUP_HOURS), in seconds. */
  tableBackupSeconds: number;
}

/** What the migration engine's modules use; each takes this (or a Pick of it). */
export interface MigrationDeps {
  meta: MetaStore;
  jobs: JobStore;
  batches: BatchStore;
  cascades: CascadeStore;
  audit: AuditLog;
  locks: MigrationLocks;
  /** Which claims belong to a process known to be gone (a killed local OctoDB): the sweep takes them over without waiting for the lease. */
  owners: ClaimOwners;
  invoker: Invoker;
  hostRunner: HostRunner;
  hostSql: HostSql;
  notifier: Notifier;
  logs: LogSink;
  settings: MigrationSettings;
  /** /migrate is refused to a tenant over its storage quota (an ALTER copies the table). */
  quotas?: Pick<StorageQuotas, 'assertCanWrite'>;
  /** Where removed tables (drop_tables) are kept, restorable. */
  backups: TableBackupStore;
  sleep?: Sleep;
}

export const TERMINAL: readonly JobState[] = ['succeeded', 'failed', 'skipped'];
