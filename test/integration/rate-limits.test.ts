import { request } from 'node:http';
import { Redis } from 'ioredis';
import type { RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DirectRateLimiter, MemoryBuckets, RedisBuckets } from '#adapters/redis-rate-limiter';
import { SlicedRateLimiter } from '#adapters/sliced-rate-limiter';
import { main as adminCommand } from '../../bin/admin.ts';
import { handler as adminFunction } from '../../lambdas/admin/handler.ts';
import { BUCKET_CASES } from '../support/bucket-cases.ts';
import { startTestOctoDb, type TestOctoDb, uniqueEmail } from '../support/octodb.ts';
import { serversUp } from '../support/servers.ts';

// Real limits, small enough to reach in a test and slow enough (per hour) that nothing refills meanwhile.
const LIMITS = {
  OCTODB_RATE_QUERY: '5/3600s burst 5',
  OCTODB_RATE_QUERY_MS_PER_TOKEN: '0', // requests counted alone here; what they cost is tested below
  OCTODB_RATE_SLICE_SECONDS: '3600', // slices of 5: the local-slice path, not a Redis call per request
  OCTODB_RATE_SIGNUP_PER_IP: '3/3600s burst 3',
  OCTODB_RATE_SIGNUP_PER_EMAIL: '2/3600s burst 2',
  OCTODB_RATE_TOKEN_PER_IP: '8/3600s burst 8',
  OCTODB_RATE_TOKEN_PER_EMAIL: '10/3600s burst 10',
  OCTODB_LOGIN_FAILURES: '3/3600s burst 3',
};

let octo: TestOctoDb;
beforeAll(async () => {
  octo = await startTestOctoDb(LIMITS);
});
afterAll(async () => octo?.close());

interface Answer {
  status: number;
  retryAfter: string | undefined;
  body: Record<string, unknown>;
}

/** POST from a chosen loopback address: the gateway sees it as the client's IP (sourceIp). */
function post(path: string, body: unknown, options: { token?: string; from?: string } = {}): Promise<Answer> {
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      `${octo.url}${path}`,
      {
        method: 'POST',
        localAddress: options.from ?? '127.0.0.1',
        headers: { 'content-type': 'application/json', ...(options.token ? { authorization: `Bearer ${options.token}` } : {}) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] as string | undefined, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) }),
        );
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

let lastAddress = 0;
/** A fresh client address, so one test's per-IP budget is not another's. */
const address = () => `127.0.1.${++lastAddress}`;

/** A ready tenant with a token, signed up and logged in from its own address. */
async function tenant() {
  const from = address();
  const email = uniqueEmail();
  const password = 'tenant-password-1';
  const signup = await post('/signup', { name: 'Limited', email, password }, { from });
  expect(signup.status).toBe(202);
  const ids = signup.body as { tenant_id: string; db_id: string };
  await octo.waitForDatabase(ids.db_id);
  const login = await post('/token', { email, password }, { from });
  expect(login.status).toBe(200);
  return { ...ids, email, password, from, token: String(login.body.token) };
}

/** Sends until the first refusal (each answer before it `expected`); returns how many passed and the refusal. */
async function untilRefused(send: () => Promise<Answer>, expected = 200, max = 50): Promise<{ passed: number; refusal: Answer }> {
  for (let passed = 0; passed < max; passed++) {
    const answer = await send();
    if (answer.status === 429) return { passed, refusal: answer };
    expect(answer.status).toBe(expected);
  }
  throw new Error(`no 429 after ${max} requests`);
}

const selectOne = (token: string) => () => post('/query', { query: 'SELECT 1 AS n' }, { token });

function expectRateLimited(answer: Answer): void {
  expect(answer.status).toBe(429);
  expect(answer.body.code).toBe('RATE_LIMITED');
  const seconds = Number(answer.retryAfter);
  expect(Number.isInteger(seconds) && seconds >= 1).toBe(true);
  expect(answer.body.retry_after_seconds).toBe(seconds);
}

describe.skipIf(!serversUp)('per-tenant rate limits', () => {
  it('refuses a tenant over its /query rate with 429 and Retry-After, while another tenant is unaffected', async () => {
    const [a, b] = await Promise.all([tenant(), tenant()]);
    const { passed, refusal } = await untilRefused(selectOne(a.token));
    expect(passed).toBe(5);
    expectRateLimited(refusal);
    expect(Number(refusal.retryAfter)).toBeGreaterThan(600); // 5 an hour: the next token is 12 minutes away
    expect(refusal.body.error).toMatch(/\/query/);
    for (let i = 0; i < 5; i++) expect((await selectOne(b.token)()).status).toBe(200);
    // The bucket is in Redis under this OctoDB's MetaDB name, so parallel runs never share one.
    expect(await (await octo.parts.get('redis')).exists(`octodb:rl:${octo.metaDb}:query:${a.tenant_id}`)).toBe(1);
  });

  it('follows a tenant plan set by the operator: a lower and a higher limit than the default', async () => {
    const [low, high] = await Promise.all([tenant(), tenant()]);
    expect(await adminFunction({ action: 'set-limits', tenant: low.email, route: 'query', limit: '2/3600s burst 2' })).toEqual({
      tenant_id: low.tenant_id,
      route: 'query',
      limit: '2/3600s burst 2',
    });
    const lambda = vi.fn((_name: string, payload: Record<string, unknown>) => adminFunction(payload));
    const exit = await adminCommand(['set-limits', '--tenant', high.tenant_id, '--route', 'query', '--limit', '9/3600s burst 9'], { OCTODB_ADMIN_FUNCTION: 'OctoDb-admin' }, lambda);
    expect(exit).toBe(0);
    expect(lambda.mock.calls).toEqual([['OctoDb-admin', { action: 'set-limits', tenant: high.tenant_id, route: 'query', limit: '9/3600s burst 9' }]]);
    const [rows] = await octo.admin.query<RowDataPacket[]>(`SELECT route, per_second, burst FROM \`${octo.metaDb}\`.tenant_rate_limits WHERE tenant_id = ?`, [high.tenant_id]);
    expect(rows.map((r) => ({ ...r }))).toEqual([{ route: 'query', per_second: 9 / 3600, burst: 9 }]);

    expect((await untilRefused(selectOne(low.token))).passed).toBe(2);
    expect((await untilRefused(selectOne(high.token))).passed).toBe(9);
  });

  it('limits /dashboard and /migrate per tenant as well', async () => {
    const t = await tenant();
    await adminFunction({ action: 'set-limits', tenant: t.tenant_id, route: 'dashboard', limit: '1/3600s burst 1' });
    await adminFunction({ action: 'set-limits', tenant: t.tenant_id, route: 'migrate', limit: '1/3600s burst 1' });
    const dashboard = () => post('/dashboard', { action: 'get_user_info' }, { token: t.token });
    const { passed, refusal } = await untilRefused(dashboard);
    expect(passed).toBe(1);
    expectRateLimited(refusal);
    // Refused before the body is even read: a malformed /migrate past the limit costs nothing.
    const migrate = () => post('/migrate', { statements: 'not json we parse' }, { token: t.token });
    expect((await migrate()).status).toBe(400);
    expectRateLimited(await migrate());
    expect((await selectOne(t.token)()).status).toBe(200); // each route has its own bucket
  });

  it('refuses malformed plans and unknown tenants without writing anything', async () => {
    const lambda = vi.fn((_name: string, payload: Record<string, unknown>) => adminFunction(payload));
    const env = { OCTODB_ADMIN_FUNCTION: 'OctoDb-admin' };
    for (const limit of ['lots', '0/s', '10/s burst 0', `${'9'.repeat(400)}/s`]) {
      expect(await adminCommand(['set-limits', '--tenant', 'x@example.com', '--route', 'query', '--limit', limit], env, lambda)).toBe(2);
    }
    expect(await adminCommand(['set-limits', '--tenant', 'x@example.com', '--route', 'signup', '--limit', '1/s'], env, lambda)).toBe(2);
    expect(lambda).not.toHaveBeenCalled();
    const unknown = uniqueEmail();
    expect(await adminCommand(['set-limits', '--tenant', unknown, '--route', 'query', '--limit', '1/s'], env, lambda)).toBe(1);
    expect(lambda.mock.calls).toEqual([['OctoDb-admin', { action: 'set-limits', tenant: unknown, route: 'query', limit: '1/s' }]]);
    const [rows] = await octo.admin.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM \`${octo.metaDb}\`.tenant_rate_limits WHERE per_second = 1`);
    expect(Number(rows[0]!.n)).toBe(0);
  });
});

describe.skipIf(!serversUp)('limits on /signup and /token', () => {
  it('limits signups per client address, before any work: another address is unaffected', async () => {
    const from = address();
    // An unknown template is refused (400) after the limit is taken: every attempt counts.
    const attempt = (at: string) => post('/signup', { name: 'Flood', email: uniqueEmail(), password: 'flood-password', template: 'no-such-template' }, { from: at });
    const { passed, refusal } = await untilRefused(() => attempt(from), 400);
    expect(passed).toBe(3);
    expectRateLimited(refusal);
    expect((await attempt(address())).status).toBe(400);
  });

  it('limits signups per email, whatever the address', async () => {
    const email = uniqueEmail();
    const signup = () => post('/signup', { name: 'Again', email: email.toUpperCase(), password: 'again-password' }, { from: address() });
    expect((await signup()).status).toBe(202);
    expect((await signup()).status).toBe(409);
    expectRateLimited(await signup());
  });

  it('limits /token per client address, known email or not', async () => {
    const from = address();
    const { passed, refusal } = await untilRefused(() => post('/token', { email: uniqueEmail(), password: 'guess' }, { from }), 401);
    expect(passed).toBe(8);
    expectRateLimited(refusal);
  });

  it('limits /token per email, from any address', async () => {
    const t = await tenant(); // its login took one token
    const { passed, refusal } = await untilRefused(() => post('/token', { email: t.email, password: t.password }, { from: address() }));
    expect(passed).toBe(9);
    expectRateLimited(refusal);
  });

  it('locks an email out after repeated failed logins, even for the right password, and no other email', async () => {
    const [victim, other] = await Promise.all([tenant(), tenant()]);
    const from = address();
    for (let i = 0; i < 3; i++) expect((await post('/token', { email: victim.email, password: 'wrong-password' }, { from })).status).toBe(401);
    const locked = await post('/token', { email: victim.email, password: victim.password }, { from: address() });
    expectRateLimited(locked);
    expect((await post('/token', { email: other.email, password: other.password }, { from })).status).toBe(200);
  });

  it('refills the failure budget on a successful login', async () => {
    const t = await tenant();
    const from = address();
    const login = (password: string) => post('/token', { email: t.email, password }, { from });
    for (let i = 0; i < 2; i++) expect((await login('wrong-password')).status).toBe(401);
    expect((await login(t.password)).status).toBe(200);
    const from2 = address();
    for (let i = 0; i < 3; i++) expect((await post('/token', { email: t.email, password: 'wrong-password' }, { from: from2 })).status).toBe(401);
    expectRateLimited(await post('/token', { email: t.email, password: t.password }, { from: from2 }));
  });

  it('locks out an unknown email the same way, so a 429 tells nothing about whether an account exists', async () => {
    const email = uniqueEmail();
    const from = address();
    for (let i = 0; i < 3; i++) expect((await post('/token', { email, password: 'wrong-password' }, { from })).status).toBe(401);
    expectRateLimited(await post('/token', { email, password: 'wrong-password' }, { from }));
  });
});

describe.skipIf(!serversUp)('buckets shared through Redis', () => {
  const limit = { perSecond: 0.001, burst: 20 };
  let connections: Redis[] = [];
  const process = (prefix: string) => {
    const redis = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: 2 });
    connections.push(redis);
    const store = new RedisBuckets(redis, { prefix, timeoutMs: 2000, fallback: new MemoryBuckets() });
    return { store, limiter: new SlicedRateLimiter(store, { sliceSeconds: 100_000, sliceMax: 5 }) };
  };
  afterAll(() => {
    for (const c of connections) c.disconnect();
    connections = [];
  });

  it('runs the bucket arithmetic in the Redis script exactly as in TypeScript', async () => {
    const { store } = process(`octodb:rl:${octo.metaDb}:script:`);
    const redis = await octo.parts.get('redis');
    for (const [label, state, l, want, now, expected, debt] of BUCKET_CASES) {
      const key = `case:${label}`;
      const full = `octodb:rl:${octo.metaDb}:script:${key}`;
      await redis.del(full);
      if (state) await redis.hset(full, 'n', String(state.tokens), 't', String(state.atMs));
      const [granted, waitMs] = await store.drawAt(key, l, want, now, debt);
      expect({ granted, waitMs }, label).toEqual({ granted: expected.granted, waitMs: expected.waitMs });
      expect(Number(await redis.hget(full, 'n')), label).toBeCloseTo(expected.tokens, 9);
      expect(await redis.pttl(full), label).toBeGreaterThan(0); // forgotten once it would be full again
    }
  });

  it('lets two processes together pass the burst, not twice it, within one slice of precision', async () => {
    const prefix = `octodb:rl:${octo.metaDb}:shared:`;
    const a = process(prefix).limiter;
    const b = process(prefix).limiter;
    expect((await a.take('query:t', limit)).allowed).toBe(true); // a drew a slice of 5 and holds 4
    let passedB = 0;
    while ((await b.take('query:t', limit)).allowed) passedB++;
    expect(passedB).toBe(15); // refused while a holds 4 unspent: at most slice − 1 early
    let passedA = 0;
    while ((await a.take('query:t', limit)).allowed) passedA++;
    expect(1 + passedB + passedA).toBe(20);
    // Another namespace (another OctoDB or test run on the same Redis) has its own bucket.
    expect((await process(`octodb:rl:${octo.metaDb}:other:`).limiter.take('query:t', limit)).allowed).toBe(true);
  });

  it('keeps limiting per process, without failing a request, while Redis is unreachable', async () => {
    const down = new Redis('redis://127.0.0.1:1', { maxRetriesPerRequest: 2 });
    connections.push(down);
    down.on('error', () => undefined);
    const limiter = new DirectRateLimiter(new RedisBuckets(down, { prefix: 'octodb:rl:unreachable:', timeoutMs: 250, fallback: new MemoryBuckets() }));
    const decisions = [];
    for (let i = 0; i < 4; i++) decisions.push(await limiter.take('signup-ip:203.0.113.9', { perSecond: 0.001, burst: 3 }));
    expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, false]);
  });
});

describe.skipIf(!serversUp)('/query pays for what it costs', () => {
  // A slow refill (nothing comes back during the test), a 1 s statement limit, the default 10 ms per token.
  let costly: TestOctoDb;
  beforeAll(async () => {
    costly = await startTestOctoDb({ OCTODB_RATE_QUERY: '10/3600s burst 50', OCTODB_QUERY_TIMEOUT_MS: '1000' });
  });
  afterAll(async () => costly?.close());

  const signedIn = async () => {
    const t = await costly.signUp();
    await costly.waitForDatabase(t.db_id);
    return { ...t, token: await costly.token(t.email, t.password) };
  };
  const query = (token: string, sql: string) => costly.post('/query', { query: sql }, token);
  // 9·10^8 row pairs, under the 10^9 planning bound: it runs until the statement time limit stops it.
  const UNTIL_STOPPED = 'SELECT COUNT(*) AS n FROM seq_1_to_30000 a JOIN seq_1_to_30000 b ON a.seq + b.seq = 5';
  // 10^10 row pairs: refused at planning.
  const TOO_BIG = 'SELECT COUNT(*) AS n FROM seq_1_to_100000 a JOIN seq_1_to_100000 b ON a.seq * b.seq = 5';

  it('charges the time a statement held its connection: after one stopped at 1 s the tenant is refused, another is not', async () => {
    const [slow, other] = await Promise.all([signedIn(), signedIn()]);
    const stopped = await query(slow.token, UNTIL_STOPPED);
    expect({ status: stopped.status, code: stopped.body.code }).toEqual({ status: 408, code: 'STATEMENT_TIMEOUT' });
    // ≥ 1000 ms held: ≥ 90 tokens (past the free 100 ms) from a bucket of 49 left.
    const after = await query(slow.token, 'SELECT 1 AS n');
    expect(after.status).toBe(429);
    expect(after.body.code).toBe('RATE_LIMITED');
    expect(Number(after.body.retry_after_seconds)).toBeGreaterThan(42 * 360 - 60); // ≥ 41 tokens owed (and one to take) at 10 an hour, less what the seconds since refilled
    const bucket = await (await costly.parts.get('redis')).hget(`octodb:rl:${costly.metaDb}:query:${slow.tenant_id}`, 'n');
    expect(Number(bucket)).toBeLessThan(-40); // less what the seconds since refilled
    // The same number of cheap statements costs another tenant nothing beyond a token each.
    for (let i = 0; i < 10; i++) expect((await query(other.token, 'SELECT 1 AS n')).status).toBe(200);
  });

  it('charges a batch a token per statement, as its statements sent one by one: 40 in two batches leave at most 10 of 50', async () => {
    const [batcher, other] = await Promise.all([signedIn(), signedIn()]);
    const batch = { statements: Array.from({ length: 20 }, () => ({ query: 'SELECT 1 AS n' })) };
    for (let i = 0; i < 2; i++) expect((await costly.post('/query', batch, batcher.token)).status).toBe(200);
    let passed = 0;
    while (passed < 50 && (await query(batcher.token, 'SELECT 1 AS n')).status === 200) passed++;
    // At most the 10 tokens the batches left (fewer if their connection time was charged too).
    expect(passed).toBeLessThanOrEqual(10);
    for (let i = 0; i < 10; i++) expect((await query(other.token, 'SELECT 1 AS n')).status).toBe(200);
  });

  it('charges a statement refused as too big 20 tokens: repeating it is refused with 429 after the third', async () => {
    const [repeater, other] = await Promise.all([signedIn(), signedIn()]);
    const answers: Array<number | unknown> = [];
    for (let i = 0; i < 5; i++) {
      const res = await query(repeater.token, TOO_BIG);
      answers.push(res.status === 400 ? res.body.code : res.status);
    }
    // 50 tokens: each refusal takes 1 + 20 (and its few ms of connection time): the fourth finds none.
    expect(answers).toEqual(['QUERY_TOO_BIG', 'QUERY_TOO_BIG', 'QUERY_TOO_BIG', 429, 429]);
    for (let i = 0; i < 10; i++) expect((await query(other.token, 'SELECT 1 AS n')).status).toBe(200);
  });
});
