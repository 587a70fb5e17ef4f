/**
 * Typed errors that carry their HTTP status; one mapper (shared/http.ts) turns them into responses.
 * Whoever turns another error into one passes it as `{ cause }`: the response shows only the typed
 * error, the log of a 5xx shows the whole chain down to the driver's error.
 */
export abstract class OctoError extends Error {
  abstract readonly status: number;
  /** Sent as the Retry-After header (whole seconds) when set: every 429 and 503 carries one. */
  readonly retryAfterSeconds?: number;
  constructor(
    message: string,
    readonly details?: Record<string, unknown>,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
  }
  /** The response body: never the cause, which may name hosts, users or the driver's words. */
  toJSON(): Record<string, unknown> {
    return { error: this.message, ...this.details };
  }
}

export class ValidationError extends OctoError {
  readonly status = 400;
}
export class UnauthorizedError extends OctoError {
  readonly status = 401;
}
export class ProhibitedError extends OctoError {
  readonly status = 403;
}
export class NotFoundError extends OctoError {
  readonly status = 404;
}
/**
 * Someone else's database, one that does not exist, and one an API key is not bound to: the one
 * answer of every route taking a db_id, so a caller cannot tell them apart to probe for ids.
 */
export const databaseNotFound = (): NotFoundError => new NotFoundError('Database not found', { code: 'DATABASE_NOT_FOUND' });
export class ConflictError extends OctoError {
  readonly status = 409;
}
export class PayloadTooLargeError extends OctoError {
  readonly status = 413;
}
/** Over a rate limit: the caller may retry after `retryAfterSeconds` (also in the body). */
export class TooManyRequestsError extends OctoError {
  readonly status = 429;
  constructor(
    message: string,
    override readonly retryAfterSeconds: number,
    options?: ErrorOptions,
  ) {
    super(message, { code: 'RATE_LIMITED', retry_after_seconds: retryAfterSeconds }, options);
  }
}
/** A dependency (MySQL, Redis, the host) failed in a way the caller may retry. */
export class UnavailableError extends OctoError {
  readonly status = 503;
  /** Soon (a transient failure or a full queue), unless the error names its own `retry_after_seconds`. */
  override readonly retryAfterSeconds: number = typeof this.details?.retry_after_seconds === 'number' ? this.details.retry_after_seconds : 1;
}
/** The answer of an outage (MetaDB or Redis out of reach), whichever `code` names it. */
export const OUTAGE_MESSAGE = 'The service is briefly unavailable: try again shortly';
/** Too much asked of a shared resource at once (e.g. every pooled connection in use): retry shortly. */
export class BusyError extends UnavailableError {}
/** A record with this key exists already (adapters map their driver's duplicate-key error to it). */
export class DuplicateError extends ConflictError {}
/**
 * A failure the same work may get past if tried again shortly (too many connections, lock wait,
 * deadlock, a lost connection): adapters map their driver's codes to it, core retries on it.
 */
export class TransientError extends UnavailableError {}
/**
 * A statement ran past its time limit and was stopped on the server (HostSql kills it; InnoDB rolls
 * it back). No TransientError: the same statement would run into the same limit again.
 */
export class StatementTimeoutError extends UnavailableError {
  constructor(
    readonly limitSeconds: number,
    options?: ErrorOptions,
  ) {
    super(`the statement ran past its time limit of ${limitSeconds}s and was stopped on the server`, undefined, options);
  }
}
/**
 * A tenant statement (/query) stopped at its time limit, or a batch at its own: 408, told apart
 * from bad SQL (400) by its status and `code`. The server stopped it and rolled its changes back,
 * so the same statement would run into the same limit again unless the data or the load changed.
 */
export class QueryTimeoutError extends OctoError {
  readonly status = 408;
  constructor(
    readonly limitMs: number,
    readonly code: 'STATEMENT_TIMEOUT' | 'BATCH_TIMEOUT' = 'STATEMENT_TIMEOUT',
    options?: ErrorOptions,
  ) {
    super(
      code === 'STATEMENT_TIMEOUT'
        ? `Query exceeded the time limit of ${limitMs} ms and was stopped`
        : `The batch exceeded its time limit of ${limitMs} ms and was stopped`,
      { code, limit_ms: limitMs },
      options,
    );
  }
}
/**
 * A suspended tenant (or one being erased, which is suspended first): every route refuses its
 * token and keys with this one answer, /token included; its data is kept.
 */
export const tenantSuspended = (): ProhibitedError =>
  new ProhibitedError('This account is suspended: its requests are refused until an operator resumes it', { code: 'TENANT_SUSPENDED' });
