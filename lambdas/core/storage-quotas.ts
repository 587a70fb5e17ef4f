import { LRUCache } from 'lru-cache';
import { NotFoundError, ProhibitedError, UnavailableError } from './errors.ts';
import type { MetaStore, QuotaSettings, StorageMeter, StorageQuotas, StorageState, StorageStateStore, StorageUsage, TenantLogin } from './ports.ts';

/** A write refused because the tenant's measured storage is over its quota (403 QUOTA_EXCEEDED). */
export class QuotaExceededError extends ProhibitedError {}

export interface StorageQuotaOptions {
  /** The quota of a tenant without its own row in tenant_quotas. */
  defaultQuotaBytes: number;
  /** One measurement per database per window at most, whatever the number of writes. */
  measureIntervalMs: number;
  /** How long a process trusts the shared state it read before reading it again. */
  stateCacheMs: number;
  /** Lambda freezes work left running after the answer: there the triggering write waits for its measurement. */
  awaitMeasurement: boolean;
  /** Measurement failures are reported here and never fail the tenant's request. */
  onError?: (error: unknown) => void;
}

export interface StorageQuotaPorts {
  state: StorageStateStore;
  settings: QuotaSettings;
  meter: StorageMeter;
}

const MAX_CACHED = 10_000;

/**
 * Storage quotas per tenant: usage is measured on the server (after writes, debounced per database,
 * with the tenant's own login) and kept in shared state every process reads; writes of a tenant
 * over its quota are refused. Reads never touch it, and a write pays at most a cached state read:
 * a measurement happens once per window per database.
 */
export class StorageQuotaGuard implements StorageQuotas {
  private readonly cache = new LRUCache<string, { state: StorageState; until: number }>({ max: MAX_CACHED });
  /** Per database: no measurement before this time (skips the shared claim on every write). */
  private readonly quietUntil = new LRUCache<string, number>({ max: MAX_CACHED });
  /** Per database: this process's measurement under way, which a write of the same database waits for. */
  private readonly inflight = new Map<string, Promise<StorageState | undefined>>();

  constructor(
    private readonly ports: StorageQuotaPorts,
    private readonly options: StorageQuotaOptions,
  ) {}

  async assertCanWrite(tenantId: string, dbId: string, login?: TenantLogin): Promise<void> {
    // A measurement of this database under way (once per window) is waited for: the write after a
    // large one is judged by what that one wrote.
    await this.inflight.get(dbId)?.catch(() => undefined);
    let usage = this.usageOf(await this.cachedState(tenantId));
    if (usage.usedBytes <= usage.quotaBytes) return;
    // Over: measure again (once per window) so data deleted since is seen by the next write itself.
    if (login) {
      // A measurement that failed (e.g. the tenant's connections all busy) leaves the last verdict.
      const fresh = await this.remeasure(tenantId, dbId, login).catch((error: unknown) => {
        this.options.onError?.(error);
        return undefined;
      });
      if (fresh) usage = this.usageOf(fresh);
      if (usage.usedBytes <= usage.quotaBytes) return;
    }
    throw quotaExceeded(usage);
  }

  async noteWrite(tenantId: string, dbId: string, login: TenantLogin): Promise<void> {
    const run = this.remeasure(tenantId, dbId, login).catch((error: unknown) => {
      this.options.onError?.(error);
      return undefined;
    });
    if (this.options.awaitMeasurement) await run;
  }

  async usage(tenantId: string, dbId: string, login: TenantLogin): Promise<StorageUsage> {
    return this.usageOf((await this.remeasure(tenantId, dbId, login)) ?? (await this.ports.state.read(tenantId)));
  }

  async lastUsage(tenantId: string): Promise<StorageUsage> {
    return this.usageOf(await this.ports.state.read(tenantId));
  }

  /** Measures the database unless it was measured within the window (by any process); the new state, or undefined. */
  private remeasure(tenantId: string, dbId: string, login: TenantLogin): Promise<StorageState | undefined> {
    const now = Date.now();
    if ((this.quietUntil.get(dbId) ?? 0) > now) return this.inflight.get(dbId) ?? Promise.resolve(undefined);
    this.quietUntil.set(dbId, now + this.options.measureIntervalMs);
    const run = this.measure(tenantId, dbId, login).finally(() => {
      if (this.inflight.get(dbId) === run) this.inflight.delete(dbId);
    });
    this.inflight.set(dbId, run);
    return run;
  }

  private async measure(tenantId: string, dbId: string, login: TenantLogin): Promise<StorageState | undefined> {
    if (!(await this.ports.state.claimMeasurement(dbId, this.options.measureIntervalMs))) return undefined;
    const last = (await this.ports.state.read(tenantId)).measuredAtByDb[dbId];
    const since = last === undefined ? undefined : Math.max(0, Date.now() - last);
    const [quota, used] = await Promise.all([this.ports.settings.storageQuota(tenantId), this.ports.meter.measure(login, since)]);
    await this.ports.state.record(tenantId, dbId, used, quota ?? this.options.defaultQuotaBytes, Date.now());
    const state = await this.ports.state.read(tenantId);
    this.remember(tenantId, state);
    return state;
  }

  private async cachedState(tenantId: string): Promise<StorageState> {
    const hit = this.cache.get(tenantId);
    if (hit && hit.until > Date.now()) return hit.state;
    // Without the shared state a write cannot be judged: refused as retryable, never let through
    // (an outage the store already named, e.g. REDIS_UNAVAILABLE, keeps its code).
    const state = await this.ports.state.read(tenantId).catch((error: unknown) => {
      if (error instanceof UnavailableError) throw error;
      throw new UnavailableError('Storage quota state unavailable, try again later', undefined, { cause: error });
    });
    this.remember(tenantId, state);
    return state;
  }

  private remember(tenantId: string, state: StorageState): void {
    this.cache.set(tenantId, { state, until: Date.now() + this.options.stateCacheMs });
  }

  private usageOf(state: StorageState): StorageUsage {
    return {
      usedBytes: Object.values(state.usedByDb).reduce((sum, n) => sum + n, 0),
      quotaBytes: state.quotaBytes ?? this.options.defaultQuotaBytes,
      measuredAt: state.measuredAt === undefined ? null : new Date(state.measuredAt),
    };
  }
}

function quotaExceeded(usage: StorageUsage): QuotaExceededError {
  return new QuotaExceededError(
    `Storage quota exceeded: using ${usage.usedBytes} of ${usage.quotaBytes} bytes (${mib(usage.usedBytes)} of ${mib(usage.quotaBytes)}). ` +
      'Reads and DELETE still work; delete data to write again.',
    { code: 'QUOTA_EXCEEDED', used_bytes: usage.usedBytes, quota_bytes: usage.quotaBytes },
  );
}

const mib = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

/** The dashboard's view of a usage. */
export function storageFields(usage: StorageUsage) {
  return { used_bytes: usage.usedBytes, quota_bytes: usage.quotaBytes, measured_at: usage.measuredAt?.toISOString() ?? null };
}

export interface SetQuotaDeps {
  meta: Pick<MetaStore, 'getTenant'>;
  quotaSettings: QuotaSettings;
  storageState: StorageStateStore;
  defaultQuotaBytes: number;
}

/**
 * Operator command `set-quota`: a tenant's own storage quota, or back to the default (null).
 * Primary course: check the tenant exists, store the quota in MetaDB, and put it in the shared
 * state at once, so writes are refused or accepted again without waiting for a measurement.
 */
export async function setTenantQuota(input: { tenantId: string; bytes: number | null }, deps: SetQuotaDeps) {
  if (!(await deps.meta.getTenant(input.tenantId))) throw new NotFoundError('Tenant not found');
  await deps.quotaSettings.setStorageQuota(input.tenantId, input.bytes);
  const quotaBytes = input.bytes ?? deps.defaultQuotaBytes;
  await deps.storageState.setQuota(input.tenantId, quotaBytes);
  return { tenant_id: input.tenantId, quota_bytes: quotaBytes, default: input.bytes === null };
}
