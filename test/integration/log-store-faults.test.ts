import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ALARM } from '#shared/logger';
import { printedBy } from '../support/logged.ts';
import { startTestOctoDb, type TestOctoDb } from '../support/octodb.ts';
import { serversUp } from '../support/servers.ts';
import { waitFor } from '../support/wait.ts';

// Issue 11, finding 5: a log store whose disk fails must cost the logs, never the API. Tests may run
// as root, whom a read-only mode does not stop: the directory is made unwritable by being (or lying
// under) a regular file, which refuses everyone.
const work = mkdtempSync(join(tmpdir(), 'octodb-log-faults-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const alarmed = (lines: Record<string, unknown>[]) => lines.some((l) => l.level === 'ERROR' && l.alarm === ALARM.logStoreDown);

/** A tenant that signs up, gets its database ready and a token, and runs one statement: the API at work. */
async function apiWorks(octo: TestOctoDb): Promise<{ token: string; tenantId: string; dbId: string }> {
  const tenant = await octo.signUp();
  expect((await octo.waitForDatabase(tenant.db_id)).status).toBe('ready');
  const token = await octo.token(tenant.email, tenant.password);
  expect((await octo.post('/query', { query: 'SELECT COUNT(*) AS n FROM customers' }, token)).status).toBe(200);
  return { token, tenantId: tenant.tenant_id, dbId: tenant.db_id };
}

describe.skipIf(!serversUp)('log store faults (issue 11, finding 5)', () => {
  it('starts and serves the API when the log directory cannot be written, and raises the alarm', async () => {
    const notADirectory = join(work, 'a-file');
    writeFileSync(notADirectory, '');
    let octo: TestOctoDb | undefined;
    const lines = await printedBy(async () => {
      octo = await startTestOctoDb({ OCTODB_DYNALITE_DIR: join(notADirectory, 'dynalite'), OCTODB_LOG_DEAD_LETTER_FILE: join(notADirectory, 'dead-letters.jsonl') });
    });
    try {
      expect(alarmed(lines)).toBe(true);
      expect(octo!.dynalite!.down).toBe(true);
      await apiWorks(octo!);
    } finally {
      await octo?.close();
    }
  });

  it('keeps serving when the disk fails under a running log store, and stores logs again once it is back', async () => {
    const dir = join(work, 'dynalite');
    const octo = await startTestOctoDb({ OCTODB_DYNALITE_DIR: dir });
    try {
      const { token, tenantId, dbId } = await apiWorks(octo);
      const send = (message: string, copies = 1) =>
        octo.logQueue.send(Array.from({ length: copies }, () => ({ tenant_id: tenantId, db_id: dbId, source: 'provision', level: 'INFO' as const, message, create_timestamp: new Date().toISOString() })));
      const lines = await printedBy(async () => {
        // The directory turns into a file under LevelDB: its next write fails, as on a full or read-only disk.
        rmSync(dir, { recursive: true, force: true });
        writeFileSync(dir, 'not a directory');
        // Enough to fill LevelDB's memtable once: the new files it then needs cannot be made.
        await send(`during the outage ${'x'.repeat(8000)}`, 1000);
        await waitFor(() => octo.dynalite!.down, { timeoutMs: 60_000, intervalMs: 100, what: 'the log store to fail' });
        await apiWorks(octo); // the API, its provisioning logs included, does not care
        rmSync(dir, { force: true }); // the disk is back: the store starts again, its table made again
        await waitFor(() => !octo.dynalite!.down, { what: 'the log store to start again' });
      });
      expect(alarmed(lines)).toBe(true);
      await send('after the outage');
      await waitFor(
        async () => {
          const page = await octo.post<{ items?: { message: string }[] }>('/dashboard', { action: 'get_log_table' }, token);
          return page.body.items?.some((i) => i.message === 'after the outage');
        },
        { intervalMs: 200, what: 'a record sent after the outage to be stored' },
      );
    } finally {
      await octo.close();
    }
  });
});
