import type { PoolLimits, PoolSlot, Purpose } from './affinity-pool-limits.ts';
import { TimeShare } from './time-share.ts';
import { BusyError } from '#core/errors';

export type { PoolLimits, PoolSlot, Purpose };

/**
 * A fixed-size connection pool that remembers whom each connection is switched to (`who`, a
 * database login) and hands a login back a connection already switched to it when one is idle,
 * else a new one while below its size, else the one idle the longest. With as many busy logins
 * as connections, most statements skip the switch.
 *
 * Fair share is per tenant (one tenant may own many logins, one per database):
 * - a tenant holds at most `perTenant` connections at once, and only `slowPerTenant` while its
 *   statements are slow (one held past `slowMs`, or ended past it in the last `slowCooldownMs`):
 *   on a host of few cores a tenant's slow statements cost CPU the others need, so it gets fewer;
 * - all slow tenants together hold at most `slowTotal` connections: one slow tenant holds one
 *   connection, but two or more attacker tenants would each hold one, and take every core;
 * - and, with `slowShare`, use at most that much connection time a second on average: one slow
 *   connection busy without pause is a core of the host for as long as slow tenants keep asking;
 *   past the share (after its burst) slow tenants wait, fast ones never do;
 * - a tenant runs at most `writePerTenant` writes at once (a write's rows, its redo and binlog cost
 *   disk I/O every tenant of the host shares, without bound until its time limit, and before it is
 *   known to be slow: this caps the first wave too);
 * - the last `reserve` free connections go only to tenants holding none, so tenants running slow
 *   statements on their first connection cannot starve a tenant that holds nothing;
 * - upkeep (OctoDB's own short statements for a tenant: its storage measurement) needs only a free
 *   connection, and goes first: the tenant's own statements must not keep it out;
 * - freed room goes to the waiter whose tenant holds the fewest connections (the earliest among
 *   equals), not to the first in line;
 * - nobody waits longer than `acquireTimeoutMs` (then BusyError, 503), so queues stay bounded.
 */
const SLOW_COOLDOWN_MS = 10_000;

interface Waiter<C, O> {
  tenant: string;
  who: string;
  purpose: Purpose;
  opener: O;
  resolve(slot: PoolSlot<C>): void;
  reject(error: unknown): void;
  timer: NodeJS.Timeout;
}

/** `O`: what acquire() hands to connect() for a connection it opens (the runner: the tenant's login). */
export class AffinityPool<C, O = void> {
  private readonly idle: PoolSlot<C>[] = [];
  private readonly waiting: Waiter<C, O>[] = [];
  private readonly all = new Set<PoolSlot<C>>();
  /** Which tenant holds each handed-out connection, and how many each holds (being opened and charges included). */
  private readonly holders = new Map<PoolSlot<C>, string>();
  private readonly held = new Map<string, number>();
  /** When each handed-out connection was taken, and until when each tenant counts as slow. */
  private readonly since = new Map<PoolSlot<C>, number>();
  private readonly slowUntil = new Map<string, number>();
  /** Handed-out connections running writes (or rolling one back), and how many each tenant runs (being opened included). */
  private readonly writing = new Set<PoolSlot<C>>();
  private readonly writers = new Map<string, number>();
  private opening = 0;
  /** With `slowShare`: the slow tenants' connection time, and the timer serving waiters once it is paid off. */
  private readonly slowTime?: TimeShare;
  private slowWake?: NodeJS.Timeout;

  constructor(
    private readonly limits: PoolLimits,
    private readonly connect: (slot: PoolSlot<C>, opener: O) => Promise<C>,
    private readonly destroy: (conn: C) => void,
  ) {
    if (limits.slowShare) this.slowTime = new TimeShare(limits.slowShare, Date.now);
  }

  /**
   * Every waiter that could be served is served at once, so a newcomer allowed now jumps nobody more deserving.
   */
  acquire(tenant: string, who: string, opener: O, purpose: Purpose = { writes: false }): Promise<PoolSlot<C>> {
    if (this.mayTake(tenant, purpose)) return this.take(tenant, who, opener, purpose.writes);
    return new Promise((resolve, reject) => {
      const waiter: Waiter<C, O> = { tenant, who, purpose, opener, resolve, reject, timer: setTimeout(() => this.expire(waiter), this.limits.acquireTimeoutMs) };
      this.waiting.push(waiter);
      this.wakeWhenPaidOff();
    });
  }

  release(slot: PoolSlot<C>): void {
    if (slot.dead) return this.discard(slot);
    this.unhold(slot);
    this.idle.push(slot);
    this.handOver();
  }

  /** Closes a connection that may be unsound; its room goes to a waiter (who gets a fresh one). */
  discard(slot: PoolSlot<C>): void {
    slot.dead = true;
    this.unhold(slot);
    if (!this.all.delete(slot)) return;
    const at = this.idle.indexOf(slot);
    if (at >= 0) this.idle.splice(at, 1);
    this.destroy(slot.conn);
    this.handOver();
  }

  /**
   * Counts work of a tenant's that holds no pooled connection (a stopped statement still rolling
   * back on the server) against its share, until the returned function is called; `writes`: a
   * write rolling back, which costs the I/O of a write.
   */
  charge(tenant: string, writes = false): () => void {
    this.count(tenant, 1);
    if (writes) this.countWrites(tenant, 1);
    const since = Date.now();
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.count(tenant, -1);
      if (writes) this.countWrites(tenant, -1);
      this.heldFor(tenant, Date.now() - since);
      this.handOver();
    };
  }

  async close(): Promise<void> {
    clearTimeout(this.slowWake);
    for (const w of this.waiting.splice(0)) {
      clearTimeout(w.timer);
      w.reject(new Error('pool closed'));
    }
    for (const slot of [...this.all]) this.discard(slot);
  }

  /** Free connections: idle ones and room to open more. */
  private room(): number {
    return this.idle.length + this.limits.size - this.all.size - this.opening;
  }

  private mayTake(tenant: string, { writes, upkeep }: Purpose): boolean {
    const held = this.heldBy(tenant);
    const room = this.room();
    if (upkeep) return room > 0;
    if (writes && (this.writers.get(tenant) ?? 0) >= this.writeCap()) return false;
    if (this.slowLaneFull(tenant)) return false;
    return held < this.capOf(tenant) && room > 0 && (held === 0 || room > this.limits.reserve);
  }

  /** The tenant is slow and the slow tenants together hold `slowTotal` connections, or are past their share of time. */
  private slowLaneFull(tenant: string): boolean {
    const { slowTotal } = this.limits;
    if ((slowTotal === undefined && !this.slowTime) || !this.isSlow(tenant)) return false;
    if (this.slowOwedMs() > 0) return true;
    if (slowTotal === undefined) return false;
    let slowHeld = 0;
    for (const [holder, n] of this.held) if (this.isSlow(holder)) slowHeld += n;
    return slowHeld >= slowTotal;
  }

  /** How long until the slow tenants are back within their share of time (0: a slow statement may start). */
  private slowOwedMs(): number {
    return this.slowTime?.owedMs() ?? 0;
  }

  /** While slow tenants wait on the share, one timer serves them when it is paid off. */
  private wakeWhenPaidOff(): void {
    const owed = this.slowOwedMs();
    if (owed === 0 || this.slowWake || this.waiting.length === 0) return;
    this.slowWake = setTimeout(() => {
      this.slowWake = undefined;
      this.handOver();
    }, Math.ceil(owed));
    this.slowWake.unref();
  }

  private writeCap(): number {
    return Math.min(this.limits.writePerTenant ?? this.limits.perTenant, this.limits.perTenant);
  }

  /** `perTenant`, or `slowPerTenant` while the tenant's statements are slow. */
  private capOf(tenant: string): number {
    const { slowPerTenant, perTenant } = this.limits;
    return slowPerTenant !== undefined && this.isSlow(tenant) ? slowPerTenant : perTenant;
  }

  /** One of the tenant's statements is held past `slowMs`, or ended past it within the cooldown. */
  private isSlow(tenant: string): boolean {
    const { slowMs } = this.limits;
    if (!slowMs) return false;
    const now = Date.now();
    if ((this.slowUntil.get(tenant) ?? 0) > now) return true;
    for (const [slot, taken] of this.since) if (now - taken > slowMs && this.holders.get(slot) === tenant) return true;
    return false;
  }

  private take(tenant: string, who: string, opener: O, writes: boolean): Promise<PoolSlot<C>> {
    for (let i = this.idle.length - 1; i >= 0; i--) {
      if (this.idle[i]!.who === who) return Promise.resolve(this.hold(this.idle.splice(i, 1)[0]!, tenant, writes));
    }
    // Below its size the pool grows rather than switch an idle connection away from its login.
    if (this.all.size + this.opening < this.limits.size) return this.open(tenant, opener, writes);
    return Promise.resolve(this.hold(this.idle.shift()!, tenant, writes));
  }

  /**
   * Room freed or a tenant's count lowered: serve, while room lasts, the waiter allowed to take
   * that is upkeep, else whose tenant holds the fewest connections.
   */
  private handOver(): void {
    for (;;) {
      let best: Waiter<C, O> | undefined;
      for (const w of this.waiting) {
        if (!this.mayTake(w.tenant, w.purpose)) continue;
        if (w.purpose.upkeep) {
          best = w;
          break;
        }
        if (!best || this.heldBy(w.tenant) < this.heldBy(best.tenant)) best = w;
      }
      if (!best) return this.wakeWhenPaidOff();
      this.waiting.splice(this.waiting.indexOf(best), 1);
      clearTimeout(best.timer);
      this.take(best.tenant, best.who, best.opener, best.purpose.writes).then(best.resolve, best.reject);
    }
  }

  private expire(waiter: Waiter<C, O>): void {
    const at = this.waiting.indexOf(waiter);
    if (at < 0) return;
    this.waiting.splice(at, 1);
    waiter.reject(new BusyError(this.whyWaited(waiter), { code: 'BUSY' }));
  }

  /** Which rule kept the waiter out: its answer says so. */
  private whyWaited({ tenant, purpose }: Waiter<C, O>): string {
    if (!purpose.upkeep) {
      const writeCap = this.writeCap();
      if (purpose.writes && (this.writers.get(tenant) ?? 0) >= writeCap) return `Too many writes of this tenant at once (at most ${writeCap} run together), try again`;
      if (this.slowOwedMs() > 0 && this.isSlow(tenant)) {
        return `Slow statements on this database host have used their share of its time (${this.limits.slowShare!.msPerSecond} ms a second), try again`;
      }
      if (this.slowLaneFull(tenant)) return `Slow statements take turns on this database host (at most ${this.limits.slowTotal} run at once), try again`;
      const cap = this.capOf(tenant);
      if (this.heldBy(tenant) >= cap) {
        return `Too many statements of this tenant at once (at most ${cap} run together${cap < this.limits.perTenant ? ' while its statements are slow' : ''}), try again`;
      }
    }
    return `Database host busy: no connection free within ${this.limits.acquireTimeoutMs} ms, try again`;
  }

  private async open(tenant: string, opener: O, writes: boolean): Promise<PoolSlot<C>> {
    this.opening++;
    this.count(tenant, 1);
    if (writes) this.countWrites(tenant, 1);
    const slot = {} as PoolSlot<C>;
    try {
      slot.conn = await this.connect(slot, opener);
    } catch (error) {
      this.opening--;
      this.count(tenant, -1);
      if (writes) this.countWrites(tenant, -1);
      this.handOver(); // the room is free again: a waiter tries (and learns the host is down) now
      throw error;
    }
    this.opening--;
    this.all.add(slot);
    this.holders.set(slot, tenant);
    this.since.set(slot, Date.now());
    if (writes) this.writing.add(slot);
    return slot;
  }

  private hold(slot: PoolSlot<C>, tenant: string, writes: boolean): PoolSlot<C> {
    this.holders.set(slot, tenant);
    this.since.set(slot, Date.now());
    this.count(tenant, 1);
    if (writes) {
      this.writing.add(slot);
      this.countWrites(tenant, 1);
    }
    return slot;
  }

  private unhold(slot: PoolSlot<C>): void {
    const tenant = this.holders.get(slot);
    if (tenant === undefined) return;
    this.holders.delete(slot);
    this.count(tenant, -1);
    if (this.writing.delete(slot)) this.countWrites(tenant, -1);
    const taken = this.since.get(slot);
    this.since.delete(slot);
    if (taken === undefined) return;
    const now = Date.now();
    const heldMs = now - taken;
    const { slowMs } = this.limits;
    if (slowMs && heldMs > slowMs) {
      this.slowUntil.set(tenant, now + (this.limits.slowCooldownMs ?? SLOW_COOLDOWN_MS));
      if (this.slowUntil.size > 10_000) this.forgetCooledDown();
    }
    this.heldFor(tenant, heldMs);
  }

  /**
   * A tenant stopped holding a connection (or a charge) it held `ms`: onHeld hears it, and a slow
   * tenant's time (the statement that just made it slow included) counts against the slow share.
   */
  private heldFor(tenant: string, ms: number): void {
    this.limits.onHeld?.(tenant, ms);
    if (this.slowTime && this.isSlow(tenant)) this.slowTime.charge(ms);
  }

  private forgetCooledDown(): void {
    const now = Date.now();
    for (const [tenant, until] of this.slowUntil) if (until <= now) this.slowUntil.delete(tenant);
  }

  private heldBy(tenant: string): number {
    return this.held.get(tenant) ?? 0;
  }

  private count(tenant: string, delta: number): void {
    bump(this.held, tenant, delta);
  }

  private countWrites(tenant: string, delta: number): void {
    bump(this.writers, tenant, delta);
  }
}

/** Adds `delta` to a tenant's count, forgetting tenants at zero (the maps stay as small as the tenants busy now). */
function bump(counts: Map<string, number>, tenant: string, delta: number): void {
  const n = (counts.get(tenant) ?? 0) + delta;
  if (n > 0) counts.set(tenant, n);
  else counts.delete(tenant);
}
