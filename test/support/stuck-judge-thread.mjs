// A statement judge worker for tests of what the parent does when a worker fails it: its start-up
// costs START_UP_MS of CPU, and a statement containing HANG blocks where V8 cannot stop it (as
// native code would), so only terminating the worker ends it. Anything else is a SELECT.
import { parentPort } from 'node:worker_threads';

const START_UP_MS = 300;
const until = Date.now() + START_UP_MS;
while (Date.now() < until);
parentPort.on('message', ({ id, task }) => {
  if (task.sql.includes('HANG')) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60_000);
  parentPort.postMessage({ id, outcome: { kind: 'statement', statement: { type: 'SELECT', placeholders: 0 } } });
});
parentPort.postMessage({ ready: true });
