import { type AddressInfo, connect } from 'node:net';
import type { APIGatewayAuthorizerResult, APIGatewayProxyEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway } from '#adapters/local-gateway';

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
const server = createGateway({
  maxBodyBytes: 1024,
  authorizer: async ({ authorizationToken }) => {
    const name = authorizationToken.replace('Bearer ', '');
    if (!policies[name]) throw new Error('Unauthorized');
    return { principalId: 'p', policyDocument: { Version: '2012-10-17', Statement: policies[name]! }, context: { tenant_id: 't', is_admin: false } };
  },
  routes: [
    { method: 'POST', path: '/guarded', guarded: true, handler: async (e) => ((seen = e), { statusCode: 200, body: '{}' }) },
    { method: 'POST', path: '/open', guarded: false, handler: async (e) => ((seen = e), { statusCode: 200, body: '{}' }) },
  ],
});
beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
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
  ])('answers %s with %i', async (_label, policy, status) => {
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
