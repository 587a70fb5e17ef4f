import { describe, expect, it } from 'vitest';
import { LocalInvoker } from '#adapters/local-invoker';

/** The in-process stand-in for Lambda's async invoke: two retries after a throwing handler, then it gives up. */
describe('LocalInvoker', () => {
  it('runs a handler again after it throws, until it succeeds within the retries', async () => {
    const payloads: unknown[] = [];
    const given: unknown[] = [];
    const invoker = new LocalInvoker(
      {
        provision: async (payload) => {
          payloads.push(payload.db_id);
          if (payloads.length < 3) throw new Error(`failure ${payloads.length}`);
        },
      },
      [1, 1],
      (_fn, error) => given.push(error),
    );
    await invoker.invokeAsync('provision', { db_id: 'd1' });
    expect(payloads).toEqual([]); // the call returned before the handler ran, as an async invoke does
    await invoker.idle();
    expect(payloads).toEqual(['d1', 'd1', 'd1']);
    expect(given).toEqual([]);
  });

  it('gives up after the last retry and hands on the last error', async () => {
    let tries = 0;
    const given: Array<[string, unknown]> = [];
    const invoker = new LocalInvoker(
      {
        'migrate-run': async () => {
          throw new Error(`failure ${++tries}`);
        },
      },
      [1, 1],
      (fn, error) => given.push([fn, (error as Error).message]),
    );
    await invoker.invokeAsync('migrate-run', { job_id: 'j' });
    await invoker.idle();
    expect(tries).toBe(3);
    expect(given).toEqual([['migrate-run', 'failure 3']]);
  });

  it('refuses a function it has no handler for', async () => {
    await expect(new LocalInvoker({}).invokeAsync('provision', {})).rejects.toThrow('no local handler for provision');
  });
});
