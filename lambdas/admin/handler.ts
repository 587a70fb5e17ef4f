import { createAdmin } from '#core/admin';
import { OctoError } from '#core/errors';
import { setTenantLimit } from '#core/rate-limits';
import { adminRoot } from '#adapters/roots';
import { invocationHandler } from '#shared/logger';
import { issuesOf, setLimitsRequest, signupRequest } from '#shared/requests';
import { isSetQuota, setQuota } from './set-quota.ts';
import { isTenantLifecycle, tenantLifecycle } from './tenant-lifecycle.ts';

/**
 * Operator-only: creates an admin tenant on AWS, or sets a tenant's storage quota
 * (`{action: 'set-quota', tenant_id, bytes}`) or rate limit (`{action: 'set-limits', tenant, route, limit}`),
 * or erases, suspends or resumes a tenant (`{action: 'delete-tenant' | 'suspend-tenant' | 'resume-tenant', tenant}`).
 * It has no API route; `npm run admin` invokes it
 * (OCTODB_ADMIN_FUNCTION) with the operator's own IAM credentials. Answers the command's result
 * or `{error}`.
 */
export const handler = invocationHandler(administer);

async function administer(event: unknown): Promise<Record<string, unknown>> {
  if (isSetQuota(event)) return answerOf(async () => setQuota(event, await adminRoot().setQuota()));
  if ((event as { action?: unknown } | null)?.action === 'set-limits') return setLimits(event);
  if (isTenantLifecycle(event)) return answerOf(async () => tenantLifecycle(event, adminRoot()));
  const parsed = signupRequest.safeParse(event);
  if (!parsed.success) return { error: issuesOf(parsed.error) };
  return answerOf(async () => createAdmin(parsed.data, await adminRoot().create()));
}

/** `{action: 'set-limits', tenant, route, limit}`: a tenant's own rate limit on one route (a plan). */
async function setLimits(event: unknown): Promise<Record<string, unknown>> {
  const parsed = setLimitsRequest.safeParse(event);
  if (!parsed.success) return { error: issuesOf(parsed.error) };
  return answerOf(async () => setTenantLimit(parsed.data, await adminRoot().setLimits()));
}

async function answerOf(run: () => Promise<Record<string, unknown>>): Promise<Record<string, unknown>> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof OctoError) return { error: error.message };
    throw error;
  }
}
