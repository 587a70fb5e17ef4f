import { existsSync } from 'node:fs';
import type { RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { databaseName } from '#core/ids';
import { main as adminCommand } from '../../bin/admin.ts';
import { handler as adminFunction } from '../../lambdas/admin/handler.ts';
import { logger } from '#shared/logger';
import { MYSQL_URL, startTestOctoDb, type TestOctoDb, uniqueEmail } from '../support/octodb.ts';
import { serversUp } from '../support/servers.ts';

let octo: TestOctoDb;
beforeAll(async () => {
  octo = await startTestOctoDb();
});
afterAll(async () => octo?.close());

const tenantRow = async (email: string) => {
  const [rows] = await octo.admin.query<RowDataPacket[]>(
    `SELECT t.is_admin, d.db_id, d.status FROM \`${octo.metaDb}\`.tenants t JOIN \`${octo.metaDb}\`.tenant_databases d USING (tenant_id) WHERE t.email = ?`,
    [email],
  );
  return rows[0];
};

describe.skipIf(!serversUp)('npm run admin against AWS (OCTODB_ADMIN_FUNCTION)', () => {
  // Lambda cannot run here: the invoke is captured and handed to the real admin handler.
  const lambda = vi.fn((_name: string, payload: Record<string, unknown>) => adminFunction(payload));
  const env = { OCTODB_ADMIN_FUNCTION: 'OctoDb-admin' };

  it('invokes the admin function with the validated request and creates a ready admin', async () => {
    const email = uniqueEmail();
    const exit = await adminCommand(['create', '--name', 'Ops', '--email', email.toUpperCase(), '--password', 'admin-password-1'], env, lambda);
    expect(exit).toBe(0);
    expect(lambda.mock.calls).toEqual([['OctoDb-admin', { name: 'Ops', email, password: 'admin-password-1', template: 'default' }]]);
    const row = await tenantRow(email);
    expect(row).toMatchObject({ is_admin: 1, status: 'ready' });
    const [schemas] = await octo.admin.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM information_schema.schemata WHERE schema_name = ?', [
      databaseName(row!.db_id),
    ]);
    expect(Number(schemas[0]!.n)).toBe(1);
  });

  it('exits 1 with the reason for a taken email, and 2 without invoking for bad input', async () => {
    const email = uniqueEmail();
    expect(await adminCommand(['create', '--name', 'A', '--email', email, '--password', 'admin-password-1'], env, lambda)).toBe(0);
    lambda.mockClear();
    expect(await adminCommand(['create', '--name', 'B', '--email', email, '--password', 'admin-password-2'], env, lambda)).toBe(1);
    expect(lambda.mock.calls).toEqual([['OctoDb-admin', { name: 'B', email, password: 'admin-password-2', template: 'default' }]]);
    lambda.mockClear();
    expect(await adminCommand(['create', '--name', 'C', '--email', 'not-an-email', '--password', 'admin-password-1'], env, lambda)).toBe(2);
    expect(lambda).not.toHaveBeenCalled();
  });

  it('answers {error} for a malformed event and creates nothing', async () => {
    const email = uniqueEmail();
    const answer = await adminFunction({ name: 'X', email, password: 'short' });
    expect(answer.error).toMatch(/password/);
    expect(await tenantRow(email)).toBeUndefined();
  });
});

describe.skipIf(!serversUp)('npm run admin on this machine', () => {
  it('answers --help with its usage and exit 0, and an unknown option with the usage and exit 2, without a stack trace', async () => {
    const out = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    const err = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      expect(await adminCommand(['--help'], {})).toBe(0);
      expect(String(out.mock.calls[0]?.[0])).toMatch(/^usage: npm run admin -- create/);
      expect(await adminCommand(['create', '--bogus'], {})).toBe(2);
      expect(String(err.mock.calls[0]?.[0])).toMatch(/Unknown option '--bogus'[\s\S]*usage:/);
    } finally {
      out.mockRestore();
      err.mockRestore();
    }
  });

  it('prints only its JSON on stdout, and its provisioning records reach the log table at the next start', async () => {
    // The file this OctoDB replays at start, as `npm start` does with the checkout's .octodb/ one.
    const handoff = octo.parts.config.OCTODB_LOG_DEAD_LETTER_FILE;
    const email = uniqueEmail();
    // The answer goes through console.log, the structured logger writes to process.stdout itself.
    const answers: string[] = [];
    const answered = vi.spyOn(console, 'log').mockImplementation((line: unknown) => void answers.push(String(line)));
    const loggerLines: string[] = [];
    const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      loggerLines.push(String(chunk));
      return true;
    });
    logger.setLogLevel('INFO');
    let exit: number;
    try {
      const env: NodeJS.ProcessEnv = { ...process.env, OCTODB_MYSQL_URL: MYSQL_URL.replace(/\/[^/]*$/, `/${octo.metaDb}`), OCTODB_LOG_DEAD_LETTER_FILE: handoff };
      delete env.OCTODB_ADMIN_FUNCTION;
      exit = await adminCommand(['create', '--name', 'Local Ops', '--email', email, '--password', 'admin-password-1'], env);
    } finally {
      logger.setLogLevel('SILENT');
      write.mockRestore();
      answered.mockRestore();
    }
    expect(exit).toBe(0);
    expect(loggerLines).toEqual([]);
    expect(answers).toHaveLength(1);
    const answer = JSON.parse(answers[0]!) as { tenant_id: string; db_id: string; status: string };
    expect(answer).toMatchObject({ status: 'ready', db_id: (await tenantRow(email))?.db_id });
    expect(existsSync(handoff)).toBe(true);

    // What the next start does with the file: replay it into the log table.
    expect(octo.logQueue.replaySaved()).toBeGreaterThan(0);
    await octo.logQueue.idle();
    const token = await octo.token(email, 'admin-password-1');
    const logs = await octo.post<{ items: Array<{ source: string; db_id: string }> }>('/dashboard', { action: 'get_log_table', limit: 100 }, token);
    expect(logs.status).toBe(200);
    expect(logs.body.items.filter((i) => i.source === 'provision' && i.db_id === answer.db_id).length).toBeGreaterThan(0);
  });
});
