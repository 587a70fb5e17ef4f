import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Parts } from '#adapters/parts';
import type { LogRecord } from '#core/ports';
import { loadConfig } from '#shared/config';
import { MYSQL_URL, startTestOctoDb, type TestOctoDb } from '../support/octodb.ts';
import { serversUp } from '../support/servers.ts';

// Locally /query's records wait in a buffer instead of each query waiting for its record: none may
// be lost. On Lambda (the `lambda` project) there is no buffer: it would freeze with the sandbox.
const onLambda = process.env.OCTODB_RUNTIME === 'lambda';
let octo: TestOctoDb;
let tenant: { tenant_id: string; db_id: string; token: string };
beforeAll(async () => {
  octo = await startTestOctoDb();
  const t = await octo.signUp();
  await octo.waitForDatabase(t.db_id);
  tenant = { ...t, token: await octo.token(t.email, t.password) };
});
afterAll(async () => octo?.close());

type Page = { items: { statement_type: string; outcome: string }[]; last_evaluated_key?: string };

describe.skipIf(!serversUp)('query logs through the buffer', () => {
  it('stores a record for every query once the buffer is flushed, none lost or doubled', async () => {
    const statuses = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        octo.post('/query', i % 4 === 3 ? { query: 'DROP TABLE customers' } : { query: 'SELECT ? AS n', params: [i] }, tenant.token).then((r) => r.status),
      ),
    );
    expect(statuses.filter((s) => s === 200)).toHaveLength(30);
    expect(statuses.filter((s) => s === 403)).toHaveLength(10);
    await octo.parts.flush();
    await octo.logQueue.idle();

    const items: Page['items'] = [];
    let key: string | undefined;
    do {
      const page = await octo.post<Page>('/dashboard', { action: 'get_query_logs', limit: 100, ...(key ? { last_evaluated_key: key } : {}) }, tenant.token);
      expect(page.status).toBe(200);
      items.push(...page.body.items);
      key = page.body.last_evaluated_key;
    } while (key);
    expect(items.filter((i) => i.outcome === 'ok' && i.statement_type === 'SELECT')).toHaveLength(30);
    expect(items.filter((i) => i.outcome === 'error')).toHaveLength(10);
    expect(items).toHaveLength(40);
  });

  it(onLambda ? 'on Lambda hands each record on before its send returns, holding none' : 'hands every buffered record on when the parts are closed', async () => {
    const received: LogRecord[] = [];
    const parts = new Parts(loadConfig({ ...process.env, OCTODB_MYSQL_URL: MYSQL_URL }), {
      logs: { send: async (records) => void received.push(...records) },
    });
    const queryLogs = await parts.get('queryLogs');
    const records = Array.from({ length: 25 }, (_, i): LogRecord => ({
      tenant_id: 't',
      source: 'query',
      level: 'INFO',
      message: `m${i}`,
      create_timestamp: new Date().toISOString(),
    }));
    for (const r of records) await queryLogs.send([r]);
    // Locally held, the queries did not wait for them; on Lambda each query waited for its own.
    expect(received).toHaveLength(onLambda ? records.length : 0);
    await parts.close();
    expect(received.map((r) => r.message)).toEqual(records.map((r) => r.message));
  });
});
