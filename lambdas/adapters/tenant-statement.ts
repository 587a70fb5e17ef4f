import type { Socket } from 'node:net';
import type { Connection as CoreConnection, FieldPacket, ResultSetHeader } from 'mysql2';
import { type Connection, createConnection, type RowDataPacket } from 'mysql2/promise';
import type { PoolSlot } from './affinity-pool.ts';
import { columnsOf } from './mysql-column-types.ts';
import type { MysqlTls } from './mysql-tls.ts';
import { QueryTimeoutError, ValidationError } from '#core/errors';
import { realSleep } from '#core/retry';
import type { ResultColumn, SqlParam, StatementResult, TenantLogin } from '#core/ports';

/**
 * One tenant statement on a pooled connection, and what stops it: the row and byte budgets, the
 * watchdog past the time limit, and the loss of the connection. Whatever happens, the promise
 * settles: the connection's loss (a KILL, a server restart, a driver exception) rejects it too.
 */
export interface TenantSlot extends PoolSlot<Connection> {
  /** Set while a statement runs on the connection: called when the connection is lost. */
  onLost?: (error: Error) => void;
}

export interface StatementLimits {
  rowLimit: number;
  maxResultBytes: number;
  timeoutMs: number;
  /** After the time limit, how long before the watchdog answers STATEMENT_TIMEOUT and gives the connection up. */
  graceMs: number;
  /** A batch whose own time limit comes sooner: the watchdog stops the statement then, answering `error()`. */
  batchEnd?: { leftMs: number; error: () => Error };
  /**
   * A batch's statement, whose `rowLimit` is what the batch has left (the session still lets the
   * whole limit through): rows past it are read and dropped, their bytes counted against the
   * budget, rather than the connection closed, so the statements after it can still run.
   */
  dropPastRowLimit?: boolean;
}

/** The callback-style connection under mysql2's promise wrapper: it streams rows as events. */
export const coreOf = (conn: Connection): CoreConnection => (conn as unknown as { connection: CoreConnection }).connection;

/**
 * Closes a connection at once, both ways: mysql2's destroy() only half-closes the socket, which
 * would go on reading the rest of a result.
 */
export function closeHard(conn: Connection): void {
  const core = coreOf(conn);
  core.destroy();
  (core as unknown as { stream?: Socket }).stream?.destroy();
}

/** Column names mysql2 refuses to make object keys: it throws while parsing, killing the connection. */
const UNSAFE_NAMES = new Set(['__proto__', '__defineGetter__', '__defineSetter__', '__lookupGetter__', '__lookupSetter__']);
// Column types whose values come back (dateStrings) as 'YYYY-MM-DD' and 'YYYY-MM-DD hh:mm:ss[.ffffff]'.
const DATE_TYPES = new Set(['DATE']);
const DATETIME_TYPES = new Set(['TIMESTAMP', 'DATETIME']);
/** MySQL's zero dates ('0000-00-00', '2024-00-00', '2024-02-00') name no calendar day: null. */
const ZERO_DATE = /^\d{4}-(00|\d\d-00)/;

/** `work`, or `late()`'s error after `ms` if it has not settled by then. */
export function within<T>(work: Promise<T>, ms: number, late: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(late()), ms);
    work.then(resolve, reject).finally(() => clearTimeout(timer));
  });
}

/** A server that accepted the connection but does not answer: the connection is given up (503). */
export const unanswered = (what: string) => Object.assign(new Error(`MySQL did not answer ${what} in time`), { code: 'ETIMEDOUT' });

/** Work on a slot's connection that fails as soon as the connection is lost, whatever the driver does. */
export function untilLost<T>(slot: TenantSlot, work: Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    slot.onLost = reject;
    work.then(resolve, reject).finally(() => (slot.onLost = undefined));
  });
}

/**
 * Streams the rows and keeps them under the row cap and the byte budget (the rows' JSON size, also
 * returned as `bytes`):
 * past either, it stops reading instead of draining, so memory stays bounded by the budget plus
 * one row (≤ max_allowed_packet) whatever the statement would return. At the time limit plus the
 * grace it answers STATEMENT_TIMEOUT and marks the connection dead; `overran` stops the statement on the server.
 */
export function runStatement(
  slot: TenantSlot,
  sql: string,
  params: SqlParam[],
  limits: StatementLimits,
  overran: (threadId: number | null) => void,
): Promise<StatementResult & { bytes: number }> {
  return new Promise((resolve, reject) => new StatementRun(slot, sql, params, limits, overran, resolve, reject));
}

type Row = Record<string, unknown>;

/**
 * One statement's result as it streams in: each event of the driver's command drives it, and the
 * first outcome settles it (later events, such as rows after a stop or the end after an error,
 * change nothing). A class rather than closures: it runs for every statement of every tenant.
 */
class StatementRun {
  private readonly rows: Row[] = [];
  private columns: ResultColumn[] = [];
  private convert: ((row: Row) => Row) | undefined;
  private header: ResultSetHeader | undefined;
  private bytes = 0;
  private truncated = false;
  private settled = false;
  private readonly watchdog: NodeJS.Timeout;

  constructor(
    private readonly slot: TenantSlot,
    sql: string,
    params: SqlParam[],
    private readonly limits: StatementLimits,
    overran: (threadId: number | null) => void,
    private readonly resolve: (result: StatementResult & { bytes: number }) => void,
    private readonly reject: (error: Error) => void,
  ) {
    const core = coreOf(slot.conn);
    slot.onLost = (error) => this.fail(error);
    // The server's own limit answers first; this answers a statement it did not stop (MySQL's
    // limit covers SELECT only) or one rolling back, without waiting for the rollback.
    const { batchEnd, timeoutMs, graceMs } = limits;
    const batchFirst = batchEnd !== undefined && batchEnd.leftMs < timeoutMs + graceMs;
    this.watchdog = setTimeout(
      () => {
        slot.dead = true;
        overran(core.threadId);
        this.fail(batchFirst ? batchEnd.error() : new QueryTimeoutError(timeoutMs));
      },
      batchFirst ? Math.max(batchEnd.leftMs, 0) : timeoutMs + graceMs,
    );
    const command = core.execute({ sql, values: params });
    command.on('fields', (fields?: FieldPacket[]) => this.onFields(fields));
    command.on('result', (row: Row | ResultSetHeader) => this.onResult(row));
    command.on('error', (error: Error) => this.fail(error));
    command.on('end', () => this.onEnd());
  }

  private onFields(fields: FieldPacket[] | undefined): void {
    const unsafe = fields?.find((f) => UNSAFE_NAMES.has(f.name));
    if (unsafe) {
      this.abandon();
      this.fail(new ValidationError(`Query failed: a result column may not be named ${unsafe.name} (rename it with AS)`, { code: 'UNSAFE_COLUMN_NAME' }));
      return;
    }
    if (!fields) return;
    this.columns = columnsOf(fields);
    this.convert = converterFor(this.columns);
  }

  private onResult(row: Row | ResultSetHeader): void {
    const { rows, limits } = this;
    if (!this.convert) this.header = row as ResultSetHeader;
    else if (this.settled) return;
    else if (rows.length === limits.rowLimit && !limits.dropPastRowLimit) {
      // sql_select_limit lets one row past the cap through; a second means an explicit LIMIT.
      if (this.truncated) this.stopReading();
      else this.truncated = true;
    } else {
      const value = this.convert(row as Row);
      this.bytes += Buffer.byteLength(JSON.stringify(value));
      if (this.bytes > limits.maxResultBytes) this.stopReading();
      else if (rows.length < limits.rowLimit) rows.push(value);
      else this.truncated = true;
    }
  }

  private onEnd(): void {
    const { header } = this;
    if (!header) return this.succeed(this.selected());
    const insertId = Number(header.insertId) > 0 ? String(header.insertId) : null;
    this.succeed({ columns: [], rows: [], truncated: false, affectedRows: header.affectedRows, insertId, bytes: 0 });
  }

  private selected(): StatementResult & { bytes: number } {
    const { columns, rows, truncated, bytes } = this;
    return { columns, rows, truncated, affectedRows: rows.length, insertId: null, bytes };
  }

  /** The rows so far, and the connection given up: it is mid-result. */
  private stopReading(): void {
    this.truncated = true;
    this.abandon();
    this.succeed(this.selected());
  }

  /** The connection is mid-result or mid-statement: it is closed and never reused. */
  private abandon(): void {
    this.slot.dead = true;
    closeHard(this.slot.conn);
  }

  private succeed(result: StatementResult & { bytes: number }): void {
    if (this.settle()) this.resolve(result);
  }

  private fail(error: Error): void {
    if (this.settle()) this.reject(error);
  }

  /** True for the first outcome only. */
  private settle(): boolean {
    if (this.settled) return false;
    this.settled = true;
    this.slot.onLost = undefined;
    clearTimeout(this.watchdog);
    return true;
  }
}

/** How long a stopped statement's rollback is waited for (and counted against its tenant) at most. */
const ROLLBACK_WAIT_MS = 60_000;
const ROLLBACK_POLL_MS = 250;

/**
 * KILL CONNECTION over a side connection as the same tenant (a user may stop its own threads
 * without any privilege), then waits while the server thread is still there (rolling back), so
 * the caller can count it against the tenant until it is gone; at most ROLLBACK_WAIT_MS.
 */
export async function stopOnServer(login: TenantLogin, threadId: number | null, ssl: MysqlTls): Promise<void> {
  if (!threadId) return;
  let own: Connection | undefined;
  try {
    own = await createConnection({ host: login.host.endpoint, port: login.host.port, user: login.user, password: login.password, ssl, connectTimeout: 5000 });
    await own.query('KILL CONNECTION ?', [threadId]).catch(() => undefined); // it may have ended meanwhile
    const until = Date.now() + ROLLBACK_WAIT_MS;
    while (Date.now() < until) {
      const [rows] = await own.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE ID = ?', [threadId]);
      if (Number(rows[0]?.n) === 0) return;
      await realSleep(ROLLBACK_POLL_MS);
    }
  } catch {
    // The host is unreachable: nothing more to stop from here.
  } finally {
    own?.destroy();
  }
}

/**
 * JSON-safe values: binary as base64; DATETIME/TIMESTAMP as ISO-8601 in UTC (the session's time
 * zone); zero dates as null (BIGINT/DECIMAL arrive as strings).
 */
function converterFor(columns: ResultColumn[]): (row: Row) => Row {
  const dates = namesOf(columns, DATE_TYPES);
  const datetimes = namesOf(columns, DATETIME_TYPES);
  return (row) => {
    for (const key in row) {
      const value = row[key];
      if (Buffer.isBuffer(value)) row[key] = value.toString('base64');
      else if (typeof value !== 'string') continue;
      else if (datetimes?.has(key)) row[key] = ZERO_DATE.test(value) ? null : `${value.replace(' ', 'T')}Z`;
      else if (dates?.has(key) && ZERO_DATE.test(value)) row[key] = null;
    }
    return row;
  };
}

/** The names of the columns of these types; none (the common case) is no set at all. */
function namesOf(columns: ResultColumn[], types: Set<string>): Set<string> | undefined {
  let names: Set<string> | undefined;
  for (const column of columns) if (types.has(column.type)) (names ??= new Set()).add(column.name);
  return names;
}
