import bcrypt from 'bcryptjs';
import { databaseUser, newDbId, newTenantId } from './ids.ts';
import type { MetaStore } from './ports.ts';
import { type ProvisionDeps, provisionDatabase, type ProvisionOutcome } from './provisioning.ts';

export interface CreateAdminDeps extends ProvisionDeps {
  meta: MetaStore;
  bcryptRounds: number;
}

/**
 * Operator command (never /signup): creates an admin tenant whose database can be a parent.
 * Primary course: hash the password, record the tenant (is_admin) and its database, provision
 * the database right away (the operator waits for it). A taken email is a ConflictError.
 */
export async function createAdmin(
  input: { name: string; email: string; password: string; template: string },
  deps: CreateAdminDeps,
): Promise<{ tenant_id: string; db_id: string; status: ProvisionOutcome }> {
  const tenantId = newTenantId();
  const dbId = newDbId();
  const host = await deps.meta.pickHost();
  await deps.meta.createTenant(
    { tenantId, name: input.name, email: input.email, passwordHash: await bcrypt.hash(input.password, deps.bcryptRounds), isAdmin: true },
    { dbId, hostId: host.hostId, template: input.template, mysqlUser: databaseUser(dbId) },
  );
  return { tenant_id: tenantId, db_id: dbId, status: await provisionDatabase(dbId, deps) };
}
