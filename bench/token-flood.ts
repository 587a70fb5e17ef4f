/**
 * A victim tenant's /query latency alone, then while attackers flood /token with wrong passwords,
 * with bcrypt on the event loop (OCTODB_PASSWORD_WORKERS=0, as before the workers) and on one
 * worker (the default), each measured in the same run on its own OctoDB. Prints p50/p99 and the
 * ratio under attack to alone. bcrypt at the production cost (10).
 * Usage: npm run bench -- token-flood [queries=200] [attackers=8]
 */
import { startTestOctoDb } from '../test/support/octodb.ts';
import { percentile, summary } from './stats.ts';

export async function main(args: string[]): Promise<void> {
  const queries = Number(args[0] ?? 200);
  const attackers = Number(args[1] ?? 8);
  for (const workers of ['0', '1']) {
    const { alone, attacked, tokens } = await measure(workers, queries, attackers);
    const ratio = (p: number) => (percentile(attacked, p) / percentile(alone, p)).toFixed(1);
    console.log(`OCTODB_PASSWORD_WORKERS=${workers}`);
    console.log(`  victim /query alone:        ${summary(alone)}`);
    console.log(`  victim /query under flood:  ${summary(attacked)}  → p50 ×${ratio(50)}, p99 ×${ratio(99)}`);
    console.log(`  flood answers: ${JSON.stringify(tokens)}`);
  }
}

async function measure(workers: string, queries: number, attackers: number) {
  const octo = await startTestOctoDb({
    OCTODB_BCRYPT_ROUNDS: '10',
    OCTODB_PASSWORD_WORKERS: workers,
    OCTODB_PASSWORD_QUEUE: '64',
    // What is measured is where bcrypt runs, not the /token limits that would refuse most of the flood first.
    OCTODB_RATE_TOKEN_PER_IP: '1000000/s burst 1000000',
    OCTODB_RATE_TOKEN_PER_EMAIL: '1000000/s burst 1000000',
    OCTODB_LOGIN_FAILURES: '1000000/s burst 1000000',
  });
  try {
    const victim = await octo.signUp({ name: 'Victim' });
    await octo.waitForDatabase(victim.db_id);
    const token = await octo.token(victim.email, victim.password);
    const run = async (n: number) => {
      const samples: number[] = [];
      for (let i = 0; i < n; i++) {
        const started = performance.now();
        const res = await octo.post('/query', { query: 'SELECT 1 AS one' }, token);
        if (res.status !== 200) throw new Error(`victim query answered ${res.status}`);
        samples.push(performance.now() - started);
      }
      return samples;
    };
    await run(20); // warm-up
    const alone = await run(queries);
    let flooding = true;
    const tokens: Record<number, number> = {};
    const flood = Array.from({ length: attackers }, async () => {
      while (flooding) {
        const res = await octo.post('/token', { email: victim.email, password: 'not-the-password' });
        tokens[res.status] = (tokens[res.status] ?? 0) + 1;
        if (res.status === 503) await new Promise((r) => setTimeout(r, 20));
      }
    });
    await new Promise((r) => setTimeout(r, 200));
    const attacked = await run(queries);
    flooding = false;
    await Promise.all(flood);
    return { alone, attacked, tokens };
  } finally {
    await octo.close();
  }
}
