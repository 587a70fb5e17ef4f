import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { CachedTokenRegistry } from '#adapters/redis-token-registry';
import { serversUp } from '../support/servers.ts';
import { waitFor } from '../support/wait.ts';

// Two registries on their own Redis connections: what two OctoDB processes sharing Redis hold.
const REDIS_URL = process.env.OCTODB_REDIS_URL ?? 'redis://127.0.0.1:6379';
const connections: Redis[] = [];
const registries: CachedTokenRegistry[] = [];
const inAnHour = () => new Date(Date.now() + 3_600_000);
const tenant = () => `t-${randomUUID()}`;

function octoProcess(name = `octodb-test-${randomUUID()}`) {
  const redis = new Redis(REDIS_URL);
  const subscriber = new Redis(REDIS_URL, { connectionName: name, autoResubscribe: false });
  connections.push(redis, subscriber);
  const registry = new CachedTokenRegistry(redis, subscriber, { maxEntries: 100, maxAgeMs: 60_000 });
  registries.push(registry);
  return { registry, redis, subscriber, name };
}

/** Resolves once the registry's subscription is live (a cached read stops reaching Redis). */
async function live(p: ReturnType<typeof octoProcess>) {
  const t = tenant();
  await p.registry.remember(t, 'probe', inAnHour());
  await waitFor(
    async () => {
      await p.registry.currentJti(t);
      await p.redis.set(`octodb:token:${t}`, 'changed-behind-its-back', 'PX', 60_000);
      if ((await p.registry.currentJti(t)) === 'probe') return true; // served from memory
      await p.registry.remember(t, 'probe', inAnHour());
      return false;
    },
    { timeoutMs: 5000, what: 'the subscription to become live' },
  );
}

/** Resolves once p's subscriber has handled the announcement for tenant t (its listeners run in order, the registry's first). */
function announcementOf(p: ReturnType<typeof octoProcess>, t: string): Promise<void> {
  return new Promise((resolve) => {
    const heard = (_channel: string, tenantId: string) => {
      if (tenantId !== t) return;
      p.subscriber.off('message', heard);
      resolve();
    };
    p.subscriber.on('message', heard);
  });
}

afterAll(async () => {
  await Promise.all(registries.map((r) => r.close()));
  for (const c of connections) c.disconnect();
});

describe.skipIf(!serversUp)('current-token cache with Redis pub/sub invalidation', () => {
  it('serves a tenant current jti from memory once the subscription is live', async () => {
    const a = octoProcess();
    await live(a);
    const t = tenant();
    const echoed = announcementOf(a, t);
    await a.registry.remember(t, 'jti-1', inAnHour());
    await echoed; // its own announcement comes back too, and must not drop what it just cached
    expect(await a.registry.currentJti(t)).toBe('jti-1');
    await a.redis.set(`octodb:token:${t}`, 'not-announced', 'PX', 60_000); // a change nobody announced
    expect(await a.registry.currentJti(t)).toBe('jti-1');
  });

  it('refuses the old jti in the same process the moment a new one is remembered', async () => {
    const a = octoProcess();
    await live(a);
    const t = tenant();
    await a.registry.remember(t, 'old', inAnHour());
    expect(await a.registry.currentJti(t)).toBe('old');
    await a.registry.remember(t, 'new', inAnHour());
    expect(await a.registry.currentJti(t)).toBe('new');
    await a.registry.forget(t);
    expect(await a.registry.currentJti(t)).toBeUndefined();
  });

  it('drops the cached jti in another process when a new token is announced', async () => {
    const [a, b] = [octoProcess(), octoProcess()];
    await Promise.all([live(a), live(b)]);
    const t = tenant();
    await a.registry.remember(t, 'old', inAnHour());
    expect(await b.registry.currentJti(t)).toBe('old'); // now cached in b
    const announced = Date.now();
    await a.registry.remember(t, 'new', inAnHour());
    let seen = await b.registry.currentJti(t);
    while (seen !== 'new' && Date.now() - announced < 1000) {
      await new Promise((r) => setImmediate(r));
      seen = await b.registry.currentJti(t);
    }
    expect(seen).toBe('new');
    expect(Date.now() - announced).toBeLessThan(100);
  });

  it('clears the cache and reads Redis when its subscription drops, and caches again once back', async () => {
    const b = octoProcess();
    await live(b);
    const t = tenant();
    await b.registry.remember(t, 'old', inAnHour());
    expect(await b.registry.currentJti(t)).toBe('old');
    // The connection is lost, and with it an announcement: Redis changed meanwhile.
    const closed = new Promise((r) => b.subscriber.once('close', r));
    const clients = (await b.redis.client('LIST')) as string;
    const id = clients.split('\n').find((line) => line.includes(`name=${b.name} `))?.match(/\bid=(\d+)/)?.[1];
    expect(id).toBeDefined();
    await b.redis.set(`octodb:token:${t}`, 'new', 'PX', 60_000);
    await b.redis.client('KILL', 'ID', id!);
    await closed;
    expect(await b.registry.currentJti(t)).toBe('new');
    await live(b); // resubscribed after the reconnect: memory serves again
  });
});

describe.skipIf(!serversUp)('filling the registry after a miss', () => {
  it('never overwrites a token issued in between (a late fill would revive the revoked one)', async () => {
    const { registry } = octoProcess();
    const t = tenant();
    // The authorizer missed and read the old jti from MetaDB; meanwhile /token issued a new one.
    await registry.remember(t, 'new-jti', inAnHour());
    await registry.fill(t, 'old-jti', inAnHour());
    expect(await registry.currentJti(t)).toBe('new-jti');
    // With nothing cached, a fill is what the next request reads.
    const other = tenant();
    await registry.fill(other, 'from-metadb', inAnHour());
    expect(await registry.currentJti(other)).toBe('from-metadb');
  });
});
