import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestOctoDb, type TestOctoDb, uniqueEmail } from '../support/octodb.ts';
import { serversUp } from '../support/servers.ts';
import { waitFor } from '../support/wait.ts';

// README's walkthrough as a tenant sees it, only through HTTP. The `lambda` project (vitest.config.ts)
// runs it with the settings every deployed function has, so the AWS code paths are covered end to end.
let octo: TestOctoDb;
beforeAll(async () => {
  octo = await startTestOctoDb();
});
afterAll(async () => octo?.close());

type Databases = { databases: Array<{ db_id: string; status: string }> };
type MigrationStatus = { counts: Record<string, number>; jobs: Array<{ table: string; state: string }> };
type QueryLogs = { items: Array<{ statement_type: string; outcome: string }> };
const ITEMS = 'CREATE TABLE items (id int unsigned NOT NULL AUTO_INCREMENT, name varchar(100) NOT NULL, PRIMARY KEY (id));';

describe.skipIf(!serversUp)('a tenant’s first session: signup → ready → token → migrate → query → logs', () => {
  const email = uniqueEmail();
  const password = 'correct horse battery';
  let dbId: string;
  let token: string;

  it('finds the API up: GET /health answers without a token (npm start serves the table’s gateway routes too)', async () => {
    const res = await fetch(`${octo.url}/health`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('{"status":"ok"}');
  });

  it('signs up, gets a token, and sees its database become ready', async () => {
    const signup = await octo.post<{ db_id: string; status: string }>('/signup', { name: 'Ada', email, password });
    expect(signup.status).toBe(202);
    expect(signup.body.status).toBe('provisioning');
    dbId = signup.body.db_id;
    token = await octo.token(email, password);

    const ready = await waitFor(
      async () => {
        const listed = await octo.post<Databases>('/dashboard', { action: 'list_databases' }, token);
        return listed.body.databases?.find((d) => d.db_id === dbId && d.status !== 'provisioning');
      },
      { timeoutMs: 60_000, intervalMs: 50, what: 'the database to leave provisioning' },
    );
    expect(ready.status).toBe('ready');
  });

  it('migrates: the table is created and the batch reports it succeeded', async () => {
    const submitted = await octo.post<{ batch_id: string; jobs: Array<{ table: string }> }>('/migrate', { sql: ITEMS }, token);
    expect(submitted.status).toBe(202);
    expect(submitted.body.jobs.map((j) => j.table)).toEqual(['items']);

    const status = await waitFor(
      async () => {
        const res = await octo.post<MigrationStatus>('/dashboard', { action: 'get_migration_status', batch_id: submitted.body.batch_id }, token);
        return res.body.jobs.every((j) => ['succeeded', 'failed', 'skipped'].includes(j.state)) && res.body;
      },
      { timeoutMs: 60_000, intervalMs: 50, what: 'the migration batch to finish' },
    );
    expect(status.counts).toEqual({ succeeded: 1 });
  });

  it('queries its own database with bound parameters', async () => {
    const insert = await octo.post('/query', { query: 'INSERT INTO items (name) VALUES (?)', params: ['first'] }, token);
    expect(insert.status).toBe(200);
    expect(insert.body.rowsAffected).toBe(1);
    const select = await octo.post('/query', { query: 'SELECT id, name FROM items' }, token);
    const columns = [{ name: 'id', type: 'INT UNSIGNED' }, { name: 'name', type: 'VARCHAR' }];
    expect(select.body).toEqual({ message: 'Query executed successfully', rowsAffected: 1, columns, data: [{ id: 1, name: 'first' }], truncated: false });
  });

  it('finds each of its queries in its query logs', async () => {
    const logs = await waitFor(
      async () => {
        const res = await octo.post<QueryLogs>('/dashboard', { action: 'get_query_logs', limit: 100 }, token);
        return res.body.items.length >= 2 && res.body.items;
      },
      { intervalMs: 50, what: 'the two query records to reach the log table' },
    );
    expect(logs.map((r) => `${r.statement_type} ${r.outcome}`).sort()).toEqual(['INSERT ok', 'SELECT ok']);
  });

  it('revokes its old token when it takes a new one', async () => {
    const fresh = await octo.token(email, password);
    expect((await octo.post('/query', { query: 'SELECT 1 AS n' }, token)).status).toBe(401);
    expect((await octo.post('/query', { query: 'SELECT 1 AS n' }, fresh)).body.data).toEqual([{ n: 1 }]);
    token = fresh;
  });

  it('runs several statements in one transaction, and gives an app its own scoped key', async () => {
    const statements = [{ query: 'UPDATE items SET name = ? WHERE id = 1', params: ['renamed'] }, { query: 'SELECT name FROM items' }];
    const batch = await octo.post<{ results: { data: unknown[] }[] }>('/query', { transaction: true, statements }, token);
    expect(batch.body.results.map((r) => r.data)).toEqual([[], [{ name: 'renamed' }]]);
    const created = await octo.post<{ key: string }>('/dashboard', { action: 'create_api_key', name: 'web', scope: 'read' }, token);
    expect((await octo.post('/query', { query: 'SELECT COUNT(*) AS n FROM items' }, created.body.key)).body.data).toEqual([{ n: '1' }]); // COUNT(*) is a BIGINT: a string
    expect((await octo.post('/query', { query: 'DELETE FROM items' }, created.body.key)).status).toBe(403);
  });
});
