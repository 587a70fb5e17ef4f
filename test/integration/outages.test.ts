import { Redis } from 'ioredis';
import type { RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TOKEN_CHANGES } from '#adapters/redis-token-registry';
import { parseMysqlUrl } from '#shared/config';
import { MYSQL_URL, startTestOctoDb, type TestOctoDb } from '../support/octodb.ts';
import { type Answer, outage, postAnswer } from '../support/outage.ts';
import { serversUp } from '../support/servers.ts';
import { startTcpProxy } from '../support/tcp-proxy.ts';
import { waitFor } from '../support/wait.ts';

// This OctoDB reaches MetaDB (its API account: every route's reads and writes) and Redis through
// proxies the tests take down: an outage of its own, never of the shared servers.
const REDIS_URL = new URL(process.env.OCTODB_REDIS_URL ?? 'redis://127.0.0.1:6379');
let octo: TestOctoDb;
let metaProxy: Awaited<ReturnType<typeof startTcpProxy>>;
let redisProxy: Awaited<ReturnType<typeof startTcpProxy>>;
let redis: Redis;
let tenant: Awaited<ReturnType<TestOctoDb['signUp']>>;
let token: string;

const call = (path: string, body: unknown, bearer?: string): Promise<Answer> => postAnswer(octo.url, path, body, bearer);

const currentJti = async () => {
  const [rows] = await octo.admin.query<RowDataPacket[]>(`SELECT jti FROM \`${octo.metaDb}\`.issued_tokens WHERE tenant_id = ?`, [tenant.tenant_id]);
  return rows[0]?.jti as string | undefined;
};

beforeAll(async () => {
  if (!serversUp) return;
  const login = parseMysqlUrl(MYSQL_URL);
  metaProxy = await startTcpProxy({ host: login.host, port: login.port });
  redisProxy = await startTcpProxy({ host: REDIS_URL.hostname, port: Number(REDIS_URL.port || 6379) });
  octo = await startTestOctoDb({
    OCTODB_MYSQL_API_URL: `mysql://octodb_api:octodb_api@127.0.0.1:${metaProxy.port}`,
    OCTODB_REDIS_URL: `redis://127.0.0.1:${redisProxy.port}`,
  });
  redis = new Redis(REDIS_URL.toString());
  tenant = await octo.signUp();
  await octo.waitForDatabase(tenant.db_id);
  token = await octo.token(tenant.email, tenant.password);
});

afterAll(async () => {
  if (!serversUp) return;
  metaProxy.up();
  redisProxy.up();
  await octo.close();
  redis.disconnect();
  await metaProxy.close();
  await redisProxy.close();
});

/** Every route is itself again once the server is back. */
async function recovered(): Promise<void> {
  await waitFor(async () => (await call('/dashboard', { action: 'get_user_info' }, token)).status === 200, { timeoutMs: 15_000, what: 'the dashboard to answer again' });
  expect((await call('/query', { query: 'SELECT 1 AS one' }, token)).status).toBe(200);
}

describe.skipIf(!serversUp)('Redis out of reach', () => {
  it('LF0 fails (503 + Retry-After), never refuses a valid token; /token answers 503 fast and keeps the current token', async () => {
    const before = await currentJti();
    expect(before).toBeDefined();
    redisProxy.down();
    try {
      expect(await call('/dashboard', { action: 'get_user_info' }, token)).toEqual(outage('AUTH_UNAVAILABLE'));
      expect(await call('/query', { query: 'SELECT 1' }, token)).toEqual(outage('AUTH_UNAVAILABLE'));
      // Asked before MetaDB's lock is taken: no new token MetaDB knows and Redis does not.
      expect(await call('/token', { email: tenant.email, password: tenant.password }, undefined)).toEqual(outage('REDIS_UNAVAILABLE'));
      expect(await currentJti()).toBe(before);
      // A bad token is still refused for what it is: an outage answers only what needs Redis.
      expect((await call('/dashboard', { action: 'get_user_info' }, 'not-a-token')).status).toBe(401);
    } finally {
      redisProxy.up();
    }
    await recovered(); // the token issued before the outage is still the current one
    const fresh = await call('/token', { email: tenant.email, password: tenant.password });
    expect(fresh.status).toBe(200);
    token = fresh.body.token as string;
    expect((await call('/dashboard', { action: 'get_user_info' }, token)).status).toBe(200);
  });
});

describe.skipIf(!serversUp)('MetaDB out of reach', () => {
  it('every route answers 503 METADB_UNAVAILABLE with Retry-After, and works again once MetaDB is back', async () => {
    metaProxy.down();
    try {
      expect(await call('/signup', { name: 'Outage', email: `o-${Date.now()}@example.com`, password: 'a-long-password-1' })).toEqual(outage('METADB_UNAVAILABLE'));
      expect(await call('/token', { email: tenant.email, password: tenant.password })).toEqual(outage('METADB_UNAVAILABLE'));
      expect(await call('/dashboard', { action: 'get_user_info' }, token)).toEqual(outage('METADB_UNAVAILABLE'));
      const migrate = 'CREATE TABLE outage_items (id int unsigned NOT NULL AUTO_INCREMENT, PRIMARY KEY (id));';
      expect(await call('/migrate', { sql: migrate }, token)).toEqual(outage('METADB_UNAVAILABLE'));
      // /query needs MetaDB only for what it has not cached (the tenant's login, its plan): never a 500.
      const query = await call('/query', { query: 'SELECT 1 AS one' }, token);
      if (query.status !== 200) expect(query).toEqual(outage('METADB_UNAVAILABLE'));
      // A token Redis does not know is checked against MetaDB: LF0 fails, it does not refuse.
      await redis.del(`octodb:token:${tenant.tenant_id}`);
      await redis.publish(TOKEN_CHANGES, tenant.tenant_id); // the process's own cache lets go too
      const lf0 = await waitFor(
        async () => {
          const answer = await call('/dashboard', { action: 'get_user_info' }, token);
          return answer.body.code !== 'METADB_UNAVAILABLE' && answer; // still cached: the handler answered
        },
        { timeoutMs: 5000, what: 'the token to be checked against MetaDB' },
      );
      expect(lf0).toEqual(outage('AUTH_UNAVAILABLE'));
    } finally {
      metaProxy.up();
    }
    await recovered();
    expect((await call('/token', { email: tenant.email, password: tenant.password })).status).toBe(200);
  });
});
