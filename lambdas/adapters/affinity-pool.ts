import { BusyError } from '#core/errors';

/**
 * A fixed-size connection pool that remembers which tenant each connection is switched to and
 * hands a tenant back a connection already switched to it when one is idle, else a new one while
 * below its size, else the one idle the longest. With as many busy tenants as connections, most
 * statements skip the switch.
 *
 * Fairness: one tenant holds at most `perWho` connections at once, so a tenant running slow
 * statements cannot take the whole pool; and nobody waits longer than `acquireTimeoutMs` (then
 * BusyError, 503), so a queue behind slow statements cannot grow without bound.
 */
export interface PoolSlot<C> {
  conn: C;
  /** Whom the connection is switched to; undefined: nobody yet, or a switch that did not finish. */
  who?: string;
  dead?: boolean;
}

export interface PoolLimits {
  size: number;
  /** Connections one `who` may hold at once (≤ size). */
  perWho: number;
  acquireTimeoutMs: number;
}

interface Waiter<C, O> {
  who: string;
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
  /** Who holds each handed-out connection, and how many each holds (connections being opened included). */
  private readonly holders = new Map<PoolSlot<C>, string>();
  private readonly held = new Map<string, number>();
  private opening = 0;

  constructor(
    private readonly limits: PoolLimits,
    private readonly connect: (slot: PoolSlot<C>, opener: O) => Promise<C>,
    private readonly destroy: (conn: C) => void,
  ) {}

  acquire(who: string, opener: O): Promise<PoolSlot<C>> {
    if (this.heldBy(who) < this.limits.perWho) {
      for (let i = this.idle.length - 1; i >= 0; i--) {
        if (this.idle[i]!.who === who) return Promise.resolve(this.hold(this.idle.splice(i, 1)[0]!, who));
      }
      // Below its size the pool grows rather than switch an idle connection away from its tenant.
      if (this.all.size + this.opening < this.limits.size) return this.open(who, opener);
      const oldest = this.idle.shift();
      if (oldest) return Promise.resolve(this.hold(oldest, who));
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter<C, O> = { who, opener, resolve, reject, timer: setTimeout(() => this.expire(waiter), this.limits.acquireTimeoutMs) };
      this.waiting.push(waiter);
    });
  }

  release(slot: PoolSlot<C>): void {
    if (slot.dead) return this.discard(slot);
    this.unhold(slot);
    this.handOver(slot);
  }

  /** Closes a connection that may be unsound; a waiter gets a fresh one instead. */
  discard(slot: PoolSlot<C>): void {
    slot.dead = true;
    this.unhold(slot);
    if (!this.all.delete(slot)) return;
    const at = this.idle.indexOf(slot);
    if (at >= 0) this.idle.splice(at, 1);
    this.destroy(slot.conn);
    this.handOver();
  }

  async close(): Promise<void> {
    for (const w of this.waiting.splice(0)) {
      clearTimeout(w.timer);
      w.reject(new Error('pool closed'));
    }
    for (const slot of [...this.all]) this.discard(slot);
  }

  /**
   * Room freed (a released connection, or space to open one): the first waiter below its cap
   * gets it. Only a release or a discard lowers a count or frees room, so no waiter that could
   * be served is left waiting while a connection sits idle.
   */
  private handOver(slot?: PoolSlot<C>): void {
    const at = this.waiting.findIndex((w) => this.heldBy(w.who) < this.limits.perWho);
    if (at < 0) {
      if (slot) this.idle.push(slot);
      return;
    }
    const next = this.waiting.splice(at, 1)[0]!;
    clearTimeout(next.timer);
    if (slot) next.resolve(this.hold(slot, next.who));
    else this.open(next.who, next.opener).then(next.resolve, next.reject);
  }

  private expire(waiter: Waiter<C, O>): void {
    const at = this.waiting.indexOf(waiter);
    if (at < 0) return;
    this.waiting.splice(at, 1);
    const atCap = this.heldBy(waiter.who) >= this.limits.perWho;
    waiter.reject(
      new BusyError(
        atCap
          ? `Too many statements of this database at once (at most ${this.limits.perWho} run together), try again`
          : `Database host busy: no connection free within ${this.limits.acquireTimeoutMs} ms, try again`,
        { code: 'BUSY' },
      ),
    );
  }

  private async open(who: string, opener: O): Promise<PoolSlot<C>> {
    this.opening++;
    this.count(who, 1);
    const slot = {} as PoolSlot<C>;
    try {
      slot.conn = await this.connect(slot, opener);
    } catch (error) {
      this.count(who, -1);
      this.opening--;
      this.handOver(); // the room is free again: a waiter tries (and learns the host is down) now
      throw error;
    }
    this.opening--;
    this.all.add(slot);
    this.holders.set(slot, who);
    return slot;
  }

  private hold(slot: PoolSlot<C>, who: string): PoolSlot<C> {
    this.holders.set(slot, who);
    this.count(who, 1);
    return slot;
  }

  private unhold(slot: PoolSlot<C>): void {
    const who = this.holders.get(slot);
    if (who === undefined) return;
    this.holders.delete(slot);
    this.count(who, -1);
  }

  private heldBy(who: string): number {
    return this.held.get(who) ?? 0;
  }

  private count(who: string, delta: number): void {
    const n = this.heldBy(who) + delta;
    if (n > 0) this.held.set(who, n);
    else this.held.delete(who);
  }
}
