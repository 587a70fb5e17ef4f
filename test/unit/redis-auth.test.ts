import { describe, expect, it, vi } from 'vitest';
import { loadConfig } from '#shared/config';

// Secrets Manager stands in: the token secret's value, and which ARNs were read.
const read: string[] = [];
vi.mock('../../lambdas/adapters/secrets.ts', () => ({
  readSecret: async (arn: string) => {
    read.push(arn);
    return 'elasticache-auth-token-0123456789';
  },
}));
const { redisAuth } = await import('#adapters/wiring');

// As the stack deploys a function that reaches Redis: TLS URL without a password, the token's secret named.
const onAws = { OCTODB_RUNTIME: 'lambda', OCTODB_REDIS_URL: 'rediss://master.octodb.cache.amazonaws.com:6380', OCTODB_REDIS_AUTH_SECRET_ARN: 'arn:redis-auth' };

describe('the Redis AUTH password a function connects with', () => {
  it('on AWS is the token read from its secret at cold start (the whole secret string)', async () => {
    read.length = 0;
    expect(await redisAuth(loadConfig(onAws))).toEqual({ password: 'elasticache-auth-token-0123456789' });
    expect(read).toEqual(['arn:redis-auth']);
  });

  it('locally is what OCTODB_REDIS_URL carries (ioredis reads it there): no secret is read', async () => {
    read.length = 0;
    expect(await redisAuth(loadConfig({ OCTODB_REDIS_URL: 'redis://:local-pw@127.0.0.1:6390' }))).toEqual({});
    expect(await redisAuth(loadConfig({}))).toEqual({});
    expect(read).toEqual([]);
  });

  it('refuses two passwords at once (the URL would win unseen) before reading the secret', async () => {
    read.length = 0;
    await expect(redisAuth(loadConfig({ ...onAws, OCTODB_REDIS_URL: 'rediss://:other@master.octodb.cache.amazonaws.com:6380' }))).rejects.toThrow(/keep one/);
    expect(read).toEqual([]);
  });
});
