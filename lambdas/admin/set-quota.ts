import { setTenantQuota } from '#core/storage-quotas';
import type { Deps } from '#adapters/wiring';
import { issuesOf, setQuotaRequest } from '#shared/requests';

/** Whether an admin event (or command) is the `set-quota` action. */
export const isSetQuota = (event: unknown): boolean =>
  typeof event === 'object' && event !== null && (event as { action?: unknown }).action === 'set-quota';

/** The admin function's `set-quota` action: validate the event, then set the tenant's storage quota. */
export async function setQuota(event: unknown, d: Deps): Promise<Record<string, unknown>> {
  const parsed = setQuotaRequest.safeParse(event);
  if (!parsed.success) return { error: issuesOf(parsed.error) };
  return setTenantQuota({ tenantId: parsed.data.tenant_id, bytes: parsed.data.bytes }, { ...d, defaultQuotaBytes: d.config.OCTODB_STORAGE_QUOTA_BYTES });
}
