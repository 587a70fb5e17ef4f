import { Worker } from 'node:worker_threads';

/**
 * The DynamoDB API on this machine: dynalite (LevelDB under `dir`, so logs survive a restart)
 * on 127.0.0.1. stop()/start() keep the port, so a client keeps its endpoint across a restart.
 * It runs on a worker thread: on AWS DynamoDB is never in the API's process, and in-process it
 * took ~20% of the CPU that /query and the gateway share (LevelDB writes for every query log).
 */
export class LocalDynalite {
  private worker: Worker | undefined;
  private port = 0;

  constructor(private readonly dir: string) {}

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(port = this.port): Promise<void> {
    this.worker ??= new Worker(new URL('./local-dynalite-worker.mjs', import.meta.url), { workerData: { dir: this.dir } });
    this.worker.unref(); // an idle dynalite must not keep the process alive
    const reply = await this.call({ op: 'start', port });
    this.port = reply.port!;
  }

  /** Closes the server and its LevelDB store; open client sockets are cut, not waited for. */
  async stop(): Promise<void> {
    if (this.worker) await this.call({ op: 'stop' });
  }

  private call(message: { op: 'start' | 'stop'; port?: number }): Promise<{ port?: number }> {
    const worker = this.worker!;
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

export async function startDynalite(dir: string, port = 0): Promise<LocalDynalite> {
  const local = new LocalDynalite(dir);
  await local.start(port);
  return local;
}
