import { LRUCache } from 'lru-cache';
import type { RateDecision, RateLimiter } from '#core/ports';
import { type RateLimit, retryAfterSeconds } from '#core/token-bucket';
import type { BucketStore } from './redis-rate-limiter.ts';

export interface SliceOptions {
  /** A draw asks for this many seconds' worth of the rate… */
  sliceSeconds: number;
  /** …but at most this many tokens (and at most the burst), at least one. */
  sliceMax: number;
  /** Tokens held longer than this are dropped unspent (a Lambda sandbox may have slept on them). */
  holdMs?: number;
  /** Keys kept in memory at most; the oldest entry goes first (its tokens are simply not spent). */
  maxKeys?: number;
  now?: () => number;
}

interface Local {
  tokens: number;
  /** The held tokens are spendable until then. */
  holdUntil: number;
  /** The shared bucket was empty: no token before then, answered without asking again. */
  blockedUntil: number;
  /** The draw in flight for this key: concurrent requests wait for it instead of each drawing. */
  pending?: Promise<void>;
}

const ALLOWED: RateDecision = { allowed: true };

/**
 * The per-tenant hot path: a local bucket per key that draws its budget from the shared store
 * (Redis) in slices, so most requests cost no round trip. Tokens are removed from the shared
 * bucket when drawn, so processes together never spend more than the shared bucket handed out.
 * What a slice costs is precision, bounded by the slice size S over P processes:
 * - a request may be refused while other processes still hold up to P·(S−1) unspent tokens
 *   (and a dead process's tokens are lost, never spent: the bucket refills at its rate);
 * - over any interval T, at most burst + rate·T + P·S requests pass (the slices held at its
 *   start), and no token is spent more than `holdMs` after it was drawn.
 * A refusal is remembered until the shared bucket has a token again, so a flood past the
 * limit costs one store call per refusal period, not one per request.
 */
export class SlicedRateLimiter implements RateLimiter {
  private readonly local: LRUCache<string, Local>;
  private readonly holdMs: number;
  private readonly now: () => number;

  constructor(
    private readonly store: BucketStore,
    private readonly options: SliceOptions,
  ) {
    this.holdMs = options.holdMs ?? 1000;
    this.local = new LRUCache({ max: options.maxKeys ?? 10_000 });
    this.now = options.now ?? Date.now;
  }

  /** Tokens one draw asks for under this limit. */
  sliceOf(limit: RateLimit): number {
    return Math.max(1, Math.min(this.options.sliceMax, limit.burst, Math.floor(limit.perSecond * this.options.sliceSeconds)));
  }

  async take(key: string, limit: RateLimit): Promise<RateDecision> {
    for (;;) {
      const now = this.now();
      let entry = this.local.get(key);
      if (entry) {
        if (entry.tokens >= 1 && now < entry.holdUntil) {
          entry.tokens--;
          return ALLOWED;
        }
        if (now < entry.blockedUntil) return { allowed: false, retryAfterSeconds: retryAfterSeconds(entry.blockedUntil - now) };
        if (entry.pending) {
          await entry.pending;
          continue; // the slice it brought may already be spent by the other waiters
        }
      } else {
        this.local.set(key, (entry = { tokens: 0, holdUntil: 0, blockedUntil: 0 }));
      }
      const drawing = entry;
      const drawn = this.store.draw(key, limit, this.sliceOf(limit)).then(
        ({ granted, waitMs }) => {
          const at = this.now();
          drawing.pending = undefined;
          drawing.tokens = granted;
          drawing.holdUntil = at + this.holdMs;
          drawing.blockedUntil = granted > 0 ? 0 : at + waitMs;
          return true;
        },
        // Stores fall back by themselves on an outage; anything else lets this one request through.
        () => ((drawing.pending = undefined), false),
      );
      drawing.pending = drawn.then(() => undefined);
      if (!(await drawn)) return ALLOWED;
    }
  }

  /**
   * A cost after the fact: paid from the held slice when it covers it (no round trip, the common
   * case of a cheap request), else the held tokens are spent and the rest goes to the shared
   * bucket as debt at once, so every process refuses the tenant until it is paid off.
   */
  async charge(key: string, limit: RateLimit, tokens: number): Promise<void> {
    if (!(tokens > 0)) return;
    const now = this.now();
    const entry = this.local.get(key);
    const held = entry && now < entry.holdUntil ? entry.tokens : 0;
    if (held >= tokens) {
      entry!.tokens -= tokens;
      return;
    }
    if (entry) entry.tokens = 0;
    const { waitMs } = await this.store.draw(key, limit, 0, tokens - held);
    if (waitMs > 0) {
      const blocked = this.local.get(key) ?? { tokens: 0, holdUntil: 0, blockedUntil: 0 };
      blocked.tokens = 0;
      blocked.blockedUntil = Math.max(blocked.blockedUntil, this.now() + waitMs);
      this.local.set(key, blocked);
    }
  }

  /** Peeks and resets are rare (lockouts): straight to the store. */
  async peek(key: string, limit: RateLimit): Promise<RateDecision> {
    const { waitMs } = await this.store.draw(key, limit, 0);
    return waitMs === 0 ? ALLOWED : { allowed: false, retryAfterSeconds: retryAfterSeconds(waitMs) };
  }

  async reset(key: string): Promise<void> {
    this.local.delete(key);
    await this.store.reset(key);
  }
}
