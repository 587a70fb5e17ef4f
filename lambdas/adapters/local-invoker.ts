import type { AsyncFunction, Invoker } from '#core/ports';
import { retry } from '#core/retry';

export type AsyncHandler = (payload: Record<string, unknown>) => Promise<unknown>;

/**
 * In-process stand-in for Lambda's asynchronous invoke: the call returns at once, the handler runs
 * on a later tick, and a throwing handler is retried twice with backoff, as Lambda does by default.
 * The entry point (bin/local.ts) hands it the map of function → handler.
 */
export class LocalInvoker implements Invoker {
  private readonly running = new Set<Promise<void>>();

  constructor(
    private readonly handlers: Partial<Record<AsyncFunction, AsyncHandler>>,
    private readonly retryDelaysMs: number[] = [200, 400],
    private readonly onGiveUp: (fn: AsyncFunction, error: unknown) => void = () => {},
  ) {}

  async invokeAsync(fn: AsyncFunction, payload: Record<string, unknown>): Promise<void> {
    const handler = this.handlers[fn];
    if (!handler) throw new Error(`no local handler for ${fn}`);
    const run = this.runWithRetries(fn, handler, structuredClone(payload));
    this.running.add(run);
    void run.finally(() => this.running.delete(run));
  }

  /** Resolves when every dispatched invocation (and its retries) has finished. */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }

  private async runWithRetries(fn: AsyncFunction, handler: AsyncHandler, payload: Record<string, unknown>): Promise<void> {
    await new Promise((r) => setImmediate(r));
    const { value: failure } = await retry(() => handler(payload).then(() => undefined, (error: unknown) => ({ error })), {
      retryIf: (failed) => failed !== undefined,
      maxAttempts: this.retryDelaysMs.length + 1,
      delayMs: (attempt) => this.retryDelaysMs[attempt - 1]!,
    });
    if (failure) this.onGiveUp(fn, failure.error);
  }
}
