import { deleteTenant, setTenantSuspended } from '#core/offboarding';
import type { AdminRoot } from '#adapters/roots';
import { issuesOf, tenantLifecycleRequest } from '#shared/requests';

const ACTIONS: readonly unknown[] = tenantLifecycleRequest.shape.action.options;

/** Whether an admin event (or command) is `delete-tenant`, `suspend-tenant` or `resume-tenant`. */
export const isTenantLifecycle = (event: unknown): boolean =>
  typeof event === 'object' && event !== null && ACTIONS.includes((event as { action?: unknown }).action);

/** The admin function's tenant lifecycle actions: validate the event, then erase (and wait), suspend or resume. */
export async function tenantLifecycle(event: unknown, admin: AdminRoot): Promise<Record<string, unknown>> {
  const parsed = tenantLifecycleRequest.safeParse(event);
  if (!parsed.success) return { error: issuesOf(parsed.error) };
  const { action, tenant } = parsed.data;
  if (action === 'delete-tenant') return deleteTenant({ tenant }, await admin.deleteTenant());
  return setTenantSuspended({ tenant, suspended: action === 'suspend-tenant' }, await admin.suspend());
}
