import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { loadMysqlTls, mysqlTls } from '#adapters/mysql-tls';
import { loadConfig } from '#shared/config';
import { CA_PLACEHOLDER } from '../../lib/database-host.ts';
import { makeCa } from '../support/mysql-tls.ts';

const dir = mkdtempSync(join(tmpdir(), 'octodb-ca-'));
const pem = readFileSync(makeCa(dir), 'utf8');
afterEach(() => vi.restoreAllMocks());
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the ssl options every MySQL connection is opened with', () => {
  it('verify the chain and the host name, TLS 1.2 or later, against the CA alone', () => {
    expect(mysqlTls(pem, 'x')).toEqual({ ca: pem, rejectUnauthorized: true, verifyIdentity: true, minVersion: 'TLSv1.2' });
  });

  it("refuse what is not a certificate, such as the stack's placeholder before the host has booted", () => {
    expect(() => mysqlTls(CA_PLACEHOLDER, 'SSM parameter p')).toThrow(/SSM parameter p holds no PEM certificate/);
  });

  it('come from the SSM parameter when one is named (AWS), read once per make', async () => {
    const send = vi.spyOn(SSMClient.prototype, 'send').mockImplementation(async (command: unknown) => {
      expect(command).toBeInstanceOf(GetParameterCommand);
      expect((command as GetParameterCommand).input).toEqual({ Name: '/octodb/ca' });
      return { Parameter: { Value: pem } };
    });
    const tls = await loadMysqlTls(loadConfig({ OCTODB_MYSQL_CA_PARAMETER: '/octodb/ca', OCTODB_MYSQL_CA_FILE: '/nonexistent' }));
    expect(tls.ca).toBe(pem);
    expect(send).toHaveBeenCalledTimes(1);
  });

  it('name the CA file when it cannot be read', async () => {
    await expect(loadMysqlTls(loadConfig({ OCTODB_MYSQL_CA_FILE: '/nonexistent/ca.pem' }))).rejects.toThrow(/OCTODB_MYSQL_CA_FILE=\/nonexistent\/ca\.pem/);
  });
});
