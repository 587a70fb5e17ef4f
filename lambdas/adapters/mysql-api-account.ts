import { createConnection } from 'mysql2/promise';
import { SCHEMA_NAME, USER_NAME } from '#core/patterns';
import type { MysqlLogin } from '#shared/config';
import type { TlsLogin } from './mysql-tls.ts';

/** What the API account may do: rows of MetaDB's tables, nothing else (no DDL, no tenant databases, no global privilege). */
export const API_GRANTS = 'SELECT, INSERT, UPDATE, DELETE';

/**
 * Creates the API account, or brings its password in step and grants what it lacks, as the admin
 * account: idempotent, so every local start and every deploy may run it. Grants added by hand are
 * not revoked (revoking first would leave the running API functions without privileges a moment). The password is bound by mysql2
 * (client-side escaping: CREATE USER cannot be prepared) and never appears in a log or a host script.
 */
export async function ensureApiAccount(admin: TlsLogin, api: MysqlLogin): Promise<void> {
  if (!USER_NAME.test(api.user) || !SCHEMA_NAME.test(api.database)) throw new Error('API account: unexpected user or MetaDB name');
  if (api.user === admin.user) throw new Error('API account: must not be the admin account');
  const conn = await createConnection({ host: admin.host, port: admin.port, user: admin.user, password: admin.password, ssl: admin.ssl });
  try {
    // REQUIRE SSL: the server itself refuses the account over plain TCP, whatever its own setting.
    await conn.query("CREATE USER IF NOT EXISTS ?@'%' IDENTIFIED BY ? REQUIRE SSL", [api.user, api.password]);
    await conn.query("ALTER USER ?@'%' IDENTIFIED BY ? REQUIRE SSL", [api.user, api.password]);
    await conn.query(`GRANT ${API_GRANTS} ON \`${api.database}\`.* TO ?@'%'`, [api.user]);
  } finally {
    await conn.end();
  }
}
