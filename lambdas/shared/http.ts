import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import type { z } from 'zod';
import { OctoError, UnauthorizedError, ValidationError } from '#core/errors';
import type { Caller } from '#core/ports';
import { logger } from './logger.ts';

export type HttpHandler = (event: APIGatewayProxyEvent, context?: Context) => Promise<APIGatewayProxyResult>;

export function json(statusCode: number, body: unknown): APIGatewayProxyResult {
  return {
    statusCode,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' },
    body: JSON.stringify(body),
  };
}

/** Parses the JSON body against one request schema; any problem is a 400 naming the fields. */
export function parseBody<S extends z.ZodType>(event: APIGatewayProxyEvent, schema: S): z.infer<S> {
  let raw: unknown;
  try {
    const text = event.isBase64Encoded ? Buffer.from(event.body ?? '', 'base64').toString('utf8') : (event.body ?? '');
    raw = text.trim() === '' ? {} : JSON.parse(text);
  } catch {
    throw new ValidationError('Request body must be valid JSON');
  }
  const result = schema.safeParse(raw);
  if (!result.success) {
    const problems = result.error.issues.map((i) => ({ field: i.path.join('.') || '(body)', problem: i.message }));
    const first = problems[0]!;
    throw new ValidationError(`Invalid request: ${first.field}: ${first.problem}`, { problems });
  }
  return result.data;
}

export type { Caller };

/** The identity LF0 put into the request context: the only identity a handler trusts. */
export function callerOf(event: APIGatewayProxyEvent): Caller {
  const ctx = event.requestContext?.authorizer ?? {};
  const tenantId = ctx.tenant_id;
  const dbId = ctx.db_id;
  if (typeof tenantId !== 'string' || typeof dbId !== 'string') throw new UnauthorizedError('Unauthorized');
  return { tenantId, dbId, isAdmin: String(ctx.is_admin) === 'true' };
}

/** Wraps a handler body: typed errors become their status, anything else a 500 that leaks nothing. */
export function httpHandler(body: (event: APIGatewayProxyEvent) => Promise<APIGatewayProxyResult>): HttpHandler {
  return async (event, context) => {
    const requestId = context?.awsRequestId ?? event.requestContext?.requestId ?? 'local';
    logger.appendKeys({ request_id: requestId, tenant_id: event.requestContext?.authorizer?.tenant_id });
    try {
      return await body(event);
    } catch (error) {
      if (error instanceof OctoError) return json(error.status, error.toJSON());
      logger.error('unhandled error', { error: error as Error });
      return json(500, { error: 'Internal server error', request_id: requestId });
    } finally {
      logger.removeKeys(['request_id', 'tenant_id']);
    }
  };
}
