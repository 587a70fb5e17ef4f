/**
 * A fixed-size connection pool that remembers which tenant each connection is switched to and
 * hands a tenant back a connection already switched to it when one is idle, else a new one while
 * below its size, else the one idle the longest. With as many busy tenants as connections, most
 * statements skip the switch.
 */
export interface PoolSlot<C> {
  conn: C;
  /** Whom the connection is switched to; undefined: still the admin login. */
  who?: string;
  dead?: boolean;
}

interface Waiter<C> {
  resolve(slot: PoolSlot<C>): void;
  reject(error: unknown): void;
}

export class AffinityPool<C> {
  private readonly idle: PoolSlot<C>[] = [];
  private readonly waiting: Waiter<C>[] = [];
  private readonly all = new Set<PoolSlot<C>>();
  private opening = 0;

  constructor(
    private readonly size: number,
    private readonly connect: (slot: PoolSlot<C>) => Promise<C>,
    private readonly destroy: (conn: C) => void,
  ) {}

  acquire(who: string): Promise<PoolSlot<C>> {
    for (let i = this.idle.length - 1; i >= 0; i--) {
      if (this.idle[i]!.who === who) return Promise.resolve(this.idle.splice(i, 1)[0]!);
    }
    // Below its size the pool grows rather than switch an idle connection away from its tenant.
    if (this.all.size + this.opening < this.size) return this.open();
    const oldest = this.idle.shift();
    if (oldest) return Promise.resolve(oldest);
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }

  release(slot: PoolSlot<C>): void {
    if (slot.dead) return this.discard(slot);
    const next = this.waiting.shift();
    if (next) next.resolve(slot);
    else this.idle.push(slot);
  }

  /** Closes a connection that may be unsound; a waiter gets a fresh one instead. */
  discard(slot: PoolSlot<C>): void {
    slot.dead = true;
    if (!this.all.delete(slot)) return;
    const at = this.idle.indexOf(slot);
    if (at >= 0) this.idle.splice(at, 1);
    this.destroy(slot.conn);
    const next = this.waiting.shift();
    if (next) this.open().then(next.resolve, next.reject);
  }

  async close(): Promise<void> {
    for (const w of this.waiting.splice(0)) w.reject(new Error('pool closed'));
    for (const slot of [...this.all]) this.discard(slot);
  }

  private async open(): Promise<PoolSlot<C>> {
    this.opening++;
    const slot = {} as PoolSlot<C>;
    try {
      slot.conn = await this.connect(slot);
    } finally {
      this.opening--;
    }
    this.all.add(slot);
    return slot;
  }
}
