import { describe, expect, it } from 'vitest';
import { AffinityPool } from '#adapters/affinity-pool';
import { BusyError } from '#core/errors';

/** Connections are numbers here: the pool only moves them around. No cap per tenant unless asked. */
function poolOf(size: number, { perWho = size, acquireTimeoutMs = 1000 } = {}) {
  let opened = 0;
  const destroyed: number[] = [];
  const pool = new AffinityPool<number>({ size, perWho, acquireTimeoutMs }, async () => ++opened, (c) => destroyed.push(c));
  return { pool, destroyed, opened: () => opened };
}

/** Whether a promise has settled by now (after pending microtasks and the connect() they await). */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  p.then(() => (done = true), () => (done = true));
  await new Promise((r) => setImmediate(r));
  return done;
}

describe('AffinityPool', () => {
  it("hands a tenant back the connection already switched to it", async () => {
    const { pool } = poolOf(2);
    const [x, y] = [await pool.acquire('a'), await pool.acquire('b')];
    x.who = 'a';
    y.who = 'b';
    pool.release(y);
    pool.release(x);
    expect((await pool.acquire('b')).conn).toBe(y.conn);
    expect((await pool.acquire('a')).conn).toBe(x.conn);
  });

  it('opens a new connection for a new tenant while below its size, then takes the one idle the longest', async () => {
    const { pool, opened } = poolOf(2);
    const x = await pool.acquire('a');
    x.who = 'a';
    pool.release(x);
    const y = await pool.acquire('b');
    expect(y.conn).not.toBe(x.conn);
    y.who = 'b';
    pool.release(y);
    expect((await pool.acquire('c')).conn).toBe(x.conn);
    expect(opened()).toBe(2);
  });

  it('makes a caller wait for a released connection when all are busy', async () => {
    const { pool } = poolOf(1);
    const x = await pool.acquire('a');
    let got: number | undefined;
    const waiting = pool.acquire('b').then((s) => (got = s.conn));
    await Promise.resolve();
    expect(got).toBeUndefined();
    pool.release(x);
    await waiting;
    expect(got).toBe(x.conn);
  });

  it('destroys a dead connection instead of reusing it, and opens a fresh one for a waiter', async () => {
    const { pool, destroyed } = poolOf(1);
    const x = await pool.acquire('a');
    const waiting = pool.acquire('a');
    x.dead = true;
    pool.release(x);
    const fresh = await waiting;
    expect(destroyed).toEqual([x.conn]);
    expect(fresh.conn).not.toBe(x.conn);
    expect(fresh.who).toBeUndefined();
  });

  it('answers a waiter with BusyError (503) after the acquire timeout, and forgets it', async () => {
    const { pool } = poolOf(1, { acquireTimeoutMs: 20 });
    const x = await pool.acquire('a');
    const started = Date.now();
    const error = await pool.acquire('b').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BusyError);
    expect(error).toMatchObject({ status: 503, details: { code: 'BUSY' } });
    expect((error as BusyError).message).toMatch(/no connection free within 20 ms/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(15);
    // The timed-out waiter does not swallow the next release.
    pool.release(x);
    expect((await pool.acquire('c')).conn).toBe(x.conn);
  });

  it('lets one tenant hold at most its cap, keeping the rest for others', async () => {
    const { pool } = poolOf(4, { perWho: 2 });
    const held = [await pool.acquire('a'), await pool.acquire('a')];
    const third = pool.acquire('a');
    expect(await settled(third)).toBe(false);
    const b = [await pool.acquire('b'), await pool.acquire('b')];
    expect(new Set([...held, ...b].map((s) => s.conn)).size).toBe(4);
    // A's own release serves A's waiter, even though B's is also waiting (for room, not its cap).
    const c = pool.acquire('c');
    pool.release(held[0]!);
    expect(await third).toBe(held[0]);
    expect(await settled(c)).toBe(false);
    pool.release(b[0]!);
    expect(await c).toBe(b[0]);
  });

  it('serves a waiter below its cap before an earlier one at its cap', async () => {
    const { pool } = poolOf(2, { perWho: 1 });
    const a = await pool.acquire('a');
    const b = await pool.acquire('b');
    const a2 = pool.acquire('a'); // at its cap: waits for one of A's own
    const c = pool.acquire('c'); // waits for room
    pool.release(b);
    expect(await c).toBe(b);
    expect(await settled(a2)).toBe(false);
    pool.release(a);
    expect(await a2).toBe(a);
  });

  it('tells a tenant at its cap that it is its own statements that wait', async () => {
    const { pool } = poolOf(4, { perWho: 1, acquireTimeoutMs: 10 });
    await pool.acquire('a');
    await expect(pool.acquire('a')).rejects.toThrow(/Too many statements of this database at once \(at most 1 run together\)/);
    // Others are not held back by A.
    expect(await settled(pool.acquire('b'))).toBe(true);
  });

  it('frees the room of a connection that failed to open, for the next waiter', async () => {
    let fail = true;
    const pool = new AffinityPool<number>({ size: 1, perWho: 1, acquireTimeoutMs: 1000 }, async () => {
      if (fail) throw new Error('refused');
      return 7;
    }, () => {});
    await expect(pool.acquire('a')).rejects.toThrow('refused');
    fail = false;
    expect((await pool.acquire('a')).conn).toBe(7);
  });
});

