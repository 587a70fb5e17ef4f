import { randomUUID } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import type { Context } from 'aws-lambda';
import { OctoError } from '#core/errors';

/** What names the request a log line was written for: the lines its own code writes carry them (RequestLog). */
export type RequestKeys = {
  /** This invocation: the API request's id in an HTTP function, the Lambda request id in the others. */
  request_id: string;
  /** The API request the work started from: async invokes carry it on (Invoker adapters put it in the payload). */
  correlation_id: string;
  tenant_id?: string;
};

const MAX_CAUSES = 8;
/**
 * An error as logged: each link of its cause chain with its name, message, code/errno and stack,
 * and nothing else. Driver errors also carry the SQL they ran, bound values included: never logged.
 */
function errorChain(error: Error, depth = 0): Record<string, unknown> {
  const { code, errno } = error as { code?: unknown; errno?: unknown };
  const typed = error instanceof OctoError ? { status: error.status, code: code ?? error.details?.code } : { code };
  const cause = error.cause;
  return {
    name: error.name,
    message: error.message,
    ...typed,
    errno,
    stack: error.stack,
    cause: cause instanceof Error ? (depth < MAX_CAUSES ? errorChain(cause, depth + 1) : '(more causes)') : typeof cause === 'string' ? cause : undefined,
  };
}

class ErrorChainLogger extends Logger {
  // Errors by the original value (`this[key]`): JSON.stringify hands a replacer what toJSON made
  // of it, and an OctoError's toJSON is its response body.
  protected override getJsonReplacer() {
    const powertools = super.getJsonReplacer();
    return function (this: Record<string, unknown>, key: string, value: unknown) {
      const original = this[key];
      return powertools.call(this, key, original instanceof Error ? errorChain(original) : value);
    };
  }
}

/**
 * The one structured JSON logger (level from POWERTOOLS_LOG_LEVEL). Nothing logs passwords, tokens
 * or bound query parameters.
 */
export const logger = new ErrorChainLogger({ serviceName: 'octodb' });

/**
 * The `alarm` field of an ERROR line that needs an operator although no request failed: a
 * degraded part (logs, email) the API works on without. A log alert matches the field, not the text.
 */
export const ALARM = {
  /** The local log store (dynalite) or its dead-letter file cannot be written: logs wait, or are lost. */
  logStoreDown: 'LOG_STORE_DOWN',
  /** An email could not be handed over (Mailgun refused it, the outbox cannot be written). */
  emailNotSent: 'EMAIL_NOT_SENT',
  /** Emails still unsent when their retention ended: given up. */
  emailDropped: 'EMAIL_DROPPED',
} as const;

type LogFields = Record<string, unknown>;

/**
 * The log of one request: the one logger, each line carrying the request's keys. Passed by hand,
 * not held in AsyncLocalStorage, whose promise hooks would cost every request that serves (one
 * per promise, on the thread every tenant shares); see docs/limits.md. Lines of work shared by many
 * requests (a buffer's flush, a Redis reconnect) are written to `logger` and name none.
 */
export class RequestLog {
  constructor(readonly keys: RequestKeys) {}

  // The keys first, so a key the call names itself (a log record's own tenant_id, say) wins.
  info(message: string, fields?: LogFields): void {
    logger.info(message, { ...this.keys, ...fields });
  }

  warn(message: string, fields?: LogFields): void {
    logger.warn(message, { ...this.keys, ...fields });
  }

  error(message: string, fields?: LogFields): void {
    logger.error(message, { ...this.keys, ...fields });
  }
}

// What an event may bring as its correlation id: bounded, and nothing that could forge a log line.
const CORRELATION_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Wraps a function that API Gateway's proxy does not call (an async invoke, the log queue, the
 * operator, the authorizer): it logs under its own request id and the correlation id its event
 * carries (an async invoke's payload), else its own.
 */
export function invocationHandler<E, R>(body: (event: E, log: RequestLog, context?: Context) => Promise<R>): (event: E, context?: Context) => Promise<R> {
  return (event, context) => {
    const requestId = context?.awsRequestId ?? randomUUID();
    const carried = (event as { correlation_id?: unknown } | null)?.correlation_id;
    const correlationId = typeof carried === 'string' && CORRELATION_ID.test(carried) ? carried : requestId;
    return body(event, new RequestLog({ request_id: requestId, correlation_id: correlationId }), context);
  };
}
