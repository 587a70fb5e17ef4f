/**
 * `npm run bench -- jwt [--seconds 2]`
 *
 * What the authorizer pays to verify one access token, per call, measured in the same run against
 * the floor (one HMAC-SHA256 over the token's signed part, nothing else):
 *   (a) the floor,
 *   (b) jsonwebtoken.verify given the secret as a string (it tries a PEM public key first, then
 *       builds a secret key object, on every call),
 *   (c) jsonwebtoken.verify with a KeyObject built once, the algorithm pinned to HS256,
 *   (d) #core/hs256 on a token it has not seen ((c) plus its own exp/crit checks),
 *   (e) #core/hs256 on a token it verified before (the common case: one token per tenant, again and again).
 * (b) and (c) verify 1,000 distinct tokens in turn; (d) a pool twice the size of hs256's cache.
 */
import { createHmac, createSecretKey } from 'node:crypto';
import { parseArgs } from 'node:util';
import jwt from 'jsonwebtoken';
import { verifyHs256 } from '#core/hs256';

const SECRET = 'bench-signing-key-0123456789abcdef0123456789';

export async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { seconds: { type: 'string', default: '2' } } });
  const seconds = Number(values.seconds);
  const key = createSecretKey(Buffer.from(SECRET, 'utf8'));
  const claims = (i: number) => ({ tenant_id: `tenant-${i}`, db_id: 'a'.repeat(32), is_admin: false, jti: `jti-${i}` });
  const tokens = Array.from({ length: 1000 }, (_, i) => jwt.sign(claims(i), key, { algorithm: 'HS256', expiresIn: 3600, subject: `tenant-${i}` }));
  // (d) must miss hs256's cache of verified tokens (10,000, oldest out first): a pool twice its size, in turn.
  const unseenPool = Array.from({ length: 20_000 }, (_, i) => jwt.sign(claims(1000 + i), key, { algorithm: 'HS256', expiresIn: 3600 }));
  let u = 0;
  let turn = 0;
  const next = () => tokens[turn++ % tokens.length]!;
  const runs: Array<{ name: string; op: () => unknown }> = [
    { name: 'floor: one HMAC-SHA256', op: () => {
      const token = next();
      return createHmac('sha256', key).update(token.slice(0, token.lastIndexOf('.'))).digest();
    } },
    { name: 'jsonwebtoken.verify (string secret)', op: () => jwt.verify(next(), SECRET, { algorithms: ['HS256'] }) },
    { name: 'jsonwebtoken.verify (KeyObject)', op: () => jwt.verify(next(), key, { algorithms: ['HS256'] }) },
    { name: 'hs256, token not seen before', op: () => verifyHs256(unseenPool[u++ % unseenPool.length]!, SECRET) },
    { name: 'hs256, token seen before', op: () => verifyHs256(next(), SECRET) },
  ];
  for (const run of runs) check(run.op);
  const totals = runs.map(() => ({ calls: 0, ms: 0 }));
  for (const run of runs) drive(run.op, 0.2); // warm-up
  for (let round = 0; round < 5; round++) {
    for (const [i, run] of runs.entries()) {
      const { calls, ms } = drive(run.op, seconds / 5);
      totals[i]!.calls += calls;
      totals[i]!.ms += ms;
    }
  }
  const perCallUs = totals.map((t) => (t.ms * 1000) / t.calls);
  console.log(`\n5 interleaved rounds, ${seconds} s per run\n`);
  console.log('run'.padEnd(36) + 'calls/s'.padStart(12) + 'µs/call'.padStart(10) + 'vs floor'.padStart(10));
  for (const [i, run] of runs.entries()) {
    const perSecond = Math.round(totals[i]!.calls / (totals[i]!.ms / 1000));
    console.log(run.name.padEnd(36) + String(perSecond).padStart(12) + perCallUs[i]!.toFixed(2).padStart(10) + `×${(perCallUs[i]! / perCallUs[0]!).toFixed(1)}`.padStart(10));
  }
}

/** Each verifier must accept the tokens (the floor returns a digest): a bench of refusals would measure nothing. */
function check(op: () => unknown): void {
  if (!op()) throw new Error('a verifier refused a valid token');
}

function drive(op: () => unknown, seconds: number): { calls: number; ms: number } {
  const started = performance.now();
  const until = started + seconds * 1000;
  let calls = 0;
  while (performance.now() < until) {
    for (let i = 0; i < 100; i++) op();
    calls += 100;
  }
  return { calls, ms: performance.now() - started };
}
