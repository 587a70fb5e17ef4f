import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { MigrationLocks } from '#core/ports';

const lockKey = (name: string) => `octodb:migration:lock:${name}`;
// Renews or deletes the lock only while it holds our token, so a late worker never touches another's lock.
const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;
const UNLOCK = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

/** Per-database migration locks with a token and a TTL, in Redis (attempts and states live in MetaDB). */
export class RedisMigrationLocks implements MigrationLocks {
  constructor(private readonly redis: Redis) {}

  async tryLock(name: string, ttlMs: number): Promise<string | undefined> {
    const token = randomUUID();
    return (await this.redis.set(lockKey(name), token, 'PX', ttlMs, 'NX')) === 'OK' ? token : undefined;
  }

  async tryLockMany(names: string[], ttlMs: number): Promise<Array<string | undefined>> {
    const tokens = names.map(() => randomUUID());
    const pipe = this.redis.pipeline();
    names.forEach((name, i) => pipe.set(lockKey(name), tokens[i]!, 'PX', ttlMs, 'NX'));
    const results = (await pipe.exec()) ?? [];
    return results.map(([error, reply], i) => (!error && reply === 'OK' ? tokens[i] : undefined));
  }

  async unlock(name: string, token: string): Promise<void> {
    await this.redis.eval(UNLOCK, 1, lockKey(name), token);
  }

  async unlockMany(locks: Array<{ name: string; token: string }>): Promise<void> {
    if (locks.length === 0) return;
    const pipe = this.redis.pipeline();
    for (const l of locks) pipe.eval(UNLOCK, 1, lockKey(l.name), l.token);
    await pipe.exec();
  }

  async renewLocks(locks: Array<{ name: string; token: string }>, ttlMs: number): Promise<boolean[]> {
    if (locks.length === 0) return [];
    const pipe = this.redis.pipeline();
    for (const l of locks) pipe.eval(RENEW, 1, lockKey(l.name), l.token, ttlMs);
    const results = (await pipe.exec()) ?? [];
    return locks.map((_, i) => !results[i]?.[0] && Number(results[i]?.[1]) === 1);
  }
}
