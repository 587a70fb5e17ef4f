import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import type { LogItemExtraInput, LogItemMessage } from '@aws-lambda-powertools/logger/types';
import type { Context } from 'aws-lambda';
import { OctoError } from '#core/errors';

/** What names the request a log line was written for; every line written while serving it carries them. */
export type RequestKeys = {
  /** This invocation: the API request's id in an HTTP function, the Lambda request id in the others. */
  request_id: string;
  /** The API request the work started from: async invokes carry it on (Invoker adapters put it in the payload). */
  correlation_id: string;
  tenant_id?: string;
};

// Per request, never on the one logger: the local gateway serves many requests at once in one process.
const requestKeys = new AsyncLocalStorage<RequestKeys>();

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

class RequestLogger extends Logger {
  protected override createAndPopulateLogItem(level: number, input: LogItemMessage, extra: LogItemExtraInput) {
    // First, so a key the call names itself (a log record's own tenant_id, say) wins; Powertools
    // reads the extra inputs one by one, whatever their mix (its type allows a lone Error or string).
    return super.createAndPopulateLogItem(level, input, [requestKeys.getStore() ?? {}, ...extra] as LogItemExtraInput);
  }

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
export const logger = new RequestLogger({ serviceName: 'octodb' });

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

/** Runs `work` as one request: its log lines (and the async invokes it makes) carry these keys. */
export function withRequestKeys<T>(keys: RequestKeys, work: () => T): T {
  return requestKeys.run(keys, work);
}

/**
 * Runs `work` outside any request: for work one request starts on behalf of many (a flush of a
 * shared buffer), whose timers and lines would otherwise carry that one request's keys.
 */
export function outsideRequests<T>(work: () => T): T {
  return requestKeys.exit(work);
}

/** The payload of an async invoke, with the correlation id of the request making it. */
export function correlated(payload: Record<string, unknown>): Record<string, unknown> {
  const id = requestKeys.getStore()?.correlation_id;
  return id === undefined ? payload : { ...payload, correlation_id: id };
}

// What an event may bring as its correlation id: bounded, and nothing that could forge a log line.
const CORRELATION_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Wraps a function that API Gateway's proxy does not call (an async invoke, the log queue, the
 * operator, the authorizer): it logs under its own request id and the correlation id its event
 * carries (an async invoke's payload), else its own.
 */
export function invocationHandler<E, R>(body: (event: E, context?: Context) => Promise<R>): (event: E, context?: Context) => Promise<R> {
  return (event, context) => {
    const requestId = context?.awsRequestId ?? randomUUID();
    const carried = (event as { correlation_id?: unknown } | null)?.correlation_id;
    const correlationId = typeof carried === 'string' && CORRELATION_ID.test(carried) ? carried : requestId;
    return withRequestKeys({ request_id: requestId, correlation_id: correlationId }, () => body(event, context));
  };
}
