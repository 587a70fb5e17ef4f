import { Script } from 'node:vm';
import { parentPort, workerData } from 'node:worker_threads';
import { UNBOUNDED } from '#core/migration-sql';
import { judgeTask } from '#core/statement-judging';
import { threadCpuMs, yieldToRequests } from './background-thread.ts';
import type { JudgeMessage, JudgeThreadData } from './worker-statement-judge.ts';
import type { JudgeTask } from '#core/ports';

/**
 * A statement judge's worker thread (adapters/worker-statement-judge.ts): runs the pure validators
 * on the tasks posted to it, one at a time, each statement's check within the budget. Importing
 * core/statement-judging loads and warms the parsers, so `ready` means the first statement pays no start-up.
 */
const port = parentPort!;
const { budgetMs, yields } = workerData as JudgeThreadData;
const reply = (message: JudgeMessage) => port.postMessage(message);
if (yields) yieldToRequests();
/**
 * A yielding thread waits for a core while the host is busy: a check stopped at its budget that
 * got less than this share of it on a CPU says nothing about the statement (answered busy, not refused).
 */
const STARVED_BELOW = 0.5;

/**
 * vm's timeout stops whatever JavaScript runs past it (V8 terminates the execution, then lets the
 * thread go on), so a check past the budget ends here, and the thread with its loaded parser lives
 * on: terminating the thread instead meant a replacement that loads the parser again, costing the
 * host several times the budget.
 */
const CHECK = '__octodbCheck';
const runCheck = new Script(`globalThis.${CHECK}()`, { filename: 'statement-judge-budget' });
const scope = globalThis as unknown as Record<typeof CHECK, (() => unknown) | undefined>;
class OverBudget extends Error {
  constructor(
    readonly step: number,
    readonly starved: boolean,
  ) {
    super('over budget');
  }
}
const withinBudget = <T>(step: number, check: () => T): T => {
  scope[CHECK] = check;
  const cpuAtStart = yields ? threadCpuMs() : undefined;
  try {
    return runCheck.runInThisContext({ timeout: budgetMs }) as T;
  } catch (error) {
    if ((error as { code?: string }).code !== 'ERR_SCRIPT_EXECUTION_TIMEOUT') throw error;
    // Unknown (NaN): refused, as a thread that does not yield is.
    const onCpuMs = cpuAtStart === undefined ? NaN : (threadCpuMs() ?? NaN) - cpuAtStart;
    throw new OverBudget(step, onCpuMs < STARVED_BELOW * budgetMs);
  } finally {
    scope[CHECK] = undefined;
  }
};

port.on('message', ({ id, task }: { id: number; task: JudgeTask }) => {
  try {
    // The parent's budget for the first statement started when it posted the task.
    const each = <T>(step: number, check: () => T): T => (step > 1 && reply({ id, step }), withinBudget(step, check));
    reply({ id, outcome: judgeTask(task, each) });
  } catch (error) {
    if (error instanceof OverBudget) reply(error.starved ? { id, starved: error.step } : { id, overBudget: error.step });
    else reply({ id, error: error instanceof Error ? error.message : String(error) });
  }
});
// The first parse of each grammar is many times slower than the next: it is paid here, not by a budget.
judgeTask({ kind: 'query', sql: 'SELECT a FROM t WHERE b = ?', database: 'warm' }, UNBOUNDED);
judgeTask({ kind: 'migration', text: 'CREATE TABLE warm (id INT PRIMARY KEY, a INT DEFAULT (1));' }, UNBOUNDED);
reply({ ready: true });
