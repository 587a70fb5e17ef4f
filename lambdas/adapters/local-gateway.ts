import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { LRUCache } from 'lru-cache';
import type {
  APIGatewayAuthorizerResult,
  APIGatewayProxyEvent,
  APIGatewayProxyResult,
  APIGatewayTokenAuthorizerEvent,
} from 'aws-lambda';
import { type HttpEdge, tooLargeAnswer } from '#shared/http';
import { type ApiFunction, AUTHORIZER_OUTAGE, CORS_PREFLIGHT, GATEWAY_ROUTES, type GatewayAnswer, gatewayCorsHeaders, ROUTES } from '#shared/http-api';
import { logger } from '#shared/logger';

type ProxyHandler = (event: APIGatewayProxyEvent) => Promise<APIGatewayProxyResult>;

export type Route = FunctionRoute | AnsweredRoute;

export interface FunctionRoute {
  method: string;
  path: string;
  guarded: boolean;
  handler: ProxyHandler;
}

/** A route the gateway answers itself, as API Gateway's MOCK integration does: no authorizer, no handler. */
export interface AnsweredRoute {
  method: string;
  path: string;
  answer: GatewayAnswer;
}

/** The API's route table (#shared/http-api), each route served by the handler of its function, or by the gateway. */
export function routesOf(handlers: Record<ApiFunction, ProxyHandler>): Route[] {
  return [
    ...ROUTES.map(({ method, path, guarded, fn }) => ({ method, path, guarded, handler: handlers[fn] })),
    ...GATEWAY_ROUTES.map(({ method, path, answer }) => ({ method, path, answer })),
  ];
}

export interface GatewayOptions {
  routes: Route[];
  authorizer: (event: APIGatewayTokenAuthorizerEvent) => Promise<APIGatewayAuthorizerResult>;
  /** The CORS origins and body cap, the same settings the handlers answer with. */
  edge: HttpEdge;
  /**
   * A 429 is answered this long later at most (no later than its Retry-After), so a client that
   * ignores Retry-After and asks again at once sends a few requests a second, not thousands; 0: at once.
   */
  refusalDelayMs?: number;
}

/** Refusals held back at once at most; past it they are answered at once (a held one costs a socket and a timer). */
const MAX_HELD_REFUSALS = 1000;

const STAGE = 'local';
const METHOD_ARN = (method: string, path: string) => `arn:aws:execute-api:local:000000000000:octodb/${STAGE}/${method}${path}`;

/**
 * The local stand-in for API Gateway (REST, Lambda proxy integration): it answers unknown routes,
 * its own routes (MOCK), CORS preflights, authorizer decisions and failed handlers the way API
 * Gateway does (its own answers carry the CORS headers of its gateway responses), refuses
 * oversized bodies exactly as the handlers do, and hands handlers the same v1 proxy events, with
 * the authorizer's context injected into requestContext.authorizer.
 */
export function createGateway(options: GatewayOptions): Server {
  const hold = holdRefusals(options.refusalDelayMs ?? 0);
  return createServer((req, res) => {
    serve(req, res, options, hold).catch((error: unknown) => {
      logger.error('local gateway failure', { error: error as Error });
      send(res, gatewayError(500, 'Internal server error', options.edge));
    });
  });
}

/**
 * On AWS, WAF's per-IP rule blocks a flood before it costs OctoDB anything (lib/api.ts). Here one
 * event loop serves every tenant, and answering a 429 costs it about as much as a cheap query: a
 * closed-loop client ignoring Retry-After made thousands a second and slowed every other tenant.
 * Held back, as nginx's limit_req delays what exceeds its rate, it asks a few times a second.
 */
function holdRefusals(delayMs: number): (res: ServerResponse, result: APIGatewayProxyResult) => void {
  let held = 0;
  return (res, result) => {
    const retryAfterMs = Number(result.headers?.['retry-after'] ?? 0) * 1000;
    const waitMs = Math.min(delayMs, retryAfterMs);
    if (result.statusCode !== 429 || !(waitMs > 0) || held >= MAX_HELD_REFUSALS) return send(res, result);
    held++;
    const timer = setTimeout(() => send(res, result), waitMs);
    res.once('close', () => {
      clearTimeout(timer); // the client left: nothing to answer
      held--;
    });
  };
}

async function serve(req: IncomingMessage, res: ServerResponse, options: GatewayOptions, answer: typeof send): Promise<void> {
  const url = parseUrl(req.url ?? '/');
  const method = req.method ?? 'GET';
  const route = url && options.routes.find((r) => r.path === url.pathname && r.method === method);
  const { edge } = options;
  const body = await readBody(req, edge.maxBodyBytes);
  if (body === undefined) return send(res, tooLargeAnswer(edge, req.headers.origin));
  // Preflights on the functions' routes only, as lib/api.ts adds them: a gateway route serves a
  // plain GET, which browsers send cross-origin without one.
  if (method === 'OPTIONS' && edge.corsOrigins.length > 0 && url && options.routes.some((r) => r.path === url.pathname && !('answer' in r))) {
    return send(res, preflight(edge.corsOrigins, req.headers.origin));
  }
  if (!route || !url) return send(res, gatewayError(403, 'Missing Authentication Token', edge));
  if ('answer' in route) {
    const { answer } = route;
    return send(res, { ...answer, headers: { ...answer.headers, ...gatewayCorsHeaders(edge.corsOrigins) } });
  }

  let authorizerContext: Record<string, string> | undefined;
  if (route.guarded) {
    const header = req.headers.authorization;
    if (!header) return send(res, gatewayError(401, 'Unauthorized', edge));
    const methodArn = METHOD_ARN(method, route.path);
    let decision: APIGatewayAuthorizerResult;
    try {
      decision = await options.authorizer({ type: 'TOKEN', authorizationToken: header, methodArn });
    } catch (error) {
      // API Gateway: an authorizer that throws "Unauthorized" → 401; any other failure → AUTHORIZER_FAILURE (our 503).
      if ((error as Error).message === 'Unauthorized') return send(res, gatewayError(401, 'Unauthorized', edge));
      return send(res, { ...AUTHORIZER_OUTAGE, headers: { ...AUTHORIZER_OUTAGE.headers, ...gatewayCorsHeaders(edge.corsOrigins) } });
    }
    if (!allows(decision, methodArn)) {
      return send(res, gatewayError(403, 'User is not authorized to access this resource with an explicit deny', edge));
    }
    authorizerContext = { principalId: decision.principalId, ...stringify(decision.context ?? {}) };
  }

  // A Lambda proxy integration whose function fails, or answers what is no proxy result, is API Gateway's 502.
  let result: unknown;
  try {
    result = await route.handler(toEvent(req, url, route, body, authorizerContext));
  } catch (error) {
    logger.error('handler failed', { path: route.path, error: error as Error });
    return send(res, gatewayError(502, 'Internal server error', edge));
  }
  if (!isProxyResult(result)) {
    logger.error('handler answered a malformed proxy result', { path: route.path });
    return send(res, gatewayError(502, 'Internal server error', edge));
  }
  answer(res, result);
}

/** API Gateway's own answer; with CORS on, its gateway responses carry the first origin. */
function gatewayError(statusCode: number, message: string | null, edge: HttpEdge): APIGatewayProxyResult {
  return { statusCode, headers: { 'content-type': 'application/json', ...gatewayCorsHeaders(edge.corsOrigins) }, body: JSON.stringify({ message }) };
}

/** As API Gateway's mock integration for CORS answers: the caller's origin when it is listed, else the first. */
function preflight(origins: readonly string[], origin: string | undefined): APIGatewayProxyResult {
  return {
    statusCode: 204,
    headers: {
      'Access-Control-Allow-Headers': CORS_PREFLIGHT.allowHeaders.join(','),
      'Access-Control-Allow-Origin': origin !== undefined && origins.includes(origin) ? origin : origins[0]!,
      Vary: 'Origin',
      'Access-Control-Allow-Methods': CORS_PREFLIGHT.allowMethods.join(','),
    },
    body: '',
  };
}

/** What API Gateway takes from a proxy integration: a status code, string headers (or numbers, booleans), a string body. */
function isProxyResult(value: unknown): value is APIGatewayProxyResult {
  if (typeof value !== 'object' || value === null) return false;
  const { statusCode, headers, body } = value as Record<string, unknown>;
  return (
    typeof statusCode === 'number' && Number.isInteger(statusCode) && statusCode >= 100 && statusCode <= 599 &&
    (headers == null || (typeof headers === 'object' && Object.values(headers).every(scalar))) &&
    (body == null || typeof body === 'string')
  );
}

const scalar = (v: unknown): boolean => typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';

/** A plain path (the common case) needs no URL object: it is its own pathname, with no query. */
const PLAIN_PATH = /^\/[A-Za-z0-9/_-]*$/;
/** A target that is no URL at all (`http://[::1`) names no route: undefined, answered as API Gateway answers an unknown one. */
function parseUrl(raw: string): { pathname: string; searchParams?: URLSearchParams } | undefined {
  if (PLAIN_PATH.test(raw)) return { pathname: raw };
  return URL.canParse(raw, 'http://localhost') ? new URL(raw, 'http://localhost') : undefined;
}

function toEvent(
  req: IncomingMessage,
  url: { pathname: string; searchParams?: URLSearchParams },
  route: FunctionRoute,
  body: string,
  authorizer: Record<string, string> | undefined,
): APIGatewayProxyEvent {
  const headers: Record<string, string> = {};
  const multiValueHeaders: Record<string, string[]> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    const values = Array.isArray(value) ? value : [value];
    headers[name] = values.join(',');
    multiValueHeaders[name] = values;
  }
  const query = url.searchParams ? Object.fromEntries(url.searchParams) : {};
  return {
    resource: route.path,
    path: url.pathname,
    httpMethod: route.method,
    headers,
    multiValueHeaders,
    queryStringParameters: Object.keys(query).length ? query : null,
    multiValueQueryStringParameters: null,
    pathParameters: null,
    stageVariables: null,
    body: body === '' ? null : body,
    isBase64Encoded: false,
    requestContext: {
      accountId: '000000000000',
      apiId: 'octodb',
      authorizer: authorizer ?? null,
      httpMethod: route.method,
      identity: { sourceIp: req.socket.remoteAddress ?? '127.0.0.1', userAgent: req.headers['user-agent'] ?? null },
      path: `/${STAGE}${route.path}`,
      protocol: 'HTTP/1.1',
      requestId: randomUUID(),
      requestTimeEpoch: Date.now(),
      resourceId: route.path,
      resourcePath: route.path,
      stage: STAGE,
    } as APIGatewayProxyEvent['requestContext'],
  };
}

function allows(decision: APIGatewayAuthorizerResult, methodArn: string): boolean {
  let allowed = false;
  for (const statement of decision.policyDocument?.Statement ?? []) {
    if (!('Resource' in statement) || !names(statement.Resource, methodArn)) continue;
    if (statement.Effect === 'Deny') return false;
    if (statement.Effect === 'Allow') allowed = true;
  }
  return allowed;
}

/** Whether a statement's Resource (one ARN pattern or several) names the method. */
function names(resource: string | string[] | undefined, methodArn: string): boolean {
  if (typeof resource === 'string') return patternOf(resource).test(methodArn);
  return Array.isArray(resource) && resource.some((r) => typeof r === 'string' && patternOf(r).test(methodArn));
}

/** Policies name the same few resources on every request: each is compiled once. */
const patterns = new LRUCache<string, RegExp>({ max: 1000 });
function patternOf(resource: string): RegExp {
  let pattern = patterns.get(resource);
  if (!pattern) patterns.set(resource, (pattern = new RegExp(`^${resource.split('*').map(escapeRegExp).join('.*')}$`)));
  return pattern;
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** API Gateway passes context values to the integration as strings. */
function stringify(context: Record<string, unknown>): Record<string, string> {
  const strings: Record<string, string> = {};
  for (const key in context) strings[key] = String(context[key]);
  return strings;
}

function readBody(req: IncomingMessage, limit: number): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on('end', () => resolve(tooLarge ? undefined : Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, result: APIGatewayProxyResult): void {
  res.writeHead(result.statusCode, { 'content-type': 'application/json', ...(result.headers as Record<string, string>) });
  res.end(result.body);
}
