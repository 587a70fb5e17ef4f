import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { getPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BACKGROUND_NICE } from '#adapters/background-thread';
import { startDynalite } from '#adapters/local-dynalite';
import { WorkerConsumer } from '#adapters/worker-consumer';
import { WorkerPasswordHasher } from '#adapters/worker-password-hasher';
import { STATEMENT_JUDGE_SCRIPT } from '#adapters/wiring';
import { WorkerStatementJudge } from '#adapters/worker-statement-judge';
import { loadConfig } from '#shared/config';

/** This process's threads by nice value, as Linux reports them (field 19 of /proc/<pid>/task/<tid>/stat). */
function threadsAtNice(nice: number): number {
  let count = 0;
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]) === nice) count++;
    } catch {
      // the thread ended while being read
    }
  }
  return count;
}

/** The count once it holds still: a worker terminated just before may take a moment to leave the thread list. */
async function settledThreadsAtNice(nice: number): Promise<number> {
  let count = threadsAtNice(nice);
  for (let i = 0; i < 40; i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    const again = threadsAtNice(nice);
    if (again === count) return count;
    count = again;
  }
  return count;
}

/** How many more threads run at the background nice once `start` has started its workers. */
async function backgroundThreadsStartedBy(start: () => Promise<() => Promise<unknown>>): Promise<number> {
  const before = await settledThreadsAtNice(BACKGROUND_NICE);
  const stop = await start();
  try {
    return threadsAtNice(BACKGROUND_NICE) - before;
  } finally {
    await stop();
  }
}

describe.runIf(process.platform === 'linux')('background threads yield the CPU to the thread serving every tenant', () => {
  it('password hashing runs at the background nice, one thread per worker; the serving thread keeps its own', async () => {
    const serving = getPriority();
    const started = await backgroundThreadsStartedBy(async () => {
      const hasher = new WorkerPasswordHasher({ workers: 2, maxQueue: 4 });
      await Promise.all([hasher.hash('pw', 4), hasher.hash('pw', 4)]);
      return () => hasher.close();
    });
    expect(started).toBe(2);
    expect(getPriority()).toBe(serving);
  });

  it('so do the local stand-ins for L1 and DynamoDB, which run elsewhere on AWS', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'octodb-nice-'));
    try {
      expect(
        await backgroundThreadsStartedBy(async () => {
          const dynalite = await startDynalite(join(dir, 'dynalite'));
          return () => dynalite.stop();
        }),
      ).toBe(1);
      expect(
        await backgroundThreadsStartedBy(async () => {
          const consumer = new WorkerConsumer(new URL('../../bin/local-log-worker.mjs', import.meta.url), loadConfig({}));
          await consumer.consume({ Records: [] });
          return () => consumer.close();
        }),
      ).toBe(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the statement judge runs at the background nice when it yields (the default)', async () => {
    const startedWith = (yields: boolean) =>
      backgroundThreadsStartedBy(async () => {
        const judge = new WorkerStatementJudge(STATEMENT_JUDGE_SCRIPT, { budgetMs: 500, workers: 1, perTenantQueue: 1, yields });
        expect(await judge.judge('t1', { kind: 'query', sql: 'SELECT 1', database: 'db_test' })).toMatchObject({ kind: 'statement' });
        return () => judge.close();
      });
    expect(loadConfig({}).OCTODB_VALIDATOR_YIELDS).toBe(true);
    expect(await startedWith(true)).toBe(1);
    expect(await startedWith(false)).toBe(0);
  });
});
