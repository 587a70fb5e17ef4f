// dynalite on a thread of its own (see local-dynalite.ts). Plain JS: a worker thread gets no
// TypeScript loader under every runner (tsx, vitest), and dynalite is JS anyway.
import { mkdirSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import dynalite from 'dynalite';

// DynamoDB runs elsewhere on AWS: here it yields the CPU to the thread serving every tenant
// (BACKGROUND_NICE of background-thread.ts, which this plain JS file cannot import).
try {
  setPriority(10);
} catch {
  // refused: this thread keeps the process's priority
}

let server;

parentPort.on('message', ({ op, port }) => {
  const reply = (result) => parentPort.postMessage(result);
  if (op === 'start') {
    const failed = (error) => reply({ error: error.message });
    try {
      mkdirSync(workerData.dir, { recursive: true }); // fails on an unwritable path: answered, not thrown
      server ??= dynalite({ path: workerData.dir, createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
    } catch (error) {
      return failed(error);
    }
    server.once('error', failed);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', failed);
      reply({ port: server.address().port });
    });
  } else if (op === 'stop') {
    if (!server?.listening) return reply({});
    server.close((error) => reply(error ? { error: error.message } : {}));
    server.closeAllConnections();
  }
});
