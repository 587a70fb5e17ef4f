import type { RateLimit } from './token-bucket.ts';

export type { RateLimit };

/** The routes limited per tenant (the authorizer's tenant_id is the unit). */
export const TENANT_ROUTES = ['query', 'migrate', 'dashboard'] as const;
export type TenantRoute = (typeof TENANT_ROUTES)[number];
export type TenantRateLimits = Partial<Record<TenantRoute, RateLimit>>;

export type RateDecision = { allowed: true } | { allowed: false; retryAfterSeconds: number };

/**
 * Token buckets shared by every process (Redis). Keys are the core's (`query:<tenant>`); the
 * adapter namespaces them. Never throws for a Redis failure: see the adapter for what it does then.
 */
export interface RateLimiter {
  /** Takes one token from the key's bucket, or says how long until one is there. */
  take(key: string, limit: RateLimit): Promise<RateDecision>;
  /**
   * Takes `tokens` for work already done (a request's cost beyond the token it took): the bucket
   * may go into debt, and the tenant's next requests wait until it is paid off.
   */
  charge(key: string, limit: RateLimit, tokens: number): Promise<void>;
  /** Whether a token is there, taking none. */
  peek(key: string, limit: RateLimit): Promise<RateDecision>;
  /** Forgets the bucket: it is full again. */
  reset(key: string): Promise<void>;
}
