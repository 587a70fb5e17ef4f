import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Parts } from '#adapters/parts';
import { RedisStorageState } from '#adapters/redis-storage-state';
import { RedisTokenRegistry } from '#adapters/redis-token-registry';
import { UnavailableError } from '#core/errors';
import { loadConfig } from '#shared/config';
import { faultServersMissing, type OwnRedis, startOwnRedis } from '../support/fault-servers.ts';
import { startTestOctoDb, type TestOctoDb } from '../support/octodb.ts';
import { type Answer, outage, postAnswer } from '../support/outage.ts';
import { serversUp } from '../support/servers.ts';
import { waitFor } from '../support/wait.ts';

/**
 * Redis with AUTH, as ElastiCache with an auth token: a Redis of this test's own that requires a
 * password (never the shared one), the password in OCTODB_REDIS_URL. When Redis refuses OctoDB's
 * password or is down, every route that needs Redis answers 503 with a code, never 401 or 500;
 * what needs no Redis keeps working.
 */
const { PASSWORD, TOKEN_ARN } = vi.hoisted(() => ({ PASSWORD: `pw-${globalThis.crypto.randomUUID()}`, TOKEN_ARN: 'arn:aws:secretsmanager:local:0:secret:redis-auth' }));
// Secrets Manager stands in: the one secret there is, the token as ElastiCache's (its whole string).
vi.mock('../../lambdas/adapters/secrets.ts', () => ({
  readSecret: async (arn: string) => {
    if (arn !== TOKEN_ARN) throw new Error(`no secret ${arn}`);
    return PASSWORD;
  },
}));
const runs = serversUp && faultServersMissing.length === 0;

let own: OwnRedis;
/** This test's own connection to its own Redis, with the password. */
let redis: Redis;
let octo: TestOctoDb;
let tenant: Awaited<ReturnType<TestOctoDb['signUp']>>;
let token: string;
/** A write key: LF0 checks it in MetaDB only, so its requests reach the routes' own Redis calls. */
let key: string;
/** A migrate key: /migrate judges the storage quota (Redis) before it queues anything. */
let migrateKey: string;
let nextId = 1;

const call = (path: string, body: unknown, bearer?: string): Promise<Answer> => postAnswer(octo.url, path, body, bearer);
const insert = () => call('/query', { query: 'INSERT INTO customers (id, name) VALUES (?, ?)', params: [nextId++, 'redis-auth'] }, key);
const redisUnavailable = { status: 503, details: { code: 'REDIS_UNAVAILABLE' } };

beforeAll(async () => {
  if (!runs) return;
  own = await startOwnRedis({ password: PASSWORD });
  redis = new Redis(own.url, { maxRetriesPerRequest: 1 });
  // No cached storage state: each write reads it from Redis, as the first write after the cache does.
  octo = await startTestOctoDb({ OCTODB_REDIS_URL: own.url, OCTODB_STORAGE_STATE_CACHE_MS: '0' });
  tenant = await octo.signUp();
  await octo.waitForDatabase(tenant.db_id);
  token = await octo.token(tenant.email, tenant.password);
  const keyOf = async (scope: string) => {
    const created = await octo.post<{ key: string }>('/dashboard', { action: 'create_api_key', name: `redis-auth-${scope}`, scope }, token);
    expect(created.status).toBe(200);
    return created.body.key;
  };
  [key, migrateKey] = [await keyOf('write'), await keyOf('migrate')];
});

afterAll(async () => {
  if (!runs) return;
  await octo?.close();
  redis?.disconnect();
  await own?.stop();
});

/** Every route that needs Redis answers 503 with the code of what failed; what needs none still answers. */
async function expectRedisOutageAnswers(): Promise<void> {
  // LF0 reads the token's current jti in Redis: it fails (503), it never refuses the token (401).
  expect(await call('/dashboard', { action: 'get_user_info' }, token)).toEqual(outage('AUTH_UNAVAILABLE'));
  expect(await call('/query', { query: 'SELECT 1 AS one' }, token)).toEqual(outage('AUTH_UNAVAILABLE'));
  // /token asks Redis before it issues anything.
  expect(await call('/token', { email: tenant.email, password: tenant.password })).toEqual(outage('REDIS_UNAVAILABLE'));
  // Past LF0 (a key is checked in MetaDB): the storage measurement and state in Redis.
  expect(await call('/dashboard', { action: 'get_database_metadata' }, key)).toEqual(outage('REDIS_UNAVAILABLE'));
  expect(await insert()).toEqual(outage('REDIS_UNAVAILABLE'));
  const migration = 'CREATE TABLE redis_auth_items (id int unsigned NOT NULL AUTO_INCREMENT, PRIMARY KEY (id));';
  expect(await call('/migrate', { sql: migration }, migrateKey)).toEqual(outage('REDIS_UNAVAILABLE'));
  // A read needs no Redis (rate limits are kept per process meanwhile), and a bad token is still refused.
  expect((await call('/query', { query: 'SELECT COUNT(*) AS n FROM customers' }, key)).status).toBe(200);
  expect((await call('/dashboard', { action: 'get_user_info' }, 'not-a-token')).status).toBe(401);
}

/** Every route answers again once Redis takes OctoDB's password again (ioredis reconnects by itself). */
async function expectRecovered(): Promise<void> {
  await waitFor(async () => (await call('/dashboard', { action: 'get_user_info' }, token)).status === 200, { timeoutMs: 15_000, what: 'the dashboard to answer again' });
  expect((await call('/dashboard', { action: 'get_database_metadata' }, key)).status).toBe(200);
  expect((await insert()).status).toBe(200);
  const fresh = await call('/token', { email: tenant.email, password: tenant.password });
  expect(fresh.status).toBe(200);
  token = fresh.body.token as string;
}

describe.skipIf(!runs)('Redis that requires a password (AUTH)', () => {
  it('serves every route with the password from OCTODB_REDIS_URL, and keeps its state in that Redis', async () => {
    expect((await call('/dashboard', { action: 'get_user_info' }, token)).status).toBe(200);
    expect((await insert()).status).toBe(200);
    expect((await call('/dashboard', { action: 'get_database_metadata' }, key)).status).toBe(200);
    // The tenant's current token is in this Redis, which refuses a client without the password.
    expect(await redis.get(`octodb:token:${tenant.tenant_id}`)).toMatch(/^[0-9a-f-]{36}$/);
    const anonymous = new Redis(`redis://127.0.0.1:${own.port}`, { maxRetriesPerRequest: 1 }).on('error', () => undefined); // refused: that is the point
    try {
      await expect(anonymous.get('x')).rejects.toThrow(/^NOAUTH/);
      // …which the adapters take for an outage (503), not a bug (500).
      await expect(new RedisTokenRegistry(anonymous).currentJti(tenant.tenant_id)).rejects.toMatchObject(redisUnavailable);
      await expect(new RedisStorageState(anonymous, octo.metaDb).read(tenant.tenant_id)).rejects.toBeInstanceOf(UnavailableError);
    } finally {
      anonymous.disconnect();
    }
  });

  it('on AWS connects with the token read from its secret at cold start, the URL naming none', async () => {
    const onAws = loadConfig({ ...process.env, OCTODB_RUNTIME: 'lambda', OCTODB_REDIS_URL: `redis://127.0.0.1:${own.port}`, OCTODB_REDIS_AUTH_SECRET_ARN: TOKEN_ARN });
    const parts = new Parts(onAws);
    try {
      const current = await redis.get(`octodb:token:${tenant.tenant_id}`);
      expect(current).toBeTruthy();
      expect(await (await parts.get('registry')).currentJti(tenant.tenant_id)).toBe(current);
    } finally {
      await parts.close();
    }
  });

  it('answers 503 with a code on every route that needs Redis while Redis refuses the password, then recovers', async () => {
    // The password changed on the server (a rotation OctoDB has not caught up with): connections are
    // dropped, and every reconnection is refused (WRONGPASS).
    const rotated = `${PASSWORD}-rotated`;
    await redis.config('SET', 'requirepass', rotated);
    await redis.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
    await redis.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
    try {
      await expectRedisOutageAnswers();
    } finally {
      await redis.config('SET', 'requirepass', PASSWORD);
    }
    await expectRecovered();
  });

  it('answers the same while Redis is down, then recovers when it is back', async () => {
    redis.disconnect();
    await own.kill();
    try {
      await expectRedisOutageAnswers();
    } finally {
      await own.start(); // empty: the token is found in MetaDB and put back in Redis
      redis = new Redis(own.url, { maxRetriesPerRequest: 1 });
    }
    await expectRecovered();
  });

  it('keeps a server answer that is a bug (a wrong type) what it is: no outage', async () => {
    await redis.hset(`octodb:token:${tenant.tenant_id}-wrongtype`, 'x', '1');
    const failure = new RedisTokenRegistry(redis).currentJti(`${tenant.tenant_id}-wrongtype`);
    await expect(failure).rejects.toThrow(/^WRONGTYPE/);
    await expect(failure).rejects.not.toBeInstanceOf(UnavailableError);
  });
});
