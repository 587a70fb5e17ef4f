import { createServer } from 'node:net';
import { Worker } from 'node:worker_threads';
import { exponential } from '#core/retry';
import { ALARM, logger } from '#shared/logger';

/** Waits before restarting a log store that went down: 1 s doubling to a minute. */
const RESTART_DELAY = exponential(1000, 60_000);

/**
 * The DynamoDB API on this machine: dynalite (LevelDB under `dir`, so logs survive a restart)
 * on 127.0.0.1. stop()/start() keep the port, so a client keeps its endpoint across a restart.
 * It runs on a worker thread: on AWS DynamoDB is never in the API's process, and in-process it
 * took ~20% of the CPU that /query and the gateway share (LevelDB writes for every query log).
 *
 * A failing disk (full, read-only, the directory gone) must cost the logs, never the API: a
 * worker that dies is reported at ERROR with `alarm: ALARM.logStoreDown` and started again with
 * backoff on the same port, while the log queue holds the records (then its dead-letter file).
 */
export class LocalDynalite {
  private worker: Worker | undefined;
  private port = 0;
  private wanted = false;
  private up = false;
  private restarts = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private readonly upListeners: (() => Promise<void>)[] = [];

  constructor(private readonly dir: string) {}

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** True while the store is meant to run but does not serve (its worker died or could not start, or it is being set up again). */
  get down(): boolean {
    return this.wanted && !this.up;
  }

  /** Runs `listener` now if the store is up, and again after each restart (e.g. create the log table a fresh directory lacks). */
  async whenUp(listener: () => Promise<void>): Promise<void> {
    this.upListeners.push(listener);
    if (!this.down) await listener();
  }

  async start(port = this.port): Promise<void> {
    await this.open(port);
    this.up = true;
  }

  private async open(port = this.port): Promise<void> {
    this.wanted = true;
    // The port is fixed before dynalite answers on it: clients get an endpoint that stays valid through restarts.
    this.port = port || (await freePort());
    const worker = (this.worker ??= this.spawn());
    try {
      await this.call(worker, { op: 'start', port: this.port });
    } catch (error) {
      await worker.terminate(); // its exit reports the store down and schedules the next try
      throw error;
    }
  }

  /** Closes the server and its LevelDB store; open client sockets are cut, not waited for. */
  async stop(): Promise<void> {
    const wasUp = this.up;
    this.wanted = false;
    this.up = false;
    clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    const worker = this.worker;
    if (!worker) return;
    if (wasUp) return void (await this.call(worker, { op: 'stop' }));
    // Down: a start may still be pending on it, whose reply a stop would take for its own: end the worker instead.
    this.worker = undefined;
    await worker.terminate();
  }

  private spawn(): Worker {
    const worker = new Worker(new URL('./local-dynalite-worker.mjs', import.meta.url), { workerData: { dir: this.dir } });
    worker.unref(); // an idle dynalite must not keep the process alive
    // Listened to for the worker's whole life: an 'error' no one listens to would end the process.
    worker.on('error', (error) => this.lost(worker, error));
    worker.on('exit', (code) => this.lost(worker, new Error(`dynalite worker exited with code ${code}`)));
    return worker;
  }

  private lost(worker: Worker, error: Error): void {
    if (this.worker !== worker) return;
    this.worker = undefined;
    this.up = false;
    if (!this.wanted) return;
    logger.error('log store down: logs wait in the queue, then go to the dead-letter file', { alarm: ALARM.logStoreDown, dir: this.dir, error });
    this.restartLater();
  }

  private restartLater(): void {
    if (this.restartTimer || !this.wanted) return;
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      this.open().then(
        async () => {
          for (const listener of this.upListeners) await listener().catch((error: Error) => logger.error('log store: set-up after a restart failed', { error }));
          this.restarts = 0;
          this.up = true;
          logger.info('log store up again', { dir: this.dir });
        },
        () => undefined, // reported by the worker's exit, which tries again
      );
    }, RESTART_DELAY(++this.restarts)).unref();
  }

  private call(worker: Worker, message: { op: 'start' | 'stop'; port?: number }): Promise<{ port?: number }> {
    return new Promise((resolve, reject) => {
      const onExit = (code: number) => reject(new Error(`dynalite worker exited with code ${code}`));
      worker.once('exit', onExit);
      worker.once('error', reject);
      worker.once('message', (reply: { port?: number; error?: string }) => {
        worker.off('exit', onExit);
        worker.off('error', reject);
        if (reply.error) reject(new Error(reply.error));
        else resolve(reply);
      });
      worker.postMessage(message);
    });
  }
}

/**
 * The local log store, started; one that cannot start (an unwritable directory) is reported and
 * retried in the background, and OctoDB starts without it.
 */
export async function startDynalite(dir: string, port = 0): Promise<LocalDynalite> {
  const local = new LocalDynalite(dir);
  await local.start(port).catch(() => undefined); // reported by the worker's exit, and retried
  return local;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
