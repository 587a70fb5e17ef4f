import type { AddressInfo } from 'node:net';
import type { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { BusyError, NotFoundError, UnavailableError } from '#core/errors';
import { BufferedLogSink } from '#adapters/buffered-log-sink';
import { LambdaInvoker } from '#adapters/lambda-invoker';
import { createGateway } from '#adapters/local-gateway';
import { LocalInvoker } from '#adapters/local-invoker';
import { tracedInvoker } from '#adapters/roots';
import { type HttpEdge, httpHandler, json, parseBody } from '#shared/http';
import { invocationHandler, logger } from '#shared/logger';
import { printedBy } from '../support/logged.ts';
import { z } from 'zod';

const edge: HttpEdge = { corsOrigins: [], maxBodyBytes: 1024 };
const event = (requestId: string, body = '{}') =>
  ({ headers: {}, body, isBase64Encoded: false, requestContext: { requestId } }) as unknown as APIGatewayProxyEvent;
const failing = (error: unknown) =>
  httpHandler(async () => {
    throw error;
  }, edge);

/** A mysql2 error as the driver throws it: its `sql` holds the statement with the bound values. */
const driverError = () =>
  Object.assign(new Error('Lock wait timeout exceeded; try restarting transaction'), {
    code: 'ER_LOCK_WAIT_TIMEOUT',
    errno: 1205,
    sql: "UPDATE tenants SET password_hash = 'hunter2-secret' WHERE tenant_id = 't1'",
  });

describe('failures in the log', () => {
  it('logs a typed 5xx with its whole cause chain, never the SQL the driver ran', async () => {
    const error = new UnavailableError('Database busy, try again', { code: 'ER_LOCK_WAIT_TIMEOUT' }, { cause: driverError() });
    let status = 0;
    const lines = await printedBy(async () => void ({ statusCode: status } = await failing(error)(event('req-503'))));
    expect(status).toBe(503);
    expect(lines).toEqual([
      expect.objectContaining({
        level: 'ERROR',
        message: 'request failed',
        request_id: 'req-503',
        status: 503,
        error: {
          name: 'UnavailableError',
          message: 'Database busy, try again',
          status: 503,
          code: 'ER_LOCK_WAIT_TIMEOUT',
          stack: expect.stringContaining('UnavailableError: Database busy'),
          cause: {
            name: 'Error',
            message: 'Lock wait timeout exceeded; try restarting transaction',
            code: 'ER_LOCK_WAIT_TIMEOUT',
            errno: 1205,
            stack: expect.stringContaining('Error: Lock wait timeout'),
          },
        },
      }),
    ]);
    expect(JSON.stringify(lines)).not.toContain('hunter2-secret');
  });

  it('logs an unexpected 500 with its causes, and answers with the request id only', async () => {
    const error = new Error('could not read the tenant', { cause: new Error('socket hang up', { cause: 'ECONNRESET' }) });
    let body = '';
    const lines = await printedBy(async () => void ({ body } = await failing(error)(event('req-500'))));
    expect(JSON.parse(body)).toEqual({ error: 'Internal server error', request_id: 'req-500' });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 'ERROR',
      request_id: 'req-500',
      status: 500,
      error: { message: 'could not read the tenant', cause: { message: 'socket hang up', cause: 'ECONNRESET' } },
    });
  });

  it('logs load shed on purpose as a WARN without a stack: one line per refused request under a flood', async () => {
    const error = new BusyError('Slow statements take turns', { code: 'BUSY' }, { cause: driverError() });
    let status = 0;
    const lines = await printedBy(async () => void ({ statusCode: status } = await failing(error)(event('req-shed'))));
    expect(status).toBe(503);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 'WARN', message: 'request shed', request_id: 'req-shed', status: 503, code: 'BUSY' });
    expect(lines[0]).not.toHaveProperty('error');
    expect(JSON.stringify(lines)).not.toContain('stack');
  });

  it('does not log a 4xx: it is the caller’s', async () => {
    const lines = await printedBy(async () => {
      expect((await failing(new NotFoundError('Database not found', undefined, { cause: driverError() }))(event('r'))).statusCode).toBe(404);
      const parsing = httpHandler(async (e) => json(200, parseBody(e, z.object({ a: z.string() }))), edge);
      expect((await parsing(event('r', '{not json'))).statusCode).toBe(400);
    });
    expect(lines).toEqual([]);
  });

  it('logs a chain that loops back on itself, cut after a few links', async () => {
    const a = new Error('a');
    const b = new Error('b', { cause: a });
    Object.assign(a, { cause: b });
    const [line] = await printedBy(async () => logger.error('looping', { error: a }));
    let depth = 0;
    for (let link = line!.error as { cause?: unknown }; typeof link?.cause === 'object'; link = link.cause as { cause?: unknown }) depth++;
    expect(depth).toBe(8);
  });
});

describe('the request a log line belongs to', () => {
  it('is named on every line, with many requests at once over the local gateway', async () => {
    const pause = () => new Promise((r) => setTimeout(r, Math.random() * 20));
    const work = httpHandler(async (e, log) => {
      const own = { own_request: e.requestContext.requestId, own_tenant: e.requestContext.authorizer?.tenant_id };
      log.info('started', own);
      await pause();
      log.info('halfway', own);
      await pause();
      log.info('done', own);
      return json(200, {});
    }, edge);
    const server = createGateway({
      edge,
      authorizer: async ({ authorizationToken }) => ({
        principalId: 'p',
        policyDocument: { Version: '2012-10-17', Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: '*' }] },
        context: { tenant_id: authorizationToken.replace('Bearer ', '') },
      }),
      routes: [{ method: 'POST', path: '/work', guarded: true, handler: work }],
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/work`;
    try {
      const lines = await printedBy(async () => {
        const statuses = await Promise.all(
          Array.from({ length: 60 }, async (_, i) => (await fetch(url, { method: 'POST', body: '{}', headers: { authorization: `Bearer tenant-${i % 7}` } })).status),
        );
        expect(new Set(statuses)).toEqual(new Set([200]));
      });
      expect(lines).toHaveLength(180);
      expect(new Set(lines.map((l) => l.own_request)).size).toBe(60);
      for (const line of lines) {
        expect(line.request_id).toBe(line.own_request);
        expect(line.correlation_id).toBe(line.own_request);
        expect(line.tenant_id).toBe(line.own_tenant);
      }
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
  it('is none on the lines of a shared buffer’s flush, which one request only started', async () => {
    let handedOver!: () => void;
    const timerFlushed = new Promise<void>((r) => (handedOver = r));
    const target = {
      send: async () => {
        handedOver();
        throw new Error('log queue down');
      },
    };
    const sink = new BufferedLogSink(target, { maxRecords: 100, flushMs: 1 });
    const record = { tenant_id: 't1', source: 'query', level: 'INFO', message: 'm' } as never;
    const sending = httpHandler(async () => (await sink.send([record]), json(200, {})), edge);
    const lines = await printedBy(async () => {
      await sending(event('first-sender'));
      await sending(event('second-sender'));
      await timerFlushed; // the flush the first send's timer started
      await sink.flush(); // resolves once that hand-over has logged its failure
    });
    expect(lines).toEqual([expect.objectContaining({ message: 'log records lost: the log sink refused them', count: 2 })]);
    expect(lines[0]).not.toHaveProperty('request_id');
  });
});

describe('correlation through async invokes', () => {
  const provisioning = invocationHandler(async (payload: Record<string, unknown>, log) => log.info('provisioning', { db_id: payload.db_id }));

  it('carries the API request’s id to the lines of the function it invokes (in-process invoker)', async () => {
    const invoker = new LocalInvoker({ provision: provisioning });
    const signup = httpHandler(async (_, log) => {
      await tracedInvoker(invoker, log.keys).invokeAsync('provision', { db_id: 'db-1' });
      return json(202, {});
    }, edge);
    const lines = await printedBy(async () => {
      await signup(event('signup-request-1'));
      await invoker.idle();
    });
    expect(lines).toEqual([expect.objectContaining({ message: 'provisioning', db_id: 'db-1', correlation_id: 'signup-request-1' })]);
    expect(lines[0]!.request_id).toEqual(expect.any(String));
    expect(lines[0]!.request_id).not.toBe('signup-request-1'); // the invoked function's own
  });

  it('puts it in the payload of a Lambda async invoke, and adds nothing for a root that serves no request', async () => {
    const sent: Record<string, unknown>[] = [];
    const lambda = {
      send: async (command: InvokeCommand) => {
        sent.push(JSON.parse(Buffer.from(command.input.Payload as Uint8Array).toString('utf8')) as Record<string, unknown>);
        return { StatusCode: 202 };
      },
    } as unknown as LambdaClient;
    const invoker = new LambdaInvoker(lambda, { provision: 'octodb-provision' });
    await tracedInvoker(invoker, { correlation_id: 'api-req-1' }).invokeAsync('provision', { db_id: 'db-2' });
    await tracedInvoker(invoker, undefined).invokeAsync('provision', { sweep: true });
    expect(sent).toEqual([{ db_id: 'db-2', correlation_id: 'api-req-1' }, { sweep: true }]);
  });

  it('logs under the Lambda request id, and its own id as correlation id when the event brings none or a malformed one', async () => {
    const context = { awsRequestId: 'lambda-req-9' } as Context;
    const lines = await printedBy(async () => {
      await provisioning({ db_id: 'a', correlation_id: 'api-req-2' }, context);
      await provisioning({ db_id: 'b' }, context);
      await provisioning({ db_id: 'c', correlation_id: 'x'.repeat(129) }, context);
      await provisioning({ db_id: 'd', correlation_id: 'forged"\n{"level":"ERROR"' }, context);
    });
    expect(lines.map((l) => [l.db_id, l.request_id, l.correlation_id])).toEqual([
      ['a', 'lambda-req-9', 'api-req-2'],
      ['b', 'lambda-req-9', 'lambda-req-9'],
      ['c', 'lambda-req-9', 'lambda-req-9'],
      ['d', 'lambda-req-9', 'lambda-req-9'],
    ]);
  });
});
