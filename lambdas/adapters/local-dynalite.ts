import { mkdirSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import dynalite from 'dynalite';

/**
 * The DynamoDB API on this machine: dynalite (LevelDB under `dir`, so logs survive a restart)
 * on 127.0.0.1. stop()/start() keep the port, so a client keeps its endpoint across a restart.
 */
export class LocalDynalite {
  private server: Server | undefined;
  private port = 0;

  constructor(private readonly dir: string) {}

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(port = this.port): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    this.server ??= dynalite({ path: this.dir, createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
    const server = this.server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.port = (server.address() as AddressInfo).port;
  }

  /** Closes the server and its LevelDB store; open client sockets are cut, not waited for. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server?.listening) return;
    const closed = new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
    server.closeAllConnections();
    await closed;
  }
}

export async function startDynalite(dir: string, port = 0): Promise<LocalDynalite> {
  const local = new LocalDynalite(dir);
  await local.start(port);
  return local;
}
