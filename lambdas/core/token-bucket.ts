/**
 * Token-bucket arithmetic, the one definition both bucket stores follow: the Redis script
 * (adapters/redis-rate-limiter.ts, in Lua) and the in-process fallback used while Redis is away.
 */

/**
 * `perSecond` tokens flow in continuously, up to `burst` held at once; a request takes one token
 * before it runs, and may be charged more after it ran (its cost: see core/rate-limits.ts).
 */
export interface RateLimit {
  perSecond: number;
  burst: number;
}

/** A bucket as stored: its tokens at `atMs`. A missing bucket is a full one. */
export interface BucketState {
  tokens: number;
  atMs: number;
}

/** A bucket owes at most its burst or this many seconds of its rate, the larger: past it, a charge is forgiven (a bound on the wait it causes). */
export const MAX_DEBT_SECONDS = 60;

export interface Draw {
  /** Tokens handed out: up to `want`, and only when at least one whole token was there. */
  granted: number;
  /** 0 when at least one token was there; else how long until one will be. */
  waitMs: number;
  state: BucketState;
}

/**
 * Refills the bucket for the time passed, takes `debt` tokens (work already done: the bucket may go
 * below zero, see MAX_DEBT_SECONDS), then hands out up to `want` whole tokens if it
 * holds at least one. `want` 0 only asks whether a token is there (a peek: nothing is taken).
 * A clock that went backwards refills nothing (never a negative interval).
 */
export function drawTokens(state: BucketState | undefined, limit: RateLimit, want: number, nowMs: number, debt = 0): Draw {
  const full = state ? Math.min(limit.burst, state.tokens + Math.max(0, nowMs - state.atMs) * (limit.perSecond / 1000)) : limit.burst;
  const tokens = debt > 0 ? Math.max(-Math.max(limit.burst, limit.perSecond * MAX_DEBT_SECONDS), full - debt) : full;
  if (tokens < 1) return { granted: 0, waitMs: Math.ceil(((1 - tokens) * 1000) / limit.perSecond), state: { tokens, atMs: nowMs } };
  const granted = Math.min(want, Math.floor(tokens));
  return { granted, waitMs: 0, state: { tokens: tokens - granted, atMs: nowMs } };
}

/** How long an untouched bucket takes to fill up again: after that, forgetting it changes nothing. */
export function refillMs(state: BucketState, limit: RateLimit): number {
  return Math.ceil(((limit.burst - state.tokens) * 1000) / limit.perSecond);
}

/** Whole seconds for Retry-After: at least 1 (0 would invite an immediate retry that fails again). */
export const retryAfterSeconds = (waitMs: number): number => Math.max(1, Math.ceil(waitMs / 1000));

const SPEC = /^(\d+(?:\.\d+)?)\s*\/\s*(\d+(?:\.\d+)?)?\s*s(?:\s+burst\s+(\d+))?$/;

/**
 * Reads a limit written as `N/s`, `N/Ts` (N per T seconds) with an optional ` burst B`
 * (default: N, rounded up): `100/s burst 200`, `30/3600s burst 10`. Undefined when malformed.
 */
export function parseRateLimit(spec: string): RateLimit | undefined {
  const m = SPEC.exec(spec.trim());
  if (!m) return undefined;
  const count = Number(m[1]);
  const seconds = m[2] === undefined ? 1 : Number(m[2]);
  const burst = m[3] === undefined ? Math.ceil(count) : Number(m[3]);
  if (!(count > 0) || !(seconds > 0) || !(burst >= 1) || !Number.isFinite(count / seconds)) return undefined;
  return { perSecond: count / seconds, burst };
}

/** The same limit written back the way parseRateLimit reads it (for answers and docs). */
export function formatRateLimit(limit: RateLimit): string {
  const perSecond = Number.isInteger(limit.perSecond) ? `${limit.perSecond}/s` : `${+(limit.perSecond * 3600).toFixed(3)}/3600s`;
  return `${perSecond} burst ${limit.burst}`;
}
