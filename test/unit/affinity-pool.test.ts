import { describe, expect, it } from 'vitest';
import { AffinityPool } from '#adapters/affinity-pool';

/** Connections are numbers here: the pool only moves them around. */
function poolOf(size: number) {
  let opened = 0;
  const destroyed: number[] = [];
  const pool = new AffinityPool<number>(size, async () => ++opened, (c) => destroyed.push(c));
  return { pool, destroyed, opened: () => opened };
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
});
