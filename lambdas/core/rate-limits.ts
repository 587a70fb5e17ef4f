import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { NotFoundError, TooManyRequestsError, UnauthorizedError } from './errors.ts';
import type { MetaStore, RateDecision, RateLimiter, TenantRoute, TenantUsage } from './ports.ts';
import { formatRateLimit, type RateLimit } from './token-bucket.ts';

/** The limits in force when a tenant has no plan of its own, and those of the unauthenticated routes. */
export interface RateLimitSettings {
  tenant: Record<TenantRoute, RateLimit>;
  signupPerIp: RateLimit;
  signupPerEmail: RateLimit;
  tokenPerIp: RateLimit;
  tokenPerEmail: RateLimit;
  /** Failed logins per email: when its bucket is empty, the email is locked out. */
  loginFailures: RateLimit;
}

/**
 * Each tenant's limits: its plan (MetaDB tenant_rate_limits) over the defaults, cached per process
 * for `ttlMs`, so a plan change reaches every process within that time. A MetaDB failure answers
 * the defaults (for a second, then asks again): a plan lookup must not fail a request.
 */
export class TenantPlans {
  private readonly cache: LRUCache<string, { limits: Record<TenantRoute, RateLimit>; until: number }>;

  constructor(
    private readonly meta: Pick<MetaStore, 'getTenantRateLimits'>,
    private readonly defaults: Record<TenantRoute, RateLimit>,
    private readonly ttlMs: number,
    maxEntries = 10_000,
  ) {
    this.cache = new LRUCache({ max: maxEntries });
  }

  async limitFor(tenantId: string, route: TenantRoute): Promise<RateLimit> {
    const now = Date.now();
    const hit = this.cache.get(tenantId);
    if (hit && hit.until > now) return hit.limits[route];
    let limits = this.defaults;
    let ttl = this.ttlMs;
    try {
      limits = { ...this.defaults, ...(await this.meta.getTenantRateLimits(tenantId)) };
    } catch {
      ttl = Math.min(ttl, 1000);
    }
    if (ttl > 0) this.cache.set(tenantId, { limits, until: now + ttl });
    return limits[route];
  }
}

export interface TenantRateDeps {
  tenantRates: RateLimiter;
  plans: TenantPlans;
}

/** A tenant over its rate on a route is refused (429) before any work is done for it. */
export async function limitTenant(route: TenantRoute, tenantId: string, deps: TenantRateDeps): Promise<void> {
  const limit = await deps.plans.limitFor(tenantId, route);
  const decision = await deps.tenantRates.take(`${route}:${tenantId}`, limit);
  if (!decision.allowed) {
    throw new TooManyRequestsError(`Rate limit of /${route} exceeded (${formatRateLimit(limit)} per tenant); retry after ${decision.retryAfterSeconds} s`, decision.retryAfterSeconds);
  }
}

/** What a tenant's work on its database host costs its /query bucket, beyond the token each request took before it ran. */
export interface QueryCosts {
  /** A connection held this long is free: the token taken up front pays for it. */
  freeMs: number;
  /** Past `freeMs`, one token per this many ms a connection was held on the tenant's behalf (0: connection time is free). */
  msPerToken: number;
  /** Tokens a statement refused at planning as too big costs (QUERY_TOO_BIG). */
  tooBigTokens: number;
}

/**
 * The /query bucket pays for what a tenant makes the host do, not only for how often it asks: a
 * request takes one token before it runs, then its connection time and refused plans are charged
 * after. A tenant of slow statements or of refusals it keeps repeating goes into debt and is
 * refused (429) until its rate has paid it off, so its volume, not only its concurrency, is bounded.
 * Charging never fails or delays the request that caused it.
 */
export class QueryCharges implements TenantUsage {
  constructor(
    private readonly deps: TenantRateDeps,
    private readonly costs: QueryCosts,
  ) {}

  connectionHeld(tenantId: string, ms: number): void {
    // Ordinary statements are free: on a host made slow by others, a fast statement takes longer
    // too, and its tenant must not pay for the others' load.
    const { freeMs, msPerToken } = this.costs;
    if (msPerToken > 0 && ms > freeMs) chargeQueries(tenantId, Math.floor((ms - freeMs) / msPerToken), this.deps);
  }

  refusedTooBig(tenantId: string): void {
    chargeQueries(tenantId, this.costs.tooBigTokens, this.deps);
  }
}

/**
 * A batch costs its tenant a token per statement, as the same statements sent one by one would:
 * the request took the first before it was read, the others are charged as it starts.
 */
export function chargeBatch(tenantId: string, statements: number, deps: TenantRateDeps): void {
  chargeQueries(tenantId, statements - 1, deps);
}

/** Tokens owed to a tenant's /query bucket, charged in the background: it never fails or delays a request. */
function chargeQueries(tenantId: string, tokens: number, deps: TenantRateDeps): void {
  if (tokens < 1) return;
  void deps.plans
    .limitFor(tenantId, 'query')
    .then((limit) => deps.tenantRates.charge(`query:${tenantId}`, limit, tokens))
    .catch(() => undefined); // the limiter falls back by itself; nothing to tell the request
}

export interface ClientRateDeps {
  clientRates: RateLimiter;
  limits: RateLimitSettings;
}

/** POST /signup: one token from the client's and one from the email's bucket. */
export async function limitSignup(sourceIp: string, email: string, deps: ClientRateDeps): Promise<void> {
  const { clientRates, limits } = deps;
  refuseIfAny(
    await Promise.all([clientRates.take(`signup-ip:${clientOf(sourceIp)}`, limits.signupPerIp), clientRates.take(`signup-email:${emailKey(email)}`, limits.signupPerEmail)]),
    'Too many signups from this address or for this email',
  );
}

/**
 * POST /token under its limits: the client's and the email's rate, then the email's failure
 * budget (a lockout checked before any bcrypt). A wrong password spends one failure; a correct
 * one refills the budget. Unknown emails count alike, so a 429 says nothing about whether an
 * account exists.
 */
export async function withLoginLimits<T>(sourceIp: string, email: string, deps: ClientRateDeps, login: () => Promise<T>): Promise<T> {
  const { clientRates, limits } = deps;
  const rates = [clientRates.take(`token-ip:${clientOf(sourceIp)}`, limits.tokenPerIp), clientRates.take(`token-email:${emailKey(email)}`, limits.tokenPerEmail)];
  return withFailureBudget(email, deps, login, rates);
}

/**
 * Any check of an account's password (a login, a password-confirmed action) under the email's one
 * failure budget: refused before any bcrypt once it is spent; an UnauthorizedError spends one
 * failure, success refills it. So no route is a way around /token's lockout. `alongside`: the
 * caller's other limits, asked in the same round trip.
 */
export async function withFailureBudget<T>(email: string, deps: ClientRateDeps, login: () => Promise<T>, alongside: Promise<RateDecision>[] = []): Promise<T> {
  const { clientRates, limits } = deps;
  const failures = `login-failures:${emailKey(email)}`;
  refuseIfAny(await Promise.all([...alongside, clientRates.peek(failures, limits.loginFailures)]), 'Too many login attempts from this address or for this email');
  try {
    const result = await login();
    await clientRates.reset(failures);
    return result;
  } catch (error) {
    if (error instanceof UnauthorizedError) await clientRates.take(failures, limits.loginFailures);
    throw error;
  }
}

function refuseIfAny(decisions: RateDecision[], message: string): void {
  let wait = 0;
  for (const d of decisions) if (!d.allowed) wait = Math.max(wait, d.retryAfterSeconds);
  if (wait > 0) throw new TooManyRequestsError(`${message}; retry after ${wait} s`, wait);
}

/**
 * The unit of a per-client limit: an IPv4 address, or an IPv6 /64 (one subscriber commonly holds
 * a whole /64, and could otherwise take a fresh address per request).
 */
export function clientOf(sourceIp: string): string {
  const ip = sourceIp.trim().toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(ip);
  if (mapped) return mapped[1]!;
  if (!ip.includes(':')) return ip;
  const [head = '', tail = ''] = ip.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === '' ? [] : tail.split(':');
  const groups = ip.includes('::') ? [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right] : left;
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

/** Emails are keyed by digest: no address sits in Redis, and a key's length is fixed. */
export const emailKey = (email: string): string => createHash('sha256').update(email.trim().toLowerCase()).digest('base64url').slice(0, 22);

/**
 * Operator command `set-limits`: gives a tenant (by id or email) its own limit on one route, or
 * (limit null) puts it back on the default. Processes see it once their plan cache expires.
 */
export async function setTenantLimit(
  input: { tenant: string; route: TenantRoute; limit: RateLimit | null },
  deps: { meta: Pick<MetaStore, 'getTenant' | 'findTenantByEmail' | 'setTenantRateLimit'> },
): Promise<{ tenant_id: string; route: TenantRoute; limit: string }> {
  const tenant = input.tenant.includes('@') ? await deps.meta.findTenantByEmail(input.tenant.toLowerCase()) : await deps.meta.getTenant(input.tenant);
  if (!tenant) throw new NotFoundError(`No tenant ${input.tenant}`);
  await deps.meta.setTenantRateLimit(tenant.tenantId, input.route, input.limit);
  return { tenant_id: tenant.tenantId, route: input.route, limit: input.limit ? formatRateLimit(input.limit) : 'default' };
}
