import { type SetQuotaDeps, setTenantQuota } from '#core/storage-quotas';
import { issuesOf, setQuotaRequest } from '#shared/requests';

/** Whether an admin event (or command) is the `set-quota` action. */
export const isSetQuota = (event: unknown): boolean =>
  typeof event === 'object' && event !== null && (event as { action?: unknown }).action === 'set-quota';

/** The admin function's `set-quota` action: validate the event, then set the tenant's storage quota. */
export async function setQuota(event: unknown, deps: SetQuotaDeps): Promise<Record<string, unknown>> {
  const parsed = setQuotaRequest.safeParse(event);
  if (!parsed.success) return { error: issuesOf(parsed.error) };
  return setTenantQuota({ tenantId: parsed.data.tenant_id, bytes: parsed.data.bytes }, deps);
}
