/** The storage quota's ports: the shared over-quota state, per-tenant quotas, the server-side meter. */
import type { TenantLogin } from './ports.ts';

/** A tenant's storage as last measured: bytes per database, against its quota. */
export interface StorageState {
  /** Bytes in use per database of the tenant (data + indexes, measured after ANALYZE). */
  usedByDb: Record<string, number>;
  /** The quota the last measurement or operator change saw; absent: never measured. */
  quotaBytes?: number;
  /** When the newest measurement was taken (ms since the epoch); absent: never measured. */
  measuredAt?: number;
  /** When each database was last measured (ms since the epoch). */
  measuredAtByDb: Record<string, number>;
}

/** The shared over-quota state (Redis): every process and Lambda instance reads the same. */
export interface StorageStateStore {
  read(tenantId: string): Promise<StorageState>;
  /** Records one database's measurement and the quota it was held against. */
  record(tenantId: string, dbId: string, usedBytes: number, quotaBytes: number, at: number): Promise<void>;
  /** An operator changed the quota: the state holds the new one at once. */
  setQuota(tenantId: string, quotaBytes: number): Promise<void>;
  /** One measurer per database per window: false when another process measured within `windowMs`. */
  claimMeasurement(dbId: string, windowMs: number): Promise<boolean>;
}

/** Per-tenant quotas set by an operator (MetaDB tenant_quotas); a tenant without a row has the default. */
export interface QuotaSettings {
  storageQuota(tenantId: string): Promise<number | undefined>;
  /** `null` clears the tenant's own quota (back to the default). */
  setStorageQuota(tenantId: string, bytes: number | null): Promise<void>;
}

/** Bytes a tenant database holds, read from its server with the tenant's own login. */
export interface StorageMeter {
  /** `sinceMs`: how long ago it was last measured (only tables changed since need refreshing); absent: never. */
  measure(login: TenantLogin, sinceMs?: number): Promise<number>;
}

/** A tenant's storage as /dashboard shows it. */
export interface StorageUsage {
  usedBytes: number;
  quotaBytes: number;
  measuredAt: Date | null;
}

/** What the query, migrate and dashboard paths ask of the storage quotas. */
export interface StorageQuotas {
  /** Throws QuotaExceededError (403) when the tenant's last measured usage is over its quota. */
  assertCanWrite(tenantId: string, dbId: string, login?: TenantLogin): Promise<void>;
  /** After a write (or a delete): measures the database again, at most once per window per database. */
  noteWrite(tenantId: string, dbId: string, login: TenantLogin): Promise<void>;
  /** The database's usage, measured now unless measured within the window; the tenant's quota. */
  usage(tenantId: string, dbId: string, login: TenantLogin): Promise<StorageUsage>;
  /** The tenant's totals as last measured (no measurement). */
  lastUsage(tenantId: string): Promise<StorageUsage>;
}
