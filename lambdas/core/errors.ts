/** Typed errors that carry their HTTP status; one mapper (shared/http.ts) turns them into responses. */
export abstract class OctoError extends Error {
  abstract readonly status: number;
  /** Sent as the Retry-After header (whole seconds) when set: every 429 and 503 carries one. */
  readonly retryAfterSeconds?: number;
  constructor(
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = new.target.name;
  }
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
  ) {
    super(message, { code: 'RATE_LIMITED', retry_after_seconds: retryAfterSeconds });
  }
}
/** A dependency (MySQL, Redis, the host) failed in a way the caller may retry. */
export class UnavailableError extends OctoError {
  readonly status = 503;
  /** Soon (a transient failure or a full queue), unless the error names its own `retry_after_seconds`. */
  override readonly retryAfterSeconds: number = typeof this.details?.retry_after_seconds === 'number' ? this.details.retry_after_seconds : 1;
}
/** Too much asked of a shared resource at once (e.g. every pooled connection in use): retry shortly. */
export class BusyError extends UnavailableError {}
