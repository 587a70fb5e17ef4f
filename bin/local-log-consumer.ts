/**
 * L1 (log-ingest) on a worker thread for `npm start`: the local queue posts each batch here, as
 * SQS invokes L1 in a Lambda of its own on AWS, so storing logs does not compete with the
 * gateway's thread. It builds the same log store as the main thread from the same config.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { SQSEvent } from 'aws-lambda';
import { yieldToRequests } from '#adapters/background-thread';
import { Parts } from '#adapters/parts';
import { logIngestRoot } from '#adapters/roots';
import type { Config } from '#shared/config';
import { createLogIngestHandler } from '../lambdas/log-ingest/handler.ts';

yieldToRequests();
const parts = new Parts(workerData as Config);
const ingest = createLogIngestHandler(() => logIngestRoot(parts));

parentPort!.on('message', ({ id, event }: { id: number; event: SQSEvent }) => {
  ingest(event).then(
    (response) => parentPort!.postMessage({ id, response }),
    (error: unknown) => parentPort!.postMessage({ id, error: (error as Error).message }),
  );
});
