import bcrypt from 'bcryptjs';
import { afterEach, describe, expect, it } from 'vitest';
import { BusyError } from '#core/errors';
import { dummyHash } from '#core/tokens';
import { InlinePasswordHasher, scriptOf, WorkerPasswordHasher } from '#adapters/worker-password-hasher';

const costOf = (hash: string) => Number(/^\$2[aby]\$(\d\d)\$/.exec(hash)?.[1]);

describe('WorkerPasswordHasher', () => {
  let hasher: WorkerPasswordHasher;
  afterEach(() => hasher?.close());

  it('hashes at the given cost and verifies, in agreement with bcryptjs on this thread', async () => {
    hasher = new WorkerPasswordHasher({ workers: 2, maxQueue: 4 });
    const hash = await hasher.hash('correct horse', 5);
    expect(costOf(hash)).toBe(5);
    expect(bcrypt.compareSync('correct horse', hash)).toBe(true);
    expect(await hasher.verify('correct horse', hash)).toBe(true);
    expect(await hasher.verify('wrong horse', hash)).toBe(false);
    expect(await hasher.verify('x', bcrypt.hashSync('x', 4))).toBe(true);
  });

  it('answers a busy error with a retry hint once its queue is full, and still answers every accepted check', async () => {
    hasher = new WorkerPasswordHasher({ workers: 1, maxQueue: 2 });
    const hash = bcrypt.hashSync('pw', 8);
    // One running, two queued: the fourth and fifth find the queue full.
    const outcomes = await Promise.allSettled(Array.from({ length: 5 }, () => hasher.verify('pw', hash)));
    expect(outcomes.slice(0, 3)).toEqual(Array(3).fill({ status: 'fulfilled', value: true }));
    for (const refused of outcomes.slice(3)) {
      expect(refused.status).toBe('rejected');
      const error = (refused as PromiseRejectedResult).reason as BusyError;
      expect(error).toBeInstanceOf(BusyError);
      expect(error.status).toBe(503);
      expect(error.toJSON()).toMatchObject({ code: 'BUSY', retry_after_seconds: 1 });
    }
    // Drained: it takes work again.
    expect(await hasher.verify('pw', hash)).toBe(true);
  });

  it('keeps the event loop turning while a check runs', async () => {
    hasher = new WorkerPasswordHasher({ workers: 1, maxQueue: 1 });
    let done = false;
    const check = hasher.hash('slow', 12).then(() => (done = true));
    // Each turn needs the loop free; a hash on this thread would hold it for the whole hash.
    let turns = 0;
    while (!done && turns < 20) {
      await new Promise((r) => setImmediate(r));
      turns++;
    }
    expect(turns).toBe(20);
    expect(done).toBe(false);
    await check;
  });

  it('gives the unknown-email dummy hash the configured cost through the worker too', async () => {
    hasher = new WorkerPasswordHasher({ workers: 1, maxQueue: 1 });
    expect(costOf(await dummyHash(9, hasher))).toBe(9);
  });
});

describe('the worker entry', () => {
  it('is a tsx shim next to the TypeScript module, and the bundle itself once bundled', () => {
    expect(scriptOf('file:///repo/lambdas/adapters/worker-password-hasher.ts').href).toBe('file:///repo/lambdas/adapters/password-worker.mjs');
    expect(scriptOf('file:///var/task/index.mjs').href).toBe('file:///var/task/index.mjs');
  });
});

describe('InlinePasswordHasher', () => {
  it('hashes and verifies on this thread', async () => {
    const inline = new InlinePasswordHasher();
    const hash = await inline.hash('pw', 4);
    expect(await inline.verify('pw', hash)).toBe(true);
    expect(await inline.verify('other', hash)).toBe(false);
  });
});
