import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { BusyError, NotFoundError, TooManyRequestsError, UnavailableError } from '#core/errors';
import { loadConfig } from '#shared/config';
import { corsHeaders, type HttpEdge, httpEdgeOf, httpHandler } from '#shared/http';

const APP = 'https://app.example.com';
const ADMIN = 'https://admin.example.com:8443';
const edge = (corsOrigins: string[] = [APP, ADMIN], maxBodyBytes = 64): HttpEdge => ({ corsOrigins, maxBodyBytes });

const event = (patch: Partial<APIGatewayProxyEvent> = {}): APIGatewayProxyEvent =>
  ({ headers: {}, body: '{}', isBase64Encoded: false, requestContext: { requestId: 'r-1' }, ...patch }) as APIGatewayProxyEvent;

const ok = async (): Promise<APIGatewayProxyResult> => ({ statusCode: 200, headers: { 'content-type': 'application/json' }, body: '{}' });
const notFound = async (): Promise<APIGatewayProxyResult> => {
  throw new NotFoundError('no such database');
};
const crash = async (): Promise<APIGatewayProxyResult> => {
  throw new Error('socket hang up at 10.0.3.7');
};

describe('CORS headers on handler responses', () => {
  it.each([
    ['a success', ok, 200],
    ['a typed error', notFound, 404],
    ['an unexpected error', crash, 500],
  ])('name the caller’s allowed origin on %s', async (_what, body, status) => {
    const result = await httpHandler(body, edge())(event({ headers: { Origin: APP } }));
    expect(result.statusCode).toBe(status);
    expect(result.headers).toMatchObject({ 'access-control-allow-origin': APP, vary: 'Origin' });
  });

  it('names whichever allowed origin the caller came from, whatever the header case', async () => {
    const result = await httpHandler(ok, edge())(event({ headers: { origin: ADMIN } }));
    expect(result.headers?.['access-control-allow-origin']).toBe(ADMIN);
    expect(result.headers?.['content-type']).toBe('application/json'); // the handler's own headers stay
  });

  it('names no origin for a caller from elsewhere, or without an Origin header', async () => {
    for (const headers of [{ Origin: 'https://evil.example.net' }, { Origin: `${APP}.evil.net` }, {}]) {
      const result = await httpHandler(ok, edge())(event({ headers }));
      expect(result.headers?.['access-control-allow-origin'], JSON.stringify(headers)).toBeUndefined();
      expect(result.headers?.vary).toBe('Origin');
    }
  });

  it('adds nothing when no origin is configured', async () => {
    const result = await httpHandler(notFound, edge([]))(event({ headers: { Origin: APP } }));
    expect(Object.keys(result.headers ?? {}).filter((h) => h.startsWith('access-control') || h === 'vary')).toEqual([]);
  });

  it.each([
    [[], undefined, {}],
    [[APP], APP, { 'access-control-allow-origin': APP, vary: 'Origin' }],
    [[APP], ADMIN, { vary: 'Origin' }],
  ])('maps allowed %j and Origin %s to %j', (allowed, origin, headers) => {
    expect(corsHeaders(allowed, origin)).toEqual(headers);
  });
});

describe('request body cap', () => {
  it('answers 413 above the cap without running the handler, CORS headers included', async () => {
    let ran = false;
    const handler = httpHandler(async () => ((ran = true), ok()), edge([APP], 64));
    const result = await handler(event({ body: 'x'.repeat(65), headers: { Origin: APP } }));
    expect(result.statusCode).toBe(413);
    expect(JSON.parse(result.body)).toEqual({ error: 'Request body must be at most 64 bytes', limit_bytes: 64 });
    expect(result.headers?.['access-control-allow-origin']).toBe(APP);
    expect(ran).toBe(false);
  });

  it('counts bytes, not characters, and decodes a base64 body first', async () => {
    const handler = httpHandler(ok, edge([], 64));
    expect((await handler(event({ body: 'x'.repeat(64) }))).statusCode).toBe(200);
    expect((await handler(event({ body: 'é'.repeat(33) }))).statusCode).toBe(413); // 66 bytes in 33 characters
    const encoded = Buffer.from('x'.repeat(64)).toString('base64'); // 88 characters, 64 bytes
    expect((await handler(event({ body: encoded, isBase64Encoded: true }))).statusCode).toBe(200);
    expect((await handler(event({ body: null }))).statusCode).toBe(200);
  });
});

describe('edge settings', () => {
  it('reads the origins and the cap from the configuration', () => {
    const config = loadConfig({ OCTODB_CORS_ORIGINS: ` ${APP}, ${ADMIN} `, OCTODB_MAX_BODY_BYTES: '65536' });
    expect(httpEdgeOf(config)).toEqual({ corsOrigins: [APP, ADMIN], maxBodyBytes: 65536 });
    expect(httpEdgeOf(loadConfig({}))).toEqual({ corsOrigins: [], maxBodyBytes: 1024 * 1024 });
  });

  it.each(['*', 'https://app.example.com/', 'app.example.com', "https://a.example.com'"])('refuses the CORS origin %s', (origin) => {
    expect(() => loadConfig({ OCTODB_CORS_ORIGINS: origin })).toThrow(/OCTODB_CORS_ORIGINS/);
  });
});

describe('Retry-After', () => {
  const throwing = (error: Error) => async (): Promise<APIGatewayProxyResult> => {
    throw error;
  };

  it('answers a rate limit with 429, Retry-After and the wait in the body', async () => {
    const result = await httpHandler(throwing(new TooManyRequestsError('Rate limit of /query exceeded', 7)), edge())(event());
    expect(result.statusCode).toBe(429);
    expect(result.headers?.['retry-after']).toBe('7');
    expect(JSON.parse(result.body)).toEqual({ error: 'Rate limit of /query exceeded', code: 'RATE_LIMITED', retry_after_seconds: 7 });
  });

  it.each([
    ['unavailable', new UnavailableError('Database temporarily unavailable, try again')],
    ['busy', new BusyError('All connections are in use', { code: 'BUSY' })],
  ])('puts a retry hint on every 503 (%s)', async (_what, error) => {
    const result = await httpHandler(throwing(error), edge())(event());
    expect(result.statusCode).toBe(503);
    expect(result.headers?.['retry-after']).toBe('1');
  });

  it('takes the wait a 503 names in its body (no capacity: an hour) for the header too', async () => {
    const error = new UnavailableError('No capacity for new databases right now; try again later', { code: 'NO_CAPACITY', retry_after_seconds: 3600 });
    const result = await httpHandler(throwing(error), edge())(event());
    expect(result.headers?.['retry-after']).toBe('3600');
    expect(JSON.parse(result.body)).toMatchObject({ code: 'NO_CAPACITY', retry_after_seconds: 3600 });
  });

  it('sends none with other errors', async () => {
    const result = await httpHandler(notFound, edge())(event());
    expect(result.headers?.['retry-after']).toBeUndefined();
  });
});
