import { randomBytes, randomUUID } from 'node:crypto';
import type { RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashApiKey } from '#core/api-keys';
import { databaseName } from '#core/ids';
import { printedBy } from '../support/logged.ts';
import { startTestOctoDb, type TestOctoDb } from '../support/octodb.ts';
import { serversUp } from '../support/servers.ts';
import { waitFor } from '../support/wait.ts';

/** API keys over real HTTP, LF0 and MariaDB: what each scope may do, revocation, expiry, and the one "not found". */

interface Tenant {
  tenant_id: string;
  db_id: string;
  email: string;
  password: string;
  token: string;
  db: string;
}
interface Key {
  key: string;
  key_id: string;
  [field: string]: unknown;
}

let octo: TestOctoDb;
let a: Tenant;
let b: Tenant;
const NOWHERE = 'f'.repeat(32);
const NOT_FOUND = { status: 404, body: { error: 'Database not found', code: 'DATABASE_NOT_FOUND' } };

async function tenant(): Promise<Tenant> {
  const t = await octo.signUp();
  await octo.waitForDatabase(t.db_id);
  return { ...t, token: await octo.token(t.email, t.password), db: databaseName(t.db_id) };
}

beforeAll(async () => {
  octo = await startTestOctoDb();
  [a, b] = await Promise.all([tenant(), tenant()]);
  await octo.admin.query(`INSERT INTO \`${a.db}\`.customers (id, name) VALUES (1, 'a-one'), (2, 'a-two')`);
  await octo.admin.query(`INSERT INTO \`${b.db}\`.customers (id, name) VALUES (1, 'b-secret')`);
});
afterAll(async () => octo?.close());

const dash = <T = Record<string, unknown>>(bearer: string, body: unknown) => octo.post<T>('/dashboard', body, bearer);
const query = (bearer: string, body: Record<string, unknown>) => octo.post<Record<string, unknown> & { data: unknown[] }>('/query', body, bearer);
const migrate = (bearer: string, body: Record<string, unknown>) => octo.post<Record<string, unknown> & { batch_id: string }>('/migrate', body, bearer);

async function createKey(who: Tenant, params: Record<string, unknown> = {}): Promise<Key> {
  const res = await dash<Key>(who.token, { action: 'create_api_key', name: 'app', scope: 'read', ...params });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
}
const keyRow = async (keyId: string) =>
  (await octo.admin.query<RowDataPacket[]>(`SELECT * FROM \`${octo.metaDb}\`.api_keys WHERE key_id = ?`, [keyId]))[0][0]!;
const names = async (t: Tenant) =>
  ((await octo.admin.query<RowDataPacket[]>(`SELECT name FROM \`${t.db}\`.customers ORDER BY id`))[0] as Array<{ name: string }>).map((r) => r.name);

describe.skipIf(!serversUp)('creating, listing and revoking keys', () => {
  it('shows a key once, stores only its keyed hash, and lists it without the secret', async () => {
    const created = await createKey(a, { name: 'web server', scope: 'write', expires_in_days: 30 });
    expect(created.key).toMatch(/^octo_[A-Za-z0-9_-]{43}$/);
    expect(created).toMatchObject({ name: 'web server', scope: 'write', db_id: null, last_used_at: null, revoked_at: null, status: 'active' });
    expect(Date.parse(created.expires_at as string) - Date.now()).toBeGreaterThan(29 * 86_400_000);

    const row = await keyRow(created.key_id);
    expect(Buffer.from(row.key_hash as Buffer).equals(hashApiKey(created.key, process.env.OCTODB_API_KEY_SECRET!))).toBe(true);
    expect(JSON.stringify(Object.values(row).map(String))).not.toContain(created.key.slice(5));

    const list = await dash<{ keys: Key[]; truncated: boolean }>(a.token, { action: 'list_api_keys' });
    expect(list.status).toBe(200);
    expect(JSON.stringify(list.body)).not.toContain(created.key.slice(5));
    const { key: _secret, ...listed } = created;
    expect(list.body.keys.find((k) => k.key_id === created.key_id)).toEqual(listed);
    // Keys are the tenant's own: B lists none of A's.
    expect((await dash<{ keys: Key[] }>(b.token, { action: 'list_api_keys' })).body.keys.map((k) => k.key_id)).not.toContain(created.key_id);
  });

  it('records the last use once, then not again within the minute (no MetaDB write per request)', async () => {
    const { key, key_id } = await createKey(a);
    expect((await keyRow(key_id)).last_used_at).toBeNull();
    expect((await query(key, { query: 'SELECT 1' })).status).toBe(200);
    const first = (await keyRow(key_id)).last_used_at as Date;
    expect(first).toBeInstanceOf(Date);
    expect((await query(key, { query: 'SELECT 1' })).status).toBe(200);
    expect((await keyRow(key_id)).last_used_at).toEqual(first);
    const listed = (await dash<{ keys: Key[] }>(a.token, { action: 'list_api_keys' })).body.keys.find((k) => k.key_id === key_id)!;
    expect(listed.last_used_at).toBe(first.toISOString());
  });

  it('refuses a revoked key at the very next request; revoking again is harmless', async () => {
    const { key, key_id } = await createKey(a);
    expect((await query(key, { query: 'SELECT 1' })).status).toBe(200);
    expect(await dash(a.token, { action: 'revoke_api_key', key_id })).toEqual({ status: 200, body: { key_id, status: 'revoked' } });
    expect((await query(key, { query: 'SELECT 1' })).status).toBe(401);
    expect((await dash(key, { action: 'get_database_tables' })).status).toBe(401);
    expect((await dash(a.token, { action: 'revoke_api_key', key_id })).status).toBe(200);
    const listed = (await dash<{ keys: Key[] }>(a.token, { action: 'list_api_keys' })).body.keys.find((k) => k.key_id === key_id)!;
    expect(listed.status).toBe('revoked');
  });

  it("cannot revoke another tenant's key: not found, and the key keeps working", async () => {
    const theirs = await createKey(b);
    const res = await dash(a.token, { action: 'revoke_api_key', key_id: theirs.key_id });
    expect(res).toEqual({ status: 404, body: { error: 'API key not found', code: 'API_KEY_NOT_FOUND' } });
    expect(await dash(a.token, { action: 'revoke_api_key', key_id: randomUUID() })).toEqual(res);
    expect((await query(theirs.key, { query: 'SELECT name FROM customers' })).body.data).toEqual([{ name: 'b-secret' }]);
  });

  it('refuses an expired key', async () => {
    const { key, key_id } = await createKey(a, { expires_at: new Date(Date.now() + 1500).toISOString() });
    expect((await query(key, { query: 'SELECT 1' })).status).toBe(200);
    // Time passing is the subject: wait out the expiry.
    await new Promise((r) => setTimeout(r, 1600));
    expect((await query(key, { query: 'SELECT 1' })).status).toBe(401);
    const listed = (await dash<{ keys: Key[] }>(a.token, { action: 'list_api_keys' })).body.keys.find((k) => k.key_id === key_id)!;
    expect(listed.status).toBe('expired');
  });

  it('keeps the token flow as it was: a new token leaves keys working, and keys survive it', async () => {
    const { key } = await createKey(a);
    a.token = await octo.token(a.email, a.password);
    expect((await query(key, { query: 'SELECT 1' })).status).toBe(200);
    expect((await query(a.token, { query: 'SELECT 1' })).status).toBe(200);
  });

  it('refuses forged and garbled keys with 401', async () => {
    const { key } = await createKey(a);
    const flipped = key.slice(0, -1) + (key.endsWith('A') ? 'B' : 'A');
    for (const bearer of [`octo_${randomBytes(32).toString('base64url')}`, flipped, `${key}x`, key.slice(0, -1), 'octo_', 'octo_short', `OCTO_${key.slice(5)}`]) {
      expect((await query(bearer, { query: 'SELECT 1' })).status, bearer).toBe(401);
    }
  });

  it('holds a tenant to OCTODB_API_KEY_LIMIT live keys, also when created at once', async () => {
    const c = await tenant();
    const restore = octo.parts.override({ config: { OCTODB_API_KEY_LIMIT: 2 } });
    try {
      const tries = await Promise.all(Array.from({ length: 5 }, () => dash<Key>(c.token, { action: 'create_api_key', name: 'x', scope: 'read' })));
      expect(tries.map((t) => t.status).sort()).toEqual([200, 200, 409, 409, 409]);
      expect(tries.find((t) => t.status === 409)!.body).toEqual({ error: 'A tenant holds at most 2 live API keys: revoke one first', code: 'API_KEY_LIMIT', limit: 2 });
      await dash(c.token, { action: 'revoke_api_key', key_id: tries.find((t) => t.status === 200)!.body.key_id });
      expect((await dash(c.token, { action: 'create_api_key', name: 'again', scope: 'read' })).status).toBe(200);
    } finally {
      restore();
    }
  });

  it('never prints a key in the logs, also when its lookup fails', async () => {
    const pool = await octo.parts.get('pool');
    // A real driver error (with the bound hash in its sql) from the key's lookup: LF0 logs it and fails (503, not a refusal).
    const failing = { findApiKeyByHash: async (hash: Uint8Array) => void (await pool.execute('SELECT no_such_column FROM api_keys WHERE key_hash = ?', [Buffer.from(hash)])) };
    let secret = '';
    const lines = await printedBy(async () => {
      const created = await createKey(a, { scope: 'write' });
      secret = created.key;
      await query(secret, { query: 'SELECT 1' });
      await query(secret, { query: 'DROP TABLE customers' });
      await dash(secret, { action: 'list_api_keys' });
      const restore = octo.parts.override({ apiKeys: failing as never });
      try {
        expect((await query(secret, { query: 'SELECT 1' })).status).toBe(503);
      } finally {
        restore();
      }
      await dash(a.token, { action: 'revoke_api_key', key_id: created.key_id });
      await query(secret, { query: 'SELECT 1' });
    });
    expect(lines.map((l) => l.message)).toContain('authorizer failed');
    expect(JSON.stringify(lines)).not.toContain(secret.slice(5));
  });
});

describe.skipIf(!serversUp)('what each scope may do', () => {
  let keys: Record<'read' | 'write' | 'migrate', string>;
  beforeAll(async () => {
    const [read, write, mig] = await Promise.all((['read', 'write', 'migrate'] as const).map((scope) => createKey(a, { name: scope, scope })));
    keys = { read: read!.key, write: write!.key, migrate: mig!.key };
  });

  const STATEMENTS = {
    SELECT: 'SELECT name FROM customers WHERE id = 1',
    INSERT: "INSERT INTO customers (id, name) VALUES (100, 'inserted')",
    UPDATE: "UPDATE customers SET name = 'updated' WHERE id = 100",
    DELETE: 'DELETE FROM customers WHERE id = 100',
  } as const;

  it.each([
    ['read', { SELECT: 200, INSERT: 403, UPDATE: 403, DELETE: 403 }],
    ['write', { SELECT: 200, INSERT: 200, UPDATE: 200, DELETE: 200 }],
    ['migrate', { SELECT: 403, INSERT: 403, UPDATE: 403, DELETE: 403 }],
  ] as const)('a %s key on /query: %o', async (scope, expected) => {
    const before = await names(a);
    const seen: Record<string, unknown> = {};
    for (const [type, sql] of Object.entries(STATEMENTS)) {
      const res = await query(keys[scope], { query: sql });
      seen[type] = res.status;
      if (res.status === 403) expect(res.body).toEqual({ error: `An API key of scope ${scope} may not run ${type} statements`, code: 'KEY_SCOPE', scope });
      if (type === 'SELECT' && res.status === 200) expect(res.body.data).toEqual([{ name: 'a-one' }]);
      if (type === 'INSERT') expect((await names(a)).includes('inserted')).toBe(res.status === 200);
      if (type === 'UPDATE') expect((await names(a)).includes('updated')).toBe(res.status === 200);
    }
    expect(seen).toEqual(expected);
    expect(await names(a)).toEqual(before); // the write key's row was deleted again; the others changed nothing
  });

  it('lets only a migrate key use /migrate and read migration status', async () => {
    for (const scope of ['read', 'write'] as const) {
      const res = await migrate(keys[scope], { sql: 'CREATE TABLE by_key (id int PRIMARY KEY);' });
      expect(res).toEqual({ status: 403, body: { error: `An API key of scope ${scope} may not use /migrate`, code: 'KEY_SCOPE', scope } });
    }
    const res = await migrate(keys.migrate, { sql: 'CREATE TABLE by_key (id int PRIMARY KEY);' });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const status = () => dash<{ total: number; counts: Record<string, number> }>(keys.migrate, { action: 'get_migration_status', batch_id: res.body.batch_id });
    await waitFor(async () => (await status()).body.counts?.succeeded === 1, { what: 'the key’s migration to succeed', intervalMs: 100 });
    const [tables] = await octo.admin.query<RowDataPacket[]>('SELECT table_name FROM information_schema.tables WHERE table_schema = ? AND table_name = ?', [a.db, 'by_key']);
    expect(tables).toHaveLength(1);
    expect((await dash(keys.read, { action: 'get_migration_status', batch_id: res.body.batch_id })).status).toBe(403);
  });

  it.each(['read', 'write', 'migrate'] as const)('a %s key on /dashboard: its database’s schema facts, nothing of the account, logs or keys', async (scope) => {
    expect((await dash(keys[scope], { action: 'get_database_tables' })).status).toBe(200);
    expect((await dash(keys[scope], { action: 'get_database_metadata' })).status).toBe(200);
    const tokenOnly = (action: string) => ({ status: 403, body: { error: `Only the tenant's token (POST /token) may run ${action}, not an API key`, code: 'TOKEN_ONLY' } });
    for (const action of ['get_user_info', 'list_databases', 'get_log_table', 'get_query_logs', 'get_query_stats', 'list_api_keys']) {
      expect(await dash(keys[scope], { action }), action).toEqual(tokenOnly(action));
    }
    const before = (await dash<{ keys: Key[] }>(a.token, { action: 'list_api_keys' })).body.keys;
    expect(await dash(keys[scope], { action: 'create_api_key', name: 'more', scope: 'write' })).toEqual(tokenOnly('create_api_key'));
    expect(await dash(keys[scope], { action: 'revoke_api_key', key_id: before[0]!.key_id })).toEqual(tokenOnly('revoke_api_key'));
    expect((await dash<{ keys: Key[] }>(a.token, { action: 'list_api_keys' })).body.keys).toEqual(before);
    const status = await dash(keys[scope], { action: 'get_migration_status', batch_id: randomUUID() });
    if (scope === 'migrate') expect(status.status).toBe(404);
    else expect(status).toEqual({ status: 403, body: { error: `An API key of scope ${scope} may not run get_migration_status`, code: 'KEY_SCOPE', scope } });
  });
});

describe.skipIf(!serversUp)('databases a key may reach', () => {
  it("answers tenant A's key on tenant B's database exactly as on one that does not exist, on every route", async () => {
    const key = (await createKey(a, { scope: 'write' })).key;
    const mig = (await createKey(a, { scope: 'migrate' })).key;
    for (const db_id of [b.db_id, NOWHERE]) {
      expect(await query(key, { query: 'SELECT name FROM customers', db_id }), db_id).toEqual(NOT_FOUND);
      expect(await migrate(mig, { sql: 'CREATE TABLE t (id int PRIMARY KEY);', db_id }), db_id).toEqual(NOT_FOUND);
      expect(await dash(key, { action: 'get_database_tables', db_id }), db_id).toEqual(NOT_FOUND);
    }
    expect(await names(b)).toEqual(['b-secret']);
  });

  it('keeps a key bound to a database to that one: any other is the same "not found"', async () => {
    const bound = await createKey(a, { scope: 'write', db_id: a.db_id });
    expect(bound.db_id).toBe(a.db_id);
    expect((await query(bound.key, { query: 'SELECT name FROM customers WHERE id = 2' })).body.data).toEqual([{ name: 'a-two' }]);
    expect((await query(bound.key, { query: 'SELECT 1', db_id: a.db_id })).status).toBe(200);
    for (const db_id of [b.db_id, NOWHERE]) {
      expect(await query(bound.key, { query: 'SELECT 1', db_id })).toEqual(NOT_FOUND);
      expect(await dash(bound.key, { action: 'get_database_metadata', db_id })).toEqual(NOT_FOUND);
    }
  });

  it("refuses to bind a key to another tenant's database, as to one that does not exist", async () => {
    for (const db_id of [b.db_id, NOWHERE]) {
      expect(await dash(a.token, { action: 'create_api_key', name: 'x', scope: 'read', db_id })).toEqual(NOT_FOUND);
    }
  });
});

describe.skipIf(!serversUp)('the one "not your database" answer on every route', () => {
  /** Every route and action taking a db_id, with the tenant's token. */
  const ROUTES: Array<[string, (db_id: string) => Promise<unknown>]> = [
    ['/query', (db_id) => query(a.token, { query: 'SELECT 1', db_id })],
    ['/migrate', (db_id) => migrate(a.token, { sql: 'CREATE TABLE t (id int PRIMARY KEY);', db_id })],
    ['get_database_metadata', (db_id) => dash(a.token, { action: 'get_database_metadata', db_id })],
    ['get_database_tables', (db_id) => dash(a.token, { action: 'get_database_tables', db_id })],
    ['create_api_key', (db_id) => dash(a.token, { action: 'create_api_key', name: 'x', scope: 'read', db_id })],
  ];

  it.each(ROUTES)("%s answers someone else's database and a missing one alike", async (_route, call) => {
    expect(await call(b.db_id)).toEqual(NOT_FOUND);
    expect(await call(NOWHERE)).toEqual(NOT_FOUND);
  });

  it.each(ROUTES)('%s refuses a malformed db_id with the same words', async (_route, call) => {
    const res = (await call('../etc')) as { status: number; body: { error: string } };
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('Invalid request: db_id: db_id must be 32 hex characters');
  });
});

describe.skipIf(!serversUp)('bad input to the key actions', () => {
  it.each([
    ['an unknown field', { name: 'x', scope: 'read', raed: true }, 'raed: unknown field'],
    ['no name', { scope: 'read' }, 'name: name must be a string'],
    ['a name of the wrong type', { name: 42, scope: 'read' }, 'name: name must be a string'],
    ['an empty name', { name: '   ', scope: 'read' }, 'name: name is required'],
    ['an oversized name', { name: 'n'.repeat(65), scope: 'read' }, 'name: name must be at most 64 characters'],
    ['a name with control characters', { name: 'a\u0000b', scope: 'read' }, 'name: name must not contain control characters'],
    ['an unknown scope', { name: 'x', scope: 'admin' }, 'scope: scope must be one of read, write, migrate'],
    ['a scope of the wrong type', { name: 'x', scope: ['read'] }, 'scope: scope must be one of read, write, migrate'],
    ['expires_in_days of 0', { name: 'x', scope: 'read', expires_in_days: 0 }, 'expires_in_days: expires_in_days must be at least 1'],
    ['a fractional expires_in_days', { name: 'x', scope: 'read', expires_in_days: 1.5 }, 'expires_in_days: expires_in_days must be an integer'],
    ['expires_in_days as a string', { name: 'x', scope: 'read', expires_in_days: '7' }, 'expires_in_days: expires_in_days must be a number'],
    ['a far expiry', { name: 'x', scope: 'read', expires_in_days: 3651 }, 'expires_in_days: expires_in_days must be at most 3650'],
    ['a date that is no date-time', { name: 'x', scope: 'read', expires_at: 'tomorrow' }, 'expires_at: expires_at must be an ISO 8601 date-time such as 2027-01-31T00:00:00Z'],
    ['a malformed db_id', { name: 'x', scope: 'read', db_id: 42 }, 'db_id: db_id must be a string'],
  ])('create_api_key refuses %s (400)', async (_case, params, problem) => {
    const res = await dash(a.token, { action: 'create_api_key', ...params });
    expect(res).toMatchObject({ status: 400, body: { error: `Invalid request: ${problem}` } });
  });

  it.each([
    ['both expiries', { expires_in_days: 1, expires_at: new Date(Date.now() + 86_400_000).toISOString() }, 'Give at most one of expires_at and expires_in_days'],
    ['an expiry in the past', { expires_at: '2020-01-01T00:00:00Z' }, 'expires_at must be in the future'],
    ['an expiry past ten years', { expires_at: '2999-01-01T00:00:00Z' }, 'expires_at must be within 3650 days'],
  ])('create_api_key refuses %s (400)', async (_case, params, error) => {
    expect(await dash(a.token, { action: 'create_api_key', name: 'x', scope: 'read', ...params })).toEqual({ status: 400, body: { error } });
  });

  it.each([
    ['list_api_keys with a field', { action: 'list_api_keys', limit: 5 }, 'limit: unknown field'],
    ['revoke_api_key without key_id', { action: 'revoke_api_key' }, 'key_id: key_id must be a uuid'],
    ['revoke_api_key with a key_id that is no uuid', { action: 'revoke_api_key', key_id: "1' OR '1'='1" }, 'key_id: key_id must be a uuid'],
    ['revoke_api_key with a key instead of its id', { action: 'revoke_api_key', key_id: `octo_${'a'.repeat(43)}` }, 'key_id: key_id must be a uuid'],
    ['revoke_api_key with an unknown field', { action: 'revoke_api_key', key_id: randomUUID(), all: true }, 'all: unknown field'],
  ])('refuses %s (400)', async (_case, body, problem) => {
    expect(await dash(a.token, body)).toMatchObject({ status: 400, body: { error: `Invalid request: ${problem}` } });
  });
});
