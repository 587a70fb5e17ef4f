import { createPool, type Pool } from 'mysql2/promise';
import type { DatabaseAccounts, HostRecord } from '#core/ports';
import type { MysqlLogin } from '#shared/config';

/** Tenant MySQL accounts, changed over a small admin pool per host. */
export class MysqlDatabaseAccounts implements DatabaseAccounts {
  private readonly pools = new Map<string, Pool>();

  constructor(private readonly login: MysqlLogin) {}

  async setPassword(host: HostRecord, user: string, password: string): Promise<void> {
    // ALTER USER cannot be prepared: mysql2 escapes the values client-side.
    await this.poolFor(host).query("ALTER USER ?@'%' IDENTIFIED BY ?", [user, password]);
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.pools.values()].map((p) => p.end()));
  }

  private poolFor(host: HostRecord): Pool {
    const key = `${host.endpoint}:${host.port}`;
    let pool = this.pools.get(key);
    if (!pool) {
      pool = createPool({ host: host.endpoint, port: host.port, user: this.login.user, password: this.login.password, connectionLimit: 2 });
      this.pools.set(key, pool);
    }
    return pool;
  }
}
