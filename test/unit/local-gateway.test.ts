import type { Server } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import type { APIGatewayAuthorizerResult, APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway, routesOf } from '#adapters/local-gateway';
import { type HttpEdge, httpHandler } from '#shared/http';
import { type ApiFunction, ROUTES } from '#shared/http-api';

const ARN = 'arn:aws:execute-api:local:000000000000:octodb/local';
const policies: Record<string, APIGatewayAuthorizerResult['policyDocument']['Statement']> = {
  wildcard: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: `${ARN}/*/*` }],
  exact: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: `${ARN}/POST/guarded` }],
  elsewhere: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: `${ARN}/GET/other` }],
  denied: [
    { Action: 'execute-api:Invoke', Effect: 'Allow', Resource: `${ARN}/*/*` },
    { Action: 'execute-api:Invoke', Effect: 'Deny', Resource: [`${ARN}/POST/guarded`] },
  ],
  regexInResource: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: `${ARN}/POST/guarde.` }],
};

let url: string;
let seen: APIGatewayProxyEvent | undefined;
/** The event the last routed request handed its handler. */
const last = (): APIGatewayProxyEvent | undefined => seen;
const authorizer = async ({ authorizationToken }: { authorizationToken: string }): Promise<APIGatewayAuthorizerResult> => {
  const name = authorizationToken.replace('Bearer ', '');
  if (!policies[name]) throw new Error('Unauthorized');
  return { principalId: 'p', policyDocument: { Version: '2012-10-17', Statement: policies[name]! }, context: { tenant_id: 't', is_admin: false } };
};
/** A handler that answers what no Lambda proxy integration may (API Gateway's "malformed Lambda proxy response"). */
const answering = (result: unknown) => async () => result as APIGatewayProxyResult;
const server = createGateway({
  edge: { corsOrigins: [], maxBodyBytes: 1024 },
  authorizer,
  routes: [
    { method: 'POST', path: '/guarded', guarded: true, handler: async (e) => ((seen = e), { statusCode: 200, body: '{}' }) },
    { method: 'POST', path: '/open', guarded: false, handler: async (e) => ((seen = e), { statusCode: 200, body: '{}' }) },
    { method: 'POST', path: '/throws', guarded: false, handler: async () => Promise.reject(new Error('socket hang up at 10.0.3.7')) },
    { method: 'POST', path: '/no-result', guarded: false, handler: answering(undefined) },
    { method: 'POST', path: '/object-body', guarded: false, handler: answering({ statusCode: 200, body: { rows: [] } }) },
    { method: 'POST', path: '/no-status', guarded: false, handler: answering({ body: '{}' }) },
    { method: 'POST', path: '/object-header', guarded: false, handler: answering({ statusCode: 200, headers: { 'x-a': { b: 1 } }, body: '{}' }) },
  ],
});

/** Where a gateway listens, once it does. */
const listen = async (gateway: Server): Promise<string> => {
  await new Promise<void>((r) => gateway.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(gateway.address() as AddressInfo).port}`;
};
beforeAll(async () => {
  url = await listen(server);
});
afterAll(() => new Promise((r) => server.close(r)));

/** One request written by hand, for targets fetch() would refuse to send; resolves with the status line. */
const rawStatusLine = (target: string) =>
  new Promise<string>((resolve, reject) => {
    const socket = connect((server.address() as AddressInfo).port, '127.0.0.1');
    let answer = '';
    socket.on('data', (chunk) => (answer += chunk.toString('latin1')));
    socket.on('end', () => resolve(answer.split('\r\n')[0] ?? ''));
    socket.on('error', reject);
    socket.end(`POST ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}`);
  });

const post = async (path: string, policy?: string) =>
  (await fetch(`${url}${path}`, { method: 'POST', body: '{}', headers: policy ? { authorization: `Bearer ${policy}` } : {} })).status;

describe('local gateway', () => {
  it.each([
    ['a wildcard Allow', 'wildcard', 200],
    ['an exact Allow', 'exact', 200],
    ['an Allow for another method and path only', 'elsewhere', 403],
    ['an Allow and a matching Deny', 'denied', 403],
    ['a resource whose dot is literal, not a pattern', 'regexInResource', 403],
    ['an authorizer that says Unauthorized', 'nobody', 401],
  ])('answers %s (policy %s) with %i', async (_label, policy, status) => {
    expect(await post('/guarded', policy)).toBe(status);
  });

  it('hands the authorizer context as strings and the query string as parameters', async () => {
    seen = undefined;
    expect(await post('/guarded?a=1&b=two', 'wildcard')).toBe(200);
    expect(last()?.requestContext.authorizer).toEqual({ principalId: 'p', tenant_id: 't', is_admin: 'false' });
    expect(last()?.queryStringParameters).toEqual({ a: '1', b: 'two' });
    expect(last()?.path).toBe('/guarded');
  });

  it('routes a plain path without a query string and answers an unknown one with 403', async () => {
    seen = undefined;
    expect(await post('/open')).toBe(200);
    expect(last()?.queryStringParameters).toBeNull();
    expect(await post('/missing')).toBe(403);
  });

  it.each(['http://[::1', 'http://[::1]:99999/open', 'http://%zz/open', '//[::1'])(
    'answers a request target that is no URL (%s) with 403, as an unknown route',
    async (target) => {
      seen = undefined;
      expect(await rawStatusLine(target)).toBe('HTTP/1.1 403 Forbidden');
      expect(last()).toBeUndefined();
    },
  );

  it('routes an absolute-form request target by its path', async () => {
    expect(await rawStatusLine('http://127.0.0.1/open')).toBe('HTTP/1.1 200 OK');
  });
});

const APP = 'https://app.example.com';
const ADMIN = 'https://admin.example.com:8443';
/** Headers that are HTTP's own (framing, connection), not the gateway's answer. */
const TRANSPORT = ['date', 'connection', 'keep-alive', 'content-length', 'transfer-encoding'];
const answerHeaders = (res: Response) => Object.fromEntries([...res.headers].filter(([name]) => !TRANSPORT.includes(name)));
const corsHeadersOf = (res: Response) => Object.fromEntries([...res.headers].filter(([name]) => name.startsWith('access-control-') || name === 'vary'));

describe('local gateway: failing handlers, as a Lambda proxy integration', () => {
  it.each(['/throws', '/no-result', '/object-body', '/no-status', '/object-header'])(
    'answers %s with API Gateway’s 502 and its body',
    async (path) => {
      const res = await fetch(`${url}${path}`, { method: 'POST', body: '{}' });
      expect(res.status).toBe(502);
      expect(await res.json()).toEqual({ message: 'Internal server error' });
      expect(corsHeadersOf(res)).toEqual({}); // no origins configured: no CORS header
    },
  );

  it('still serves the next request', async () => {
    expect(await post('/open')).toBe(200);
  });
});

describe('local gateway: CORS off', () => {
  it('answers no preflight (API Gateway has no OPTIONS method then) and adds no CORS header to its own answers', async () => {
    for (const [method, path, status] of [['OPTIONS', '/open', 403], ['POST', '/missing', 403], ['POST', '/guarded', 401]] as const) {
      const res = await fetch(`${url}${path}`, { method, headers: { origin: APP } });
      expect(res.status, `${method} ${path}`).toBe(status);
      expect(corsHeadersOf(res), `${method} ${path}`).toEqual({});
    }
  });
});

describe('local gateway serving the API’s route table, CORS on', () => {
  const edge: HttpEdge = { corsOrigins: [APP, ADMIN], maxBodyBytes: 64 };
  let calls: ApiFunction[] = [];
  /** Each function's handler answers its own id, so a test sees which one a request reached. */
  const echo = (fn: ApiFunction) => async (): Promise<APIGatewayProxyResult> => (calls.push(fn), { statusCode: 200, body: JSON.stringify({ fn }) });
  const handlers = Object.fromEntries(ROUTES.map((r) => [r.fn, echo(r.fn)])) as Record<ApiFunction, ReturnType<typeof echo>>;
  const table = createGateway({ edge, authorizer, routes: routesOf(handlers) });
  let base: string;
  beforeAll(async () => {
    base = await listen(table);
  });
  afterAll(() => new Promise((r) => table.close(r)));

  it('serves exactly the table’s routes, each with its function, the guarded ones behind the authorizer', async () => {
    for (const route of ROUTES) {
      const unauthenticated = await fetch(`${base}${route.path}`, { method: route.method, body: '{}' });
      expect(unauthenticated.status, route.path).toBe(route.guarded ? 401 : 200);
      const res = await fetch(`${base}${route.path}`, { method: route.method, body: '{}', headers: { authorization: 'Bearer wildcard' } });
      expect(await res.json(), route.path).toEqual({ fn: route.fn });
    }
    calls = [];
    const others = ['GET', 'PUT', 'PATCH', 'DELETE'].flatMap((method) => [...ROUTES.map((r) => r.path), '/', '/signup/x'].map((path) => [method, path]));
    for (const [method, path] of [...others, ['POST', '/'], ['POST', '/migrate-submit'], ['OPTIONS', '/'], ['OPTIONS', '/nowhere']]) {
      const res = await fetch(`${base}${path}`, { method, headers: { authorization: 'Bearer wildcard' } });
      expect(res.status, `${method} ${path}`).toBe(403);
      expect(await res.json()).toEqual({ message: 'Missing Authentication Token' });
    }
    expect(calls).toEqual([]);
  });

  it.each([
    ['the first allowed origin', APP, APP],
    ['another allowed origin', ADMIN, ADMIN],
    ['an origin not allowed (API Gateway’s mock names the first)', 'https://evil.example.net', APP],
  ])('answers a preflight on every route from %s without the authorizer or the handler', async (_what, origin, allowed) => {
    calls = [];
    for (const route of ROUTES) {
      const res = await fetch(`${base}${route.path}`, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
      });
      expect(res.status, route.path).toBe(204);
      expect(corsHeadersOf(res), route.path).toEqual({
        'access-control-allow-origin': allowed,
        'access-control-allow-headers': 'Content-Type,Authorization',
        'access-control-allow-methods': 'POST,OPTIONS',
        vary: 'Origin',
      });
    }
    expect(calls).toEqual([]);
  });

  it('puts the first origin on its own answers (401, 403, 502), as API Gateway’s gateway responses do', async () => {
    const failing = createGateway({ edge, authorizer, routes: [{ method: 'POST', path: '/throws', guarded: false, handler: async () => Promise.reject(new Error('x')) }] });
    const failingUrl = await listen(failing);
    try {
      for (const [target, status] of [[`${base}/query`, 401], [`${base}/nowhere`, 403], [`${failingUrl}/throws`, 502]] as const) {
        const res = await fetch(target, { method: 'POST', body: '{}', headers: { origin: ADMIN } });
        expect(res.status, target).toBe(status);
        expect(corsHeadersOf(res), target).toEqual({ 'access-control-allow-origin': APP, vary: 'Origin' });
      }
    } finally {
      await new Promise((r) => failing.close(r));
    }
  });

  it.each([
    ['an allowed origin', ADMIN],
    ['an origin not allowed', 'https://evil.example.net'],
    ['no origin', undefined],
  ])('refuses a body over the cap from %s with exactly the answer the handlers give', async (_what, origin) => {
    calls = [];
    const body = 'x'.repeat(edge.maxBodyBytes + 1);
    const headers: Record<string, string> = origin ? { origin } : {};
    const res = await fetch(`${base}/signup`, { method: 'POST', body, headers });
    const fromHandler = await httpHandler(async () => ({ statusCode: 200, body: '{}' }), edge)({
      headers,
      body,
      isBase64Encoded: false,
      requestContext: { requestId: 'r-1' },
    } as unknown as APIGatewayProxyEvent);
    expect(fromHandler.statusCode).toBe(413);
    expect(res.status).toBe(fromHandler.statusCode);
    expect(answerHeaders(res)).toEqual(fromHandler.headers);
    expect(await res.text()).toBe(fromHandler.body);
    expect(calls).toEqual([]);
  });
});

describe('local gateway: GET /health, answered by the gateway itself (API Gateway’s MOCK)', () => {
  const HEALTH = { 'content-type': 'application/json', 'cache-control': 'no-store' };
  let reached: string[] = [];
  /** Every handler and the authorizer only note that they ran: /health must reach none of them. */
  const noting = (name: string) => async (): Promise<never> => (reached.push(name), Promise.reject(new Error(`${name} ran`)));
  const gatewayOf = (corsOrigins: string[]) =>
    createGateway({
      edge: { corsOrigins, maxBodyBytes: 64 },
      authorizer: noting('authorizer'),
      routes: routesOf(Object.fromEntries(ROUTES.map((r) => [r.fn, noting(r.fn)])) as Record<ApiFunction, () => Promise<never>>),
    });
  const plain = gatewayOf([]);
  const withCors = gatewayOf([APP, ADMIN]);
  let plainUrl: string;
  let corsUrl: string;
  beforeAll(async () => {
    [plainUrl, corsUrl] = await Promise.all([listen(plain), listen(withCors)]);
    reached = [];
  });
  afterAll(() => Promise.all([plain, withCors].map((g) => new Promise((r) => g.close(r)))));

  it.each([
    ['no token', {}],
    ['a token (not looked at)', { authorization: 'Bearer wildcard' }],
    ['an unusual content type', { 'content-type': 'text/plain' }],
  ])('answers 200 {"status":"ok"} with %s, reaching neither the authorizer nor any handler', async (_what, headers: Record<string, string>) => {
    for (const target of ['/health', '/health?verbose=1']) {
      const res = await fetch(`${plainUrl}${target}`, { headers });
      expect(res.status, target).toBe(200);
      expect(await res.text(), target).toBe('{"status":"ok"}');
      expect(answerHeaders(res), target).toEqual(HEALTH);
    }
    expect(reached).toEqual([]);
  });

  it('answers any other method on /health, and any path below it, as an unknown route (403), as API Gateway does', async () => {
    for (const [method, path] of [['HEAD', '/health'], ['POST', '/health'], ['PUT', '/health'], ['DELETE', '/health'], ['OPTIONS', '/health'], ['GET', '/health/db'], ['GET', '/healthz']]) {
      const res = await fetch(`${plainUrl}${path}`, { method, ...(method === 'POST' ? { body: '{}' } : {}) });
      expect(res.status, `${method} ${path}`).toBe(403);
      expect(await res.text(), `${method} ${path}`).toBe(method === 'HEAD' ? '' : '{"message":"Missing Authentication Token"}');
    }
    expect(reached).toEqual([]);
  });

  it('with CORS on, carries the CORS headers of API Gateway’s own answers (the first origin) and answers no preflight', async () => {
    for (const origin of [APP, ADMIN, 'https://evil.example.net']) {
      const res = await fetch(`${corsUrl}/health`, { headers: { origin } });
      expect(res.status, origin).toBe(200);
      expect(await res.text(), origin).toBe('{"status":"ok"}');
      expect(answerHeaders(res), origin).toEqual({ ...HEALTH, 'access-control-allow-origin': APP, vary: 'Origin' });
    }
    const preflight = await fetch(`${corsUrl}/health`, { method: 'OPTIONS', headers: { origin: APP, 'access-control-request-method': 'GET' } });
    expect(preflight.status).toBe(403);
    expect(corsHeadersOf(preflight)).toEqual({ 'access-control-allow-origin': APP, vary: 'Origin' });
    expect(reached).toEqual([]);
  });
});

describe('local gateway: refusals held back', () => {
  /** An answer with Retry-After `seconds`; counts the requests that reached it. */
  let reached = 0;
  const refusing = (statusCode: number, seconds: number) => async (): Promise<APIGatewayProxyResult> => (reached++, { statusCode, headers: { 'retry-after': String(seconds) }, body: '{"code":"RATE_LIMITED"}' });
  const gateway = createGateway({
    edge: { corsOrigins: [], maxBodyBytes: 1024 },
    authorizer,
    refusalDelayMs: 400,
    routes: [
      { method: 'POST', path: '/limited', guarded: false, handler: refusing(429, 1) },
      { method: 'POST', path: '/limited-now', guarded: false, handler: refusing(429, 0) },
      { method: 'POST', path: '/busy', guarded: false, handler: refusing(503, 1) },
    ],
  });
  let base: string;
  beforeAll(async () => (base = await listen(gateway)));
  afterAll(() => new Promise((r) => gateway.close(r)));

  /** Requests one closed-loop client (next request once the last is answered) gets answered in `ms`. */
  const closedLoop = async (path: string, ms: number) => {
    const statuses: number[] = [];
    for (const end = performance.now() + ms; performance.now() < end; ) statuses.push((await fetch(`${base}${path}`, { method: 'POST', body: '{}' })).status);
    return statuses;
  };

  it('answers a 429 up to the delay later, unchanged, so a client ignoring Retry-After asks a few times a second', async () => {
    const started = performance.now();
    const res = await fetch(`${base}/limited`, { method: 'POST', body: '{}' });
    expect(performance.now() - started).toBeGreaterThanOrEqual(390);
    expect([res.status, res.headers.get('retry-after'), await res.json()]).toEqual([429, '1', { code: 'RATE_LIMITED' }]);
    // 1.2 s of a closed loop: three or four refusals, where answered at once it would be hundreds.
    const statuses = await closedLoop('/limited', 1200);
    expect(statuses.length).toBeLessThanOrEqual(4);
    expect(new Set(statuses)).toEqual(new Set([429]));
  });

  it('answers at once a 429 that may be retried at once, and any other status', async () => {
    // More in the same 1.2 s than a held loop can ever get.
    expect((await closedLoop('/limited-now', 1200)).length).toBeGreaterThan(4);
    expect((await closedLoop('/busy', 1200)).length).toBeGreaterThan(4);
  });

  it('forgets a held refusal whose client left', async () => {
    const before = reached;
    const controller = new AbortController();
    const left = fetch(`${base}/limited`, { method: 'POST', body: '{}', signal: controller.signal }).catch((e: Error) => e.name);
    while (reached === before) await new Promise((r) => setTimeout(r, 5));
    controller.abort();
    expect(await left).toBe('AbortError');
    // The gateway still answers the next one (nothing was written to the closed socket).
    expect((await fetch(`${base}/limited`, { method: 'POST', body: '{}' })).status).toBe(429);
  });
});
