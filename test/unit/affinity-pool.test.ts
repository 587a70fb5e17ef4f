import { describe, expect, it } from 'vitest';
import { AffinityPool, type PoolSlot } from '#adapters/affinity-pool';
import { BusyError } from '#core/errors';

/**
 * Connections are numbers here: the pool only moves them around. No cap per tenant and no
 * reserve unless asked. `acquire(x)` stands for tenant x's one login; tenants with several
 * logins are spelled out.
 */
function poolOf(size: number, { perTenant = size, reserve = 0, acquireTimeoutMs = 1000, writePerTenant = undefined as number | undefined } = {}) {
  let opened = 0;
  const destroyed: number[] = [];
  const raw = new AffinityPool<number>({ size, perTenant, reserve, acquireTimeoutMs, writePerTenant }, async () => ++opened, (c) => destroyed.push(c));
  const pool = {
    acquire: (tenant: string, who = tenant, writes = false, upkeep = false) => raw.acquire(tenant, who, undefined, { writes, upkeep }),
    release: (slot: PoolSlot<number>) => raw.release(slot),
    discard: (slot: PoolSlot<number>) => raw.discard(slot),
    charge: (tenant: string, writes = false) => raw.charge(tenant, writes),
  };
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
  it('tells whose connection was held and how long, on release, discard and the end of a charge', async () => {
    const held: Array<[string, number]> = [];
    const pool = new AffinityPool<number>({ size: 2, perTenant: 2, reserve: 0, acquireTimeoutMs: 1000, onHeld: (t, ms) => held.push([t, ms]) }, async () => 1, () => undefined);
    const x = await pool.acquire('a', 'a', undefined);
    const y = await pool.acquire('b', 'b', undefined);
    await new Promise((r) => setTimeout(r, 30));
    pool.release(x);
    pool.discard(y);
    const done = pool.charge('c');
    await new Promise((r) => setTimeout(r, 30));
    done();
    done(); // told once
    expect(held.map(([t]) => t)).toEqual(['a', 'b', 'c']);
    for (const [, ms] of held) expect(ms).toBeGreaterThanOrEqual(25);
  });

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
    const { pool } = poolOf(4, { perTenant: 2 });
    const held = [await pool.acquire('a'), await pool.acquire('a')];
    const third = pool.acquire('a');
    expect(await settled(third)).toBe(false);
    const b = [await pool.acquire('b'), await pool.acquire('b')];
    expect(new Set([...held, ...b].map((s) => s.conn)).size).toBe(4);
    pool.release(held[0]!);
    expect(await third).toBe(held[0]);
  });

  it('serves a waiter below its cap before an earlier one at its cap', async () => {
    const { pool } = poolOf(2, { perTenant: 1 });
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
    const { pool } = poolOf(4, { perTenant: 1, acquireTimeoutMs: 10 });
    await pool.acquire('a');
    await expect(pool.acquire('a')).rejects.toThrow(/Too many statements of this tenant at once \(at most 1 run together\)/);
    // Others are not held back by A.
    expect(await settled(pool.acquire('b'))).toBe(true);
  });

  it("serves upkeep past the tenant's caps with any free connection, and first when room is freed", async () => {
    const { pool } = poolOf(3, { perTenant: 1, writePerTenant: 1 });
    const a = await pool.acquire('a', 'a', true);
    // A is at its cap and at its write cap: its own statements wait, its upkeep does not.
    const ownWrite = pool.acquire('a', 'a', true);
    const upkeep = await pool.acquire('a', 'a', false, true);
    expect(await settled(ownWrite)).toBe(false);
    const b = await pool.acquire('b');
    // The pool is full: C (holding none) waits, then A's upkeep, which is served first.
    const c = pool.acquire('c');
    const upkeepAgain = pool.acquire('a', 'a', false, true);
    pool.release(upkeep);
    const again = await upkeepAgain;
    expect(again).toBe(upkeep);
    expect(await settled(c)).toBe(false);
    pool.release(b);
    expect(await c).toBe(b);
    // Upkeep counts as the tenant's while it runs; A's own write waits for A's write to end.
    pool.release(again);
    expect(await settled(ownWrite)).toBe(false);
    pool.release(a);
    expect(await settled(ownWrite)).toBe(true);
  });

  it('frees the room of a connection that failed to open, for the next waiter', async () => {
    let fail = true;
    const pool = new AffinityPool<number>({ size: 1, perTenant: 1, reserve: 0, acquireTimeoutMs: 1000 }, async () => {
      if (fail) throw new Error('refused');
      return 7;
    }, () => {});
    await expect(pool.acquire('a', 'a')).rejects.toThrow('refused');
    fail = false;
    expect((await pool.acquire('a', 'a')).conn).toBe(7);
  });

  /**
   * Whether an acquire is served at once: `holding` are connections handed out before it (tenant,
   * or tenant/login), `charged` rolling-back statements counted against their tenant.
   */
  const takes: Array<{ rule: string; size: number; perTenant: number; reserve: number; holding: string[]; charged?: string[]; asks: string; served: boolean }> = [
    { rule: 'a tenant holding none takes a free connection', size: 4, perTenant: 2, reserve: 2, holding: ['a', 'b'], asks: 'c', served: true },
    { rule: 'a second connection must leave the reserve free', size: 4, perTenant: 2, reserve: 2, holding: ['a', 'b'], asks: 'a', served: false },
    { rule: 'a second connection beyond the reserve is fine', size: 8, perTenant: 2, reserve: 2, holding: ['a', 'b'], asks: 'a', served: true },
    { rule: 'the reserve is for tenants holding none, down to the last connection', size: 4, perTenant: 2, reserve: 2, holding: ['a', 'b', 'c'], asks: 'd', served: true },
    { rule: 'the cap counts every login of a tenant together', size: 8, perTenant: 2, reserve: 0, holding: ['a/db1', 'a/db2'], asks: 'a/db3', served: false },
    { rule: "another tenant's logins are not counted", size: 8, perTenant: 2, reserve: 0, holding: ['a/db1', 'a/db2'], asks: 'b/db1', served: true },
    { rule: 'a stopped statement still rolling back counts against its tenant', size: 8, perTenant: 2, reserve: 0, holding: ['a'], charged: ['a'], asks: 'a', served: false },
    { rule: 'a rolling-back statement does not take a connection from others', size: 2, perTenant: 2, reserve: 0, holding: ['a'], charged: ['a', 'a'], asks: 'b', served: true },
    { rule: 'a full pool serves nobody at once', size: 2, perTenant: 2, reserve: 0, holding: ['a', 'b'], asks: 'c', served: false },
  ];
  it.each(takes)('acquire: $rule', async ({ size, perTenant, reserve, holding, charged = [], asks, served }) => {
    const { pool } = poolOf(size, { perTenant, reserve });
    const acquire = (name: string) => pool.acquire(name.split('/')[0]!, name);
    for (const name of holding) expect(await settled(acquire(name))).toBe(true);
    for (const tenant of charged) pool.charge(tenant);
    expect(await settled(acquire(asks))).toBe(served);
  });

  /**
   * Writes: a tenant runs at most `writePerTenant` at once (size 8, 4 per tenant, 1 write each).
   * `holding` and `asks` name a tenant and what it runs: `a:w` a write, `a:r` a read; `charged` are writes rolling back.
   */
  const writes: Array<{ rule: string; holding: string[]; charged?: string[]; asks: string; served: boolean }> = [
    { rule: "a tenant's second write waits for its first", holding: ['a:w'], asks: 'a:w', served: false },
    { rule: 'a read of a tenant running a write runs', holding: ['a:w'], asks: 'a:r', served: true },
    { rule: 'reads do not count against the write cap', holding: ['a:r', 'a:r', 'a:r'], asks: 'a:w', served: true },
    { rule: "another tenant's write is not counted", holding: ['a:w'], asks: 'b:w', served: true },
    { rule: 'a write rolling back counts against its tenant', holding: [], charged: ['a'], asks: 'a:w', served: false },
    { rule: 'the write cap does not lift the connection cap', holding: ['a:r', 'a:r', 'a:r', 'a:r'], asks: 'a:w', served: false },
  ];
  it.each(writes)('writes: $rule', async ({ holding, charged = [], asks, served }) => {
    const { pool } = poolOf(8, { perTenant: 4, writePerTenant: 1 });
    const acquire = (name: string) => pool.acquire(name.split(':')[0]!, name.split(':')[0], name.endsWith(':w'));
    for (const name of holding) expect(await settled(acquire(name))).toBe(true);
    for (const tenant of charged) pool.charge(tenant, true);
    expect(await settled(acquire(asks))).toBe(served);
  });

  it("serves a tenant's waiting write when its running write ends, released or discarded, and says which cap it waited on", async () => {
    const { pool } = poolOf(8, { perTenant: 4, writePerTenant: 1, acquireTimeoutMs: 50 });
    const first = await pool.acquire('a', 'a', true);
    const second = pool.acquire('a', 'a', true);
    expect(await settled(second)).toBe(false);
    pool.release(first);
    const running = await second;
    await expect(pool.acquire('a', 'a', true)).rejects.toThrow(/Too many writes of this tenant at once \(at most 1 run together\)/);
    const third = pool.acquire('a', 'a', true);
    pool.discard(running);
    expect(await settled(third)).toBe(true);
  });

  /** Who gets a connection freed by `releases` (a tenant holding it), among `waiting` (in arrival order). */
  const handOvers: Array<{ rule: string; size: number; perTenant: number; reserve: number; holding: string[]; waiting: string[]; releases: string; next: string }> = [
    { rule: 'the tenant holding the fewest goes first, not the first in line', size: 3, perTenant: 3, reserve: 0, holding: ['a', 'a', 'b'], waiting: ['a', 'b', 'c'], releases: 'a', next: 'c' },
    { rule: 'among equals, the earliest', size: 2, perTenant: 2, reserve: 0, holding: ['a', 'b'], waiting: ['d', 'c'], releases: 'a', next: 'd' },
    { rule: 'a tenant at its cap is passed over', size: 4, perTenant: 1, reserve: 0, holding: ['a', 'b', 'c', 'd'], waiting: ['a', 'e'], releases: 'b', next: 'e' },
    { rule: "a tenant's own release serves its waiter when it is the only one allowed", size: 4, perTenant: 2, reserve: 0, holding: ['a', 'a', 'b', 'b'], waiting: ['a'], releases: 'a', next: 'a' },
    { rule: 'the reserve goes to a tenant holding none, though a holder waited longer', size: 4, perTenant: 2, reserve: 1, holding: ['a', 'b', 'c', 'd'], waiting: ['a', 'e'], releases: 'b', next: 'e' },
  ];
  it.each(handOvers)('hand-over: $rule', async ({ size, perTenant, reserve, holding, waiting, releases, next }) => {
    const { pool } = poolOf(size, { perTenant, reserve });
    const slots: Array<[string, PoolSlot<number>]> = [];
    for (const tenant of holding) slots.push([tenant, await pool.acquire(tenant)]);
    const served: string[] = [];
    for (const tenant of waiting) void pool.acquire(tenant).then(() => served.push(tenant), () => {});
    await settled(Promise.resolve());
    expect(served).toEqual([]);
    pool.release(slots.find(([t]) => t === releases)![1]);
    await settled(Promise.resolve());
    expect(served).toEqual([next]);
  });

  describe('slow tenants', () => {
    /** slowMs 20, slow cap 1, cooldown 200 ms: a tenant whose statement was held past 20 ms gets one connection. */
    const slowPool = () =>
      new AffinityPool<number>(
        { size: 8, perTenant: 4, reserve: 0, acquireTimeoutMs: 1000, slowMs: 20, slowPerTenant: 1, slowCooldownMs: 200 },
        (() => {
          let n = 0;
          return async () => ++n;
        })(),
        () => undefined,
      );
    // Time passing is the subject of these two: a statement held past slowMs, a cooldown running out.
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

    it('caps a tenant at one connection while one of its statements is held past slowMs, and not another tenant', async () => {
      const pool = slowPool();
      const first = await pool.acquire('slow', 'slow');
      await sleep(30);
      expect(await settled(pool.acquire('slow', 'slow'))).toBe(false);
      const fast = await Promise.all([1, 2, 3, 4].map(() => pool.acquire('fast', 'fast')));
      expect(fast).toHaveLength(4);
      pool.release(first);
    });

    it('lets slow tenants together hold at most slowTotal connections, and not hold back a fast one', async () => {
      let n = 0;
      const pool = new AffinityPool<number>(
        { size: 8, perTenant: 4, reserve: 0, acquireTimeoutMs: 50, slowMs: 20, slowPerTenant: 1, slowCooldownMs: 10_000, slowTotal: 1 },
        async () => ++n,
        () => undefined,
      );
      // Both become slow: a statement each held past 20 ms.
      const [a, b] = [await pool.acquire('a', 'a'), await pool.acquire('b', 'b')];
      await sleep(30);
      pool.release(a);
      pool.release(b);
      const running = await pool.acquire('a', 'a');
      const waiting = pool.acquire('b', 'b');
      expect(await settled(waiting)).toBe(false);
      expect(await settled(pool.acquire('fast', 'fast'))).toBe(true);
      pool.release(running);
      pool.release(await waiting);
      const second = await pool.acquire('a', 'a');
      await expect(pool.acquire('b', 'b')).rejects.toThrow('Slow statements take turns on this database host (at most 1 run at once), try again');
      pool.release(second);
    });

    it("holds slow tenants together to their share of connection time, serving them when it is paid off, and never a fast one", async () => {
      let n = 0;
      // 100 ms a second, no burst: a slow statement held 60 ms is 600 ms before the next may start.
      const pool = new AffinityPool<number>(
        { size: 8, perTenant: 4, reserve: 0, acquireTimeoutMs: 2000, slowMs: 20, slowPerTenant: 1, slowCooldownMs: 10_000, slowShare: { msPerSecond: 100, burstMs: 0 } },
        async () => ++n,
        () => undefined,
      );
      const first = await pool.acquire('a', 'a');
      await sleep(60);
      pool.release(first);
      const releasedAt = Date.now();
      const sameTenant = pool.acquire('a', 'a').then((slot) => ({ slot, at: Date.now() }));
      const otherSlow = pool.acquire('b', 'b'); // not slow yet: B's first statement
      expect(await settled(otherSlow)).toBe(true);
      expect(await settled(pool.acquire('fast', 'fast'))).toBe(true);
      expect(await settled(sameTenant)).toBe(false);
      const { slot, at } = await sameTenant;
      expect(at - releasedAt).toBeGreaterThanOrEqual(500);
      pool.release(slot);
      // Past the wait, the answer says which rule kept it out.
      const short = new AffinityPool<number>(
        { size: 8, perTenant: 4, reserve: 0, acquireTimeoutMs: 50, slowMs: 20, slowPerTenant: 1, slowShare: { msPerSecond: 100, burstMs: 0 } },
        async () => ++n,
        () => undefined,
      );
      const held = await short.acquire('a', 'a');
      await sleep(30);
      short.release(held);
      await expect(short.acquire('a', 'a')).rejects.toThrow('Slow statements on this database host have used their share of its time (100 ms a second), try again');
      await Promise.all([pool.close(), short.close()]);
    });

    it('keeps the cap for the cooldown after the slow statement ended, then lifts it', async () => {
      const pool = slowPool();
      const first = await pool.acquire('slow', 'slow');
      await sleep(30);
      pool.release(first);
      const again = await pool.acquire('slow', 'slow');
      const queued = pool.acquire('slow', 'slow');
      expect(await settled(queued)).toBe(false);
      pool.release(again);
      pool.release(await queued); // served as soon as its tenant held none, and given back at once
      await sleep(250);
      const [a, b] = [await pool.acquire('slow', 'slow'), await pool.acquire('slow', 'slow')];
      expect(a.conn).not.toBe(b.conn);
    });
  });
});
