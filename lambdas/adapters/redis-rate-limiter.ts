import type { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import type { RateDecision, RateLimiter } from '#core/ports';
import { type BucketState, drawTokens, MAX_DEBT_SECONDS, type RateLimit, refillMs, retryAfterSeconds } from '#core/token-bucket';
import { logger } from '#shared/logger';

/** What a bucket store answers: `granted` tokens (≤ want), or 0 and the wait for the next one. */
export interface BucketDraw {
  granted: number;
  waitMs: number;
}

/** Where token buckets live: Redis (shared by every process) or this process's memory. */
export interface BucketStore {
  /** Takes `debt` (default 0), then up to `want` tokens if at least one is there; `want` 0 takes none (a peek). */
  draw(key: string, limit: RateLimit, want: number, debt?: number): Promise<BucketDraw>;
  reset(key: string): Promise<void>;
}

/**
 * core/token-bucket.ts's drawTokens, atomically in Redis, on the server's clock (TIME) so processes
 * with skewed clocks agree; ARGV[4] is the debt, ARGV[5] overrides the clock (tests). Same operations in the same order as the
 * TypeScript, and the tokens kept as %.17g, so both give the same answers to the millisecond.
 */
const DRAW_SCRIPT = `
local per_second = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local debt = tonumber(ARGV[4])
local now = tonumber(ARGV[5])
if not now then local t = redis.call('TIME'); now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) end
local tokens = burst
local held = redis.call('HMGET', KEYS[1], 'n', 't')
if held[1] then tokens = math.min(burst, tonumber(held[1]) + math.max(0, now - tonumber(held[2])) * (per_second / 1000)) end
if debt > 0 then tokens = math.max(-math.max(burst, per_second * ${MAX_DEBT_SECONDS}), tokens - debt) end
if tokens < 1 then
  redis.call('HSET', KEYS[1], 'n', string.format('%.17g', tokens), 't', string.format('%d', now))
  redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) * 1000 / per_second) + 1000)
  return {0, math.ceil((1 - tokens) * 1000 / per_second)}
end
local granted = math.min(want, math.floor(tokens))
tokens = tokens - granted
redis.call('HSET', KEYS[1], 'n', string.format('%.17g', tokens), 't', string.format('%d', now))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) * 1000 / per_second) + 1000)
return {granted, 0}
`;

type DrawCommand = (key: string, perSecond: number, burst: number, want: number, debt: number, nowMs?: number) => Promise<[number, number]>;

/** Buckets in this process only: the fallback while Redis is away, and the reference in tests. */
export class MemoryBuckets implements BucketStore {
  private readonly buckets: LRUCache<string, BucketState & { untilMs: number }>;
  constructor(
    maxKeys = 100_000,
    private readonly now: () => number = Date.now,
  ) {
    this.buckets = new LRUCache({ max: maxKeys });
  }

  async draw(key: string, limit: RateLimit, want: number, debt = 0): Promise<BucketDraw> {
    const now = this.now();
    const held = this.buckets.get(key);
    const { granted, waitMs, state } = drawTokens(held && held.untilMs > now ? held : undefined, limit, want, now, debt);
    this.buckets.set(key, { ...state, untilMs: now + refillMs(state, limit) });
    return { granted, waitMs };
  }

  async reset(key: string): Promise<void> {
    this.buckets.delete(key);
  }
}

export interface RedisBucketOptions {
  /** Namespace of every key (`octodb:rl:<MetaDB name>:`), so OctoDBs sharing a Redis never share a bucket. */
  prefix: string;
  /** A call slower than this counts as Redis being down. */
  timeoutMs: number;
  /** Where buckets live while Redis is down. */
  fallback: BucketStore;
  /** How long Redis is left alone after a failure before it is tried again. */
  retryAfterFailureMs?: number;
}

/**
 * Buckets in Redis, one Lua call per draw. When Redis fails or is slower than `timeoutMs`, limits
 * are kept per process (the fallback) for a while, with one warning per outage: a Redis outage
 * then neither stops every tenant (503) nor lets anyone through unlimited, and a request never
 * waits on Redis longer than the timeout.
 */
export class RedisBuckets implements BucketStore {
  private readonly drawCommand: DrawCommand;
  private downUntil = 0;

  constructor(
    private readonly redis: Redis,
    private readonly options: RedisBucketOptions,
  ) {
    if (!('octodbDrawTokens' in redis)) redis.defineCommand('octodbDrawTokens', { numberOfKeys: 1, lua: DRAW_SCRIPT });
    const command = (redis as unknown as { octodbDrawTokens: (...args: Array<string | number>) => Promise<[number, number]> }).octodbDrawTokens;
    this.drawCommand = (key, perSecond, burst, want, debt, nowMs) =>
      command.call(redis, options.prefix + key, perSecond, burst, want, debt, ...(nowMs === undefined ? [] : [nowMs]));
  }

  async draw(key: string, limit: RateLimit, want: number, debt = 0): Promise<BucketDraw> {
    if (Date.now() < this.downUntil) return this.options.fallback.draw(key, limit, want, debt);
    try {
      const [granted, waitMs] = await withTimeout(this.drawCommand(key, limit.perSecond, limit.burst, want, debt), this.options.timeoutMs);
      return { granted: Number(granted), waitMs: Number(waitMs) };
    } catch (error) {
      if (Date.now() >= this.downUntil) {
        logger.warn('rate limits: Redis failed, each process keeps the limits alone until it answers again', { error: error as Error });
      }
      this.downUntil = Date.now() + (this.options.retryAfterFailureMs ?? 5000);
      return this.options.fallback.draw(key, limit, want, debt);
    }
  }

  /** For tests: the script at a given clock. */
  drawAt(key: string, limit: RateLimit, want: number, nowMs: number, debt = 0): Promise<[number, number]> {
    return this.drawCommand(key, limit.perSecond, limit.burst, want, debt, nowMs);
  }

  async reset(key: string): Promise<void> {
    await Promise.all([withTimeout(this.redis.del(this.options.prefix + key), this.options.timeoutMs).catch(() => undefined), this.options.fallback.reset(key)]);
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Redis did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}

const ALLOWED: RateDecision = { allowed: true };
const decide = ({ waitMs }: BucketDraw): RateDecision => (waitMs === 0 ? ALLOWED : { allowed: false, retryAfterSeconds: retryAfterSeconds(waitMs) });

/** One store call per request: for the low-volume routes (/signup, /token, lockouts). */
export class DirectRateLimiter implements RateLimiter {
  constructor(private readonly store: BucketStore) {}

  async take(key: string, limit: RateLimit): Promise<RateDecision> {
    return decide(await this.store.draw(key, limit, 1));
  }

  async peek(key: string, limit: RateLimit): Promise<RateDecision> {
    return decide(await this.store.draw(key, limit, 0));
  }

  async charge(key: string, limit: RateLimit, tokens: number): Promise<void> {
    if (tokens > 0) await this.store.draw(key, limit, 0, tokens);
  }

  reset(key: string): Promise<void> {
    return this.store.reset(key);
  }
}
