import { Worker } from 'node:worker_threads';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';

type Reply = { id: number; response?: SQSBatchResponse | void; error?: string };

/**
 * An SQS consumer (L1) that runs on a worker thread, as L1 runs in a Lambda of its own on AWS:
 * the queue stays in this thread, each batch is posted to the worker and its partial-batch
 * response comes back. A worker that dies fails its batches (they return to the queue after
 * their visibility timeout) and is started again for the next one.
 */
export class WorkerConsumer {
  private worker: Worker | undefined;
  private nextId = 0;
  private readonly waiting = new Map<number, { resolve(r: SQSBatchResponse | void): void; reject(e: Error): void }>();

  constructor(
    private readonly script: URL,
    private readonly workerData: unknown,
  ) {}

  consume(event: SQSEvent): Promise<SQSBatchResponse | void> {
    const worker = this.start();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      worker.postMessage({ id, event });
    });
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    await worker?.terminate();
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(this.script, { workerData: this.workerData });
    worker.unref(); // an idle consumer must not keep the process alive
    worker.on('message', ({ id, response, error }: Reply) => {
      const call = this.waiting.get(id);
      this.waiting.delete(id);
      if (error !== undefined) call?.reject(new Error(error));
      else call?.resolve(response);
    });
    const fail = (error: Error) => {
      if (this.worker === worker) this.worker = undefined;
      for (const call of this.waiting.values()) call.reject(error);
      this.waiting.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`log consumer worker exited with code ${code}`)));
    this.worker = worker;
    return worker;
  }
}
