import type { RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { databaseName } from '#core/ids';
import { main as adminCommand } from '../../bin/admin.ts';
import { handler as adminFunction } from '../../lambdas/admin/handler.ts';
import { startTestOctoDb, type TestOctoDb, uniqueEmail } from '../support/octodb.ts';

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

describe('npm run admin against AWS (OCTODB_ADMIN_FUNCTION)', () => {
  // Lambda cannot run here: the invoke is captured and handed to the real admin handler.
  const lambda = vi.fn((_name: string, payload: Record<string, unknown>) => adminFunction(payload));
  const env = { OCTODB_ADMIN_FUNCTION: 'OctoDb-admin' };

  it('invokes the admin function with the validated request and creates a ready admin', async () => {
    const email = uniqueEmail();
    const exit = await adminCommand(['create', '--name', 'Ops', '--email', email.toUpperCase(), '--password', 'admin-password-1'], env, lambda);
    expect(exit).toBe(0);
    expect(lambda).toHaveBeenCalledTimes(1);
    expect(lambda).toHaveBeenCalledWith('OctoDb-admin', { name: 'Ops', email, password: 'admin-password-1', template: 'default' });
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
    expect(lambda).toHaveBeenCalledTimes(1);
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
