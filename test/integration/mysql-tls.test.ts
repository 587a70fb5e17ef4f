import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConnection, type RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BashHostRunner } from '#adapters/bash-host-runner';
import { mysqlTls } from '#adapters/mysql-tls';
import { buildSchemaPushScript, PRELUDE } from '#core/host-scripts';
import type { HostRecord } from '#core/ports';
import { faultServersMissing, type OwnMariaDb, type OwnOctoDb, type OwnRedis, startOwnMariaDb, startOwnOctoDb, startOwnRedis } from '../support/fault-servers.ts';
import { makeCa, setupServerArgs, TEST_CA_FILE, TEST_TLS } from '../support/mysql-tls.ts';
import { waitFor } from '../support/wait.ts';

// Issue 16, "Encrypted in transit": every MySQL connection OctoDB makes (its pools, tenant
// connections, the host scripts' mysql client and Skeema) is TLS with the server's certificate
// verified. Against a MariaDB of this file's own, started with the settings bin/setup.sh writes for
// the local server: the local CA's certificate, and, as production's MySQL, every connection over
// TCP without TLS refused (require_secure_transport=ON).

let mariadb: OwnMariaDb;
let redis: OwnRedis;
let work: string;
/** A CA of this test's own, which signed nothing the server holds. */
let wrongCaFile: string;

const host = { hostId: 'local' } as HostRecord;
const admin = () => ({ host: '127.0.0.1', port: mariadb.port, user: 'octodb', password: 'octodb', database: 'mysql' });

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'octodb-tls-'));
  wrongCaFile = makeCa(work, 'Not OctoDB CA');
  // Exactly the settings bin/setup.sh gives the local server (TLS, require_secure_transport, binlogs).
  [mariadb, redis] = await Promise.all([startOwnMariaDb({ serverArgs: setupServerArgs() }), startOwnRedis()]);
}, 120_000);

afterAll(async () => {
  await Promise.all([mariadb?.stop(), redis?.stop()]);
  rmSync(work, { recursive: true, force: true });
});

describe.skipIf(faultServersMissing.length > 0)('MySQL connections over TLS, the server verified', () => {
  it('is refused by the server without TLS, and let in with it (TLS 1.2 or later)', async () => {
    // The same account and password: denied over plain TCP (MariaDB answers it as access denied), let in over TLS.
    const plain = await createConnection(admin()).catch((error: unknown) => error);
    expect(plain).toMatchObject({ code: 'ER_ACCESS_DENIED_ERROR' });

    const conn = await createConnection({ ...admin(), ssl: TEST_TLS });
    try {
      const [rows] = await conn.query<RowDataPacket[]>("SHOW SESSION STATUS LIKE 'Ssl_version'");
      expect(rows[0]?.Value).toMatch(/^TLSv1\.[23]$/);
    } finally {
      await conn.end();
    }
  });

  it('refuses a server whose certificate another CA signed, before sending the password', async () => {
    const error = await createConnection({ ...admin(), ssl: mysqlTls(readFileSync(wrongCaFile, 'utf8'), wrongCaFile) }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'HANDSHAKE_SSL_ERROR' });
  });

  it("runs host scripts' mysql client and Skeema over TLS, and refuses a server the CA did not sign", async () => {
    const script = `${PRELUDE}trap 'rm -rf "$WORK"' EXIT
sql "SHOW SESSION STATUS LIKE 'Ssl_version'"
`;
    const verified = new BashHostRunner(admin(), { host: '127.0.0.1', port: mariadb.port, caFile: TEST_CA_FILE });
    const wrong = new BashHostRunner(admin(), { host: '127.0.0.1', port: mariadb.port, caFile: wrongCaFile });
    const push = buildSchemaPushScript({ schema: 'tls_probe', files: { 't.sql': 'CREATE TABLE t (id int NOT NULL, PRIMARY KEY (id));' }, tempSchema: '_skeema_tmp_tls' });
    try {
      const ok = await verified.run(host, script, 30);
      expect(ok.exitCode, ok.stderr).toBe(0);
      expect(ok.stdout).toMatch(/Ssl_version\tTLSv1\.[23]/);
      const pushed = await verified.run(host, push, 60);
      expect(pushed.exitCode, pushed.stderr).toBe(0);

      const refused = await wrong.run(host, script, 30);
      expect(refused.exitCode).not.toBe(0);
      expect(refused.stderr).toMatch(/ERROR 2026|certificate/);
      // Skeema alone (the schema exists, so the script's mysql calls are not what fails).
      const refusedPush = await wrong.run(host, push.replace('tls_probe', 'tls_probe2'), 60);
      expect(refusedPush.exitCode).not.toBe(0);
      expect(`${refusedPush.stdout}${refusedPush.stderr}`).toMatch(/x509: certificate signed by unknown authority/);
    } finally {
      await Promise.all([verified.close(), wrong.close()]);
    }
    const conn = await mariadb.connect();
    try {
      const [tables] = await conn.query<RowDataPacket[]>("SELECT table_schema FROM information_schema.tables WHERE table_name = 't' AND table_schema LIKE 'tls_probe%'");
      expect(tables.map((t) => t.table_schema)).toEqual(['tls_probe']);
    } finally {
      await conn.end();
    }
  }, 120_000);

  describe('OctoDB on a server that requires TLS', () => {
    let octo: OwnOctoDb | undefined;
    afterAll(() => octo?.kill());

    const post = (path: string, body: unknown, token?: string) => octo!.post(path, body, token);

    it('does not start when the CA is not the one that signed the server', async () => {
      const started = await startOwnOctoDb({ mariadb, redis, work }, { OCTODB_MYSQL_CA_FILE: wrongCaFile }).then(
        (o) => o.kill().then(() => 'started'),
        (error: Error) => error.message,
      );
      expect(started).toMatch(/exited with [1-9]/);
    }, 90_000);

    it('signs up, provisions (Skeema), queries and migrates a tenant, whose MySQL user requires TLS', async () => {
      octo = await startOwnOctoDb({ mariadb, redis, work });
      const email = `tls-${Date.now()}@example.com`;
      const signup = await post('/signup', { name: 'TLS', email, password: 'tls-password-1' });
      expect(signup.status).toBe(202);
      const dbId = String(signup.body.db_id);
      const conn = await mariadb.connect();
      try {
        const status = await waitFor(
          async () => {
            const [rows] = await conn.query<RowDataPacket[]>('SELECT status, status_reason, mysql_user FROM octodb_meta.tenant_databases WHERE db_id = ?', [dbId]);
            return rows[0]?.status !== 'provisioning' && rows[0];
          },
          { timeoutMs: 60_000, intervalMs: 100, what: 'provisioning' },
        );
        expect(status).toMatchObject({ status: 'ready' });
        const token = String((await post('/token', { email, password: 'tls-password-1' })).body.token);
        expect(await post('/query', { query: 'INSERT INTO customers (name, email) VALUES (?, ?)', params: ['Ada', 'ada@example.com'] }, token)).toMatchObject({ status: 200 });
        expect(await post('/query', { query: 'SELECT name FROM customers' }, token)).toMatchObject({ status: 200, body: { data: [{ name: 'Ada' }] } });
        const migrated = await post('/migrate', { sql: 'CREATE TABLE notes (id int NOT NULL AUTO_INCREMENT, body varchar(200) NOT NULL, PRIMARY KEY (id));' }, token);
        expect(migrated.status).toBe(202);
        await waitFor(
          async () => {
            const [rows] = await conn.query<RowDataPacket[]>("SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = ? AND table_name = 'notes'", [`db_${dbId}`]);
            return Number(rows[0]?.n) === 1;
          },
          { timeoutMs: 60_000, intervalMs: 200, what: 'the migration' },
        );
        // REQUIRE SSL on the tenant's account: refused without TLS whatever the server's setting.
        const [accounts] = await conn.query<RowDataPacket[]>("SELECT JSON_VALUE(Priv, '$.ssl_type') AS ssl_type FROM mysql.global_priv WHERE User = ?", [status.mysql_user]);
        expect(accounts).toEqual([{ ssl_type: '1' }]); // 1: ANY (REQUIRE SSL)
        const [api] = await conn.query<RowDataPacket[]>("SELECT JSON_VALUE(Priv, '$.ssl_type') AS ssl_type FROM mysql.global_priv WHERE User = 'octodb_api'");
        expect(api).toEqual([{ ssl_type: '1' }]);
      } finally {
        await conn.end();
      }
    }, 180_000);
  });
});
