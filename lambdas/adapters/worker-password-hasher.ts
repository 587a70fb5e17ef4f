import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import bcrypt from 'bcryptjs';
import { BusyError } from '#core/errors';
import type { PasswordHasher } from '#core/ports';
import { yieldToRequests } from './background-thread.ts';

/** What the worker is told to do; one job at a time per worker. */
export type PasswordJob = { op: 'hash'; password: string; rounds: number } | { op: 'verify'; password: string; hash: string };
type Reply = { result?: string | boolean; error?: string };
interface Pending {
  job: PasswordJob;
  resolve(result: string | boolean): void;
  reject(error: Error): void;
}

/** Marks a thread started to hash passwords (a Lambda bundle is started as its own worker: see scriptOf). */
export const PASSWORD_WORKER = 'octodb-password-hasher';
/** A client refused for a full queue may try again this soon: a queue of checks drains in about a second. */
const BUSY_RETRY_SECONDS = 1;

/** bcryptjs on the calling thread: for Lambda, where the instance serves one request at a time. */
export class InlinePasswordHasher implements PasswordHasher {
  hash(password: string, rounds: number): Promise<string> {
    return bcrypt.hash(password, rounds);
  }
  verify(password: string, hash: string): Promise<boolean> {
    return bcrypt.compare(password, hash);
  }
}

/**
 * bcrypt on a small pool of worker threads, so a /token flood costs the gateway's event loop a
 * message per check instead of ~150 ms of hashing. Workers start on first use; a job waits in a
 * bounded queue, and past it the caller gets a BusyError (503 with a retry hint) instead of an
 * ever-growing wait. A worker that dies fails only its own job and is replaced on demand.
 */
export class WorkerPasswordHasher implements PasswordHasher {
  private readonly idle: Worker[] = [];
  private readonly busy = new Map<Worker, Pending>();
  private readonly queue: Pending[] = [];
  private closed = false;

  constructor(
    private readonly options: { workers: number; maxQueue: number },
    private readonly script: URL = scriptOf(import.meta.url),
  ) {}

  hash(password: string, rounds: number): Promise<string> {
    return this.submit({ op: 'hash', password, rounds }) as Promise<string>;
  }

  verify(password: string, hash: string): Promise<boolean> {
    return this.submit({ op: 'verify', password, hash }) as Promise<boolean>;
  }

  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.idle, ...this.busy.keys()];
    this.idle.length = 0;
    await Promise.all(all.map((w) => w.terminate()));
  }

  private submit(job: PasswordJob): Promise<string | boolean> {
    return new Promise((resolve, reject) => {
      const pending = { job, resolve, reject };
      const worker = this.idle.pop() ?? (this.busy.size < this.options.workers ? this.start() : undefined);
      if (worker) return this.post(worker, pending);
      if (this.queue.length >= this.options.maxQueue) {
        return reject(new BusyError('Too many password checks at once; try again shortly', { code: 'BUSY', retry_after_seconds: BUSY_RETRY_SECONDS }));
      }
      this.queue.push(pending);
    });
  }

  private post(worker: Worker, pending: Pending): void {
    this.busy.set(worker, pending);
    worker.postMessage(pending.job);
  }

  private next(worker: Worker): void {
    this.busy.delete(worker);
    const waiting = this.queue.shift();
    if (waiting) this.post(worker, waiting);
    else if (!this.closed) this.idle.push(worker);
  }

  private start(): Worker {
    const worker = new Worker(this.script, { workerData: { role: PASSWORD_WORKER } });
    worker.unref(); // idle workers must not keep the process alive
    worker.on('message', ({ result, error }: Reply) => {
      const pending = this.busy.get(worker);
      this.next(worker);
      if (error !== undefined) pending?.reject(new Error(error));
      else pending?.resolve(result as string | boolean);
    });
    const gone = (error: Error) => {
      const at = this.idle.indexOf(worker);
      if (at < 0 && !this.busy.has(worker)) return; // 'error' and then 'exit': handled once
      if (at >= 0) this.idle.splice(at, 1);
      const pending = this.busy.get(worker);
      this.busy.delete(worker);
      pending?.reject(error);
      // Whoever waits gets a fresh worker (the pool has a free place now).
      const waiting = this.closed ? undefined : this.queue.shift();
      if (waiting) this.post(this.start(), waiting);
    };
    worker.on('error', gone);
    worker.on('exit', (code) => gone(new Error(`password worker exited with code ${code}`)));
    return worker;
  }
}

/**
 * The worker's entry: under tsx or vitest this module is TypeScript, so a plain-JS shim registers
 * tsx first; in a Lambda bundle (one index.mjs) it is the bundle itself, whose copy of this module
 * starts serving below when it sees the role in workerData.
 */
export function scriptOf(moduleUrl: string): URL {
  return moduleUrl.endsWith('.ts') ? new URL('./password-worker.mjs', moduleUrl) : new URL(moduleUrl);
}

function runJob(job: PasswordJob): string | boolean {
  // Synchronous: this thread does nothing else, and the sync form avoids bcryptjs's chunking.
  return job.op === 'hash' ? bcrypt.hashSync(job.password, job.rounds) : bcrypt.compareSync(job.password, job.hash);
}

if (!isMainThread && parentPort && (workerData as { role?: unknown } | null)?.role === PASSWORD_WORKER) {
  const port = parentPort;
  yieldToRequests();
  port.on('message', (job: PasswordJob) => {
    try {
      port.postMessage({ result: runJob(job) } satisfies Reply);
    } catch (error) {
      port.postMessage({ error: (error as Error).message } satisfies Reply);
    }
  });
}
