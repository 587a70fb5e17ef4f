/**
 * `npm run bench -- rate-limit [--seconds 3] [--concurrency 8]`
 *
 * What one /query pays for its tenant's rate limit, per call, against in the same run:
 *   (a) no limiter (an awaited no-op: the floor of any async check),
 *   (b) the local-slice limiter over Redis buckets, as wired for /query (a Redis call per slice),
 *   (c) a Redis call per request (the direct limiter, as /signup and /token use it),
 * each at a limit high enough never to refuse, over 8 tenants' keys in turn.
 * Goal: (b) within a few microseconds of (a), far below (c).
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { DirectRateLimiter, MemoryBuckets, RedisBuckets } from '#adapters/redis-rate-limiter';
import { SlicedRateLimiter } from '#adapters/sliced-rate-limiter';
import type { RateLimiter } from '#core/ports';

export async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { seconds: { type: 'string', default: '3' }, concurrency: { type: 'string', default: '8' } } });
  const seconds = Number(values.seconds);
  const concurrency = Number(values.concurrency);
  const redis = new Redis(process.env.OCTODB_REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: 2, enableAutoPipelining: true });
  const prefix = `octodb:rl:bench_${randomBytes(4).toString('hex')}:`;
  const store = new RedisBuckets(redis, { prefix, timeoutMs: 1000, fallback: new MemoryBuckets() });
  const limit = { perSecond: 1_000_000, burst: 1_000_000 };
  const sliced = new SlicedRateLimiter(store, { sliceSeconds: 0.1, sliceMax: 100 });
  const runs: Array<{ name: string; limiter?: RateLimiter }> = [
    { name: 'no limiter' },
    { name: `local slices (${sliced.sliceOf(limit)})` },
    { name: 'Redis call per request' },
  ];
  runs[1]!.limiter = sliced;
  runs[2]!.limiter = new DirectRateLimiter(store);
  let turn = 0;
  const op = async (limiter?: RateLimiter) => {
    const key = `query:tenant-${turn++ % 8}`;
    if (!limiter) return void (await Promise.resolve());
    if (!(await limiter.take(key, limit)).allowed) throw new Error('refused: the bench limit should never refuse');
  };
  const totals = runs.map(() => ({ calls: 0, ms: 0 }));
  for (const run of runs) await drive(() => op(run.limiter), concurrency, 0.3); // warm-up
  for (let round = 0; round < 5; round++) {
    for (const [i, run] of runs.entries()) {
      const { calls, ms } = await drive(() => op(run.limiter), concurrency, seconds / 5);
      totals[i]!.calls += calls;
      totals[i]!.ms += ms;
    }
  }
  const perCallUs = totals.map((t) => (t.ms * 1000) / t.calls);
  console.log(`\nconcurrency ${concurrency}, 5 interleaved rounds, ${seconds} s per run\n`);
  console.log('run'.padEnd(28) + 'calls/s'.padStart(12) + 'µs/call'.padStart(10) + 'vs none'.padStart(10));
  for (const [i, run] of runs.entries()) {
    const t = totals[i]!;
    console.log(run.name.padEnd(28) + ((t.calls * 1000) / t.ms).toFixed(0).padStart(12) + perCallUs[i]!.toFixed(2).padStart(10) + `${(perCallUs[i]! / perCallUs[0]!).toFixed(1)}×`.padStart(10));
  }
  console.log(`\nlocal slices cost ${(perCallUs[1]! - perCallUs[0]!).toFixed(2)} µs a call over none; a Redis call per request ${(perCallUs[2]! - perCallUs[0]!).toFixed(2)} µs`);
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
}

/** Closed loop: `concurrency` workers, each calling again as soon as its call settles. */
async function drive(op: () => Promise<void>, concurrency: number, seconds: number): Promise<{ calls: number; ms: number }> {
  let calls = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        await op();
        calls++;
      }
    }),
  );
  return { calls, ms: performance.now() - started };
}
