import jwt from 'jsonwebtoken';
import type { RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestOctoDb, type TestOctoDb } from '../support/octodb.ts';
import { serversUp } from '../support/servers.ts';

let octo: TestOctoDb;
let tenant: Awaited<ReturnType<TestOctoDb['signUp']>>;
beforeAll(async () => {
  octo = await startTestOctoDb();
  tenant = await octo.signUp();
  await octo.waitForDatabase(tenant.db_id);
});
afterAll(async () => octo?.close());

/** /dashboard get_user_info with this Authorization header: its status, and the tenant it answered for. */
const guarded = async (authorization?: string) => {
  const res = await fetch(`${octo.url}/dashboard`, {
    method: 'POST',
    headers: authorization ? { authorization } : {},
    body: JSON.stringify({ action: 'get_user_info' }),
  });
  const body = (await res.json()) as { tenant_id?: unknown };
  return res.status === 200 ? `200 ${String(body.tenant_id)}` : res.status;
};
/** Let through by LF0 and answered by the handler with the context LF0 injected: this tenant's own info. */
const passes = (answer: string | number) => answer === `200 ${tenant.tenant_id}`;

describe.skipIf(!serversUp)('POST /token', () => {
  it('issues a token carrying tenant_id, db_id, is_admin, jti and exp', async () => {
    const res = await octo.post<{ token: string; expires_at: string }>('/token', { email: tenant.email, password: tenant.password });
    expect(res.status).toBe(200);
    const claims = jwt.verify(res.body.token, await octo.parts.get('jwtSecret'), { algorithms: ['HS256'] }) as jwt.JwtPayload;
    expect(claims).toMatchObject({ tenant_id: tenant.tenant_id, db_id: tenant.db_id, is_admin: false });
    expect(claims.jti).toMatch(/^[0-9a-f-]{36}$/);
    expect(new Date(res.body.expires_at).getTime()).toBe(claims.exp! * 1000);
  });

  it('answers wrong password and unknown email with the same 401', async () => {
    const wrong = await octo.post('/token', { email: tenant.email, password: 'wrong-password' });
    const unknown = await octo.post('/token', { email: 'nobody@example.com', password: 'wrong-password' });
    expect(wrong).toEqual({ status: 401, body: { error: 'Invalid email or password' } });
    expect(unknown).toEqual(wrong);
  });

  it('returns the current token with read=true and issues none', async () => {
    const issued = await octo.post<{ token: string }>('/token', { email: tenant.email, password: tenant.password });
    const read = await octo.post<{ token: string }>('/token', { email: tenant.email, password: tenant.password, read: true });
    expect(read.status).toBe(200);
    expect(read.body.token).toBe(issued.body.token);
    expect(passes(await guarded(`Bearer ${issued.body.token}`))).toBe(true);
  });

  it('answers read=true with 404 when no token was issued yet', async () => {
    const fresh = await octo.signUp();
    const res = await octo.post('/token', { email: fresh.email, password: fresh.password, read: true });
    expect(res.status).toBe(404);
  });

  it('revokes the previous token when it issues a new one', async () => {
    const first = await octo.token(tenant.email, tenant.password);
    expect(passes(await guarded(`Bearer ${first}`))).toBe(true);
    const second = await octo.token(tenant.email, tenant.password);
    expect(await guarded(`Bearer ${first}`)).toBe(401);
    expect(passes(await guarded(`Bearer ${second}`))).toBe(true);
  });

  it('keeps revocation when the Redis cache is lost (falls back to MetaDB)', async () => {
    const first = await octo.token(tenant.email, tenant.password);
    const second = await octo.token(tenant.email, tenant.password);
    await (await octo.parts.get('registry')).forget(tenant.tenant_id);
    expect(await guarded(`Bearer ${first}`)).toBe(401);
    expect(passes(await guarded(`Bearer ${second}`))).toBe(true);
  });

  it('keeps Redis and MetaDB on one current token under 20 concurrent issuances', async () => {
    // Repeated: one round interleaves the issuances only sometimes.
    for (let round = 0; round < 5; round++) {
      const results = await Promise.all(
        Array.from({ length: 20 }, () => octo.post<{ token: string }>('/token', { email: tenant.email, password: tenant.password })),
      );
      expect(results.map((r) => r.status)).toEqual(Array(20).fill(200));
      const read = await octo.post<{ token: string }>('/token', { email: tenant.email, password: tenant.password, read: true });
      const answers = await Promise.all(results.map((r) => guarded(`Bearer ${r.body.token}`)));
      const passing = results.filter((_, i) => passes(answers[i]!)).map((r) => r.body.token);
      expect(passing).toEqual([read.body.token]);
      expect(answers.filter((a) => !passes(a))).toEqual(Array(19).fill(401));
      const [rows] = await octo.admin.query<RowDataPacket[]>(`SELECT jti FROM \`${octo.metaDb}\`.issued_tokens WHERE tenant_id = ?`, [tenant.tenant_id]);
      expect(await (await octo.parts.get('redis')).get(`octodb:token:${tenant.tenant_id}`)).toBe(rows[0]!.jti);
      expect((jwt.decode(read.body.token) as { jti: string }).jti).toBe(rows[0]!.jti);
    }
  });

  it.each([
    ['missing email', { password: 'x' }],
    ['missing password', { email: 'a@b.co' }],
    ['email of wrong type', { email: 7, password: 'x' }],
    ['read as a string', { email: 'a@b.co', password: 'x', read: 'true' }],
    ['oversized password', { email: 'a@b.co', password: 'p'.repeat(2000) }],
  ])('answers 400 for %s', async (_label, body) => {
    const res = await octo.post('/token', body);
    expect(res.status).toBe(400);
    expect(res.body.error).toEqual(expect.any(String));
  });
});

describe.skipIf(!serversUp)('LF0 authorizer', () => {
  const current = async () => octo.token(tenant.email, tenant.password);
  const parts = (token: string) => token.split('.') as [string, string, string];
  const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

  it('guards /dashboard, /query and /migrate: no token, no entry', async () => {
    for (const path of ['/dashboard', '/query', '/migrate']) {
      const res = await fetch(`${octo.url}${path}`, { method: 'POST', body: '{}' });
      expect(res.status).toBe(401);
    }
  });

  it.each<[string, (token: string, secret: string) => string]>([
    ['alg=none', (t) => `${b64({ alg: 'none', typ: 'JWT' })}.${parts(t)[1]}.`],
    ['a wrong key', (t) => jwt.sign(jwt.decode(t) as object, 'another-key-that-is-long-enough-0123456789')],
    ['a tampered payload', (t) => {
      const payload = jwt.decode(t) as Record<string, unknown>;
      return `${parts(t)[0]}.${b64({ ...payload, is_admin: true })}.${parts(t)[2]}`;
    }],
    ['HS512 instead of HS256', (t, s) => jwt.sign(jwt.decode(t) as object, s, { algorithm: 'HS512' })],
    ['an expired token', (t, s) => {
      const { exp: _exp, iat: _iat, ...claims } = jwt.decode(t) as Record<string, unknown>;
      return jwt.sign({ ...claims, exp: Math.floor(Date.now() / 1000) - 10 }, s);
    }],
    ['a well-signed token with an unknown jti', (t, s) => {
      const { exp: _exp, iat: _iat, ...claims } = jwt.decode(t) as Record<string, unknown>;
      return jwt.sign({ ...claims, jti: '00000000-0000-0000-0000-000000000000' }, s, { expiresIn: 600 });
    }],
    ['a well-signed token without tenant_id', (t, s) => {
      const { exp: _exp, iat: _iat, tenant_id: _t, ...claims } = jwt.decode(t) as Record<string, unknown>;
      return jwt.sign(claims, s, { expiresIn: 600 });
    }],
    ['garbage', () => 'not.a.token'],
  ])('denies %s with 401', async (_label, forge) => {
    const token = await current();
    expect(passes(await guarded(`Bearer ${token}`))).toBe(true);
    expect(await guarded(`Bearer ${forge(token, await octo.parts.get('jwtSecret'))}`)).toBe(401);
  });

  it.each([['Basic dXNlcjpwYXNz'], ['Bearer'], ['bearer'], ['token-without-scheme']])(
    'denies the Authorization header %j with 401',
    async (header) => {
      expect(await guarded(header)).toBe(401);
    },
  );
});
