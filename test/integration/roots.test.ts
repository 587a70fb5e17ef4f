import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Parts } from '#adapters/parts';
import {
  adminRoot,
  authorizerRoot,
  dashboardRoot,
  logIngestRoot,
  migrateRunRoot,
  migrateSubmitRoot,
  provisionRoot,
  queryRoot,
  signupRoot,
  tokenRoot,
  verifyRoot,
} from '#adapters/roots';
import type { PartName } from '#adapters/parts';
import { loadConfig } from '#shared/config';
import { MYSQL_URL } from '../support/octodb.ts';

/** Real Redis behind a TCP proxy that counts the connections opened to it. */
interface CountingRedis {
  url: string;
  connections: number;
  close(): Promise<void>;
}

async function countingRedis(): Promise<CountingRedis> {
  const upstream = new URL(loadConfig(process.env).OCTODB_REDIS_URL);
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    proxy.connections++;
    const redis = connect(Number(upstream.port || 6379), upstream.hostname);
    for (const s of [client, redis]) {
      sockets.add(s);
      s.on('error', () => undefined).on('close', () => sockets.delete(s));
    }
    client.pipe(redis).pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const proxy: CountingRedis = {
    url: `redis://127.0.0.1:${(server.address() as AddressInfo).port}`,
    connections: 0,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
  return proxy;
}

let redis: CountingRedis;
beforeAll(async () => {
  redis = await countingRedis();
});
afterAll(async () => redis?.close());

const partsFor = () => new Parts(loadConfig({ ...process.env, OCTODB_MYSQL_URL: MYSQL_URL, OCTODB_REDIS_URL: redis.url }));

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!condition()) throw new Error(`never: ${what}`);
}

/** Each function's root, built on parts of its own, as a Lambda's cold start builds it. */
const roots: Array<[string, (parts: Parts) => Promise<unknown>, boolean]> = [
  ['authorizer', authorizerRoot, true],
  ['token', tokenRoot, true],
  ['signup', (parts) => signupRoot(undefined, parts), true],
  ['verify', (parts) => verifyRoot(undefined, parts), false],
  ['provision', provisionRoot, false],
  ['query', queryRoot, true],
  ['dashboard', (parts) => dashboardRoot(undefined, parts), true],
  ['migrate-submit', (parts) => migrateSubmitRoot(undefined, parts), true],
  ['migrate-run', (parts) => migrateRunRoot(undefined, parts), true],
  ['admin create', (parts) => adminRoot(parts).create(), false],
  ['admin set-quota', (parts) => adminRoot(parts).setQuota(), true],
  ['admin set-limits', (parts) => adminRoot(parts).setLimits(), false],
  ['log-ingest', logIngestRoot, false],
];

describe('one composition root per function, on lazily made parts', () => {
  it.each(roots)('%s connects to Redis only if it uses it (%s → %s)', async (_name, root, usesRedis) => {
    const parts = partsFor();
    const before = redis.connections;
    try {
      await root(parts);
      expect(parts.opened().includes('redis')).toBe(usesRedis);
      if (usesRedis) await until(() => redis.connections === before + 1, 'one Redis connection');
    } finally {
      await parts.close();
    }
    expect(redis.connections).toBe(before + (usesRedis ? 1 : 0));
  });

  it('gives L1 the log table only: no MySQL login, pool, Redis or secret', async () => {
    const parts = partsFor();
    try {
      await logIngestRoot(parts);
      expect(parts.opened().sort()).toEqual(['dynamo', 'logStore']);
    } finally {
      await parts.close();
    }
  });

  it('gives /verify MetaDB and LF6 only: no template source, password hasher, notifier or host SQL', async () => {
    const parts = partsFor();
    try {
      await verifyRoot(undefined, parts);
      expect(parts.opened().sort()).toEqual<PartName[]>(['invoker', 'logins', 'meta', 'mysqlTls', 'pool']);
    } finally {
      await parts.close();
    }
  });

  it('lets every function of one process draw from one set of parts: one MetaDB pool, one Redis connection', async () => {
    const parts = partsFor();
    const before = redis.connections;
    try {
      const [token, query, dashboard] = await Promise.all([tokenRoot(parts), queryRoot(parts), dashboardRoot(undefined, parts)]);
      await until(() => redis.connections > before, 'a Redis connection');
      expect(query.tenantRates).toBe(dashboard.tenantRates);
      expect(token.meta).toBe(dashboard.meta);
      expect(parts.opened().filter((name) => name === 'redis' || name === 'pool')).toHaveLength(2);
    } finally {
      await parts.close();
    }
    expect(redis.connections).toBe(before + 1);
  });
});
