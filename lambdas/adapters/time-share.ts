/** A share of a resource's time: `msPerSecond` ms a second on average, `burstMs` at once. */
export interface Share {
  msPerSecond: number;
  burstMs: number;
}

/**
 * Time used within a share, as a generic cell rate algorithm: each ms used, charged after the fact,
 * pushes the paid-off time 1000 / msPerSecond ms later; a new use may start while that is at most
 * the burst's worth ahead of now.
 */
export class TimeShare {
  private paidOffAt = -Infinity;

  constructor(
    private readonly share: Share,
    /** Milliseconds on a steady clock (performance.now, Date.now). */
    private readonly now: () => number,
  ) {}

  /** How long until a use may start (0: now). */
  owedMs(): number {
    return Math.max(0, this.paidOffAt - (this.share.burstMs * 1000) / this.share.msPerSecond - this.now());
  }

  charge(usedMs: number): void {
    this.paidOffAt = Math.max(this.paidOffAt, this.now()) + (usedMs * 1000) / this.share.msPerSecond;
  }
}
