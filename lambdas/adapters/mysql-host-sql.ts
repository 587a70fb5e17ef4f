import { createPool, type Pool } from 'mysql2/promise';
import type { DatabaseAccounts, HostRecord, HostSql } from '#core/ports';
import type { MysqlLogin } from '#shared/config';
import { mapMysqlError } from './mysql-errors.ts';

/**
 * Admin SQL on tenant hosts through one small pool per host: the pool size is the cascade's
 * concurrency bound, so a fan-out over thousands of databases never floods max_connections.
 */
export class MysqlHostSql implements HostSql, DatabaseAccounts {
  private readonly pools = new Map<string, Pool>();

  constructor(
    /** The admin login; absent in a function deployed without it, which then never reaches here. */
    private readonly login: MysqlLogin | undefined,
    private readonly connectionsPerHost: number,
    /** Where to reach a host's MySQL when it is not the host record's endpoint (local runs). */
    private readonly address: (host: HostRecord) => { host: string; port: number } = (h) => ({ host: h.endpoint, port: h.port }),
  ) {}

  /** Throws TransientError (core/errors) for a failure worth retrying, e.g. too many connections. */
  async run(host: HostRecord, database: string, statements: string[]): Promise<unknown[]> {
    const conn = await this.pool(host).getConnection().catch((error: unknown) => Promise.reject(mapMysqlError(error)));
    try {
      await conn.query(`USE \`${database.replace(/`/g, '')}\``);
      const results: unknown[] = [];
      for (const sql of statements) results.push((await conn.query(sql))[0]);
      return results;
    } catch (error) {
      throw mapMysqlError(error);
    } finally {
      conn.release();
    }
  }

  async setPassword(host: HostRecord, user: string, password: string): Promise<void> {
    // ALTER USER cannot be prepared: mysql2 escapes the values client-side.
    await this.pool(host).query("ALTER USER ?@'%' IDENTIFIED BY ?", [user, password]);
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.pools.values()].map((p) => p.end()));
    this.pools.clear();
  }

  private pool(host: HostRecord): Pool {
    let pool = this.pools.get(host.hostId);
    if (!pool) {
      if (!this.login) throw new Error('configuration: this function has no MySQL admin login (OCTODB_MYSQL_SECRET_ARN)');
      const { host: address, port } = this.address(host);
      pool = createPool({
        host: address,
        port,
        user: this.login.user,
        password: this.login.password,
        connectionLimit: this.connectionsPerHost,
        waitForConnections: true,
        enableKeepAlive: true,
        multipleStatements: false,
      });
      this.pools.set(host.hostId, pool);
    }
    return pool;
  }
}
