import type { Redis } from 'ioredis';
import type { StorageState, StorageStateStore } from '#core/ports';
import { execTyped, typed } from './redis-errors.ts';

/** A tenant's state lives this long after its last measurement; gone, the next write measures again. */
const STATE_TTL_SECONDS = 30 * 86400;
const DB_FIELD = 'db:';
const AT_FIELD = 'at:';

/**
 * The storage state in Redis, one hash per tenant (`db:<db_id>` → bytes, `at:<db_id>` → ms, `quota`, `at`), under a
 * namespace (the MetaDB's name) so deployments or test runs sharing a Redis never see each other's.
 */
export class RedisStorageState implements StorageStateStore {
  constructor(
    private readonly redis: Redis,
    private readonly namespace: string,
  ) {}

  private key(tenantId: string): string {
    return `octodb:${this.namespace}:storage:${tenantId}`;
  }

  async read(tenantId: string): Promise<StorageState> {
    const h = await typed(this.redis.hgetall(this.key(tenantId)));
    const usedByDb: Record<string, number> = {};
    const measuredAtByDb: Record<string, number> = {};
    for (const [field, value] of Object.entries(h)) {
      if (field.startsWith(DB_FIELD)) usedByDb[field.slice(DB_FIELD.length)] = Number(value);
      else if (field.startsWith(AT_FIELD)) measuredAtByDb[field.slice(AT_FIELD.length)] = Number(value);
    }
    return {
      usedByDb,
      measuredAtByDb,
      ...(h.quota === undefined ? {} : { quotaBytes: Number(h.quota) }),
      ...(h.at === undefined ? {} : { measuredAt: Number(h.at) }),
    };
  }

  async record(tenantId: string, dbId: string, usedBytes: number, quotaBytes: number, at: number): Promise<void> {
    const key = this.key(tenantId);
    await execTyped(this.redis.multi().hset(key, `${DB_FIELD}${dbId}`, usedBytes, `${AT_FIELD}${dbId}`, at, 'quota', quotaBytes, 'at', at).expire(key, STATE_TTL_SECONDS));
  }

  async setQuota(tenantId: string, quotaBytes: number): Promise<void> {
    const key = this.key(tenantId);
    await execTyped(this.redis.multi().hset(key, 'quota', quotaBytes).expire(key, STATE_TTL_SECONDS));
  }

  async claimMeasurement(dbId: string, windowMs: number): Promise<boolean> {
    return (await typed(this.redis.set(`octodb:${this.namespace}:storage-measure:${dbId}`, '1', 'PX', Math.max(1, windowMs), 'NX'))) === 'OK';
  }
}
