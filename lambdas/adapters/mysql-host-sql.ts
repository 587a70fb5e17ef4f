import { createConnection, createPool, type Pool, type PoolConnection } from 'mysql2/promise';
import { StatementTimeoutError } from '#core/errors';
import type { DatabaseAccounts, HostRecord, HostSql } from '#core/ports';
import { mapMysqlError } from './mysql-errors.ts';
import type { TlsLogin } from './mysql-tls.ts';

/**
 * Admin SQL on tenant hosts through one small pool per host: the pool size is the cascade's
 * concurrency bound, so a fan-out over thousands of databases never floods max_connections.
 */
export class MysqlHostSql implements HostSql, DatabaseAccounts {
  private readonly pools = new Map<string, Pool>();

  constructor(
    /** The admin login; absent in a function deployed without it, which then never reaches here. */
    private readonly login: TlsLogin | undefined,
    private readonly connectionsPerHost: number,
    /** Where to reach a host's MySQL when it is not the host record's endpoint (local runs). */
    private readonly address: (host: HostRecord) => { host: string; port: number } = (h) => ({ host: h.endpoint, port: h.port }),
    /** Each statement's time limit; 0: none. */
    private readonly statementTimeoutSeconds = 0,
  ) {}

  /** Throws TransientError (core/errors) for a failure worth retrying, e.g. too many connections; StatementTimeoutError past the limit. */
  async run(host: HostRecord, database: string, statements: string[]): Promise<unknown[]> {
    const conn = await this.pool(host).getConnection().catch((error: unknown) => Promise.reject(mapMysqlError(error)));
    try {
      await conn.query(`USE \`${database.replace(/`/g, '')}\``);
      const results: unknown[] = [];
      for (const sql of statements) results.push(await this.bounded(host, conn, sql));
      return results;
    } catch (error) {
      throw mapMysqlError(error);
    } finally {
      conn.release();
    }
  }

  /**
   * Runs one statement; past the time limit it is killed on the server (KILL QUERY over a
   * connection of its own: the pool's may all be busy), which bounds DDL on MySQL 8 and MariaDB
   * alike. InnoDB rolls the statement back; the caller gets a StatementTimeoutError.
   */
  private async bounded(host: HostRecord, conn: PoolConnection, sql: string): Promise<unknown> {
    if (this.statementTimeoutSeconds <= 0) return (await conn.query(sql))[0];
    let killed: Promise<void> | undefined;
    const timer = setTimeout(() => {
      killed = this.killQuery(host, conn.threadId);
    }, this.statementTimeoutSeconds * 1000);
    try {
      const [result] = await conn.query(sql);
      // A kill sent just as the statement ended must land before the next statement starts.
      await killed?.catch(() => undefined);
      return result;
    } catch (error) {
      if (killed) {
        await killed.catch(() => undefined);
        throw new StatementTimeoutError(this.statementTimeoutSeconds, { cause: error });
      }
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  private async killQuery(host: HostRecord, threadId: number): Promise<void> {
    const { host: address, port } = this.address(host);
    const killer = await createConnection({ host: address, port, user: this.login!.user, password: this.login!.password, ssl: this.login!.ssl });
    try {
      await killer.query(`KILL QUERY ${Number(threadId)}`);
    } finally {
      await killer.end();
    }
  }

  async setPassword(host: HostRecord, user: string, password: string): Promise<void> {
    // ALTER USER cannot be prepared: mysql2 escapes the values client-side.
    await this.pool(host).query("ALTER USER ?@'%' IDENTIFIED BY ?", [user, password]).catch((error: unknown) => Promise.reject(mapMysqlError(error)));
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
        ssl: this.login.ssl,
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
