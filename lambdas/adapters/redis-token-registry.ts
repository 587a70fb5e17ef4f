import type { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import { SUSPENDED, type TokenRegistry } from '#core/ports';
import { typed } from './redis-errors.ts';

const key = (tenantId: string) => `octodb:token:${tenantId}`;
/** The stored form of SUSPENDED: no jti (a UUID) can equal it. */
const SUSPENDED_MARK = '!suspended';
/** Every change of a tenant's current token is announced here (the message is the tenant id). */
export const TOKEN_CHANGES = 'octodb:token-changes';

/** The current jti per tenant in Redis (≈0.05 ms a lookup), expiring with the token itself. */
export class RedisTokenRegistry implements TokenRegistry {
  constructor(private readonly redis: Redis) {}

  async currentJti(tenantId: string): Promise<string | typeof SUSPENDED | undefined> {
    const value = await typed(this.redis.get(key(tenantId)));
    return value === SUSPENDED_MARK ? SUSPENDED : (value ?? undefined);
  }

  async suspend(tenantId: string, until: Date): Promise<void> {
    await typed(this.redis.set(key(tenantId), SUSPENDED_MARK, 'PX', Math.max(1, until.getTime() - Date.now())));
  }

  async remember(tenantId: string, jti: string, expiresAt: Date): Promise<void> {
    const ttlMs = expiresAt.getTime() - Date.now();
    if (ttlMs > 0) await typed(this.redis.set(key(tenantId), jti, 'PX', ttlMs));
  }

  async fill(tenantId: string, jti: string, expiresAt: Date): Promise<void> {
    const ttlMs = expiresAt.getTime() - Date.now();
    if (ttlMs > 0) await typed(this.redis.set(key(tenantId), jti, 'PX', ttlMs, 'NX'));
  }

  async forget(tenantId: string): Promise<void> {
    await typed(this.redis.del(key(tenantId)));
  }

  /** Announces a change of a tenant's current token to every process caching it. */
  async announce(tenantId: string): Promise<void> {
    await typed(this.redis.publish(TOKEN_CHANGES, tenantId));
  }
}

export interface TokenCacheOptions {
  maxEntries: number;
  /** A safety net only: changes are announced, so an entry is normally dropped at once. */
  maxAgeMs: number;
}

/**
 * The Redis registry plus the current jti per tenant in this process's memory, so verifying a
 * token costs no Redis round trip. Every change is published on TOKEN_CHANGES and every process
 * drops its entry when the message arrives; revocation stays effectively immediate (the message
 * reaches the others before the PUBLISH that announces it returns). Entries are kept only while
 * the subscription is known to be live: when it drops, messages may be lost, so the cache is
 * cleared and reads go to Redis until it is subscribed again. For long-running processes only:
 * a frozen Lambda would answer before reading the messages that arrived while it slept.
 */
export class CachedTokenRegistry implements TokenRegistry {
  private readonly redisRegistry: RedisTokenRegistry;
  private readonly cache: LRUCache<string, { jti: string; until: number }>;
  private live = false;
  /** Bumped by every change seen, so a read that raced one is not cached. */
  private generation = 0;

  constructor(
    redis: Redis,
    private readonly subscriber: Redis,
    private readonly options: TokenCacheOptions,
  ) {
    this.cache = new LRUCache({ max: options.maxEntries });
    this.redisRegistry = new RedisTokenRegistry(redis);
    subscriber.on('message', (_channel: string, tenantId: string) => this.drop(tenantId));
    for (const event of ['close', 'end', 'reconnecting', 'error']) subscriber.on(event, () => this.lost());
    subscriber.on('ready', () => void this.subscribe());
    if (subscriber.status === 'ready') void this.subscribe();
  }

  async currentJti(tenantId: string): Promise<string | typeof SUSPENDED | null | undefined> {
    const hit = this.cache.get(tenantId);
    if (hit && hit.until > Date.now()) return hit.jti;
    const generation = this.generation;
    const jti = await this.redisRegistry.currentJti(tenantId);
    if (typeof jti === 'string' && this.live && generation === this.generation) this.keep(tenantId, jti);
    return jti;
  }

  async remember(tenantId: string, jti: string, expiresAt: Date): Promise<void> {
    this.drop(tenantId);
    await this.redisRegistry.remember(tenantId, jti, expiresAt);
    await this.redisRegistry.announce(tenantId);
  }

  /** Not a change of the current token: nothing to announce, and the memory cache fills on read. */
  async fill(tenantId: string, jti: string, expiresAt: Date): Promise<void> {
    await this.redisRegistry.fill(tenantId, jti, expiresAt);
  }

  async forget(tenantId: string): Promise<void> {
    this.drop(tenantId);
    await this.redisRegistry.forget(tenantId);
    await this.redisRegistry.announce(tenantId);
  }

  async suspend(tenantId: string, until: Date): Promise<void> {
    this.drop(tenantId);
    await this.redisRegistry.suspend(tenantId, until);
    await this.redisRegistry.announce(tenantId);
  }

  async close(): Promise<void> {
    this.lost();
    this.subscriber.disconnect();
  }

  private keep(tenantId: string, jti: string): void {
    this.cache.set(tenantId, { jti, until: Date.now() + this.options.maxAgeMs });
  }

  private drop(tenantId: string): void {
    this.generation++;
    this.cache.delete(tenantId);
  }

  private lost(): void {
    this.live = false;
    this.generation++;
    this.cache.clear();
  }

  private async subscribe(): Promise<void> {
    try {
      await this.subscriber.subscribe(TOKEN_CHANGES);
      if (this.subscriber.status === 'ready') this.live = true;
    } catch {
      this.lost();
    }
  }
}
