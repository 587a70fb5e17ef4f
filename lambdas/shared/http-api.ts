import { OUTAGE_MESSAGE, PayloadTooLargeError } from '#core/errors';

/**
 * The HTTP API, declared once for both runtimes: lib/api.ts builds API Gateway from it and the
 * local gateway serves it. A route names its function by id; the CDK stack and bin/local.ts each
 * map the ids to what runs them there (a Lambda function, a handler module). A gateway route
 * (GATEWAY_ROUTES) names no function: the gateway answers it itself.
 */
export interface ApiRoute {
  method: 'POST';
  path: `/${string}`;
  fn: string;
  /** Behind the LF0 authorizer. */
  guarded: boolean;
}

export const ROUTES = [
  { method: 'POST', path: '/signup', fn: 'signup', guarded: false },
  { method: 'POST', path: '/token', fn: 'token', guarded: false },
  { method: 'POST', path: '/verify', fn: 'verify', guarded: false },
  { method: 'POST', path: '/dashboard', fn: 'dashboard', guarded: true },
  { method: 'POST', path: '/query', fn: 'query', guarded: true },
  { method: 'POST', path: '/migrate', fn: 'migrate-submit', guarded: true },
] as const satisfies readonly ApiRoute[];

/** A fixed answer API Gateway gives itself (a MOCK integration): no function, no authorizer behind it. */
export interface GatewayAnswer {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

/** A route the gateway answers itself, on AWS and locally: its fixed answer, plus (CORS on) the gateway's own CORS headers. */
export interface GatewayRoute {
  method: 'GET';
  path: `/${string}`;
  answer: GatewayAnswer;
}

/**
 * GET /health, for load balancers and the CLI. Anyone may call it, so it costs nothing and tells
 * nothing: API Gateway answers it (no Lambda, no MetaDB, no Redis; WAF and stage throttling still
 * apply) and the body names no version, host or count. It says the API is up, not that MySQL is.
 */
export const GATEWAY_ROUTES = [
  {
    method: 'GET',
    path: '/health',
    answer: { statusCode: 200, headers: { 'content-type': 'application/json', 'cache-control': 'no-store' }, body: '{"status":"ok"}' },
  },
] as const satisfies readonly GatewayRoute[];

/**
 * LF0 failed rather than refused (MetaDB or Redis out of reach, see the authorizer): API Gateway's
 * AUTHORIZER_FAILURE and AUTHORIZER_CONFIGURATION_ERROR answer this (lib/api.ts), and so does the
 * local gateway, so a client retries instead of signing in again as a 401 would have it.
 */
export const AUTHORIZER_OUTAGE: GatewayAnswer = {
  statusCode: 503,
  headers: { 'content-type': 'application/json', 'cache-control': 'no-store', 'retry-after': '1' },
  body: JSON.stringify({ error: OUTAGE_MESSAGE, code: 'AUTH_UNAVAILABLE' }),
};

/** The functions behind the routes. */
export type ApiFunction = (typeof ROUTES)[number]['fn'];

/** What a CORS preflight (OPTIONS on a function's route, answered only when origins are configured) allows. */
export const CORS_PREFLIGHT = {
  allowHeaders: ['Content-Type', 'Authorization'],
  allowMethods: [...new Set(ROUTES.map((route) => route.method)), 'OPTIONS'],
};

/** CORS headers of the answers the gateway gives itself (its 4xx/5xx, WAF's blocks): static, so the first origin. */
export function gatewayCorsHeaders(origins: readonly string[]): Record<string, string> {
  return origins.length > 0 ? { 'Access-Control-Allow-Origin': origins[0]!, Vary: 'Origin' } : {};
}

/** A body over the cap: every handler, the local gateway and WAF's block answer with this error's status and body. */
export function bodyTooLarge(maxBodyBytes: number): PayloadTooLargeError {
  return new PayloadTooLargeError(`Request body must be at most ${maxBodyBytes} bytes`, { limit_bytes: maxBodyBytes });
}
