import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestOctoDb, type TestOctoDb, uniqueEmail } from '../support/octodb.ts';
import { serversUp } from '../support/servers.ts';

/**
 * A /token flood must not hold up other tenants: bcrypt runs on the password workers, so the
 * gateway's event loop answers a victim's queries between the flood's checks. Production cost
 * (10) here, so that each check is long enough to matter. FLOOD_PASSWORD_WORKERS=0 runs bcrypt on
 * the event loop as before the workers (bcryptjs's async form, yielding between chunks): this test
 * then fails, the victim's queries answering last.
 */
let octo: TestOctoDb;
beforeAll(async () => {
  octo = await startTestOctoDb({
    OCTODB_BCRYPT_ROUNDS: '10',
    OCTODB_PASSWORD_WORKERS: process.env.FLOOD_PASSWORD_WORKERS ?? '1',
    OCTODB_PASSWORD_QUEUE: '200',
  });
});
afterAll(async () => octo?.close());

const FLOOD = 24;
const VICTIM_QUERIES = 10;

describe.skipIf(!serversUp)('a /token flood of wrong passwords', () => {
  it("does not hold up another tenant's queries, and refuses unknown emails and wrong passwords alike", async () => {
    const victim = await octo.signUp();
    const attacker = await octo.signUp();
    expect((await octo.waitForDatabase(victim.db_id)).status).toBe('ready');
    const token = await octo.token(victim.email, victim.password);
    expect((await octo.post('/query', { query: 'SELECT 1 AS one' }, token)).status).toBe(200);

    const finished: Array<'token' | 'query'> = [];
    const flood = Array.from({ length: FLOOD }, (_, i) =>
      octo
        .post('/token', { email: i % 2 === 0 ? attacker.email : uniqueEmail(), password: 'not-the-password' })
        .finally(() => finished.push('token')),
    );
    const victimAnswers: number[] = [];
    for (let i = 0; i < VICTIM_QUERIES; i++) {
      const res = await octo.post('/query', { query: 'SELECT 1 AS one' }, token);
      finished.push('query');
      victimAnswers.push(res.status);
    }
    const floodAnswers = await Promise.all(flood);

    expect(victimAnswers).toEqual(Array(VICTIM_QUERIES).fill(200));
    expect(floodAnswers.map((r) => r.status)).toEqual(Array(FLOOD).fill(401));
    expect(new Set(floodAnswers.map((r) => JSON.stringify(r.body))).size).toBe(1);
    // Every one of the victim's queries answered before the flood's checks were through.
    expect(finished.lastIndexOf('query')).toBeLessThan(finished.lastIndexOf('token'));
  });
});
