import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MysqlTenantSqlRunner } from '#adapters/mysql-tenant-sql-runner';
import { mysqlTls } from '#adapters/mysql-tls';
import { makeCa } from '../support/mysql-tls.ts';
import { UnavailableError } from '#core/errors';
import type { TenantLogin } from '#core/ports';

/**
 * A MySQL server that sends its greeting and then never answers (a hung host, a stalled network):
 * a fault the shared MariaDB cannot be made to show. Every request must still settle. OctoDB
 * connects over TLS only: the client's TLS handshake is what goes unanswered.
 */
/** mysql2's server typings know listen(port) only; the net.Server underneath is used as is. */
type NetServer = { listen(port: number, host: string, ready: () => void): void; address(): AddressInfo; close(): void };
let server: NetServer;
let port: number;
let connections = 0;

beforeAll(async () => {
  const mysqlServer = mysql.createServer((conn) => {
    const c = conn as unknown as { serverHandshake(args: object): void; on(event: string, fn: (...args: unknown[]) => void): void; stream: NodeJS.ReadableStream };
    c.serverHandshake({ protocolVersion: 10, serverVersion: '8.0.36', connectionId: 7, statusFlags: 2, characterSet: 8, capabilityFlags: 0xffffff });
    // Greeting sent (TLS offered), then deaf: the client's TLS request and handshake go unanswered.
    c.stream.removeAllListeners('data');
    c.stream.on('data', () => undefined);
    connections += 1;
    c.on('error', () => {});
  });
  server = (mysqlServer as unknown as { _server: NetServer })._server;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = server.address().port;
});
afterAll(() => server.close());

describe('the tenant runner against a server that stops answering', () => {
  it('answers 503 instead of hanging, and frees the room for the next request', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'octodb-hung-'));
    const runner = new MysqlTenantSqlRunner(mysqlTls(readFileSync(makeCa(dir), 'utf8'), 'a test CA'), { rowLimit: 10, maxResultBytes: 10_000, timeoutMs: 300, poolSize: 1, acquireTimeoutMs: 200 });
    const login: TenantLogin = {
      tenantId: 't1',
      host: { hostId: 'h', endpoint: '127.0.0.1', port } as TenantLogin['host'],
      database: 'db_x',
      user: 'u_x',
      password: 'p',
    };
    try {
      for (const attempt of [1, 2]) {
        const error = await runner.run(login, 'SELECT 1', []).catch((e: unknown) => e);
        expect(error, `attempt ${attempt}`).toBeInstanceOf(UnavailableError);
        expect(error).toMatchObject({ status: 503, details: { code: 'ETIMEDOUT' } });
      }
      // Each attempt opened its own connection (the first one's room was given back) and got stuck in it.
      expect(connections).toBe(2);
    } finally {
      await runner.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
