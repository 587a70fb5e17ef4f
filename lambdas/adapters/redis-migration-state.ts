import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { JobState, MigrationState } from '#core/ports';

const jobKey = (jobId: string) => `octodb:migration:job:${jobId}`;
const lockKey = (name: string) => `octodb:migration:lock:${name}`;
const JOB_TTL_SECONDS = 30 * 86400;
// Renews or deletes the lock only while it holds our token, so a late worker never touches another's lock.
const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;
const UNLOCK = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

/** Job attempt counts and states, and per-database locks with a token and a TTL, in Redis. */
export class RedisMigrationState implements MigrationState {
  constructor(private readonly redis: Redis) {}

  async countAttempt(jobId: string): Promise<number> {
    const [[, n]] = (await this.redis.multi().hincrby(jobKey(jobId), 'attempts', 1).expire(jobKey(jobId), JOB_TTL_SECONDS).exec()) as [[unknown, number]];
    return Number(n);
  }

  async attempts(jobId: string): Promise<number> {
    return Number((await this.redis.hget(jobKey(jobId), 'attempts')) ?? 0);
  }

  async setState(jobId: string, state: JobState): Promise<void> {
    await this.redis.multi().hset(jobKey(jobId), 'state', state).expire(jobKey(jobId), JOB_TTL_SECONDS).exec();
  }

  async getState(jobId: string): Promise<{ state: JobState | null; attempts: number }> {
    const h = await this.redis.hgetall(jobKey(jobId));
    return { state: (h.state as JobState | undefined) ?? null, attempts: Number(h.attempts ?? 0) };
  }

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
