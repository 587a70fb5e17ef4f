import type { Socket } from 'node:net';
import type { Connection as CoreConnection, FieldPacket, ResultSetHeader } from 'mysql2';
import { type Connection, createConnection, type RowDataPacket } from 'mysql2/promise';
import { AffinityPool, type PoolSlot } from './affinity-pool.ts';
import { BusyError, OctoError, ProhibitedError, UnavailableError, ValidationError } from '#core/errors';
import { logger } from '#shared/logger';
import type { HostRecord, SqlParam, StatementResult, TenantLogin, TenantSqlRunner } from '#core/ports';

/**
 * The SQL mode every tenant statement runs under, the same on MySQL 8 and MariaDB whatever the
 * server's default: strict writes, and none of the modes that change how text is lexed
 * (ANSI_QUOTES, NO_BACKSLASH_ESCAPES, PIPES_AS_CONCAT), so MySQL reads a statement as the validator did.
 */
export const TENANT_SQL_MODE = 'STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION';

export interface TenantSqlLimits {
  /** Rows a SELECT returns at most; one more is fetched to tell that it was truncated. */
  rowLimit: number;
  /** JSON bytes of a SELECT's rows at most (a Lambda response holds 6 MB); past it the rows are truncated. */
  maxResultBytes: number;
  timeoutMs: number;
  /** Connections per MySQL host, shared by every tenant on it; one database's login holds at most half of them. */
  poolSize: number;
  /** Longest a statement waits for a pooled connection before a 503. */
  acquireTimeoutMs: number;
  /** After the time limit, how long before the watchdog kills the statement (tests shorten it). */
  watchdogGraceMs?: number;
}

type Flavor = 'mysql' | 'mariadb';

/** Whom a pooled connection is switched to: one database's login. */
const whoOf = (login: TenantLogin): string => `${login.user}\u0000${login.database}`;

/** The callback-style connection under mysql2's promise wrapper: it streams rows as events. */
const coreOf = (conn: Connection): CoreConnection => (conn as unknown as { connection: CoreConnection }).connection;

interface HostPool {
  pool: AffinityPool<Connection, TenantLogin>;
  /** Learnt from the first connection opened to the host. */
  flavor?: Flavor;
}

// MariaDB 1969 ER_STATEMENT_TIMEOUT, MySQL 3024 ER_QUERY_TIMEOUT, 1317 ER_QUERY_INTERRUPTED (KILL QUERY).
const TIMEOUT_ERRNOS = new Set([1969, 3024, 1317]);
// Grants said no: the database, FILE, table, column, routine, or a privilege the tenant user lacks.
const DENIED_ERRNOS = new Set([1044, 1045, 1142, 1143, 1227, 1370]);
// Lock wait timeout, deadlock, too many connections: the same request may succeed later.
const RETRYABLE_ERRNOS = new Set([1205, 1213, 1040, 1203]);
// mysql2 column types whose values come back (dateStrings) as 'YYYY-MM-DD' (DATE, NEWDATE) and
// 'YYYY-MM-DD hh:mm:ss[.ffffff]' (TIMESTAMP, DATETIME, TIMESTAMP2, DATETIME2).
const DATE_TYPES = new Set([10, 14]);
const DATETIME_TYPES = new Set([7, 12, 17, 18]);
/** MySQL's zero dates ('0000-00-00', '2024-00-00', '2024-02-00') name no calendar day: null. */
const ZERO_DATE = /^\d{4}-(00|\d\d-00)/;
/** A watchdog kills a statement the server did not stop (MySQL's limit covers SELECT only). */
const WATCHDOG_GRACE_MS = 1000;

/**
 * Tenant statements over one small pool per MySQL host (not one per tenant: that fragments into
 * thousands of idle connections). A connection logs in as the tenant that first needs it and later
 * switches to another tenant's MySQL user (COM_CHANGE_USER) before running anything for it, so
 * MySQL's grants, not only the validator, keep every tenant inside its database. No OctoDB account
 * ever opens these connections: there is no privileged login a half-switched connection could
 * fall back to, and this function needs no MySQL secret beyond MetaDB's. The pool prefers a
 * connection already switched to the same tenant, which then runs as is.
 */
export class MysqlTenantSqlRunner implements TenantSqlRunner {
  private readonly pools = new Map<string, HostPool>();

  constructor(private readonly limits: TenantSqlLimits) {}

  async run(login: TenantLogin, sql: string, params: SqlParam[]): Promise<StatementResult> {
    const host = this.poolFor(login.host);
    const who = whoOf(login);
    let slot: PoolSlot<Connection>;
    try {
      slot = await host.pool.acquire(who, login);
    } catch (error) {
      // A tenant login MySQL refuses is OctoDB's fault (a stored password out of step): a 503 too.
      throw error instanceof BusyError ? error : unavailable(error);
    }
    try {
      if (slot.who !== who) await this.switchTo(slot, login, who, host);
      return await this.execute(slot, sql, params, login);
    } catch (error) {
      // A statement MySQL refused leaves the connection sound; anything else (a broken socket)
      // may not, so that connection is never handed to another tenant.
      if (!isSqlError(error)) slot.dead = true;
      throw mapError(error, this.limits.timeoutMs);
    } finally {
      host.pool.release(slot);
    }
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.pools.values()].map((p) => p.pool.close()));
    this.pools.clear();
  }

  private poolFor(host: HostRecord): HostPool {
    const key = `${host.endpoint}:${host.port}`;
    let entry = this.pools.get(key);
    if (!entry) {
      const { poolSize, acquireTimeoutMs } = this.limits;
      const created: HostPool = {
        pool: new AffinityPool<Connection, TenantLogin>(
          { size: poolSize, perWho: Math.ceil(poolSize / 2), acquireTimeoutMs },
          (slot, login) => this.open(created, slot, login),
          (conn) => conn.destroy(),
        ),
      };
      entry = created;
      this.pools.set(key, entry);
    }
    return entry;
  }

  /** A new connection, logged in as the tenant it is opened for and set up as a switch would. */
  private async open(host: HostPool, slot: PoolSlot<Connection>, login: TenantLogin): Promise<Connection> {
    const conn = await createConnection({
      host: login.host.endpoint,
      port: login.host.port,
      user: login.user,
      password: login.password,
      database: login.database,
      enableKeepAlive: true,
      multipleStatements: false,
      flags: ['-LOCAL_FILES'],
      charset: 'utf8mb4_unicode_ci',
      supportBigNumbers: true,
      bigNumberStrings: true,
      decimalNumbers: false,
      // Dates stay the server's text: mysql2's `timezone` would not apply to them (the session's
      // time_zone, set on every switch of user, makes TIMESTAMPs UTC).
      dateStrings: true,
      // Server-side prepared statements per connection; a switch of user discards them anyway.
      maxPreparedStatements: 64,
    });
    // A connection the server or the network closed is dropped, never reused.
    const lost = () => {
      slot.dead = true;
      host.pool.discard(slot);
    };
    coreOf(conn).on('error', lost);
    coreOf(conn).once('end', lost);
    try {
      if (!host.flavor) {
        const [rows] = await conn.query<RowDataPacket[]>('SELECT VERSION() AS v');
        host.flavor = /mariadb/i.test(String(rows[0]?.v)) ? 'mariadb' : 'mysql';
      }
      await this.limitSession(conn, host.flavor);
    } catch (error) {
      conn.destroy();
      throw error;
    }
    slot.who = whoOf(login);
    return conn;
  }

  /**
   * COM_CHANGE_USER resets the session, so the limits, the UTC time zone and the SQL mode are set again right
   * after it. Any failure on the way discards the connection: after a refused COM_CHANGE_USER
   * MariaDB keeps the session of the previous user (another tenant), so it must never run a statement.
   */
  private async switchTo(slot: PoolSlot<Connection>, login: TenantLogin, who: string, host: HostPool): Promise<void> {
    slot.who = undefined;
    try {
      await slot.conn.changeUser({ user: login.user, password: login.password, database: login.database });
      await this.limitSession(slot.conn, host.flavor ?? 'mysql');
    } catch (error) {
      slot.dead = true;
      throw error;
    }
    slot.who = who;
  }

  private async limitSession(conn: Connection, flavor: Flavor): Promise<void> {
    const { timeoutMs, rowLimit } = this.limits;
    const timeLimit =
      flavor === 'mariadb' ? `max_statement_time = ${timeoutMs / 1000}` : `max_execution_time = ${Math.round(timeoutMs)}`;
    await conn.query(`SET SESSION ${timeLimit}, sql_select_limit = ${rowLimit + 1}, time_zone = '+00:00', sql_mode = '${TENANT_SQL_MODE}'`);
  }

  /**
   * Streams the rows and keeps them under the row cap and the byte budget (the rows' JSON size):
   * past either, it stops reading instead of draining, so memory stays bounded by the budget plus
   * one row (≤ max_allowed_packet) whatever the statement would return.
   */
  private execute(slot: PoolSlot<Connection>, sql: string, params: SqlParam[], login: TenantLogin): Promise<StatementResult> {
    const core = coreOf(slot.conn);
    const { rowLimit, maxResultBytes, timeoutMs } = this.limits;
    return new Promise((resolve, reject) => {
      const rows: Record<string, unknown>[] = [];
      let convert: ((row: Record<string, unknown>) => Record<string, unknown>) | undefined;
      let header: ResultSetHeader | undefined;
      let bytes = 0;
      let truncated = false;
      let settled = false;
      const settle = (outcome: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(watchdog);
        outcome();
      };
      const selected = (): StatementResult => ({ rows, truncated, affectedRows: rows.length, insertId: null });
      // Mid-result the connection is unusable: it is closed (the server stops the statement when
      // its next write fails) and never reused. mysql2's destroy() only half-closes the socket,
      // which would go on reading the rest, so the socket itself is destroyed too.
      const stopReading = () => {
        truncated = true;
        slot.dead = true;
        core.destroy();
        (core as unknown as { stream: Socket }).stream.destroy();
        settle(() => resolve(selected()));
      };
      const watchdog = setTimeout(() => {
        // The KILL may land after the statement ended: the connection then must never serve
        // another tenant, whose statement it would stop.
        slot.dead = true;
        void this.kill(login, core.threadId);
      }, timeoutMs + (this.limits.watchdogGraceMs ?? WATCHDOG_GRACE_MS));
      const command = core.execute({ sql, values: params });
      command.on('fields', (fields?: FieldPacket[]) => {
        convert = fields ? converterFor(fields) : undefined;
      });
      command.on('result', (row: Record<string, unknown> | ResultSetHeader) => {
        if (!convert) header = row as ResultSetHeader;
        else if (settled) return;
        else if (rows.length === rowLimit) {
          // sql_select_limit lets one row past the cap through; a second means an explicit LIMIT.
          if (truncated) stopReading();
          else truncated = true;
        } else {
          const value = convert(row as Record<string, unknown>);
          bytes += Buffer.byteLength(JSON.stringify(value));
          if (bytes > maxResultBytes) stopReading();
          else rows.push(value);
        }
      });
      command.on('error', (error: Error) => settle(() => reject(error)));
      command.on('end', () =>
        settle(() => {
          if (!header) return resolve(selected());
          const insertId = Number(header.insertId) > 0 ? String(header.insertId) : null;
          resolve({ rows: [], truncated: false, affectedRows: header.affectedRows, insertId });
        }),
      );
    });
  }

  /** KILL QUERY over a separate connection as the same tenant: a user may stop its own statements without any privilege. */
  private async kill(login: TenantLogin, threadId: number | null): Promise<void> {
    if (!threadId) return;
    try {
      const own = await createConnection({ host: login.host.endpoint, port: login.host.port, user: login.user, password: login.password });
      try {
        await own.query('KILL QUERY ?', [threadId]);
      } finally {
        own.destroy();
      }
    } catch {
      // The statement may have ended meanwhile; nothing else to do.
    }
  }
}

/**
 * JSON-safe values: binary as base64; DATETIME/TIMESTAMP as ISO-8601 in UTC (the session's time
 * zone); zero dates as null (BIGINT/DECIMAL arrive as strings).
 */
function converterFor(fields: FieldPacket[]): (row: Record<string, unknown>) => Record<string, unknown> {
  const named = (types: Set<number>) => new Set(fields.filter((f) => types.has(Number(f.columnType))).map((f) => f.name));
  const dates = named(DATE_TYPES);
  const datetimes = named(DATETIME_TYPES);
  return (row) => {
    for (const key in row) {
      const value = row[key];
      if (Buffer.isBuffer(value)) row[key] = value.toString('base64');
      else if (typeof value !== 'string') continue;
      else if (datetimes.has(key)) row[key] = ZERO_DATE.test(value) ? null : `${value.replace(' ', 'T')}Z`;
      else if (dates.has(key) && ZERO_DATE.test(value)) row[key] = null;
    }
    return row;
  };
}

interface MysqlError {
  errno?: number;
  code?: string;
  sqlMessage?: string;
  fatal?: boolean;
}

const isSqlError = (error: unknown): boolean => {
  const e = error as MysqlError;
  return !e.fatal && typeof e.errno === 'number' && typeof e.sqlMessage === 'string';
};

function mapError(error: unknown, timeoutMs: number): OctoError {
  if (error instanceof OctoError) return error;
  const e = error as MysqlError;
  if (!isSqlError(error) || typeof e.errno !== 'number') return unavailable(error);
  const code = e.code ?? `ERR_${e.errno}`;
  if (TIMEOUT_ERRNOS.has(e.errno)) {
    return new ValidationError(`Query exceeded the time limit of ${timeoutMs} ms and was stopped`, { code: 'TIMEOUT' });
  }
  if (DENIED_ERRNOS.has(e.errno)) return new ProhibitedError(`Prohibited operation detected: ${e.sqlMessage}`, { code });
  if (RETRYABLE_ERRNOS.has(e.errno)) return new UnavailableError(`Database busy, try again: ${e.sqlMessage}`, { code });
  return new ValidationError(`Query failed: ${e.sqlMessage}`, { code });
}

function unavailable(error: unknown): UnavailableError {
  logger.warn('tenant statement could not run', { error: error as Error });
  const code = (error as { code?: string }).code;
  return new UnavailableError('Database temporarily unavailable, try again', { code: code ?? 'UNAVAILABLE' });
}
