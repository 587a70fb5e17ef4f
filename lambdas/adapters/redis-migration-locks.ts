import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { MigrationLocks } from '#core/ports';
import { execTyped, typed } from './redis-errors.ts';

const lockKey = (name: string) => `octodb:migration:lock:${name}`;
// Renews or deletes the lock only while it holds our token, so a late worker never touches another's lock.
const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;
const UNLOCK = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

/**
 * Per-database migration locks with a token and a TTL, in Redis (attempts and states live in MetaDB).
 * A token names its process (`<owner>/<random>`, owner as ClaimOwners.self), so a restarted local
 * OctoDB can free a killed process's locks without waiting for their TTL.
 */
export class RedisMigrationLocks implements MigrationLocks {
  constructor(
    private readonly redis: Redis,
    private readonly owner: string,
  ) {}

  private newToken(): string {
    return `${this.owner}/${randomUUID()}`;
  }

  async tryLock(name: string, ttlMs: number): Promise<string | undefined> {
    const token = this.newToken();
    return (await typed(this.redis.set(lockKey(name), token, 'PX', ttlMs, 'NX'))) === 'OK' ? token : undefined;
  }

  async tryLockMany(names: string[], ttlMs: number): Promise<Array<string | undefined>> {
    const tokens = names.map(() => this.newToken());
    const pipe = this.redis.pipeline();
    names.forEach((name, i) => pipe.set(lockKey(name), tokens[i]!, 'PX', ttlMs, 'NX'));
    const replies = await execTyped(pipe);
    return replies.map((reply, i) => (reply === 'OK' ? tokens[i] : undefined));
  }

  async holders(names: string[]): Promise<Array<{ name: string; token: string }>> {
    if (names.length === 0) return [];
    const tokens = await typed(this.redis.mget(names.map(lockKey)));
    return names.flatMap((name, i) => (tokens[i] ? [{ name, token: tokens[i] }] : []));
  }

  async unlock(name: string, token: string): Promise<void> {
    await typed(this.redis.eval(UNLOCK, 1, lockKey(name), token));
  }

  async unlockMany(locks: Array<{ name: string; token: string }>): Promise<void> {
    if (locks.length === 0) return;
    const pipe = this.redis.pipeline();
    for (const l of locks) pipe.eval(UNLOCK, 1, lockKey(l.name), l.token);
    await execTyped(pipe);
  }

  async renewLocks(locks: Array<{ name: string; token: string }>, ttlMs: number): Promise<boolean[]> {
    if (locks.length === 0) return [];
    const pipe = this.redis.pipeline();
    for (const l of locks) pipe.eval(RENEW, 1, lockKey(l.name), l.token, ttlMs);
    const replies = await execTyped(pipe);
    return locks.map((_, i) => Number(replies[i]) === 1);
  }
}
