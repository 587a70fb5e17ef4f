import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GATEWAY_ROUTES, ROUTES } from '#shared/http-api';
import { OPENAPI_PATH } from '#shared/openapi';
import { OPENAPI_FILE } from '../../bin/openapi.ts';
import { dashboardActions } from '../../lambdas/dashboard/actions.ts';
import { startTestOctoDb, type TestOctoDb, uniqueEmail } from '../support/octodb.ts';
import { openApiValidator } from '../support/openapi.ts';
import { serversUp } from '../support/servers.ts';
import { waitFor } from '../support/wait.ts';

/**
 * Real answers against the OpenAPI document: requests through the local gateway (signup → token →
 * query → migrate → every /dashboard action, and the errors a client meets), each answer's body
 * validated against the schema the document gives for its route and status. The schemas are
 * strict, so a field an answer has and the document does not (or the other way round) fails here.
 */
const document = JSON.parse(readFileSync(OPENAPI_FILE, 'utf8'));
const validator = openApiValidator(document);
const actionSchemas = document.paths['/dashboard'].post.responses['200']['x-action-responses'] as Record<string, { $ref: string }>;

interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

let octo: TestOctoDb;
/** Every `METHOD path status` (and `dashboard action`) answered and found as described. */
const checked = new Set<string>();

/** Sends one request and checks its answer against the document; returns it for the test's own assertions. */
async function call(method: 'GET' | 'POST', path: string, body?: unknown, token?: string): Promise<Answer> {
  const res = await fetch(`${octo.url}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const answer = { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
  expect(validator.response(method, path, answer.status, answer.body), `${method} ${path} ${answer.status} ${JSON.stringify(answer.body).slice(0, 500)}`).toEqual([]);
  const retryAfter = document.paths[path][method.toLowerCase()].responses[answer.status].headers?.['Retry-After'];
  if (retryAfter) expect(answer.headers.get('retry-after'), `${path} ${answer.status} Retry-After`).toMatch(/^[1-9][0-9]*$/);
  checked.add(`${method} ${path} ${answer.status}`);
  return answer;
}

/** A /dashboard action: as described for the route, and by its own action's schema. */
async function dashboard(action: string, params: Record<string, unknown> = {}, token = tenant.token): Promise<Answer> {
  const answer = await call('POST', '/dashboard', { action, ...params }, token);
  expect(answer.status, `${action}: ${JSON.stringify(answer.body)}`).toBe(200);
  expect(validator.component(actionSchemas[action]!.$ref.split('/').pop()!, answer.body), action).toEqual([]);
  checked.add(`dashboard ${action}`);
  return answer;
}

let tenant: { tenant_id: string; db_id: string; email: string; password: string; token: string };
let batchId: string;
let jobId: string;

const outbox = join(mkdtempSync(join(tmpdir(), 'octodb-openapi-')), 'outbox.jsonl');
/** The code in the last email to `email` (the outbox notifier's JSON lines). */
const codeFor = (email: string): string => {
  const mails = readFileSync(outbox, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { to: string; text: string });
  return /\b(\d{8})\b/.exec(mails.filter((m) => m.to === email).at(-1)?.text ?? '')![1]!;
};

beforeAll(async () => {
  if (!serversUp) return;
  octo = await startTestOctoDb({
    // Email verification on: /signup answers `unverified`, /verify provisions.
    OCTODB_SIGNUP_VERIFY_EMAIL: 'true',
    OCTODB_OUTBOX_FILE: outbox,
    // A low per-email signup rate: the third signup of one email is a 429.
    OCTODB_RATE_SIGNUP_PER_EMAIL: '1/3600s burst 2',
  });
});
afterAll(async () => {
  await octo?.close();
  rmSync(dirname(outbox), { recursive: true, force: true });
});

describe.skipIf(!serversUp)('real answers against docs/openapi.json', () => {
  it('GET /openapi.json serves the document without a token; GET /health is as described', async () => {
    const res = await fetch(`${octo.url}${OPENAPI_PATH}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(await res.json()).toEqual(document);
    expect((await fetch(`${octo.url}${OPENAPI_PATH}`, { method: 'POST' })).status).toBe(403);
    expect((await call('GET', '/health')).body).toEqual({ status: 'ok' });
  });

  it('signup, verify, token (new and read back) and their refusals', async () => {
    const email = uniqueEmail();
    const password = 'correct horse battery';
    const signedUp = await call('POST', '/signup', { name: 'Ada', email, password });
    expect(signedUp.body.status).toBe('unverified');
    expect((await call('POST', '/signup', { name: 'Ada', email, password: 'another password' })).status).toBe(409);
    const limited = await call('POST', '/signup', { name: 'Ada', email, password });
    expect(limited.status).toBe(429);
    expect(limited.body.code).toBe('RATE_LIMITED');
    expect((await call('POST', '/signup', { name: 'Ada', email: uniqueEmail(), password, plan: 'free' })).status).toBe(400);
    expect((await call('POST', '/token', { email, password })).body.code).toBe('EMAIL_NOT_VERIFIED');
    const code = codeFor(email);
    expect((await call('POST', '/verify', { email, code: code === '00000000' ? '11111111' : '00000000' })).body.code).toBe('INVALID_CODE');
    expect((await call('POST', '/verify', { email, code: 'abc' })).status).toBe(400);
    const verified = await call('POST', '/verify', { email, code });
    expect(verified.body).toEqual({ ...signedUp.body, status: 'provisioning' });
    const { db_id, tenant_id } = signedUp.body as { db_id: string; tenant_id: string };
    await octo.waitForDatabase(db_id);

    const issued = await call('POST', '/token', { email, password });
    expect(issued.status).toBe(200);
    expect((await call('POST', '/token', { email, password, read: true })).body.token).toBe(issued.body.token);
    expect((await call('POST', '/token', { email, password: 'wrong password' })).status).toBe(401);
    expect((await call('POST', '/token', { email, password, raed: true })).body.problems).toEqual([{ field: 'raed', problem: 'unknown field' }]);
    tenant = { tenant_id, db_id, email, password, token: issued.body.token as string };
  });

  it('query: a write, a read, and the errors (bad SQL, prohibited, not yours, no token, too large)', async () => {
    const q = (body: unknown, token: string | null = tenant.token) => call('POST', '/query', body, token ?? undefined);
    const inserted = await q({ query: 'INSERT INTO customers (name, email) VALUES (?, ?)', params: ['Ada', 'ada@example.com'] });
    expect(inserted.body).toMatchObject({ rowsAffected: 1, insertId: '1' });
    const read = await q({ query: 'SELECT id, name, created_at FROM customers WHERE name = ?', params: ['Ada'] });
    expect(read.body).toMatchObject({ rowsAffected: 1, truncated: false, data: [{ id: '1', name: 'Ada' }] });
    expect((await q({ query: 'SELECT * FROM nowhere' })).body.code).toBe('ER_NO_SUCH_TABLE');
    expect((await q({ query: 'SELECT 1', parms: [] })).status).toBe(400);
    expect((await q({ query: 'DROP TABLE customers' })).body.code).toBe('PROHIBITED');
    expect((await q({ query: 'SELECT 1', db_id: '0'.repeat(32) })).status).toBe(404);
    expect((await q({ query: 'SELECT 1' }, null)).status).toBe(401);
    expect((await q({ query: 'SELECT 1' }, 'not-a-token')).status).toBe(401);
    expect((await q({ query: `SELECT '${'x'.repeat(1024 * 1024)}'` })).status).toBe(413);
  });

  it('query batches: results per statement, and a failed transaction rolled back', async () => {
    const q = (body: unknown) => call('POST', '/query', body, tenant.token);
    const batch = await q({ statements: [{ query: 'SELECT COUNT(*) AS n FROM customers' }, { query: 'UPDATE customers SET name = ? WHERE id = 1', params: ['Ada L.'] }], transaction: true });
    expect((batch.body.results as unknown[]).length).toBe(2);
    const failed = await q({ statements: [{ query: "UPDATE customers SET name = 'gone'" }, { query: 'SELECT * FROM nowhere' }], transaction: true });
    expect(failed.body).toMatchObject({ statement: 1, rolled_back: true, code: 'ER_NO_SUCH_TABLE' });
    const partly = await q({ statements: [{ query: 'SELECT 1 AS one' }, { query: 'SELECT * FROM nowhere' }] });
    expect((partly.body.results as unknown[]).length).toBe(1);
  });

  it('API keys: created, used within their scope, refused outside it, listed, revoked', async () => {
    const created = await dashboard('create_api_key', { name: 'reports', scope: 'read' });
    const key = created.body.key as string;
    expect((await call('POST', '/query', { query: 'SELECT COUNT(*) AS n FROM customers' }, key)).status).toBe(200);
    expect((await call('POST', '/query', { query: "DELETE FROM customers WHERE name = 'x'" }, key)).body.code).toBe('KEY_SCOPE');
    expect((await call('POST', '/migrate', { sql: 'CREATE TABLE k (id int PRIMARY KEY);' }, key)).body.code).toBe('KEY_SCOPE');
    expect((await call('POST', '/dashboard', { action: 'list_api_keys' }, key)).body.code).toBe('TOKEN_ONLY');
    expect((await dashboard('list_api_keys')).body.keys).toEqual([expect.objectContaining({ key_id: created.body.key_id, status: 'active' })]);
    await dashboard('revoke_api_key', { key_id: created.body.key_id });
    expect((await call('POST', '/query', { query: 'SELECT 1' }, key)).status).toBe(401);
    expect((await call('POST', '/dashboard', { action: 'revoke_api_key', key_id: randomUUID() }, tenant.token)).body.code).toBe('API_KEY_NOT_FOUND');
  });

  it('migrate: a batch queued, and statements refused with their verdicts', async () => {
    const m = (sql: string) => call('POST', '/migrate', { sql }, tenant.token);
    const queued = await m('CREATE TABLE items (id int unsigned NOT NULL AUTO_INCREMENT, name varchar(100) NOT NULL, PRIMARY KEY (id));');
    expect(queued.status).toBe(202);
    batchId = queued.body.batch_id as string;
    jobId = (queued.body.jobs as { job_id: string }[])[0]!.job_id;
    expect((await m('CREATE TABLE t (id int PRIMARY KEY)')).status).toBe(400);
    const refused = await m('DROP TABLE customers;');
    expect(refused.status).toBe(403);
    expect(refused.body.statements).toEqual([expect.objectContaining({ index: 1, valid: false, kind: 'prohibited' })]);
  });

  it('dashboard: every action, once there are logs, query records and a finished migration', async () => {
    await waitFor(async () => ((await dashboard('get_migration_status', { job_id: jobId })).body.state === 'succeeded' ? true : false), {
      timeoutMs: 60_000,
      intervalMs: 200,
      what: 'the migration job to succeed',
    });
    await octo.logQueue.idle();
    await dashboard('get_user_info');
    await dashboard('list_databases');
    await dashboard('get_database_metadata');
    expect(((await dashboard('get_database_tables')).body.tables as unknown[]).length).toBe(3);
    expect(((await dashboard('get_log_table', { limit: 100 })).body.items as unknown[]).length).toBeGreaterThan(0);
    expect(((await dashboard('get_query_logs', { limit: 100 })).body.items as unknown[]).length).toBeGreaterThan(0);
    expect(((await dashboard('get_query_stats')).body.total as { count: number }).count).toBeGreaterThan(0);
    const batch = await dashboard('get_migration_status', { batch_id: batchId });
    expect(batch.body).toMatchObject({ counts: { succeeded: 1 }, total: 1 });
    expect(((batch.body.jobs as { stages: unknown[] }[])[0]!.stages).length).toBeGreaterThan(0);
    const listed = await dashboard('list_migrations', { limit: 1 });
    expect(listed.body.migrations).toMatchObject([{ batch_id: batchId, state: 'succeeded' }]);
    // The dry run's plan, a removal refused and then kept in a backup, and its restore.
    const plan = await call('POST', '/migrate', { sql: 'CREATE TABLE items (id int unsigned NOT NULL AUTO_INCREMENT, PRIMARY KEY (id));', drop_tables: ['orders'], dry_run: true }, tenant.token);
    expect(plan.status).toBe(200);
    expect((await call('POST', '/migrate', { drop_tables: ['orders'] }, tenant.token)).body.code).toBe('UNSAFE_CHANGE');
    const removal = await call('POST', '/migrate', { drop_tables: ['orders'], allow_unsafe: true }, tenant.token);
    const removalJob = (removal.body.jobs as { job_id: string }[])[0]!.job_id;
    await waitFor(async () => (await dashboard('get_migration_status', { job_id: removalJob })).body.state === 'succeeded', { timeoutMs: 60_000, intervalMs: 200, what: 'the removal' });
    const [backup] = (await dashboard('list_table_backups')).body.backups as Array<{ backup_id: string }>;
    await dashboard('restore_table', { backup_id: backup!.backup_id });
    expect((await call('POST', '/dashboard', { action: 'restore_table', backup_id: backup!.backup_id }, tenant.token)).body.code).toBe('BACKUP_GONE');

    // An admin's children (the tenant is none's: 403 ADMIN_ONLY).
    const { token: adminToken } = await octo.signUpAdmin();
    expect((await dashboard('list_children', {}, adminToken)).body).toEqual({ children: [] });
    expect((await call('POST', '/dashboard', { action: 'list_children' }, tenant.token)).body.code).toBe('ADMIN_ONLY');

    // A point-in-time restore into a new database, polled to its end (LF6 took the first base backup after provisioning).
    await octo.invoker.idle();
    const early = await call('POST', '/dashboard', { action: 'restore_database', db_id: tenant.db_id, to_time: '2000-01-01T00:00:00Z', target: 'new' }, tenant.token);
    expect(early.body.code).toBe('BEFORE_OLDEST_BACKUP');
    const restore = await dashboard('restore_database', { db_id: tenant.db_id, to_time: new Date().toISOString(), target: 'new' });
    await waitFor(async () => (await dashboard('get_restore_status', { restore_id: restore.body.restore_id })).body.state === 'succeeded', { timeoutMs: 60_000, intervalMs: 200, what: 'the restore' });
  });

  it('dashboard refusals: an unknown action, an unknown field, a database not yours, a migration not yours', async () => {
    const d = (body: unknown) => call('POST', '/dashboard', body, tenant.token);
    expect((await d({ action: 'nope' })).body.valid_actions).toEqual(Object.keys(dashboardActions));
    expect((await d({ action: 'get_user_info', tenant_id: tenant.tenant_id })).status).toBe(400);
    expect((await d({ action: 'get_database_tables', db_id: '0'.repeat(32) })).status).toBe(404);
    expect((await d({ action: 'get_migration_status', job_id: '00000000-0000-4000-8000-000000000000' })).status).toBe(404);
  });

  it("dashboard delete_account (last: it erases the tenant): a wrong password, then the erasure, then the token's refusal", async () => {
    expect((await call('POST', '/dashboard', { action: 'delete_account', password: 'wrong-password' }, tenant.token)).body.code).toBe('WRONG_PASSWORD');
    expect((await dashboard('delete_account', { password: tenant.password })).body).toMatchObject({ tenant_id: tenant.tenant_id, requested_by: 'tenant' });
    await waitFor(async () => (await call('POST', '/dashboard', { action: 'get_user_info' }, tenant.token)).status === 401, {
      timeoutMs: 60_000,
      intervalMs: 200,
      what: 'the erasure to finish',
    });
  });

  it('has seen every route answer its success, and every /dashboard action', () => {
    const successes = [...ROUTES, ...GATEWAY_ROUTES].map((route) => {
      const [status] = Object.keys(document.paths[route.path][route.method.toLowerCase()].responses);
      return `${route.method} ${route.path} ${status}`;
    });
    for (const expected of [...successes, ...Object.keys(dashboardActions).map((a) => `dashboard ${a}`)]) expect(checked, expected).toContain(expected);
    for (const status of [400, 401, 403, 404, 409, 413, 429]) expect([...checked].some((c) => c.endsWith(` ${status}`)), String(status)).toBe(true);
  });
});
