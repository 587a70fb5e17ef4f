import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConnection, type Connection, type RowDataPacket } from 'mysql2/promise';
import { type LocalOctoDb, startOctoDb } from '../../bin/local.ts';
import { createAdmin } from '#core/admin';
import { adminRoot } from '#adapters/roots';
import { parseMysqlUrl } from '#shared/config';
import { assertDescribed } from './openapi.ts';
import { TEST_TLS } from './mysql-tls.ts';
import { waitFor } from './wait.ts';

export const MYSQL_URL = process.env.OCTODB_MYSQL_URL ?? 'mysql://octodb:octodb@127.0.0.1:3306/octodb_meta';

export interface HttpResult<T = Record<string, unknown>> {
  status: number;
  body: T;
}

export interface TestOctoDb extends LocalOctoDb {
  metaDb: string;
  /** The admin connection, for reading back what the server holds. */
  admin: Connection;
  post<T = Record<string, unknown>>(path: string, body: unknown, token?: string): Promise<HttpResult<T>>;
  /** Signs up a tenant with a fresh email; returns its ids and credentials. */
  signUp(overrides?: Record<string, unknown>): Promise<{ tenant_id: string; db_id: string; email: string; password: string }>;
  /** Polls MetaDB until the database leaves `provisioning`. */
  waitForDatabase(dbId: string, timeoutMs?: number): Promise<{ status: string; status_reason: string | null }>;
  token(email: string, password: string): Promise<string>;
  /** An admin tenant (as `npm run admin -- create` makes one) with its ready parent database, signed in. */
  signUpAdmin(name?: string): Promise<{ tenant_id: string; db_id: string; status: string; email: string; password: string; token: string }>;
}

/**
 * OctoDB on a MetaDB of its own (octodb_test_<random>) behind a real local gateway on a free
 * port. close() drops the MetaDB and every tenant database and user it created.
 */
export async function startTestOctoDb(env: Record<string, string> = {}): Promise<TestOctoDb> {
  const metaDb = `octodb_test_${randomBytes(4).toString('hex')}`;
  const base = MYSQL_URL.replace(/\/[^/]*$/, '');
  // Each OctoDB its own dynalite store: LevelDB allows one process per directory.
  const dynaliteDir = mkdtempSync(join(tmpdir(), 'octodb-dynalite-'));
  const deadLetterFile = `${dynaliteDir}.dead-letters.jsonl`; // never the checkout's .octodb/ file
  // Base backups (LF6 takes one after each provisioning): never into the checkout's .octodb/backups.
  const backupDir = `${dynaliteDir}.backups`;
  const octo = await startOctoDb({
    PORT: '0',
    OCTODB_MYSQL_URL: `${base}/${metaDb}`,
    OCTODB_DYNALITE_DIR: dynaliteDir,
    OCTODB_LOG_DEAD_LETTER_FILE: deadLetterFile,
    OCTODB_BACKUP_DIR: backupDir,
    // Test machines are loaded: an ordinary statement must not be refused for a moment of contention,
    // and a costly one must be refused (403), not answered busy because a yielding validator waited
    // for a core (the yielding judge has its own tests: worker-statement-judge.test.ts).
    OCTODB_VALIDATOR_BUDGET_MS: '2000',
    OCTODB_VALIDATOR_YIELDS: 'false',
    // Tests assert many 429s one after another: each answered at once (one test checks the hold).
    OCTODB_LOCAL_REFUSAL_DELAY_MS: '0',
    ...env,
  });
  const login = parseMysqlUrl(MYSQL_URL);
  const admin = await createConnection({ host: login.host, port: login.port, user: login.user, password: login.password, ssl: TEST_TLS });

  const post: TestOctoDb['post'] = async (path, body, token) => {
    const res = await fetch(`${octo.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    const answer = { status: res.status, body: (await res.json()) as never };
    assertDescribed('POST', path, answer.status, answer.body);
    return answer;
  };

  const waitForDatabase: TestOctoDb['waitForDatabase'] = (dbId, timeoutMs = 60_000) =>
    waitFor(
      async () => {
        const [rows] = await admin.query<RowDataPacket[]>(`SELECT status, status_reason FROM \`${metaDb}\`.tenant_databases WHERE db_id = ?`, [dbId]);
        return rows[0]?.status !== 'provisioning' && (rows[0] as { status: string; status_reason: string | null } | undefined);
      },
      { timeoutMs, intervalMs: 50, what: `database ${dbId} to leave provisioning` },
    );

  const signUp: TestOctoDb['signUp'] = async (overrides = {}) => {
    const email = `t-${randomBytes(6).toString('hex')}@example.com`;
    const password = `pw-${randomBytes(8).toString('hex')}`;
    const res = await post('/signup', { name: 'Test Tenant', email, password, ...overrides });
    if (res.status !== 202) throw new Error(`signup answered ${res.status}: ${JSON.stringify(res.body)}`);
    return { ...(res.body as { tenant_id: string; db_id: string }), email, password };
  };

  const token: TestOctoDb['token'] = async (email, password) => {
    const res = await post<{ token: string }>('/token', { email, password });
    if (res.status !== 200) throw new Error(`token answered ${res.status}`);
    return res.body.token;
  };

  const signUpAdmin: TestOctoDb['signUpAdmin'] = async (name = 'Ops') => {
    const email = `admin-${randomBytes(4).toString('hex')}@example.com`;
    const password = 'admin-password-1';
    const created = await createAdmin({ name, email, password, template: 'default' }, { ...(await adminRoot(octo.parts).create()), bcryptRounds: 4, scriptTimeoutSeconds: 120 });
    return { ...created, email, password, token: await token(email, password) };
  };

  return {
    ...octo,
    metaDb,
    admin,
    post,
    signUp,
    waitForDatabase,
    token,
    signUpAdmin,
    async close() {
      await octo.invoker.idle();
      const [dbs] = await admin.query<RowDataPacket[]>(`SELECT db_id, mysql_user FROM \`${metaDb}\`.tenant_databases`);
      for (const db of dbs) {
        await admin.query(`DROP DATABASE IF EXISTS \`db_${db.db_id}\``);
        await admin.query(`DROP USER IF EXISTS '${db.mysql_user}'@'%'`);
      }
      await admin.query(`DROP DATABASE IF EXISTS \`${metaDb}\``);
      // The API account's grant on this MetaDB goes with it.
      const { meta: metaLogin } = await octo.parts.get('logins');
      await admin.query(`REVOKE ALL PRIVILEGES ON \`${metaDb}\`.* FROM ?@'%'`, [metaLogin.user]).catch(() => undefined);
      await admin.end();
      await octo.close();
      rmSync(dynaliteDir, { recursive: true, force: true });
      rmSync(deadLetterFile, { force: true });
      rmSync(backupDir, { recursive: true, force: true });
    },
  };
}

export const uniqueEmail = () => `t-${randomBytes(6).toString('hex')}@example.com`;
