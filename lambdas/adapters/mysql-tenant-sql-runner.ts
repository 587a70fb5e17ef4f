import { type Connection, createConnection, type RowDataPacket } from 'mysql2/promise';
import { AffinityPool } from './affinity-pool.ts';
import type { Share } from './time-share.ts';
import { CONTROL_MS, runBatchOn } from './tenant-batch.ts';
import { isSqlError, mapError, unavailable } from './tenant-sql-errors.ts';
import type { MysqlTls } from './mysql-tls.ts';
import { closeHard, coreOf, runStatement, stopOnServer, type TenantSlot, unanswered, untilLost, within } from './tenant-statement.ts';
import { BusyError, UnavailableError } from '#core/errors';
import type { BatchOutcome, BatchStatement, HostRecord, RunOptions, SqlParam, StatementResult, TenantLogin, TenantSqlRunner, TenantUsage } from '#core/ports';

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
  /**
   * The server refuses (before running) a SELECT whose optimizer estimate passes this many rows or
   * row combinations (max_join_size): a cartesian join that could never finish inside `timeoutMs`
   * costs a plan, not the time limit's worth of a core. Default 1e9.
   */
  maxJoinRows?: number;
  /** A batch's statements together run at most this long (default: one statement's `timeoutMs`). */
  batchTimeoutMs?: number;
  /** Connections per MySQL host, shared by every tenant on it (see AffinityPool for the fair-share rules). */
  poolSize: number;
  /** Connections one tenant (all its databases together) holds at once; default 4. */
  tenantConcurrency?: number;
  /** A statement running longer is slow: its tenant then holds at most `slowTenantConcurrency` connections for a while. */
  slowStatementMs?: number;
  slowTenantConcurrency?: number;
  /** Connections all slow tenants of a host hold together (absent: each its own `slowTenantConcurrency`). */
  slowHostConcurrency?: number;
  /** Connection time all slow tenants of a host use together (absent: no bound on time). */
  slowHostShare?: Share;
  /** Writes one tenant runs at once (a write's disk I/O is shared by the host's tenants); default 1. */
  tenantWriteConcurrency?: number;
  /** Longest a statement waits for a pooled connection before a 503. */
  acquireTimeoutMs: number;
  /** After the time limit, how long before the watchdog answers STATEMENT_TIMEOUT and stops the statement (tests shorten it). */
  watchdogGraceMs?: number;
}

type Flavor = 'mysql' | 'mariadb';

/** Whom a pooled connection is switched to: one database's login. */
const whoOf = (login: TenantLogin): string => `${login.user}\u0000${login.database}`;

interface HostPool {
  pool: AffinityPool<Connection, TenantLogin>;
  /** Learnt from the first connection opened to the host. */
  flavor?: Flavor;
}

/** Past the time limit, how long before the watchdog answers (the server's own limit usually answers first). */
const WATCHDOG_GRACE_MS = 1000;
/** Past every other bound (the wait, the switch, the statement), a request answers 503 anyway. */
const DEADLINE_SLACK_MS = 2000;
const DEFAULT_TENANT_CONCURRENCY = 4;
const DEFAULT_TENANT_WRITE_CONCURRENCY = 1;
const DEFAULT_MAX_JOIN_ROWS = 1_000_000_000;

/** One request on the runner, as its deadline and its attempt share it. */
interface RequestState {
  /** The deadline passed: the attempt gives up at its next step. */
  expired: boolean;
  /** The connection the attempt holds, for the deadline to close. */
  held: TenantSlot | undefined;
}

/**
 * Tenant statements over one small pool per MySQL host (not one per tenant: that fragments into
 * thousands of idle connections). A connection logs in as the tenant that first needs it and later
 * switches to another tenant's MySQL user (COM_CHANGE_USER) before running anything for it, so
 * MySQL's grants, not only the validator, keep every tenant inside its database. No OctoDB account
 * ever opens these connections: there is no privileged login a half-switched connection could
 * fall back to, and this function needs no MySQL secret beyond MetaDB's. The pool prefers a
 * connection already switched to the same login, which then runs as is.
 *
 * Every run() and runBatch() settles: a refused statement, the watchdog, the loss of the connection,
 * and, last, a deadline over the whole request (wait + switch + statements + slack) all answer it.
 */
export class MysqlTenantSqlRunner implements TenantSqlRunner {
  private readonly pools = new Map<string, HostPool>();

  constructor(
    /** Every tenant connection is TLS with the server verified, as OctoDB's own (mysql-tls.ts). */
    private readonly tls: MysqlTls,
    private readonly limits: TenantSqlLimits,
    /** Told what each tenant's statements cost (connection time, refused plans), for its rate bucket. */
    private readonly usage?: TenantUsage,
  ) {}

  private boundsFor(login: TenantLogin): { maxJoinRows: number; onTooBig: () => void } {
    return { maxJoinRows: this.limits.maxJoinRows ?? DEFAULT_MAX_JOIN_ROWS, onTooBig: () => this.usage?.refusedTooBig(login.tenantId) };
  }

  run(login: TenantLogin, sql: string, params: SqlParam[], options: RunOptions = { writes: false }): Promise<StatementResult> {
    const { timeoutMs, watchdogGraceMs = WATCHDOG_GRACE_MS } = this.limits;
    // The result keeps its `bytes`: callers read the fields they need (resultOf, the schema inspector), none answers it whole.
    return this.onConnection(login, options, timeoutMs + watchdogGraceMs, (slot, stop) => runStatement(slot, sql, params, this.statementLimits(), stop));
  }

  runBatch(login: TenantLogin, statements: BatchStatement[], options: { transaction: boolean } & Partial<RunOptions>): Promise<BatchOutcome> {
    const { rowLimit, maxResultBytes, timeoutMs, batchTimeoutMs = timeoutMs, watchdogGraceMs = WATCHDOG_GRACE_MS } = this.limits;
    const limits = { rowLimit, maxResultBytes, timeoutMs, graceMs: watchdogGraceMs, batchTimeoutMs, ...this.boundsFor(login) };
    // The statements (a watchdog past the batch's time), START TRANSACTION and COMMIT/ROLLBACK.
    const workMs = batchTimeoutMs + watchdogGraceMs + 2 * CONTROL_MS;
    return this.onConnection(login, { writes: options.writes ?? false }, workMs, (slot, stop) => runBatchOn(slot, statements, options.transaction, limits, stop));
  }

  /**
   * `work` on a pooled connection switched to the login, released after (closed if `work` left it
   * unsound); `stop` KILLs a statement that overran, counting it against the tenant until it is gone.
   * Settles within the wait for the connection, the switch, `workMs` and some slack.
   */
  private onConnection<T>(
    login: TenantLogin,
    options: RunOptions,
    workMs: number,
    work: (slot: TenantSlot, stop: (threadId: number | null) => void) => Promise<T>,
  ): Promise<T> {
    const { acquireTimeoutMs } = this.limits;
    const request: RequestState = { expired: false, held: undefined };
    const attempt = this.attempt(login, options, work, request);
    // Past the longest legitimate path: wait or open (≤ 2 × acquire), or wait then switch (same), then the work.
    const deadlineMs = 2 * acquireTimeoutMs + Math.max(workMs, 0) + DEADLINE_SLACK_MS;
    return new Promise((resolve, reject) => {
      const deadline = setTimeout(() => {
        request.expired = true;
        // Whatever it waits on, the connection is given up: its loss settles the attempt too.
        const { held } = request;
        if (held) {
          held.dead = true;
          closeHard(held.conn);
        }
        reject(new UnavailableError('Database did not answer in time, try again', { code: 'DEADLINE' }));
      }, deadlineMs);
      attempt.then(
        (value) => (clearTimeout(deadline), resolve(value)),
        (error: unknown) => (clearTimeout(deadline), reject(error)),
      );
    });
  }

  private async attempt<T>(
    login: TenantLogin,
    { writes, upkeep = false }: RunOptions,
    work: (slot: TenantSlot, stop: (threadId: number | null) => void) => Promise<T>,
    request: RequestState,
  ): Promise<T> {
    const host = this.poolFor(login.host);
    const who = whoOf(login);
    let slot: TenantSlot;
    try {
      slot = await host.pool.acquire(login.tenantId, who, login, { writes, upkeep });
    } catch (error) {
      // A tenant login MySQL refuses is OctoDB's fault (a stored password out of step): a 503 too.
      throw error instanceof BusyError ? error : unavailable(error);
    }
    request.held = slot;
    try {
      if (request.expired) throw new UnavailableError('Database did not answer in time, try again', { code: 'DEADLINE' });
      if (slot.who !== who) {
        await untilLost(slot, within(this.switchTo(slot, login, who, host), this.limits.acquireTimeoutMs, () => unanswered('the switch of user')));
      }
      return await work(slot, (threadId) => {
        const uncharge = host.pool.charge(login.tenantId, writes);
        void stopOnServer(login, threadId, this.tls).finally(uncharge);
      });
    } catch (error) {
      // A statement MySQL refused leaves the connection sound; anything else (a broken socket)
      // may not, so that connection is never handed to another tenant.
      if (!isSqlError(error)) slot.dead = true;
      throw mapError(error, { timeoutMs: this.limits.timeoutMs, ...this.boundsFor(login) });
    } finally {
      host.pool.release(slot);
    }
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.pools.values()].map((p) => p.pool.close()));
    this.pools.clear();
  }

  private statementLimits() {
    const { rowLimit, maxResultBytes, timeoutMs, watchdogGraceMs = WATCHDOG_GRACE_MS } = this.limits;
    return { rowLimit, maxResultBytes, timeoutMs, graceMs: watchdogGraceMs };
  }

  private poolFor(host: HostRecord): HostPool {
    const key = `${host.endpoint}:${host.port}`;
    let entry = this.pools.get(key);
    if (!entry) {
      const { poolSize, acquireTimeoutMs, tenantConcurrency = DEFAULT_TENANT_CONCURRENCY } = this.limits;
      // A quarter of the pool (at least one connection once there are two) waits for tenants holding none.
      const reserve = poolSize > 1 ? Math.max(1, Math.floor(poolSize / 4)) : 0;
      const created: HostPool = {
        pool: new AffinityPool<Connection, TenantLogin>(
          {
            size: poolSize,
            perTenant: Math.min(tenantConcurrency, poolSize),
            reserve,
            acquireTimeoutMs,
            slowMs: this.limits.slowStatementMs,
            slowPerTenant: Math.min(this.limits.slowTenantConcurrency ?? tenantConcurrency, tenantConcurrency, poolSize),
            writePerTenant: this.limits.tenantWriteConcurrency ?? DEFAULT_TENANT_WRITE_CONCURRENCY,
            slowTotal: this.limits.slowHostConcurrency,
            slowShare: this.limits.slowHostShare,
            onHeld: (tenant, ms) => this.usage?.connectionHeld(tenant, ms),
          },
          (slot, login) => this.open(created, slot, login),
          closeHard,
        ),
      };
      entry = created;
      this.pools.set(key, entry);
    }
    return entry;
  }

  /** A new connection, logged in as the tenant it is opened for and set up as a switch would. */
  private async open(host: HostPool, slot: TenantSlot, login: TenantLogin): Promise<Connection> {
    const conn = await createConnection({
      host: login.host.endpoint,
      port: login.host.port,
      user: login.user,
      password: login.password,
      database: login.database,
      ssl: this.tls,
      enableKeepAlive: true,
      connectTimeout: this.limits.acquireTimeoutMs,
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
    // A connection the server, the network or the driver closed is dropped, never reused, and
    // the statement on it (if any) fails now rather than never.
    const lost = (error?: Error) => {
      slot.dead = true;
      slot.onLost?.(error ?? Object.assign(new Error('Connection lost: the server closed the connection.'), { code: 'PROTOCOL_CONNECTION_LOST' }));
      host.pool.discard(slot);
    };
    coreOf(conn).on('error', lost);
    coreOf(conn).once('end', () => lost());
    const setUp = async () => {
      if (!host.flavor) {
        const [rows] = await conn.query<RowDataPacket[]>('SELECT VERSION() AS v');
        host.flavor = /mariadb/i.test(String(rows[0]?.v)) ? 'mariadb' : 'mysql';
      }
      await this.limitSession(conn, host.flavor);
    };
    try {
      // A server that accepted the connection but does not answer must not keep the room for ever.
      await within(setUp(), this.limits.acquireTimeoutMs, () => unanswered('the session set-up'));
    } catch (error) {
      closeHard(conn);
      throw error;
    }
    slot.who = whoOf(login);
    return conn;
  }

  /**
   * COM_CHANGE_USER resets the session (user variables, temporary tables, prepared statements,
   * LAST_INSERT_ID, session variables), so the limits, the UTC time zone and the SQL mode are set
   * again right after it. FOUND_ROWS() survives it (and COM_RESET_CONNECTION) on MariaDB: the
   * first statement of every switch is a SELECT of no rows, which sets it to 0. Any failure on the
   * way discards the connection: after a refused COM_CHANGE_USER MariaDB keeps the session of the
   * previous user (another tenant), so it must never run a statement.
   */
  private async switchTo(slot: TenantSlot, login: TenantLogin, who: string, host: HostPool): Promise<void> {
    slot.who = undefined;
    try {
      await slot.conn.changeUser({ user: login.user, password: login.password, database: login.database });
      await slot.conn.query('SELECT 1 FROM DUAL WHERE 0');
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
    await conn.query(
      `SET SESSION ${timeLimit}, sql_select_limit = ${rowLimit + 1}, max_join_size = ${this.limits.maxJoinRows ?? DEFAULT_MAX_JOIN_ROWS}, time_zone = '+00:00', sql_mode = '${TENANT_SQL_MODE}'`,
    );
  }
}
