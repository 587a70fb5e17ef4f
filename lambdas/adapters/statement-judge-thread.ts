import { parentPort } from 'node:worker_threads';
import { judgeTask } from '#core/statement-judging';
import type { JudgeMessage } from './worker-statement-judge.ts';
import type { JudgeTask } from '#core/ports';

/**
 * A statement judge's worker thread (adapters/worker-statement-judge.ts): runs the pure validators
 * on the tasks posted to it, one at a time. Importing core/statement-judging loads and warms the
 * parsers, so `ready` means the first statement pays no start-up.
 */
const port = parentPort!;
const reply = (message: JudgeMessage) => port.postMessage(message);

port.on('message', ({ id, task }: { id: number; task: JudgeTask }) => {
  try {
    reply({ id, outcome: judgeTask(task, (step) => reply({ id, step })) });
  } catch (error) {
    reply({ id, error: error instanceof Error ? error.message : String(error) });
  }
});
// The first parse of each grammar is many times slower than the next: it is paid here, not by a budget.
judgeTask({ kind: 'query', sql: 'SELECT a FROM t WHERE b = ?', database: 'warm' }, () => undefined);
judgeTask({ kind: 'migration', text: 'CREATE TABLE warm (id INT PRIMARY KEY, a INT DEFAULT (1));' }, () => undefined);
reply({ ready: true });
