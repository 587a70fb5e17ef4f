import { randomUUID } from 'node:crypto';
import bcrypt from 'bcryptjs';
import type { RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseName, databaseUser, newDbId } from '#core/ids';
import { type MailgunCapture, startMailgunCapture } from '../support/mailgun-capture.ts';
import { startTestOctoDb, type TestOctoDb, uniqueEmail } from '../support/octodb.ts';
import { serversUp } from '../support/servers.ts';

let mailgun: MailgunCapture;
beforeAll(async () => {
  mailgun = await startMailgunCapture();
});
afterAll(() => mailgun?.close());

const PASSWORD = 'a-long-password';

function helpers(octo: () => TestOctoDb) {
  const count = async (sql: string, params: unknown[] = []) => {
    const [rows] = await octo().admin.query<RowDataPacket[]>(sql, params);
    return Number(rows[0]?.n);
  };
  return {
    count,
    meta: (table: string) => `\`${octo().metaDb}\`.${table}`,
    schemaExists: (dbId: string) => count('SELECT COUNT(*) AS n FROM information_schema.schemata WHERE schema_name = ?', [databaseName(dbId)]),
    signup: (email: string, password = PASSWORD) => octo().post('/signup', { name: 'Guarded', email, password }),
  };
}

describe.skipIf(!serversUp)('the per-host cap on tenant databases', () => {
  const CAP = 3;
  let octo: TestOctoDb;
  const h = helpers(() => octo);
  beforeAll(async () => {
    octo = await startTestOctoDb({ OCTODB_HOST_MAX_DATABASES: String(CAP) });
  });
  afterAll(async () => octo?.close());
  const onHost = () => h.count(`SELECT COUNT(*) AS n FROM ${h.meta('tenant_databases')} WHERE host_id = 'local'`);

  it('answers 503 NO_CAPACITY with a retry hint past the cap and creates nothing, also when signups race for the last place', async () => {
    for (let i = 0; i < CAP - 1; i++) expect((await h.signup(uniqueEmail())).status).toBe(202);
    const racers = Array.from({ length: 4 }, () => uniqueEmail());
    const raced = await Promise.all(racers.map((email) => h.signup(email)));
    expect(raced.map((r) => r.status).sort()).toEqual([202, 503, 503, 503]);
    for (const refused of raced.filter((r) => r.status === 503)) {
      expect(refused.body).toEqual({ error: expect.stringMatching(/capacity/i), code: 'NO_CAPACITY', retry_after_seconds: expect.any(Number) });
    }
    expect(await onHost()).toBe(CAP);
    const refusedEmails = racers.filter((_, i) => raced[i]!.status === 503);
    expect(await h.count(`SELECT COUNT(*) AS n FROM ${h.meta('tenants')} WHERE email IN (?)`, [refusedEmails])).toBe(0);

    const late = await h.signup(uniqueEmail());
    expect(late).toMatchObject({ status: 503, body: { code: 'NO_CAPACITY' } });
    expect(await onHost()).toBe(CAP);
  });

  it('does not count failed databases, and holds the retry of a failed one to the cap like a new signup', async () => {
    await octo.invoker.idle();
    const [[victim]] = await octo.admin.query<RowDataPacket[]>(`SELECT t.email, d.db_id FROM ${h.meta('tenants')} t JOIN ${h.meta('tenant_databases')} d USING (tenant_id) ORDER BY d.created_at LIMIT 1`);
    await octo.admin.query(`UPDATE ${h.meta('tenant_databases')} SET status = 'failed' WHERE db_id = ?`, [victim!.db_id]);
    const fresh = await h.signup(uniqueEmail());
    expect(fresh.status).toBe(202);
    // The host is full again: the failed one's owner retrying its signup is refused like a new signup.
    const retry = await h.signup(String(victim!.email));
    expect(retry).toMatchObject({ status: 503, body: { code: 'NO_CAPACITY' } });
    const [[row]] = await octo.admin.query<RowDataPacket[]>(`SELECT status FROM ${h.meta('tenant_databases')} WHERE db_id = ?`, [victim!.db_id]);
    expect(row!.status).toBe('failed');
  });

  it('provisions a database left unverified when verification was switched off, once its owner signs up again within the cap', async () => {
    const email = uniqueEmail();
    const tenantId = randomUUID();
    const dbId = newDbId();
    await octo.admin.query(`INSERT INTO ${h.meta('tenants')} (tenant_id, name, email, password_hash) VALUES (?, 'Old', ?, ?)`, [tenantId, email, bcrypt.hashSync(PASSWORD, 4)]);
    await octo.admin.query(
      `INSERT INTO ${h.meta('tenant_databases')} (db_id, tenant_id, host_id, template, status, mysql_user) VALUES (?, ?, 'local', 'default', 'unverified', ?)`,
      [dbId, tenantId, databaseUser(dbId)],
    );
    // The host is full: the owner waits like any new signup.
    expect(await h.signup(email)).toMatchObject({ status: 503, body: { code: 'NO_CAPACITY' } });
    await octo.admin.query(`UPDATE ${h.meta('tenant_databases')} SET status = 'failed' WHERE status = 'ready' ORDER BY created_at LIMIT 1`);
    expect(await h.signup(email)).toMatchObject({ status: 202, body: { db_id: dbId, status: 'provisioning' } });
    expect((await octo.waitForDatabase(dbId)).status).toBe('ready');
  });
});

describe.skipIf(!serversUp)('email verification before provisioning', () => {
  const MAX_ATTEMPTS = 3;
  let octo: TestOctoDb;
  const h = helpers(() => octo);
  beforeAll(async () => {
    octo = await startTestOctoDb({
      OCTODB_SIGNUP_VERIFY_EMAIL: 'true',
      OCTODB_SIGNUP_CODE_MAX_ATTEMPTS: String(MAX_ATTEMPTS),
      OCTODB_MAILGUN_API_KEY: 'key-test-123',
      OCTODB_MAILGUN_DOMAIN: 'mg.example.com',
      OCTODB_MAILGUN_URL: mailgun.url,
    });
  });
  afterAll(async () => octo?.close());

  /** The last code Mailgun was asked to send to `email`. */
  const codeFor = (email: string): string => {
    const mail = mailgun.mails.filter((m) => m.fields.to === email).at(-1);
    const code = /\b(\d{8})\b/.exec(mail?.fields.text ?? '')?.[1];
    if (!code) throw new Error(`no code mailed to ${email}`);
    return code;
  };
  const statusOf = async (dbId: string) => {
    const [[row]] = await octo.admin.query<RowDataPacket[]>(`SELECT status FROM ${h.meta('tenant_databases')} WHERE db_id = ?`, [dbId]);
    return row?.status as string | undefined;
  };
  const verify = (email: string, code: string) => octo.post('/verify', { email, code });

  it('provisions nothing until the emailed code comes back, then provisions once', async () => {
    const email = uniqueEmail();
    const res = await h.signup(email);
    expect(res).toMatchObject({ status: 202, body: { status: 'unverified' } });
    const dbId = String(res.body.db_id);
    const code = codeFor(email);
    expect(mailgun.mails.filter((m) => m.fields.to === email)).toHaveLength(1);
    expect(mailgun.mails.at(-1)?.fields).toMatchObject({ from: expect.any(String), subject: expect.stringMatching(/verification code/i) });

    // Only the code's hash is stored; nothing exists on the host; no token before verifying.
    const [[stored]] = await octo.admin.query<RowDataPacket[]>(`SELECT code_hash, attempts FROM ${h.meta('signup_verifications')} WHERE db_id = ?`, [dbId]);
    expect(stored).toMatchObject({ code_hash: expect.stringMatching(/^[0-9a-f]{64}$/), attempts: 0 });
    expect(JSON.stringify(stored)).not.toContain(code);
    await octo.invoker.idle();
    expect(await statusOf(dbId)).toBe('unverified');
    expect(await h.schemaExists(dbId)).toBe(0);
    expect(await octo.post('/token', { email, password: PASSWORD })).toMatchObject({ status: 403, body: { code: 'EMAIL_NOT_VERIFIED' } });

    // An unknown field is refused before the code is looked at: no attempt spent, the code still good.
    expect(await octo.post('/verify', { email, code, remember: true })).toMatchObject({ status: 400, body: { problems: [{ field: 'remember', problem: 'unknown field' }] } });
    expect(await h.count(`SELECT attempts AS n FROM ${h.meta('signup_verifications')} WHERE db_id = ?`, [dbId])).toBe(0);
    expect(await verify(email, code)).toEqual({ status: 202, body: { tenant_id: res.body.tenant_id, db_id: dbId, status: 'provisioning' } });
    expect((await octo.waitForDatabase(dbId)).status).toBe('ready');
    expect(await h.schemaExists(dbId)).toBe(1);
    expect((await octo.post('/token', { email, password: PASSWORD })).status).toBe(200);

    // Single use: the same code again is refused, and nothing is provisioned twice.
    expect(await verify(email, code)).toMatchObject({ status: 401, body: { code: 'INVALID_CODE' } });
    expect(await h.count(`SELECT COUNT(*) AS n FROM ${h.meta('signup_verifications')} WHERE db_id = ?`, [dbId])).toBe(0);
  });

  it('refuses wrong codes, then every code once the attempts are spent; signing up again mails a new code that works', async () => {
    const email = uniqueEmail();
    const dbId = String((await h.signup(email)).body.db_id);
    const code = codeFor(email);
    const wrong = code === '00000000' ? '11111111' : '00000000';
    for (let i = 0; i < MAX_ATTEMPTS; i++) {
      expect(await verify(email, wrong)).toMatchObject({ status: 401, body: { error: 'Invalid or expired code', code: 'INVALID_CODE' } });
    }
    expect(await verify(email, code)).toMatchObject({ status: 401, body: { code: 'TOO_MANY_ATTEMPTS' } });
    expect(await statusOf(dbId)).toBe('unverified');

    // Someone without the password cannot ask for a new code.
    expect((await h.signup(email, 'not-the-password')).status).toBe(409);
    const again = await h.signup(email);
    expect(again).toMatchObject({ status: 202, body: { db_id: dbId, status: 'unverified' } });
    const fresh = codeFor(email);
    expect(await verify(email, fresh)).toMatchObject({ status: 202, body: { status: 'provisioning' } });
    expect((await octo.waitForDatabase(dbId)).status).toBe('ready');
  });

  it('refuses an expired code as expired', async () => {
    const email = uniqueEmail();
    const dbId = String((await h.signup(email)).body.db_id);
    await octo.admin.query(`UPDATE ${h.meta('signup_verifications')} SET expires_at = CURRENT_TIMESTAMP(3) - INTERVAL 1 SECOND WHERE db_id = ?`, [dbId]);
    expect(await verify(email, codeFor(email))).toMatchObject({ status: 401, body: { code: 'CODE_EXPIRED' } });
    expect(await statusOf(dbId)).toBe('unverified');
  });

  it('answers an unknown email like a wrong code, and a malformed code with 400 without spending an attempt', async () => {
    expect(await verify(uniqueEmail(), '12345678')).toMatchObject({ status: 401, body: { code: 'INVALID_CODE' } });
    const email = uniqueEmail();
    const dbId = String((await h.signup(email)).body.db_id);
    for (const code of ['1234567', '123456789', 'abcdefgh', ' '.repeat(10_000), '1'.repeat(60_000)]) {
      expect((await verify(email, code)).status, code.slice(0, 10)).toBe(400);
    }
    expect((await octo.post('/verify', { email })).status).toBe(400);
    expect(await h.count(`SELECT attempts AS n FROM ${h.meta('signup_verifications')} WHERE db_id = ?`, [dbId])).toBe(0);
  });

  it('answers 503 when the code cannot be mailed, and signing up again sends one', async () => {
    const email = uniqueEmail();
    mailgun.outage = 10; // mailgun.js does not retry: one refusal fails the send
    const first = await h.signup(email);
    mailgun.outage = 0;
    expect(first.status).toBe(503);
    const again = await h.signup(email);
    expect(again).toMatchObject({ status: 202, body: { status: 'unverified' } });
    expect(await verify(email, codeFor(email))).toMatchObject({ status: 202 });
  });
});
