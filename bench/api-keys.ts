/**
 * `npm run bench -- api-keys [--seconds 4]`
 *
 * What LF0 pays per request for an API key (its HMAC looked up in MetaDB on every request, so a
 * revocation holds from the next one) against a token (signature, then the current jti in Redis),
 * both through the real authorizer handler on a real MetaDB and Redis, with the settings of a
 * deployed function (OCTODB_TOKEN_CACHE=off). Measured side by side in one run:
 *   (a) the floor: one Redis GET (what a token's check costs beyond its signature),
 *   (b) LF0 given the tenant's token,
 *   (c) LF0 given a live API key (last use written once a minute, so almost never here),
 *   (d) LF0 given a garbled key (refused before any lookup).
 */
import type { APIGatewayTokenAuthorizerEvent } from 'aws-lambda';
import { parseArgs } from 'node:util';
import { handler } from '../lambdas/authorizer/handler.ts';
import { startTestOctoDb } from '../test/support/octodb.ts';

const ARN = 'arn:aws:execute-api:eu-west-1:123456789012:api/prod/POST/query';

export async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { seconds: { type: 'string', default: '4' } } });
  const seconds = Number(values.seconds);
  const octo = await startTestOctoDb({ OCTODB_TOKEN_CACHE: 'off' });
  try {
    const t = await octo.signUp();
    await octo.waitForDatabase(t.db_id);
    const token = await octo.token(t.email, t.password);
    const created = await octo.post<{ key: string }>('/dashboard', { action: 'create_api_key', name: 'bench', scope: 'read' }, token);
    const key = created.body.key;
    const redis = await octo.parts.get('redis');
    const authorize = (bearer: string) => handler({ type: 'TOKEN', authorizationToken: `Bearer ${bearer}`, methodArn: ARN } as APIGatewayTokenAuthorizerEvent);
    const refused = (bearer: string) => authorize(bearer).then(
      () => {
        throw new Error('a garbled key was allowed');
      },
      () => undefined,
    );
    const runs: Array<{ name: string; op: () => Promise<unknown> }> = [
      { name: 'floor: one Redis GET', op: () => redis.get(`octodb:token:${t.tenant_id}`) },
      { name: 'LF0, the tenant token', op: () => authorize(token) },
      { name: 'LF0, a live API key', op: () => authorize(key) },
      { name: 'LF0, a garbled key', op: () => refused('octo_garbled') },
    ];
    const allowed = await authorize(key);
    if (allowed.context?.key_scope !== 'read') throw new Error('the key was not accepted');
    const totals = runs.map(() => ({ calls: 0, ms: 0 }));
    for (const run of runs) await drive(run.op, 0.3); // warm-up
    for (let round = 0; round < 5; round++) {
      for (const [i, run] of runs.entries()) {
        const { calls, ms } = await drive(run.op, seconds / 5);
        totals[i]!.calls += calls;
        totals[i]!.ms += ms;
      }
    }
    const perCallUs = totals.map((x) => (x.ms * 1000) / x.calls);
    console.log(`\n5 interleaved rounds, ${seconds} s per run, one call at a time\n`);
    console.log('run'.padEnd(28) + 'calls/s'.padStart(10) + 'µs/call'.padStart(10) + 'vs floor'.padStart(10) + 'vs token'.padStart(10));
    for (const [i, run] of runs.entries()) {
      const ratio = (j: number) => `×${(perCallUs[i]! / perCallUs[j]!).toFixed(2)}`.padStart(10);
      console.log(run.name.padEnd(28) + String(Math.round(totals[i]!.calls / (totals[i]!.ms / 1000))).padStart(10) + perCallUs[i]!.toFixed(0).padStart(10) + ratio(0) + ratio(1));
    }
  } finally {
    await octo.close();
  }
}

async function drive(op: () => Promise<unknown>, seconds: number): Promise<{ calls: number; ms: number }> {
  const started = performance.now();
  const until = started + seconds * 1000;
  let calls = 0;
  while (performance.now() < until) {
    await op();
    calls++;
  }
  return { calls, ms: performance.now() - started };
}
