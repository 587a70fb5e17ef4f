import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import type { z } from 'zod';
import { BusyError, OctoError, tenantSuspended, UnauthorizedError, ValidationError } from '#core/errors';
import { API_KEY_SCOPES, type Caller } from '#core/ports';
import { type Config, loadConfig } from './config.ts';
import { bodyTooLarge } from './http-api.ts';
import { RequestLog } from './logger.ts';
import { problemsOf } from './requests.ts';

export type HttpHandler = (event: APIGatewayProxyEvent, context?: Context) => Promise<APIGatewayProxyResult>;

export function json(statusCode: number, body: unknown): APIGatewayProxyResult {
  return {
    statusCode,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' },
    body: JSON.stringify(body),
  };
}

/** Any character trim() would keep: a test that copies nothing (bodies may be large). */
const NOT_BLANK = /\S/;

/** Parses the JSON body against one request schema; any problem is a 400 naming the fields. */
export function parseBody<S extends z.ZodType>(event: APIGatewayProxyEvent, schema: S): z.infer<S> {
  let raw: unknown;
  try {
    const text = event.isBase64Encoded ? Buffer.from(event.body ?? '', 'base64').toString('utf8') : (event.body ?? '');
    raw = NOT_BLANK.test(text) ? JSON.parse(text) : {};
  } catch (error) {
    throw new ValidationError('Request body must be valid JSON', undefined, { cause: error });
  }
  const result = schema.safeParse(raw);
  if (!result.success) {
    const problems = problemsOf(result.error);
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
  if (ctx.suspended === 'true') throw tenantSuspended();
  const caller: Caller = { tenantId, dbId, isAdmin: String(ctx.is_admin) === 'true' };
  if (ctx.key_id === undefined) return caller;
  // An API key's limits: a context naming a key without a known scope is refused, never widened to the token's rights.
  const scope = API_KEY_SCOPES.find((s) => s === ctx.key_scope);
  if (typeof ctx.key_id !== 'string' || !scope) throw new UnauthorizedError('Unauthorized');
  return { ...caller, key: { keyId: ctx.key_id, scope, dbBound: String(ctx.key_db_bound) === 'true' } };
}

/** The client's address as API Gateway (and the local gateway) saw it: the unit of per-client limits. */
export function sourceIpOf(event: APIGatewayProxyEvent): string {
  return event.requestContext?.identity?.sourceIp ?? 'unknown';
}

/**
 * What every HTTP handler enforces the same way, on AWS and locally: the CORS origins its
 * responses name, and the largest request body it accepts (WAF may refuse larger ones first).
 */
export interface HttpEdge {
  corsOrigins: readonly string[];
  maxBodyBytes: number;
}

export function httpEdgeOf(config: Pick<Config, 'OCTODB_CORS_ORIGINS' | 'OCTODB_MAX_BODY_BYTES'>): HttpEdge {
  return { corsOrigins: config.OCTODB_CORS_ORIGINS, maxBodyBytes: config.OCTODB_MAX_BODY_BYTES };
}

let configuredEdge: HttpEdge | undefined;
/** The local gateway hands its own settings over (as it does with useParts); a Lambda reads its environment once. */
export function useHttpEdge(edge: HttpEdge): void {
  configuredEdge = edge;
}
const currentEdge = (): HttpEdge => (configuredEdge ??= httpEdgeOf(loadConfig()));

/**
 * CORS response headers: the caller's Origin when it is one of the allowed ones (a response
 * names exactly one origin), and `Vary: Origin` whenever CORS is on, so caches keep them apart.
 */
export function corsHeaders(allowed: readonly string[], origin: string | undefined): Record<string, string> {
  if (allowed.length === 0) return {};
  return origin !== undefined && allowed.includes(origin) ? { 'access-control-allow-origin': origin, vary: 'Origin' } : { vary: 'Origin' };
}

/** Header names arrive in whatever case the client (or HTTP/2) used. */
function headerOf(event: APIGatewayProxyEvent, name: string): string | undefined {
  for (const [key, value] of Object.entries(event.headers ?? {})) if (key.toLowerCase() === name && value !== undefined) return value;
  return undefined;
}

function bodyBytes(event: APIGatewayProxyEvent): number {
  if (!event.body) return 0;
  return event.isBase64Encoded ? Buffer.from(event.body, 'base64').length : Buffer.byteLength(event.body, 'utf8');
}

function withRetryAfter(result: APIGatewayProxyResult, seconds: number | undefined): APIGatewayProxyResult {
  return seconds === undefined ? result : withHeaders(result, { 'retry-after': String(seconds) });
}

function withHeaders(result: APIGatewayProxyResult, headers: Record<string, string>): APIGatewayProxyResult {
  return Object.keys(headers).length === 0 ? result : { ...result, headers: { ...result.headers, ...headers } };
}

/** The answer to a body over the cap: the same status, headers and body from every handler and from the local gateway. */
export function tooLargeAnswer(edge: HttpEdge, origin: string | undefined): APIGatewayProxyResult {
  const error = bodyTooLarge(edge.maxBodyBytes);
  return withHeaders(json(error.status, error.toJSON()), corsHeaders(edge.corsOrigins, origin));
}

/**
 * Wraps a handler body: a body over the size cap is a 413 before anything runs; typed errors
 * become their status, anything else a 500 that leaks nothing; every answer carries the CORS
 * headers. The body gets the request's log: its lines name this request (and its tenant, behind LF0).
 * `edge` defaults to the settings of this process.
 */
export function httpHandler(body: (event: APIGatewayProxyEvent, log: RequestLog) => Promise<APIGatewayProxyResult>, edge?: HttpEdge): HttpHandler {
  return async (event, context) => {
    const requestId = context?.awsRequestId ?? event.requestContext?.requestId ?? 'local';
    const settings = edge ?? currentEdge();
    const origin = headerOf(event, 'origin');
    const cors = corsHeaders(settings.corsOrigins, origin);
    const log = new RequestLog({ request_id: requestId, correlation_id: requestId, tenant_id: event.requestContext?.authorizer?.tenant_id });
    try {
      if (bodyBytes(event) > settings.maxBodyBytes) return tooLargeAnswer(settings, origin);
      return withHeaders(await body(event, log), cors);
    } catch (error) {
      return withHeaders(failureAnswer(error, log), cors);
    }
  };
}

/**
 * A 5xx is ours to look into: logged with its whole cause chain. Load shed on purpose (a full
 * queue, a tenant past its share) is a WARN without a stack: under a flood there is one per refused
 * request, and nothing to look into. A 4xx is the caller's: not logged.
 */
function failureAnswer(error: unknown, log: RequestLog): APIGatewayProxyResult {
  const status = error instanceof OctoError ? error.status : 500;
  if (error instanceof BusyError) log.warn('request shed', { status, code: error.details?.code });
  else if (status >= 500) log.error('request failed', { status, error: error as Error });
  if (error instanceof OctoError) return withRetryAfter(json(error.status, error.toJSON()), error.retryAfterSeconds);
  return json(500, { error: 'Internal server error', request_id: log.keys.request_id });
}
